// Q8_K: 256 int8 quants with an fp32 scale and 16 partial sums; the activation format the
// K-quant dot products pair with. 9.125 bits per weight.
#pragma once

#include "core/half.h"
#include "formats/format.h"

#include <cstdint>

namespace nibble {

struct BlockQ8_K {
    float   d;
    int8_t  qs[kQK_K];
    int16_t bsums[kQK_K / 16];  // sum of each group of 16 quants
};
static_assert(sizeof(BlockQ8_K) == sizeof(float) + kQK_K + kQK_K / 16 * sizeof(int16_t), "wrong q8_K block size/padding");

void quantize_row_q8_k_ref(const float * x, void * y, int64_t n);
void quantize_q8_k(const float * x, void * y, int64_t nrows, int64_t n_per_row, const QuantParams & p);
void dequantize_row_q8_k(const void * x, float * y, int64_t n);

}  // namespace nibble
