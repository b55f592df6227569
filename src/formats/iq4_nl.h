// IQ4_NL: 32 weights per block, x = d * kValuesIq4nl[q], q 4-bit index, d fp16. 4.5 bits per weight.
#pragma once

#include "core/half.h"
#include "formats/format.h"

#include <cstdint>

namespace nibble {

inline constexpr int kQK4_NL = 32;
struct BlockIQ4_NL {
    half_bits d;
    uint8_t   qs[kQK4_NL / 2];  // nibble order as Q4_0
};
static_assert(sizeof(BlockIQ4_NL) == sizeof(half_bits) + kQK4_NL / 2, "wrong iq4_nl block size/padding");

void quantize_row_iq4_nl_ref(const float * x, void * y, int64_t n);
void quantize_iq4_nl(const float * x, void * y, int64_t nrows, int64_t n_per_row, const QuantParams & p);
void dequantize_row_iq4_nl(const void * x, float * y, int64_t n);

}  // namespace nibble
