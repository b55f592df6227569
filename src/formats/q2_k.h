// Q2_K: 256-weight super-blocks of 16 groups of 16; x = (d * sc) * q - dmin * m, q 2-bit,
// sc and m 4-bit per group, d and dmin fp16. 2.625 bits per weight.
#pragma once

#include "core/half.h"
#include "formats/format.h"

#include <cstdint>

namespace nibble {

struct BlockQ2_K {
    uint8_t   scales[kQK_K / 16];  // low nibble scale, high nibble min, per 16 weights
    uint8_t   qs[kQK_K / 4];       // 2-bit quants
    half_bits d;                   // super-scale of scales
    half_bits dmin;                // super-scale of mins
};
static_assert(sizeof(BlockQ2_K) == 2 * sizeof(half_bits) + kQK_K / 16 + kQK_K / 4, "wrong q2_K block size/padding");

void quantize_row_q2_k_ref(const float * x, void * y, int64_t n);
void quantize_q2_k(const float * x, void * y, int64_t nrows, int64_t n_per_row, const QuantParams & p);
void dequantize_row_q2_k(const void * x, float * y, int64_t n);

}  // namespace nibble
