// AVX2 dot products of the 32/64-element block formats (Q4_0, Q4_1, Q8_0, NVFP4 against Q8_0/Q8_1
// activations) and of F16 rows. Built with -mavx2 -mfma -mf16c; reached only through
// vec_dot_fast(), which checks the CPU first.
//
// Integer math is exact: a signed int8 x int8 product goes through _mm256_maddubs_epi16 as
// |w| x sign(a, w) (pairs of products <= 2 * 127 * 127 < 2^15 for the codes our quantizers produce),
// then _mm256_madd_epi16 with ones widens to int32. Each block's int32 sum is converted to float and
// FMA-accumulated with its scale in 8 lanes; only that fp32 accumulation order differs from the
// scalar oracle (vec_dot_ref.cpp). Blocks are 1- or 2-byte aligned: every load is unaligned.
#include "backend/cpu/formats/vec_dot.h"
#include "formats/minifloat.h"
#include "formats/nvfp4.h"
#include "formats/q4_0.h"
#include "formats/q4_1.h"
#include "formats/q8_0.h"

#include "backend/cpu/avx2_util.h"

#include <immintrin.h>

#include <cstring>

#if !defined(__AVX2__) || !defined(__FMA__) || !defined(__F16C__)
#error "vec_dot_avx2.cpp must be compiled with -mavx2 -mfma -mf16c"
#endif

namespace nibble::cpu {

namespace {

using namespace avx2;

// 8 int32 partial sums of the 32 products x[i] * y[i], x and y signed int8.
inline __m256i dot_i8(__m256i x, __m256i y) {
    const __m256i ax = _mm256_sign_epi8(x, x);
    const __m256i sy = _mm256_sign_epi8(y, x);
    return _mm256_madd_epi16(_mm256_maddubs_epi16(ax, sy), _mm256_set1_epi16(1));
}

// 8 int32 partial sums of x[i] * y[i], x unsigned (< 128), y signed int8.
inline __m256i dot_u8i8(__m256i x, __m256i y) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(x, y), _mm256_set1_epi16(1));
}

// 16 packed bytes -> 32 nibbles: low nibbles in bytes 0..15, high nibbles in 16..31.
inline __m256i unpack_nibbles(const uint8_t * qs) {
    const __m128i raw  = loadu128(qs);
    const __m256i both = _mm256_set_m128i(_mm_srli_epi16(raw, 4), raw);
    return _mm256_and_si256(both, _mm256_set1_epi8(0x0F));
}

// UE4M3 scale byte -> half its value (ggml's decoder), as a table: the scalar decoder calls ldexp.
// Function-local so it is built on first use, after the CPU check, not at program start.
const float * ue4m3_half_table() {
    static const auto table = [] {
        struct T {
            float v[256];
        } t{};
        for (int i = 0; i < 256; ++i) {
            t.v[i] = ue4m3_to_fp32_half(uint8_t(i));
        }
        return t;
    }();
    return table.v;
}

} // namespace

float vec_dot_f16_avx2(int64_t n, const void * w, const void * a) {
    const uint16_t * x    = static_cast<const uint16_t *>(w);
    const uint16_t * y    = static_cast<const uint16_t *>(a);
    __m256           acc0 = _mm256_setzero_ps();
    __m256           acc1 = _mm256_setzero_ps();
    int64_t          i    = 0;
    for (; i + 16 <= n; i += 16) {
        acc0 = _mm256_fmadd_ps(_mm256_cvtph_ps(loadu128(x + i)), _mm256_cvtph_ps(loadu128(y + i)), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_cvtph_ps(loadu128(x + i + 8)), _mm256_cvtph_ps(loadu128(y + i + 8)), acc1);
    }
    for (; i + 8 <= n; i += 8) {
        acc0 = _mm256_fmadd_ps(_mm256_cvtph_ps(loadu128(x + i)), _mm256_cvtph_ps(loadu128(y + i)), acc0);
    }
    float s = hsum(_mm256_add_ps(acc0, acc1));
    for (; i < n; ++i) {
        s += _cvtsh_ss(x[i]) * _cvtsh_ss(y[i]);
    }
    return s;
}

float vec_dot_q8_0_avx2(int64_t n, const void * w, const void * a) {
    const BlockQ8_0 * x   = static_cast<const BlockQ8_0 *>(w);
    const BlockQ8_0 * y   = static_cast<const BlockQ8_0 *>(a);
    __m256            acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / kQK8_0; ++i) {
        const __m256 d = _mm256_set1_ps(load_half(&x[i].d) * load_half(&y[i].d));
        const __m256 q = _mm256_cvtepi32_ps(dot_i8(loadu256(x[i].qs), loadu256(y[i].qs)));
        acc            = _mm256_fmadd_ps(d, q, acc);
    }
    return hsum(acc);
}

