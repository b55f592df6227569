#include "formats/q4_1.h"

#include "formats/quant_common.h"

#include <algorithm>
#include <cfloat>
#include <cmath>

namespace nibble {

namespace {

// The importance-matrix path of one row (ggml quantize_row_q4_1_impl): weighted (scale, min) search per
// block, weights = importance * sqrt(row variance + x^2).
void quantize_row_q4_1_weighted(const float * x, BlockQ4_1 * y, int64_t n_per_row, const float * qw) {
    const float   sigma2 = sum_squares(x, n_per_row) / float(n_per_row);
    const int64_t nb     = n_per_row / kQK4_1;
    float         weight[kQK4_1];
    uint8_t       L[kQK4_1];
    uint8_t       Laux[kQK4_1];
    for (int64_t ib = 0; ib < nb; ++ib) {
        const float * xb = x + ib * kQK4_1;
        const float * wb = qw + ib * kQK4_1;
        for (int j = 0; j < kQK4_1; ++j) {
            weight[j] = wb[j] * std::sqrt(sigma2 + xb[j] * xb[j]);
        }
        float       neg_min = 0;
        const float d       = make_qkx3_quants(kQK4_1, 15, xb, weight, L, &neg_min, Laux, -0.9f, 0.05f, 36, false);
        y[ib].d             = fp32_to_fp16(d);
        y[ib].m             = fp32_to_fp16(-neg_min);
        for (int j = 0; j < kQK4_1 / 2; ++j) {
            y[ib].qs[j] = uint8_t(L[j] | (L[j + kQK4_1 / 2] << 4));
        }
    }
}

}  // namespace

void quantize_row_q4_1_ref(const float * x, void * y, int64_t n) {
    BlockQ4_1 *   out = static_cast<BlockQ4_1 *>(y);
    const int64_t nb  = n / kQK4_1;
    for (int64_t ib = 0; ib < nb; ++ib) {
        const float * xb  = x + ib * kQK4_1;
        float         min = FLT_MAX;
        float         max = -FLT_MAX;
        for (int j = 0; j < kQK4_1; ++j) {
            if (xb[j] < min) {
                min = xb[j];
            }
            if (xb[j] > max) {
                max = xb[j];
            }
        }
        // fp32 d/id and min drive the codes; only the stored copies are fp16.
        const float d  = (max - min) / 15;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        out[ib].d      = fp32_to_fp16(d);
        out[ib].m      = fp32_to_fp16(min);
        for (int j = 0; j < kQK4_1 / 2; ++j) {
            // Truncation after +0.5 (round half up for the non-negative operand), capped at 15.
            const int q0  = std::min(15, int(int8_t(int((xb[j] - min) * id + 0.5f))));
            const int q1  = std::min(15, int(int8_t(int((xb[j + kQK4_1 / 2] - min) * id + 0.5f))));
            out[ib].qs[j] = uint8_t(q0 | (q1 << 4));
        }
    }
}

void quantize_q4_1(const float * x, void * y, int64_t nrows, int64_t n_per_row, const QuantParams & p) {
    if (!p.imatrix) {
        quantize_row_q4_1_ref(x, y, nrows * n_per_row);
        return;
    }
    const int64_t row_blocks = n_per_row / kQK4_1;
    BlockQ4_1 *   out        = static_cast<BlockQ4_1 *>(y);
    for (int64_t r = 0; r < nrows; ++r) {
        quantize_row_q4_1_weighted(x + r * n_per_row, out + r * row_blocks, n_per_row, p.imatrix);
    }
}

void dequantize_row_q4_1(const void * x, float * y, int64_t n) {
    const BlockQ4_1 * in = static_cast<const BlockQ4_1 *>(x);
    const int64_t     nb = n / kQK4_1;
    for (int64_t ib = 0; ib < nb; ++ib) {
        const float d  = fp16_to_fp32(in[ib].d);
        const float m  = fp16_to_fp32(in[ib].m);
        float *     yb = y + ib * kQK4_1;
        for (int j = 0; j < kQK4_1 / 2; ++j) {
            const int q0       = in[ib].qs[j] & 0x0F;
            const int q1       = in[ib].qs[j] >> 4;
            yb[j]              = float(q0) * d + m;
            yb[j + kQK4_1 / 2] = float(q1) * d + m;
        }
    }
}

}  // namespace nibble
