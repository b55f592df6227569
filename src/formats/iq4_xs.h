// IQ4_XS: 256-weight super-blocks of 8 groups of 32; x = (d * (ls - 32)) * kValuesIq4nl[q], ls 6-bit,
// d fp16. 4.25 bits per weight.
#pragma once

#include "core/half.h"
#include "formats/format.h"

#include <cstdint>

namespace nibble {

struct BlockIQ4_XS {
    half_bits d;
    uint16_t  scales_h;           // 2 high bits of the 6-bit scale of group ib at bits 2ib..2ib+1
    uint8_t   scales_l[kQK_K / 64];  // 4 low bits, group ib in nibble ib%2 of byte ib/2
    uint8_t   qs[kQK_K / 2];      // 16 bytes per group: element r (low), r+16 (high)
};
static_assert(sizeof(BlockIQ4_XS) == sizeof(half_bits) + sizeof(uint16_t) + kQK_K / 64 + kQK_K / 2,
              "wrong iq4_xs block size/padding");

void quantize_row_iq4_xs_ref(const float * x, void * y, int64_t n);
void quantize_iq4_xs(const float * x, void * y, int64_t nrows, int64_t n_per_row, const QuantParams & p);
void dequantize_row_iq4_xs(const void * x, float * y, int64_t n);

}  // namespace nibble
