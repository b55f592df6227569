#include "formats/float_rows.h"

#include "core/half.h"

#include <cstring>

namespace nibble {

// The importance matrix means nothing for plain casts, so quantize_<fmt> is the row function over the
// whole matrix.

void quantize_row_f32_ref(const float * x, void * y, int64_t n) {
    std::memcpy(y, x, size_t(n) * sizeof(float));
}

void quantize_f32(const float * x, void * y, int64_t nrows, int64_t n_per_row, const QuantParams &) {
    quantize_row_f32_ref(x, y, nrows * n_per_row);
}

void dequantize_row_f32(const void * x, float * y, int64_t n) {
    std::memcpy(y, x, size_t(n) * sizeof(float));
}

void quantize_row_f16_ref(const float * x, void * y, int64_t n) {
    half_bits * out = static_cast<half_bits *>(y);
    for (int64_t i = 0; i < n; ++i) {
        out[i] = fp32_to_fp16(x[i]);
    }
}

void quantize_f16(const float * x, void * y, int64_t nrows, int64_t n_per_row, const QuantParams &) {
    quantize_row_f16_ref(x, y, nrows * n_per_row);
}

void dequantize_row_f16(const void * x, float * y, int64_t n) {
    const half_bits * in = static_cast<const half_bits *>(x);
    for (int64_t i = 0; i < n; ++i) {
        y[i] = fp16_to_fp32(in[i]);
    }
}

void quantize_row_bf16_ref(const float * x, void * y, int64_t n) {
    bf16_bits * out = static_cast<bf16_bits *>(y);
    for (int64_t i = 0; i < n; ++i) {
        out[i] = fp32_to_bf16(x[i]);
    }
}

void quantize_bf16(const float * x, void * y, int64_t nrows, int64_t n_per_row, const QuantParams &) {
    quantize_row_bf16_ref(x, y, nrows * n_per_row);
}

void dequantize_row_bf16(const void * x, float * y, int64_t n) {
    const bf16_bits * in = static_cast<const bf16_bits *>(x);
    for (int64_t i = 0; i < n; ++i) {
        y[i] = bf16_to_fp32(in[i]);
    }
}

}  // namespace nibble
