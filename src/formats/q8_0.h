// Q8_0: 32 weights per block, x = d * q, q int8, d fp16. 8.5 bits per weight. 34-byte blocks are
// only 2-byte aligned inside a row: never load them as wider vectors.
#pragma once

#include "core/half.h"
#include "formats/format.h"

#include <cstdint>

namespace nibble {

inline constexpr int kQK8_0 = 32;
struct BlockQ8_0 {
    half_bits d;
    int8_t    qs[kQK8_0];
};
static_assert(sizeof(BlockQ8_0) == sizeof(half_bits) + kQK8_0, "wrong q8_0 block size/padding");

void quantize_row_q8_0_ref(const float * x, void * y, int64_t n);
void quantize_q8_0(const float * x, void * y, int64_t nrows, int64_t n_per_row, const QuantParams & p);
void dequantize_row_q8_0(const void * x, float * y, int64_t n);

}  // namespace nibble