float vec_dot_q4_0_avx2(int64_t n, const void * w, const void * a) {
    const BlockQ4_0 * x   = static_cast<const BlockQ4_0 *>(w);
    const BlockQ8_0 * y   = static_cast<const BlockQ8_0 *>(a);
    __m256            acc = _mm256_setzero_ps();
    const __m256i     off = _mm256_set1_epi8(8);
    for (int64_t i = 0; i < n / kQK4_0; ++i) {
        const __m256  d  = _mm256_set1_ps(load_half(&x[i].d) * load_half(&y[i].d));
        const __m256i qx = _mm256_sub_epi8(unpack_nibbles(x[i].qs), off);
        const __m256  q  = _mm256_cvtepi32_ps(dot_i8(qx, loadu256(y[i].qs)));
        acc              = _mm256_fmadd_ps(d, q, acc);
    }
    return hsum(acc);
}

// One accumulator, min terms summed apart and added last: ggml's AVX2 ggml_vec_dot_q4_1_q8_1 order,
// so the dot is typically bit-identical to llama.cpp's. That matters more than the ~20% a second
// accumulator would gain: SmolLM2-135M's massive activations amplify last-bit differences (its
// wikitext PPL moved 23.06 -> 23.13 with two accumulators; llama.cpp: 23.0654. 2026-11, EPYC).
float vec_dot_q4_1_avx2(int64_t n, const void * w, const void * a) {
    const BlockQ4_1 * x    = static_cast<const BlockQ4_1 *>(w);
    const BlockQ8_1 * y    = static_cast<const BlockQ8_1 *>(a);
    __m256            acc  = _mm256_setzero_ps();
    float             summ = 0;
    for (int64_t i = 0; i < n / kQK4_1; ++i) {
        summ += load_half(&x[i].m) * load_half(&y[i].s);
        const __m256 d = _mm256_set1_ps(load_half(&x[i].d) * load_half(&y[i].d));
        const __m256 q = _mm256_cvtepi32_ps(dot_u8i8(unpack_nibbles(x[i].qs), loadu256(y[i].qs)));
        acc            = _mm256_fmadd_ps(d, q, acc);
    }
    return hsum(acc) + summ;
}

// NVFP4 against two Q8_0 blocks per 64-element block. Sub-block s (16 elements) is 8 bytes: low
// nibbles are its elements 0..7, high nibbles 8..15; the FP4 codes go through a pshufb table of
// ggml's doubled E2M1 values (|v| <= 12). Lanes 0..3 of the int32 sums cover the first 16
// elements of a Q8_0 block, lanes 4..7 the second 16, so one scale vector per half handles both.
float vec_dot_nvfp4_avx2(int64_t n, const void * w, const void * a) {
    const BlockNVFP4 * x     = static_cast<const BlockNVFP4 *>(w);
    const BlockQ8_0 *  y     = static_cast<const BlockQ8_0 *>(a);
    const __m128i      table = _mm_loadu_si128(reinterpret_cast<const __m128i *>(kValuesFp4));
    const __m128i      m4    = _mm_set1_epi8(0x0F);
    const float *      sc    = ue4m3_half_table();
    __m256             acc   = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / kQKNvfp4; ++i) {
        const __m128i raw[2] = { loadu128(x[i].qs), loadu128(x[i].qs + 16) };
        for (int h = 0; h < 2; ++h) {
            const __m128i     lo = _mm_shuffle_epi8(table, _mm_and_si128(raw[h], m4));
            const __m128i     hi = _mm_shuffle_epi8(table, _mm_and_si128(_mm_srli_epi16(raw[h], 4), m4));
            // [lo 0..7, hi 0..7 | lo 8..15, hi 8..15] = sub-block 2h elements, then sub-block 2h+1.
            const __m256i     qx = _mm256_set_m128i(_mm_unpackhi_epi64(lo, hi), _mm_unpacklo_epi64(lo, hi));
            const BlockQ8_0 & yb = y[2 * i + h];
            const float       dy = load_half(&yb.d);
            const float       d0 = dy * sc[x[i].d[2 * h]];
            const float       d1 = dy * sc[x[i].d[2 * h + 1]];
            const __m256      d  = _mm256_setr_ps(d0, d0, d0, d0, d1, d1, d1, d1);
            acc                  = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(dot_i8(qx, loadu256(yb.qs))), acc);
        }
    }
    return hsum(acc);
}

} // namespace nibble::cpu
