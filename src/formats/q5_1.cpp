#include "formats/q5_1.h"

#include "formats/quant_common.h"

#include <cfloat>
#include <cmath>
#include <cstring>

namespace nibble {

namespace {

// Splits 32 five-bit codes (element j and j+16 share a qs byte) into the low nibbles and the qh bit mask.
void pack_q5(const uint8_t * q, uint8_t * qs, uint8_t * qh_bytes) {
    uint32_t qh = 0;
    for (int j = 0; j < kQK5_1 / 2; ++j) {
        const uint32_t q0 = q[j];
        const uint32_t q1 = q[j + kQK5_1 / 2];
        qs[j]             = uint8_t((q0 & 0x0F) | ((q1 & 0x0F) << 4));
        qh |= ((q0 & 0x10u) >> 4) << j;
        qh |= ((q1 & 0x10u) >> 4) << (j + kQK5_1 / 2);
    }
    std::memcpy(qh_bytes, &qh, sizeof(qh));
}

// The importance-matrix path of one row (ggml quantize_row_q5_1_impl): as Q4_1 with nmax = 31.
void quantize_row_q5_1_weighted(const float * x, BlockQ5_1 * y, int64_t n_per_row, const float * qw) {
    const float   sigma2 = sum_squares(x, n_per_row) / float(n_per_row);
    const int64_t nb     = n_per_row / kQK5_1;
    float         weight[kQK5_1];
    uint8_t       L[kQK5_1];
    uint8_t       Laux[kQK5_1];
    for (int64_t ib = 0; ib < nb; ++ib) {
        const float * xb = x + ib * kQK5_1;
        const float * wb = qw + ib * kQK5_1;
        for (int j = 0; j < kQK5_1; ++j) {
            weight[j] = wb[j] * std::sqrt(sigma2 + xb[j] * xb[j]);
        }
        float       neg_min = 0;
        const float d       = make_qkx3_quants(kQK5_1, 31, xb, weight, L, &neg_min, Laux, -0.9f, 0.05f, 36, false);
        y[ib].d             = fp32_to_fp16(d);
        y[ib].m             = fp32_to_fp16(-neg_min);
        pack_q5(L, y[ib].qs, y[ib].qh);
    }
}

}  // namespace

void quantize_row_q5_1_ref(const float * x, void * y, int64_t n) {
    BlockQ5_1 *   out = static_cast<BlockQ5_1 *>(y);
    const int64_t nb  = n / kQK5_1;
    for (int64_t ib = 0; ib < nb; ++ib) {
        const float * xb  = x + ib * kQK5_1;
        float         min = FLT_MAX;
        float         max = -FLT_MAX;
        for (int j = 0; j < kQK5_1; ++j) {
            if (xb[j] < min) {
                min = xb[j];
            }
            if (xb[j] > max) {
                max = xb[j];
            }
        }
        const float d  = (max - min) / 31;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        out[ib].d      = fp32_to_fp16(d);
        out[ib].m      = fp32_to_fp16(min);
        // Truncation after +0.5 with no cap at 31 (ggml has none here; bit 5 would simply be lost).
        uint8_t q[kQK5_1];
        for (int j = 0; j < kQK5_1; ++j) {
            q[j] = uint8_t(int((xb[j] - min) * id + 0.5f));
        }
        pack_q5(q, out[ib].qs, out[ib].qh);
    }
}

void quantize_q5_1(const float * x, void * y, int64_t nrows, int64_t n_per_row, const QuantParams & p) {
    if (!p.imatrix) {
        quantize_row_q5_1_ref(x, y, nrows * n_per_row);
        return;
    }
    const int64_t row_blocks = n_per_row / kQK5_1;
    BlockQ5_1 *   out        = static_cast<BlockQ5_1 *>(y);
    for (int64_t r = 0; r < nrows; ++r) {
        quantize_row_q5_1_weighted(x + r * n_per_row, out + r * row_blocks, n_per_row, p.imatrix);
    }
}

void dequantize_row_q5_1(const void * x, float * y, int64_t n) {
    const BlockQ5_1 * in = static_cast<const BlockQ5_1 *>(x);
    const int64_t     nb = n / kQK5_1;
    for (int64_t ib = 0; ib < nb; ++ib) {
        const float d = fp16_to_fp32(in[ib].d);
        const float m = fp16_to_fp32(in[ib].m);
        uint32_t    qh;
        std::memcpy(&qh, in[ib].qh, sizeof(qh));
        float * yb = y + ib * kQK5_1;
        for (int j = 0; j < kQK5_1 / 2; ++j) {
            // Bit j (low half) and bit j+16 (high half) of qh, moved to bit 4 of the code.
            const int hi0      = int(((qh >> j) << 4) & 0x10u);
            const int hi1      = int((qh >> (j + kQK5_1 / 2 - 4)) & 0x10u);
            const int q0       = (in[ib].qs[j] & 0x0F) | hi0;
            const int q1       = (in[ib].qs[j] >> 4) | hi1;
            yb[j]              = float(q0) * d + m;
            yb[j + kQK5_1 / 2] = float(q1) * d + m;
        }
    }
}

}  // namespace nibble
