// F32 / F16 / BF16 rows: block size 1. F16 and BF16 use ggml's scalar conversions (core/half.h).
#pragma once

#include "formats/format.h"

#include <cstdint>

namespace nibble {

void quantize_row_f32_ref(const float * x, void * y, int64_t n);
void quantize_f32(const float * x, void * y, int64_t nrows, int64_t n_per_row, const QuantParams & p);
void dequantize_row_f32(const void * x, float * y, int64_t n);

void quantize_row_f16_ref(const float * x, void * y, int64_t n);
void quantize_f16(const float * x, void * y, int64_t nrows, int64_t n_per_row, const QuantParams & p);
void dequantize_row_f16(const void * x, float * y, int64_t n);

void quantize_row_bf16_ref(const float * x, void * y, int64_t n);
void quantize_bf16(const float * x, void * y, int64_t nrows, int64_t n_per_row, const QuantParams & p);
void dequantize_row_bf16(const void * x, float * y, int64_t n);

}  // namespace nibble
