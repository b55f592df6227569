// The CPU matmul's per-format table (ggml-cpu's type_traits_cpu: vec_dot_type + vec_dot) and the
// activation quantizers. Built without -mavx2: AVX2 kernels are only called after cpu_has_avx2().
#include "backend/cpu/formats/vec_dot.h"

#include "backend/cpu/formats/dequant.h"
#include "formats/q8_0.h"
#include "formats/q8_k.h"
#include "formats/quant_common.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <iterator>

namespace nibble::cpu {

namespace {

struct CpuDotTraits {
    Format    format;
    bool      weight; // usable as a matmul weight
    ActFormat act;
    VecDotFn  ref;
    VecDotFn  avx2; // nullptr: the scalar kernel is used
};

#if defined(__x86_64__)
#define NIBBLE_AVX2(fn) vec_dot_##fn##_avx2
#else
#define NIBBLE_AVX2(fn) nullptr
#endif

// Rows follow enum class Format. Q4_1/Q5_1 pair with Q8_1, the K-quants and IQ4_XS with Q8_K, every
// other block format with Q8_0 (ggml-cpu.c type_traits_cpu, 2026-08 tree).
constexpr CpuDotTraits kDot[] = {
    { Format::F32, true, ActFormat::F32, vec_dot_f32_ref, nullptr },
    { Format::F16, true, ActFormat::F16, vec_dot_f16_ref, NIBBLE_AVX2(f16) },
    { Format::BF16, true, ActFormat::BF16, vec_dot_bf16_ref, nullptr },
    { Format::Q4_0, true, ActFormat::Q8_0, vec_dot_q4_0_ref, NIBBLE_AVX2(q4_0) },
    { Format::Q4_1, true, ActFormat::Q8_1, vec_dot_q4_1_ref, NIBBLE_AVX2(q4_1) },
    { Format::Q5_0, true, ActFormat::Q8_0, vec_dot_q5_0_ref, nullptr },
    { Format::Q5_1, true, ActFormat::Q8_1, vec_dot_q5_1_ref, nullptr },
    { Format::Q8_0, true, ActFormat::Q8_0, vec_dot_q8_0_ref, NIBBLE_AVX2(q8_0) },
    { Format::Q2_K, true, ActFormat::Q8_K, vec_dot_q2_k_ref, nullptr },
    { Format::Q3_K, true, ActFormat::Q8_K, vec_dot_q3_k_ref, nullptr },
    { Format::Q4_K, true, ActFormat::Q8_K, vec_dot_q4_k_ref, NIBBLE_AVX2(q4_k) },
    { Format::Q5_K, true, ActFormat::Q8_K, vec_dot_q5_k_ref, nullptr },
    { Format::Q6_K, true, ActFormat::Q8_K, vec_dot_q6_k_ref, NIBBLE_AVX2(q6_k) },
    { Format::Q8_K, false, ActFormat::Q8_K, nullptr, nullptr },
    { Format::IQ4_NL, true, ActFormat::Q8_0, vec_dot_iq4_nl_ref, nullptr },
    { Format::IQ4_XS, true, ActFormat::Q8_K, vec_dot_iq4_xs_ref, nullptr },
    { Format::MXFP4, true, ActFormat::Q8_0, vec_dot_mxfp4_ref, nullptr },
    { Format::NVFP4, true, ActFormat::Q8_0, vec_dot_nvfp4_ref, NIBBLE_AVX2(nvfp4) },
    { Format::E4M3, false, ActFormat::F32, nullptr, nullptr },
    { Format::E5M2, false, ActFormat::F32, nullptr, nullptr },
};

#undef NIBBLE_AVX2

static_assert(std::size(kDot) == size_t(Format::Count), "kDot must have one row per Format");

constexpr bool dot_rows_in_enum_order() {
    for (size_t i = 0; i < std::size(kDot); ++i) {
        if (size_t(kDot[i].format) != i) {
            return false;
        }
    }
    return true;
}
static_assert(dot_rows_in_enum_order(), "kDot rows must follow enum class Format");

// ggml-cpu's x86 quantize_row_q8_0 / q8_1: d = amax/127 but the multiplier is 127/amax (not 1/d),
// and _mm256_round_ps rounds half to even (nearest_int does the same). Returns the sum of the quants.
int quantize_q8_block(const float * x, half_bits * d_out, int8_t * qs, float * d_f32) {
    float amax = 0;
    for (int j = 0; j < 32; ++j) {
        amax = std::max(amax, std::fabs(x[j]));
    }
    const float d  = amax / 127.f;
    const float id = amax != 0.0f ? 127.f / amax : 0.0f;
    *d_out         = fp32_to_fp16(d);
    *d_f32         = d;
    int sum        = 0;
    for (int j = 0; j < 32; ++j) {
        const int q = std::clamp(nearest_int(x[j] * id), -128, 127);
        qs[j]       = int8_t(q);
        sum += q;
    }
    return sum;
}

} // namespace

bool vec_dot_type(Format f, ActFormat * act) {
    if (size_t(f) >= std::size(kDot) || !kDot[size_t(f)].weight) {
        return false;
    }
    *act = kDot[size_t(f)].act;
    return true;
}

int act_block_size(ActFormat a) {
    switch (a) {
        case ActFormat::F32:
        case ActFormat::F16:
        case ActFormat::BF16:
            return 1;
        case ActFormat::Q8_0:
        case ActFormat::Q8_1:
            return 32;
        case ActFormat::Q8_K:
            return kQK_K;
    }
    return 1;
}

int64_t act_row_size(ActFormat a, int64_t n) {
    switch (a) {
        case ActFormat::F32:
            return 4 * n;
        case ActFormat::F16:
        case ActFormat::BF16:
            return 2 * n;
        case ActFormat::Q8_0:
            return n / kQK8_0 * int64_t(sizeof(BlockQ8_0));
        case ActFormat::Q8_1:
            return n / kQK8_1 * int64_t(sizeof(BlockQ8_1));
        case ActFormat::Q8_K:
            return n / kQK_K * int64_t(sizeof(BlockQ8_K));
    }
    return 0;
}

void quantize_act_row(ActFormat a, const float * x, void * y, int64_t n) {
    switch (a) {
        case ActFormat::F32:
            std::memcpy(y, x, size_t(n) * sizeof(float));
            return;
        case ActFormat::F16: {
            half_bits * h = static_cast<half_bits *>(y);
            for (int64_t i = 0; i < n; ++i) {
                h[i] = fp32_to_fp16(x[i]);
            }
            return;
        }
        case ActFormat::BF16: {
            bf16_bits * h = static_cast<bf16_bits *>(y);
            for (int64_t i = 0; i < n; ++i) {
                h[i] = fp32_to_bf16(x[i]);
            }
            return;
        }
        case ActFormat::Q8_0: {
            BlockQ8_0 * b = static_cast<BlockQ8_0 *>(y);
            for (int64_t i = 0; i < n / kQK8_0; ++i) {
                float d = 0;
                quantize_q8_block(x + 32 * i, &b[i].d, b[i].qs, &d);
            }
            return;
        }
        case ActFormat::Q8_1: {
            BlockQ8_1 * b = static_cast<BlockQ8_1 *>(y);
            for (int64_t i = 0; i < n / kQK8_1; ++i) {
                float     d   = 0;
                const int sum = quantize_q8_block(x + 32 * i, &b[i].d, b[i].qs, &d);
                b[i].s        = fp32_to_fp16(d * float(sum)); // unrounded d, as ggml
            }
            return;
        }
        case ActFormat::Q8_K:
            quantize_row_q8_k_ref(x, y, n);
            return;
    }
}

VecDotFn vec_dot_ref(Format f) {
    if (size_t(f) >= std::size(kDot) || !kDot[size_t(f)].weight) {
        return nullptr;
    }
    return kDot[size_t(f)].ref;
}

VecDotFn vec_dot_fast(Format f) {
    if (size_t(f) >= std::size(kDot) || !kDot[size_t(f)].weight) {
        return nullptr;
    }
    const CpuDotTraits & t = kDot[size_t(f)];
    return t.avx2 != nullptr && cpu_has_avx2() ? t.avx2 : t.ref;
}

} // namespace nibble::cpu
