#include "formats/q5_0.h"

#include "formats/quant_common.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace nibble {

namespace {

// Splits 32 five-bit codes (element j and j+16 share a qs byte) into the low nibbles and the qh bit mask.
template <typename Code> void pack_q5(const Code * q, uint8_t * qs, uint8_t * qh_bytes) {
    uint32_t qh = 0;
    for (int j = 0; j < kQK5_0 / 2; ++j) {
        const uint32_t q0 = uint8_t(q[j]);
        const uint32_t q1 = uint8_t(q[j + kQK5_0 / 2]);
        qs[j]             = uint8_t((q0 & 0x0F) | ((q1 & 0x0F) << 4));
        qh |= ((q0 & 0x10u) >> 4) << j;
        qh |= ((q1 & 0x10u) >> 4) << (j + kQK5_0 / 2);
    }
    std::memcpy(qh_bytes, &qh, sizeof(qh));
}

// The importance-matrix path of one row (ggml quantize_row_q5_0_impl): as Q4_0 with nmax = 16.
void quantize_row_q5_0_weighted(const float * x, BlockQ5_0 * y, int64_t n_per_row, const float * qw) {
    const float   sigma2 = sum_squares(x, n_per_row) / float(n_per_row);
    const int64_t nb     = n_per_row / kQK5_0;
    float         weight[kQK5_0];
    int8_t        L[kQK5_0];
    for (int64_t ib = 0; ib < nb; ++ib) {
        const float * xb = x + ib * kQK5_0;
        const float * wb = qw + ib * kQK5_0;
        for (int j = 0; j < kQK5_0; ++j) {
            weight[j] = wb[j] * std::sqrt(sigma2 + xb[j] * xb[j]);
        }
        const float d = make_qx_quants(kQK5_0, 16, xb, L, 1, weight);
        y[ib].d       = fp32_to_fp16(d);
        pack_q5(L, y[ib].qs, y[ib].qh);
    }
}

}  // namespace

void quantize_row_q5_0_ref(const float * x, void * y, int64_t n) {
    BlockQ5_0 *   out = static_cast<BlockQ5_0 *>(y);
    const int64_t nb  = n / kQK5_0;
    for (int64_t ib = 0; ib < nb; ++ib) {
        const float * xb   = x + ib * kQK5_0;
        float         amax = 0.0f;
        float         max  = 0.0f;
        for (int j = 0; j < kQK5_0; ++j) {
            if (amax < std::fabs(xb[j])) {
                amax = std::fabs(xb[j]);
                max  = xb[j];
            }
        }
        // fp32 scale for the codes; an all-zero block stores d = -0 and codes 16.
        const float d  = max / -16;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        out[ib].d      = fp32_to_fp16(d);
        uint8_t q[kQK5_0];
        for (int j = 0; j < kQK5_0; ++j) {
            q[j] = uint8_t(std::min(31, int(int8_t(int(xb[j] * id + 16.5f)))));
        }
        pack_q5(q, out[ib].qs, out[ib].qh);
    }
}

void quantize_q5_0(const float * x, void * y, int64_t nrows, int64_t n_per_row, const QuantParams & p) {
    if (!p.imatrix) {
        quantize_row_q5_0_ref(x, y, nrows * n_per_row);
        return;
    }
    const int64_t row_blocks = n_per_row / kQK5_0;
    BlockQ5_0 *   out        = static_cast<BlockQ5_0 *>(y);
    for (int64_t r = 0; r < nrows; ++r) {
        quantize_row_q5_0_weighted(x + r * n_per_row, out + r * row_blocks, n_per_row, p.imatrix);
    }
}

void dequantize_row_q5_0(const void * x, float * y, int64_t n) {
    const BlockQ5_0 * in = static_cast<const BlockQ5_0 *>(x);
    const int64_t     nb = n / kQK5_0;
    for (int64_t ib = 0; ib < nb; ++ib) {
        const float d = fp16_to_fp32(in[ib].d);
        uint32_t    qh;
        std::memcpy(&qh, in[ib].qh, sizeof(qh));
        float * yb = y + ib * kQK5_0;
        for (int j = 0; j < kQK5_0 / 2; ++j) {
            // Bit j (low half) and bit j+16 (high half) of qh, moved to bit 4 of the code.
            const int hi0      = int(((qh >> j) << 4) & 0x10u);
            const int hi1      = int((qh >> (j + kQK5_0 / 2 - 4)) & 0x10u);
            const int q0       = ((in[ib].qs[j] & 0x0F) | hi0) - 16;
            const int q1       = ((in[ib].qs[j] >> 4) | hi1) - 16;
            yb[j]              = float(q0) * d;
            yb[j + kQK5_0 / 2] = float(q1) * d;
        }
    }
}

}  // namespace nibble
