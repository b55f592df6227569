// Small scalar codecs: FP8 E4M3 / E5M2 (OCP), UE4M3 (NVFP4 block scale), E8M0 (MX scale),
// E2M1 (FP4 element). Facts and quirks: FORMATS.md §1.4–§1.8. Header-only because the block
// quantizers call these in their innermost loops.
#pragma once

#include "core/half.h"

#include <cmath>
#include <cstdint>

namespace nibble {

// ---------------------------------------------------------------------------------------------
// E2M1: ggml stores the FP4 code book doubled (kvalues_fp4 = 2 * value) and halves the scale
// decoders instead, so value(q) * scale is exact either way.
inline constexpr int8_t kValuesFp4[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};

inline float e2m1_to_fp32(uint8_t code) { return 0.5f * float(kValuesFp4[code & 15]); }

// IEEE round-to-nearest-even onto the E2M1 grid (NVIDIA cvt.rn / ModelOpt), saturating at +-6.
// Ties at 0.75, 1.75, 3.5 go up; at 0.25, 1.25, 2.5, 5 down (to the even mantissa).
inline uint8_t fp32_to_e2m1_rne(float x) {
    const uint8_t sign = std::signbit(x) ? 8 : 0;
    const float   a    = std::fabs(x);
    uint8_t       m;
    if (!(a > 0.25f)) {
        m = 0;  // includes NaN -> 0
    } else if (a < 0.75f) {
        m = 1;
    } else if (a <= 1.25f) {
        m = 2;
    } else if (a < 1.75f) {
        m = 3;
    } else if (a <= 2.5f) {
        m = 4;
    } else if (a < 3.5f) {
        m = 5;
    } else if (a <= 5.0f) {
        m = 6;
    } else {
        m = 7;
    }
    return uint8_t(sign | m);
}

// ggml best_index_mxfp4: linear scan over the doubled code book times e, strict '<', first wins,
// so ties go to the smaller magnitude and -0 (code 8) is never produced.
inline uint8_t best_index_fp4_ggml(float x, float e) {
    int   best_index = 0;
    float best_err   = std::fabs(float(kValuesFp4[0]) * e - x);
    for (int i = 1; i < 16; i++) {
        const float err = std::fabs(float(kValuesFp4[i]) * e - x);
        if (err < best_err) {
            best_index = i;
            best_err   = err;
        }
    }
    return uint8_t(best_index);
}

// ---------------------------------------------------------------------------------------------
// E8M0: 2^(e-127); ggml decodes 0 as 2^-127 and does not treat 0xFF as NaN.
inline float e8m0_to_fp32(uint8_t e) { return bits_f32(e == 0 ? 0x00400000u : uint32_t(e) << 23); }

// Half of the E8M0 value (pairs with the doubled FP4 code book).
inline float e8m0_to_fp32_half(uint8_t e) { return bits_f32(e < 2 ? (0x00200000u << e) : uint32_t(e - 1) << 23); }

// ---------------------------------------------------------------------------------------------
// UE4M3 as ggml decodes it: half the E4M3 value; 0x00 and 0x7F -> 0; bit 7 ignored.
inline float ue4m3_to_fp32_half(uint8_t x) {
    if (x == 0 || x == 0x7F) {
        return 0.0f;
    }
    const int exp = (x >> 3) & 0xF;
    const int man = x & 0x7;
    float     raw;
    if (exp == 0) {
        raw = std::ldexp(float(man), -9);
    } else {
        raw = std::ldexp(1.0f + float(man) / 8.0f, exp - 7);
    }
    return raw * 0.5f;
}

// ggml_fp32_to_ue4m3, quirks included (FORMATS.md §1.6): NaN/<=0 -> 0; subnormals by
// trunc(x*512+0.5) capped at 7; x >= 256 -> 0x7E; normal mantissas round half up.
inline uint8_t fp32_to_ue4m3_ggml(float x) {
    if (!(x > 0.0f)) {
        return 0;
    }
    if (x > 448.0f) {
        x = 448.0f;
    }
    const uint32_t bits = f32_bits(x);
    const int      fexp = int((bits >> 23) & 0xFF) - 127;
    int            e    = fexp + 7;
    if (e <= 0) {
        const int man = int(x * 512.0f + 0.5f);
        return man < 1 ? 0 : uint8_t(man > 7 ? 7 : man);
    }
    if (e >= 15) {
        return 0x7E;
    }
    int m = int((bits >> 20) & 7) + int((bits >> 19) & 1);
    if (m > 7) {
        m = 0;
        e += 1;
        if (e >= 15) {
            return 0x7E;
        }
    }
    return uint8_t((e << 3) | m);
}

// ---------------------------------------------------------------------------------------------
// FP8 E4M3 (OCP FN): bias 7, no inf, NaN = 0x7F/0xFF, max 448.
inline float e4m3_to_fp32(uint8_t b) {
    const uint32_t sign = uint32_t(b & 0x80) << 24;
    const int      exp  = (b >> 3) & 0xF;
    const int      man  = b & 0x7;
    if (exp == 0xF && man == 0x7) {
        return bits_f32(sign | 0x7FC00000u);
    }
    float v;
    if (exp == 0) {
        v = std::ldexp(float(man), -9);
    } else {
        v = std::ldexp(1.0f + float(man) / 8.0f, exp - 7);
    }
    return bits_f32(sign | f32_bits(v));
}

// Round-to-nearest-even, saturating to +-448 (cvt.rn.satfinite.e4m3x2.f32); NaN -> 0x7F | sign.
inline uint8_t fp32_to_e4m3_sat(float x) {
    const uint32_t u    = f32_bits(x);
    const uint8_t  sign = uint8_t((u >> 24) & 0x80);
    const uint32_t a    = u & 0x7FFFFFFFu;
    if (a > 0x7F800000u) {
        return uint8_t(sign | 0x7F);
    }
    const float af = bits_f32(a);
    if (af >= 448.0f) {
        return uint8_t(sign | 0x7E);
    }
    if (af < 0.015625f) {  // below 2^-6: subnormal grid of 2^-9, exact scaling then RNE
        return uint8_t(sign | uint8_t(std::nearbyint(af * 512.0f)));
    }
    // Normal: round the 23-bit mantissa to 3 bits, half to even; carries bump the exponent.
    const uint32_t r    = (a + 0x7FFFFu + ((a >> 20) & 1u)) >> 20;
    const uint32_t code = r - ((127u - 7u) << 3);
    return uint8_t(sign | (code > 0x7E ? 0x7E : code));
}

// NVIDIA's UE4M3 encoder for NVFP4 block scales: E4M3 RNE with saturation, sign dropped.
inline uint8_t fp32_to_ue4m3_rne(float x) {
    if (std::isnan(x)) {
        return 0x7F;
    }
    if (!(x > 0.0f)) {
        return 0;
    }
    return fp32_to_e4m3_sat(x);
}

// ---------------------------------------------------------------------------------------------
// FP8 E5M2: the byte is the high half of an fp16 (FORMATS.md §1.5).
inline float e5m2_to_fp32(uint8_t b) { return fp16_to_fp32(half_bits(uint16_t(b) << 8)); }

// Round-to-nearest-even, saturating to +-57344 (satfinite); NaN -> 0x7F | sign (canonical NaN).
inline uint8_t fp32_to_e5m2_sat(float x) {
    const uint32_t u    = f32_bits(x);
    const uint8_t  sign = uint8_t((u >> 24) & 0x80);
    const uint32_t a    = u & 0x7FFFFFFFu;
    if (a > 0x7F800000u) {
        return uint8_t(sign | 0x7F);
    }
    const float af = bits_f32(a);
    if (af >= 57344.0f) {
        return uint8_t(sign | 0x7B);
    }
    if (af < 6.103515625e-05f) {  // below 2^-14: subnormal grid of 2^-16
        return uint8_t(sign | uint8_t(std::nearbyint(af * 65536.0f)));
    }
    const uint32_t r    = (a + 0xFFFFFu + ((a >> 21) & 1u)) >> 21;
    const uint32_t code = r - ((127u - 15u) << 2);
    return uint8_t(sign | (code > 0x7B ? 0x7B : code));
}

}  // namespace nibble
