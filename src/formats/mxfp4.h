// MXFP4 (OCP MX): 32 weights per block, x = E2M1(q) * 2^(e-127), e E8M0. 4.25 bits per weight.
// 17-byte blocks are 1-byte aligned. Nibbles: element j low, j+16 high (not HF's even/odd packing).
#pragma once

#include "core/half.h"
#include "formats/format.h"

#include <cstdint>

namespace nibble {

inline constexpr int kQKMxfp4 = 32;
struct BlockMXFP4 {
    uint8_t e;                   // E8M0 shared exponent
    uint8_t qs[kQKMxfp4 / 2];
};
static_assert(sizeof(BlockMXFP4) == 1 + kQKMxfp4 / 2, "wrong mxfp4 block size/padding");

void quantize_row_mxfp4_ref(const float * x, void * y, int64_t n);
void quantize_mxfp4(const float * x, void * y, int64_t nrows, int64_t n_per_row, const QuantParams & p);
void dequantize_row_mxfp4(const void * x, float * y, int64_t n);

}  // namespace nibble
