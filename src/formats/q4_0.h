// Q4_0: 32 weights per block, x = d * (q - 8), q 4-bit, d fp16. 4.5 bits per weight.
#pragma once

#include "core/half.h"
#include "formats/format.h"

#include <cstdint>

namespace nibble {

inline constexpr int kQK4_0 = 32;
struct BlockQ4_0 {
    half_bits d;                // scale
    uint8_t   qs[kQK4_0 / 2];  // byte j: element j (low nibble), element j+16 (high nibble)
};
static_assert(sizeof(BlockQ4_0) == sizeof(half_bits) + kQK4_0 / 2, "wrong q4_0 block size/padding");

void quantize_row_q4_0_ref(const float * x, void * y, int64_t n);
void quantize_q4_0(const float * x, void * y, int64_t nrows, int64_t n_per_row, const QuantParams & p);
void dequantize_row_q4_0(const void * x, float * y, int64_t n);

}  // namespace nibble
