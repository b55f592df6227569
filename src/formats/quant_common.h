// Shared building blocks of ggml's block quantizers (FORMATS.md §3.0). Every function here is
// part of the bit-exact contract: strictly sequential fp32 sums, products left to right, no FMA
// contraction (the formats library is compiled with -ffp-contract=off).
#pragma once

#include <cstdint>
#include <cstring>

namespace nibble {

inline constexpr float kGroupMaxEps = 1e-15f; // "all zero" threshold (GROUP_MAX_EPS)

// The IQ4_NL / IQ4_XS non-linear code book.
inline constexpr int8_t kValuesIq4nl[16] = { -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113 };

// Hot scalar quantizer loops get an AVX2 clone picked at load time (GCC function multiversioning).
// AVX2 only, no FMA: with -ffp-contract=off the arithmetic, and so every output byte, is the same in
// both clones; the clone only lets the compiler use 256-bit registers for the element-wise parts.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && !defined(__SANITIZE_ADDRESS__)
#define NIBBLE_HOT __attribute__((target_clones("avx2", "default")))
#else
#define NIBBLE_HOT
#endif

// Round half to even via the 1.5*2^23 magic number; valid for |v| <= 4194303.
inline int nearest_int(float v) {
    const float val = v + 12582912.f;
    int         i;
    std::memcpy(&i, &val, sizeof(int));
    return (i & 0x007fffff) - 0x00400000;
}

// Index of the nearest entry of a sorted int8 table; ties go to the larger entry.
int best_index_int8(int n, const int8_t * val, float x);

// Symmetric scale search; writes L in [0, 2*nmax-1], returns the (signed) scale.
// rmse_type 0: plain rounding; 1: weights x^2 (or qw); 2: 1; 3: |x|; else sqrt|x|; < 0: return early.
float make_qx_quants(int n, int nmax, const float * x, int8_t * L, int rmse_type, const float * qw);

// Q3_K reference scale search with iterative refinement (weights x^2).
float make_q3_quants(int n, int nmax, const float * x, int8_t * L, bool do_rmse);

// Asymmetric (scale, min) search with explicit weights; *the_min receives -min (>= 0).
float make_qkx2_quants(int n, int nmax, const float * x, const float * weights, uint8_t * L, float * the_min,
                       uint8_t * Laux, float rmin, float rdelta, int nstep, bool use_mad);

// As make_qkx2_quants, but weights may be nullptr (then x^2) and the degenerate test is max <= min.
float make_qkx3_quants(int n, int nmax, const float * x, const float * weights, uint8_t * L, float * the_min,
                       uint8_t * Laux, float rmin, float rdelta, int nstep, bool use_mad);

// Positive-only quantization of sub-block scales with weights quant_weights (required).
float make_qp_quants(int n, int nmax, const float * x, uint8_t * L, const float * quant_weights);

// IQ4_NL / IQ4_XS weighted least-squares scale of one 32-element group over 2*ntry+1 trial
// inverse scales around max/-127 (ntry < 0: the initial guess max/127 only, as IQ4_NL's ref does).
// Returns 0 for an all-zero group and leaves L untouched; otherwise, when L is non-null, it
// receives the grid indices of the initial guess (only the IQ4_NL reference keeps them).
float iq4_group_scale(const float * xb, const float * weight, int ntry, uint8_t * L);

// Sum of squares of x[0..n) in sequential fp32 order (the sigma2 numerators of the imatrix paths).
inline float sum_squares(const float * x, int64_t n) {
    float s = 0;
    for (int64_t i = 0; i < n; ++i) {
        s += x[i] * x[i];
    }
    return s;
}

} // namespace nibble
