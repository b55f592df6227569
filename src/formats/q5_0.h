// Q5_0: 32 weights per block, x = d * (q - 16), q 5-bit (4 low bits + 1 high bit), d fp16. 5.5 bpw.
#pragma once

#include "core/half.h"
#include "formats/format.h"

#include <cstdint>

namespace nibble {

inline constexpr int kQK5_0 = 32;
struct BlockQ5_0 {
    half_bits d;                // scale
    uint8_t   qh[4];           // uint32 LE: bit e = 5th bit of element e (byte array: 2-byte aligned block)
    uint8_t   qs[kQK5_0 / 2];  // low nibbles, order as Q4_0
};
static_assert(sizeof(BlockQ5_0) == sizeof(half_bits) + 4 + kQK5_0 / 2, "wrong q5_0 block size/padding");

void quantize_row_q5_0_ref(const float * x, void * y, int64_t n);
void quantize_q5_0(const float * x, void * y, int64_t nrows, int64_t n_per_row, const QuantParams & p);
void dequantize_row_q5_0(const void * x, float * y, int64_t n);

}  // namespace nibble
