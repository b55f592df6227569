#include "formats/q4_0.h"

#include "formats/quant_common.h"

#include <algorithm>
#include <cmath>

namespace nibble {

namespace {

// The importance-matrix path of one row (ggml quantize_row_q4_0_impl): a weighted symmetric scale
// search per block. The weights mix the column importance with the row's spread so that small values
// in a loud row still count.
void quantize_row_q4_0_weighted(const float * x, BlockQ4_0 * y, int64_t n_per_row, const float * qw) {
    const float   sigma2 = sum_squares(x, n_per_row) / float(n_per_row);
    const int64_t nb     = n_per_row / kQK4_0;
    float         weight[kQK4_0];
    int8_t        L[kQK4_0];
    for (int64_t ib = 0; ib < nb; ++ib) {
        const float * xb = x + ib * kQK4_0;
        const float * wb = qw + ib * kQK4_0;
        for (int j = 0; j < kQK4_0; ++j) {
            weight[j] = wb[j] * std::sqrt(sigma2 + xb[j] * xb[j]);
        }
        const float d = make_qx_quants(kQK4_0, 8, xb, L, 1, weight);
        y[ib].d       = fp32_to_fp16(d);
        for (int j = 0; j < kQK4_0 / 2; ++j) {
            y[ib].qs[j] = uint8_t(L[j] | (L[j + kQK4_0 / 2] << 4));
        }
    }
}

}  // namespace

void quantize_row_q4_0_ref(const float * x, void * y, int64_t n) {
    BlockQ4_0 *   out = static_cast<BlockQ4_0 *>(y);
    const int64_t nb  = n / kQK4_0;
    for (int64_t ib = 0; ib < nb; ++ib) {
        const float * xb   = x + ib * kQK4_0;
        // Signed value of the largest magnitude; the first one wins ties.
        float         amax = 0.0f;
        float         max  = 0.0f;
        for (int j = 0; j < kQK4_0; ++j) {
            if (amax < std::fabs(xb[j])) {
                amax = std::fabs(xb[j]);
                max  = xb[j];
            }
        }
        // Quantize with the fp32 scale, not the stored fp16 one. An all-zero block gives d = -0.
        const float d  = max / -8;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        out[ib].d      = fp32_to_fp16(d);
        for (int j = 0; j < kQK4_0 / 2; ++j) {
            // Truncation after +8.5 (not rounding); only the top end can overflow the nibble.
            const int q0  = std::min(15, int(int8_t(int(xb[j] * id + 8.5f))));
            const int q1  = std::min(15, int(int8_t(int(xb[j + kQK4_0 / 2] * id + 8.5f))));
            out[ib].qs[j] = uint8_t(q0 | (q1 << 4));
        }
    }
}

void quantize_q4_0(const float * x, void * y, int64_t nrows, int64_t n_per_row, const QuantParams & p) {
    if (!p.imatrix) {
        quantize_row_q4_0_ref(x, y, nrows * n_per_row);
        return;
    }
    const int64_t row_blocks = n_per_row / kQK4_0;
    BlockQ4_0 *   out        = static_cast<BlockQ4_0 *>(y);
    for (int64_t r = 0; r < nrows; ++r) {
        quantize_row_q4_0_weighted(x + r * n_per_row, out + r * row_blocks, n_per_row, p.imatrix);
    }
}

void dequantize_row_q4_0(const void * x, float * y, int64_t n) {
    const BlockQ4_0 * in = static_cast<const BlockQ4_0 *>(x);
    const int64_t     nb = n / kQK4_0;
    for (int64_t ib = 0; ib < nb; ++ib) {
        const float d  = fp16_to_fp32(in[ib].d);
        float *     yb = y + ib * kQK4_0;
        for (int j = 0; j < kQK4_0 / 2; ++j) {
            const int q0       = (in[ib].qs[j] & 0x0F) - 8;
            const int q1       = (in[ib].qs[j] >> 4) - 8;
            yb[j]              = float(q0) * d;
            yb[j + kQK4_0 / 2] = float(q1) * d;
        }
    }
}

}  // namespace nibble
