// Q5_K: as Q4_K with 5-bit quants (extra high-bit plane). 5.5 bits per weight.
#pragma once

#include "core/half.h"
#include "formats/format.h"
#include "formats/q4_k.h"

#include <cstdint>

namespace nibble {

struct BlockQ5_K {
    half_bits d;
    half_bits dmin;
    uint8_t   scales[kKScaleSize];  // as Q4_K
    uint8_t   qh[kQK_K / 8];        // high bits
    uint8_t   qs[kQK_K / 2];        // low 4 bits, as Q4_K
};
static_assert(sizeof(BlockQ5_K) == 2 * sizeof(half_bits) + kKScaleSize + kQK_K / 2 + kQK_K / 8,
              "wrong q5_K block size/padding");

void quantize_row_q5_k_ref(const float * x, void * y, int64_t n);
void quantize_q5_k(const float * x, void * y, int64_t nrows, int64_t n_per_row, const QuantParams & p);
void dequantize_row_q5_k(const void * x, float * y, int64_t n);

}  // namespace nibble
