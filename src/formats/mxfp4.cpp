#include "formats/mxfp4.h"

#include "formats/minifloat.h"

#include <cmath>

namespace nibble {

namespace {

// Shared exponent of a block: floor(log2 amax) - emax(E2M1 = 2), biased by 127, as ggml computes it.
// It must be floorf(log2f(.)) and not the float's exponent bits: glibc's log2f rounds up to the
// next integer for the top few mantissas of most binades, and ggml's bytes follow log2f
// (FORMATS.md §3.14). Finite amax keeps the value in [-24, 253]; like ggml's cast, the result
// wraps modulo 256 (only reachable for amax < 2^-125).
uint8_t shared_exponent(float amax) {
    if (!(amax > 0.0f)) {
        return 0;
    }
    const float e = std::floor(std::log2(amax)) - 2 + 127;
    if (!(std::fabs(e) < 2147483647.0f)) {
        return 0;  // amax = inf: x86's truncating conversion yields INT_MIN, whose low byte is 0
    }
    return uint8_t(int(e));
}

}  // namespace

void quantize_row_mxfp4_ref(const float * x, void * y, int64_t n) {
    BlockMXFP4 * blocks = static_cast<BlockMXFP4 *>(y);
    for (int64_t ib = 0; ib < n / kQKMxfp4; ++ib) {
        const float * xb   = x + ib * kQKMxfp4;
        float         amax = 0.0f;
        for (int j = 0; j < kQKMxfp4; ++j) {
            // NaNs never win this comparison, as in ggml.
            if (amax < std::fabs(xb[j])) {
                amax = std::fabs(xb[j]);
            }
        }
        const uint8_t e = shared_exponent(amax);
        const float   d = e8m0_to_fp32_half(e);
        blocks[ib].e    = e;
        for (int j = 0; j < kQKMxfp4 / 2; ++j) {
            const uint8_t lo = best_index_fp4_ggml(xb[j], d);
            const uint8_t hi = best_index_fp4_ggml(xb[j + kQKMxfp4 / 2], d);
            blocks[ib].qs[j] = uint8_t(lo | (hi << 4));
        }
    }
}

void quantize_mxfp4(const float * x, void * y, int64_t nrows, int64_t n_per_row, const QuantParams &) {
    // ggml has no importance-aware MXFP4 quantizer: llama-quantize runs the reference per row.
    const int64_t row_bytes = n_per_row / kQKMxfp4 * int64_t(sizeof(BlockMXFP4));
    for (int64_t row = 0; row < nrows; ++row) {
        quantize_row_mxfp4_ref(x + row * n_per_row, static_cast<char *>(y) + row * row_bytes, n_per_row);
    }
}

void dequantize_row_mxfp4(const void * x, float * y, int64_t n) {
    const BlockMXFP4 * blocks = static_cast<const BlockMXFP4 *>(x);
    for (int64_t ib = 0; ib < n / kQKMxfp4; ++ib) {
        const float d  = e8m0_to_fp32_half(blocks[ib].e);
        float *     yb = y + ib * kQKMxfp4;
        for (int j = 0; j < kQKMxfp4 / 2; ++j) {
            yb[j]                = float(kValuesFp4[blocks[ib].qs[j] & 0xF]) * d;
            yb[j + kQKMxfp4 / 2] = float(kValuesFp4[blocks[ib].qs[j] >> 4]) * d;
        }
    }
}

}  // namespace nibble
