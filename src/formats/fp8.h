// FP8 E4M3 and E5M2 rows (SafeTensors F8_E4M3 / F8_E5M2): one byte per weight, no block scale.
// Per-tensor / per-channel / 128x128 block scales of FP8 checkpoints are applied by the loader,
// not here. Encoding is saturating round-to-nearest-even (minifloat.h).
#pragma once

#include "formats/format.h"

#include <cstdint>

namespace nibble {

void quantize_row_e4m3_ref(const float * x, void * y, int64_t n);
void quantize_e4m3(const float * x, void * y, int64_t nrows, int64_t n_per_row, const QuantParams & p);
void dequantize_row_e4m3(const void * x, float * y, int64_t n);

void quantize_row_e5m2_ref(const float * x, void * y, int64_t n);
void quantize_e5m2(const float * x, void * y, int64_t nrows, int64_t n_per_row, const QuantParams & p);
void dequantize_row_e5m2(const void * x, float * y, int64_t n);

}  // namespace nibble
