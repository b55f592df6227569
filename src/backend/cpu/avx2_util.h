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

// Sum of the 8 lanes.
inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s        = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s        = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

}  // namespace nibble::cpu::avx2
