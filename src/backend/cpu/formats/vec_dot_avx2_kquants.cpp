// AVX2 dot products of Q4_K and Q6_K weights with Q8_K activations. Built with -mavx2 -mfma -mf16c;
// reached only through vec_dot_fast(). Per 256-element super-block the integer sum
// Σ_g scale_g Σ q·a is exact in int32 lanes (bounds below); the fp32 math is one FMA per super-block
// plus the mins / offset correction, so results differ from vec_dot_ref.cpp only by rounding order.
#include "backend/cpu/formats/vec_dot.h"
#include "formats/q4_k.h"
#include "formats/q6_k.h"
#include "formats/q8_k.h"

#include "backend/cpu/avx2_util.h"

#include <immintrin.h>

#include <cstring>

#if !defined(__AVX2__) || !defined(__FMA__) || !defined(__F16C__)
#error "vec_dot_avx2_kquants.cpp must be compiled with -mavx2 -mfma -mf16c"
#endif

namespace nibble::cpu {

namespace {

using namespace avx2;

// 8 int32 lanes of Σ q·a, 32 unsigned codes q (< 64) times int8 a, the first 16 products weighted
// by s0 and the last 16 by s1. maddubs pairs stay <= 63 * 128 * 2 < 2^15.
inline __m256i scaled_dot(__m256i q, const int8_t * a, int s0, int s1) {
    const __m256i p  = _mm256_maddubs_epi16(q, loadu256(a));
    const __m256i sc = _mm256_set_m128i(_mm_set1_epi16(int16_t(s1)), _mm_set1_epi16(int16_t(s0)));
    return _mm256_madd_epi16(p, sc);
}

} // namespace

float vec_dot_q4_k_avx2(int64_t n, const void * w, const void * a) {
    const BlockQ4_K * x    = static_cast<const BlockQ4_K *>(w);
    const BlockQ8_K * y    = static_cast<const BlockQ8_K *>(a);
    const __m256i     m4   = _mm256_set1_epi8(0x0F);
    __m256            acc  = _mm256_setzero_ps();
    float             mins = 0;
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        uint8_t sc[8];
        int     summ = 0;
        for (int g = 0; g < 8; ++g) {
            uint8_t m;
            get_scale_min_k4(g, x[i].scales, sc[g], m);
            summ += m * (y[i].bsums[2 * g] + y[i].bsums[2 * g + 1]);
        }
        // Lane bound: 4 chunks * 2 * (2 * 15 * 128 * 63) < 2^31.
        __m256i sumi = _mm256_setzero_si256();
        for (int c = 0; c < 4; ++c) {
            const __m256i raw = loadu256(x[i].qs + 32 * c);
            const __m256i lo  = _mm256_and_si256(raw, m4);
            const __m256i hi  = _mm256_and_si256(_mm256_srli_epi16(raw, 4), m4);
            sumi              = _mm256_add_epi32(sumi, scaled_dot(lo, y[i].qs + 64 * c, sc[2 * c], sc[2 * c]));
            sumi = _mm256_add_epi32(sumi, scaled_dot(hi, y[i].qs + 64 * c + 32, sc[2 * c + 1], sc[2 * c + 1]));
        }
        const float d = y[i].d * load_half(&x[i].d);
        acc           = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
        mins += y[i].d * load_half(&x[i].dmin) * float(summ);
    }
    return hsum(acc) - mins;
}

// Q6_K codes are stored as q + 32 in [0, 64): the dot uses them unsigned and subtracts
// 32 * Σ_g scale_g * bsum_g afterwards.
float vec_dot_q6_k_avx2(int64_t n, const void * w, const void * a) {
    const BlockQ6_K * x    = static_cast<const BlockQ6_K *>(w);
    const BlockQ8_K * y    = static_cast<const BlockQ8_K *>(a);
    const __m256i     m4   = _mm256_set1_epi8(0x0F);
    const __m256i     m2   = _mm256_set1_epi8(0x03);
    __m256            acc  = _mm256_setzero_ps();
    float             corr = 0;
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        const int8_t * sc   = x[i].scales;
        int            offs = 0;
        for (int g = 0; g < 16; ++g) {
            offs += sc[g] * y[i].bsums[g];
        }
        // Lane bound: 8 * 2 * (2 * 63 * 128 * 128) < 2^31.
        __m256i sumi = _mm256_setzero_si256();
        for (int h = 0; h < 2; ++h) {
            const __m256i ql0  = loadu256(x[i].ql + 64 * h);
            const __m256i ql1  = loadu256(x[i].ql + 64 * h + 32);
            const __m256i qh   = loadu256(x[i].qh + 32 * h);
            const __m256i q[4] = {
                _mm256_or_si256(_mm256_and_si256(ql0, m4), _mm256_slli_epi16(_mm256_and_si256(qh, m2), 4)),
                _mm256_or_si256(_mm256_and_si256(ql1, m4),
                                _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), m2), 4)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4),
                                _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), m2), 4)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4),
                                _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), m2), 4)),
            };
            for (int k = 0; k < 4; ++k) {
                const int g = 8 * h + 2 * k;
                sumi        = _mm256_add_epi32(sumi, scaled_dot(q[k], y[i].qs + 128 * h + 32 * k, sc[g], sc[g + 1]));
            }
        }
        const float d = y[i].d * load_half(&x[i].d);
        acc           = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
        corr += d * float(32 * offs);
    }
    return hsum(acc) - corr;
}

} // namespace nibble::cpu
