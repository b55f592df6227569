// Q3_K: 256-weight super-blocks of 16 groups of 16; x = (d * sc) * q, q in [-4, 3] (2 low bits +
// high-bit mask), sc 6-bit signed (offset 32), d fp16. 3.4375 bits per weight.
#pragma once

#include "core/half.h"
#include "formats/format.h"

#include <cstdint>

namespace nibble {

struct BlockQ3_K {
    uint8_t   hmask[kQK_K / 8];  // high bit of each quant
    uint8_t   qs[kQK_K / 4];     // low 2 bits
    uint8_t   scales[12];        // 16 six-bit scales, packed
    half_bits d;
};
static_assert(sizeof(BlockQ3_K) == sizeof(half_bits) + kQK_K / 4 + kQK_K / 8 + 12, "wrong q3_K block size/padding");

void quantize_row_q3_k_ref(const float * x, void * y, int64_t n);
void quantize_q3_k(const float * x, void * y, int64_t nrows, int64_t n_per_row, const QuantParams & p);
void dequantize_row_q3_k(const void * x, float * y, int64_t n);

}  // namespace nibble
