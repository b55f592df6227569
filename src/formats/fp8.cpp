#include "formats/fp8.h"

#include "formats/minifloat.h"

namespace nibble {

// No block scale and no importance-aware choice exists for a plain element cast: quantize_<fmt> is the
// row function over the whole matrix and ignores the imatrix.

void quantize_row_e4m3_ref(const float * x, void * y, int64_t n) {
    uint8_t * out = static_cast<uint8_t *>(y);
    for (int64_t i = 0; i < n; ++i) {
        out[i] = fp32_to_e4m3_sat(x[i]);
    }
}

void quantize_e4m3(const float * x, void * y, int64_t nrows, int64_t n_per_row, const QuantParams &) {
    quantize_row_e4m3_ref(x, y, nrows * n_per_row);
}

void dequantize_row_e4m3(const void * x, float * y, int64_t n) {
    const uint8_t * in = static_cast<const uint8_t *>(x);
    for (int64_t i = 0; i < n; ++i) {
        y[i] = e4m3_to_fp32(in[i]);
    }
}

void quantize_row_e5m2_ref(const float * x, void * y, int64_t n) {
    uint8_t * out = static_cast<uint8_t *>(y);
    for (int64_t i = 0; i < n; ++i) {
        out[i] = fp32_to_e5m2_sat(x[i]);
    }
}

void quantize_e5m2(const float * x, void * y, int64_t nrows, int64_t n_per_row, const QuantParams &) {
    quantize_row_e5m2_ref(x, y, nrows * n_per_row);
}

void dequantize_row_e5m2(const void * x, float * y, int64_t n) {
    const uint8_t * in = static_cast<const uint8_t *>(x);
    for (int64_t i = 0; i < n; ++i) {
        y[i] = e5m2_to_fp32(in[i]);
    }
}

}  // namespace nibble
