// Scalar fp16 / bf16 conversions, bit-exact with ggml (FORMATS.md §1.2, §1.3).
#pragma once

#include <cstdint>
#include <cstring>

namespace nibble {

using half_bits = uint16_t;  // IEEE binary16 bits, as stored in blocks (ggml_half)
using bf16_bits = uint16_t;

inline uint32_t f32_bits(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    return u;
}

inline float bits_f32(uint32_t u) {
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}

// Exact fp16 -> fp32, the same arithmetic as ggml_compute_fp16_to_fp32: exact for every finite
// code; NaN payloads are kept but signalling NaNs come out quiet (as with F16C).
inline float fp16_to_fp32(half_bits h) {
    const uint32_t w     = uint32_t(h) << 16;
    const uint32_t sign  = w & 0x80000000u;
    const uint32_t two_w = w + w;

    const uint32_t exp_offset = 0xE0u << 23;
    const float    exp_scale  = bits_f32(0x7800000u);  // 2^-112
    const float    normalized = bits_f32((two_w >> 4) + exp_offset) * exp_scale;

    const uint32_t magic_mask   = 126u << 23;
    const float    magic_bias   = 0.5f;
    const float    denormalized = bits_f32((two_w >> 17) | magic_mask) - magic_bias;

    const uint32_t denormalized_cutoff = 1u << 27;
    const uint32_t result = sign | (two_w < denormalized_cutoff ? f32_bits(denormalized) : f32_bits(normalized));
    return bits_f32(result);
}

// fp32 -> fp16, round to nearest even; overflow -> inf; NaN -> 0x7E00 with the input's sign.
// Reproduces ggml_compute_fp32_to_fp16 (which matches F16C for every non-NaN input).
inline half_bits fp32_to_fp16(float f) {
    const float scale_to_inf  = bits_f32(0x77800000u);  // 2^112
    const float scale_to_zero = bits_f32(0x08800000u);  // 2^-110
    float       base          = (f < 0 ? -f : f) * scale_to_inf;
    base *= scale_to_zero;

    const uint32_t w      = f32_bits(f);
    const uint32_t shl1_w = w + w;
    const uint32_t sign   = w & 0x80000000u;
    uint32_t       bias   = shl1_w & 0xFF000000u;
    if (bias < 0x71000000u) {
        bias = 0x71000000u;
    }
    base                      = bits_f32((bias >> 1) + 0x07800000u) + base;
    const uint32_t bits       = f32_bits(base);
    const uint32_t exp_bits   = (bits >> 13) & 0x00007C00u;
    const uint32_t mant_bits  = bits & 0x00000FFFu;
    const uint32_t nonsign    = exp_bits + mant_bits;
    const uint32_t result_abs = shl1_w > 0xFF000000u ? 0x7E00u : nonsign;
    return half_bits((sign >> 16) | result_abs);
}

inline float bf16_to_fp32(bf16_bits b) { return bits_f32(uint32_t(b) << 16); }

// ggml_compute_fp32_to_bf16: NaN is quieted (sign kept), everything else rounds to nearest even;
// subnormals are not flushed.
inline bf16_bits fp32_to_bf16(float f) {
    const uint32_t u = f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) {
        return bf16_bits((u >> 16) | 64u);
    }
    return bf16_bits((u + (0x7fffu + ((u >> 16) & 1u))) >> 16);
}

}  // namespace nibble
