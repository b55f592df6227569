// Q4_1: 32 weights per block, x = d * q + m, q 4-bit, d and m fp16. 5 bits per weight.
#pragma once

#include "core/half.h"
#include "formats/format.h"

#include <cstdint>

namespace nibble {

inline constexpr int kQK4_1 = 32;
struct BlockQ4_1 {
    half_bits d;                // scale
    half_bits m;                // min
    uint8_t   qs[kQK4_1 / 2];  // nibble order as Q4_0
};
static_assert(sizeof(BlockQ4_1) == 2 * sizeof(half_bits) + kQK4_1 / 2, "wrong q4_1 block size/padding");

void quantize_row_q4_1_ref(const float * x, void * y, int64_t n);
void quantize_q4_1(const float * x, void * y, int64_t nrows, int64_t n_per_row, const QuantParams & p);
void dequantize_row_q4_1(const void * x, float * y, int64_t n);

}  // namespace nibble
