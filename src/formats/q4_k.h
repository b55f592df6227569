// Q4_K: 256-weight super-blocks of 8 groups of 32; x = (d * sc) * q - dmin * m, q 4-bit, sc and m
// 6-bit, d and dmin fp16. 4.5 bits per weight.
#pragma once

#include "core/half.h"
#include "formats/format.h"

#include <cstdint>

namespace nibble {


inline constexpr int kKScaleSize = 12;
struct BlockQ4_K {
    half_bits d;                    // super-scale of scales
    half_bits dmin;                 // super-scale of mins
    uint8_t   scales[kKScaleSize];  // 8 scales + 8 mins, 6 bits each
    uint8_t   qs[kQK_K / 2];        // byte 32c+l: element 64c+l (low), 64c+l+32 (high)
};
static_assert(sizeof(BlockQ4_K) == 2 * sizeof(half_bits) + kKScaleSize + kQK_K / 2, "wrong q4_K block size/padding");

// 6-bit scale j and min j of a packed K-quant scale array (shared by Q4_K and Q5_K).
inline void get_scale_min_k4(int j, const uint8_t * q, uint8_t & sc, uint8_t & m) {
    if (j < 4) {
        sc = q[j] & 63;
        m  = q[j + 4] & 63;
    } else {
        sc = uint8_t((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        m  = uint8_t((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

void quantize_row_q4_k_ref(const float * x, void * y, int64_t n);
void quantize_q4_k(const float * x, void * y, int64_t nrows, int64_t n_per_row, const QuantParams & p);
void dequantize_row_q4_k(const void * x, float * y, int64_t n);

}  // namespace nibble
