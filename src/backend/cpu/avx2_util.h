// Small AVX2 / F16C helpers shared by the CPU kernels built with -mavx2 -mfma -mf16c
// (formats/vec_dot_avx2*.cpp, formats/dequant_avx2*.cpp, attention_avx2.cpp). Include it only from
// such translation units: the functions are inline and would otherwise be compiled without AVX2.
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <cstring>

#if !defined(__AVX2__) || !defined(__FMA__) || !defined(__F16C__)
#error "avx2_util.h is for translation units compiled with -mavx2 -mfma -mf16c"
#endif

namespace nibble::cpu::avx2 {

// fp16 field (any alignment) -> fp32 through F16C: exact for every code (FORMATS.md §1.2).
inline float load_half(const void * p) {
    uint16_t h;
    std::memcpy(&h, p, sizeof(h));
    return _cvtsh_ss(h);
}

inline __m128i loadu128(const void * p) { return _mm_loadu_si128(static_cast<const __m128i *>(p)); }

inline __m256i loadu256(const void * p) { return _mm256_loadu_si256(static_cast<const __m256i *>(p)); }

// 8 int8 codes (low 8 bytes of q) -> 8 floats.
inline __m256 i8x8_to_ps(__m128i q) { return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)); }

// y[0..16) = q[0..16) * d, q int8.
inline void store16_mul(float * y, __m128i q, __m256 d) {
    _mm256_storeu_ps(y, _mm256_mul_ps(i8x8_to_ps(q), d));
    _mm256_storeu_ps(y + 8, _mm256_mul_ps(i8x8_to_ps(_mm_unpackhi_epi64(q, q)), d));
}

// Sum of the 8 lanes.
inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s        = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s        = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

}  // namespace nibble::cpu::avx2
