// AVX2 + F16C attention of one query head over an fp16 K/V cache (contract in ops.h). Scores use
// 8-lane fp32 FMA over head_dim; exp is libm's expf (ggml uses a SIMD approximation of similar
// accuracy); V rows are converted with F16C and FMA-accumulated. head_dim % 8 != 0 falls back to
// the reference.
#include "backend/cpu/ops.h"

#include "backend/cpu/avx2_util.h"

#include <immintrin.h>

#include <cmath>

#if !defined(__AVX2__) || !defined(__FMA__) || !defined(__F16C__)
#error "attention_avx2.cpp must be compiled with -mavx2 -mfma -mf16c"
#endif

namespace nibble::cpu {

namespace {

using namespace avx2;

inline __m256 load_h8(const half_bits * p) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i *>(p)));
}

constexpr int kMaxHeadVecs = 32; // head_dim <= 256

} // namespace

void attention_head_avx2(const float * q, const half_bits * k, const half_bits * v, int64_t kv_stride, int64_t n_kv,
                         int64_t head_dim, float scale, float * out, float * scratch) {
    if (head_dim % 8 != 0 || head_dim / 8 > kMaxHeadVecs) {
        attention_head_ref(q, k, v, kv_stride, n_kv, head_dim, scale, out, scratch);
        return;
    }
    const int64_t nv = head_dim / 8;
    __m256        qv[kMaxHeadVecs];
    for (int64_t i = 0; i < nv; ++i) {
        qv[i] = _mm256_loadu_ps(q + 8 * i);
    }
    float max = -INFINITY;
    for (int64_t j = 0; j < n_kv; ++j) {
        const half_bits * kj  = k + j * kv_stride;
        __m256            acc = _mm256_mul_ps(qv[0], load_h8(kj));
        for (int64_t i = 1; i < nv; ++i) {
            acc = _mm256_fmadd_ps(qv[i], load_h8(kj + 8 * i), acc);
        }
        scratch[j] = hsum(acc) * scale;
        max        = std::fmax(max, scratch[j]);
    }
    double sum = 0;
    for (int64_t j = 0; j < n_kv; ++j) {
        scratch[j] = std::exp(scratch[j] - max);
        sum += double(scratch[j]);
    }
    __m256 o[kMaxHeadVecs];
    for (int64_t i = 0; i < nv; ++i) {
        o[i] = _mm256_setzero_ps();
    }
    for (int64_t j = 0; j < n_kv; ++j) {
        const half_bits * vj = v + j * kv_stride;
        const __m256      p  = _mm256_set1_ps(scratch[j]);
        for (int64_t i = 0; i < nv; ++i) {
            o[i] = _mm256_fmadd_ps(p, load_h8(vj + 8 * i), o[i]);
        }
    }
    const __m256 inv = _mm256_set1_ps(sum == 0 ? 0.0f : float(1.0 / sum));
    for (int64_t i = 0; i < nv; ++i) {
        _mm256_storeu_ps(out + 8 * i, _mm256_mul_ps(o[i], inv));
    }
}

} // namespace nibble::cpu
