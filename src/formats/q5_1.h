// Q5_1: 32 weights per block, x = d * q + m, q 5-bit, d and m fp16. 6 bits per weight.
#pragma once

#include "core/half.h"
#include "formats/format.h"

#include <cstdint>

namespace nibble {

inline constexpr int kQK5_1 = 32;
struct BlockQ5_1 {
    half_bits d;
    half_bits m;
    uint8_t   qh[4];
    uint8_t   qs[kQK5_1 / 2];
};
static_assert(sizeof(BlockQ5_1) == 2 * sizeof(half_bits) + 4 + kQK5_1 / 2, "wrong q5_1 block size/padding");

void quantize_row_q5_1_ref(const float * x, void * y, int64_t n);
void quantize_q5_1(const float * x, void * y, int64_t nrows, int64_t n_per_row, const QuantParams & p);
void dequantize_row_q5_1(const void * x, float * y, int64_t n);

}  // namespace nibble
