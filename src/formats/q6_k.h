// Q6_K: 256-weight super-blocks of 16 groups of 16; x = (d * sc) * q, q in [-32, 31], sc int8,
// d fp16. 6.5625 bits per weight. 210-byte blocks: 2-byte aligned.
#pragma once

#include "core/half.h"
#include "formats/format.h"

#include <cstdint>

namespace nibble {

struct BlockQ6_K {
    uint8_t   ql[kQK_K / 2];      // low 4 bits
    uint8_t   qh[kQK_K / 4];      // high 2 bits
    int8_t    scales[kQK_K / 16];
    half_bits d;
};
static_assert(sizeof(BlockQ6_K) == sizeof(half_bits) + kQK_K / 16 + 3 * kQK_K / 4, "wrong q6_K block size/padding");

void quantize_row_q6_k_ref(const float * x, void * y, int64_t n);
void quantize_q6_k(const float * x, void * y, int64_t nrows, int64_t n_per_row, const QuantParams & p);
void dequantize_row_q6_k(const void * x, float * y, int64_t n);

}  // namespace nibble
