#include "formats/q2_k.h"

#include "formats/quant_common.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace nibble {

namespace {

constexpr int kGroup   = 16;              // weights per (scale, min) pair
constexpr int kNGroups = kQK_K / kGroup;  // 16 pairs per super-block
constexpr int kQMax    = 3;               // 2-bit quants
constexpr int kSMax    = 15;              // 4-bit scales and mins

// Recompute the quants of every group from the values actually stored in the block (fp16 d/dmin
// and 4-bit scale/min codes), so rounding of the scales is compensated. Groups whose stored scale
// is zero keep the quants of the search.
void requantize(const float * x, const BlockQ2_K & b, uint8_t * L) {
    const float d_all   = fp16_to_fp32(b.d);
    const float min_all = fp16_to_fp32(b.dmin);
    for (int j = 0; j < kNGroups; ++j) {
        const float d = d_all * (b.scales[j] & 0xF);
        if (!d) {
            continue;
        }
        const float dm = min_all * (b.scales[j] >> 4);
        for (int i = 0; i < kGroup; ++i) {
            const int l       = nearest_int((x[kGroup * j + i] + dm) / d);
            L[kGroup * j + i] = uint8_t(std::max(0, std::min(kQMax, l)));
        }
    }
}

// Four 2-bit quants per byte: byte l of half h holds elements 128h + l + 32s at bits 2s.
void pack_quants(const uint8_t * L, uint8_t * qs) {
    for (int h = 0; h < kQK_K; h += 128) {
        for (int l = 0; l < 32; ++l) {
            qs[h / 4 + l] = uint8_t(L[h + l] | (L[h + l + 32] << 2) | (L[h + l + 64] << 4) | (L[h + l + 96] << 6));
        }
    }
}

// ggml's quantize_row_q2_K_impl for one row: importance-weighted search, scales and mins
// quantized against the group weight sums.
void quantize_row_weighted(const float * x, BlockQ2_K * y, int64_t n, const float * qw_row) {
    const int64_t nb = n / kQK_K;

    uint8_t L[kQK_K];
    uint8_t Laux[kGroup];
    float   mins[kNGroups];
    float   scales[kNGroups];
    float   sw[kNGroups];
    float   weight[kGroup];
    uint8_t Ls[kNGroups];
    uint8_t Lm[kNGroups];

    for (int64_t i = 0; i < nb; ++i) {
        const float   sigma2 = sum_squares(x, kQK_K) / kQK_K;
        const float * qw     = qw_row + kQK_K * i;
        for (int j = 0; j < kNGroups; ++j) {
            const float * xg = x + kGroup * j;
            for (int l = 0; l < kGroup; ++l) {
                weight[l] = qw[kGroup * j + l] * std::sqrt(sigma2 + xg[l] * xg[l]);
            }
            sw[j] = 0;
            for (int l = 0; l < kGroup; ++l) {
                sw[j] += weight[l];
            }
            scales[j] =
                make_qkx3_quants(kGroup, kQMax, xg, weight, L + kGroup * j, &mins[j], Laux, -0.9f, 0.05f, 36, false);
        }

        const float dm = make_qp_quants(kNGroups, kSMax, scales, Ls, sw);
        const float mm = make_qp_quants(kNGroups, kSMax, mins, Lm, sw);
        y[i].d         = fp32_to_fp16(dm);
        y[i].dmin      = fp32_to_fp16(mm);
        for (int j = 0; j < kNGroups; ++j) {
            y[i].scales[j] = uint8_t(Ls[j] | (Lm[j] << 4));
        }

        // requantize() reloads d/dmin from fp16, as the reference does.
        requantize(x, y[i], L);
        pack_quants(L, y[i].qs);
        x += kQK_K;
    }
}

}  // namespace

void quantize_row_q2_k_ref(const float * x, void * vy, int64_t n) {
    BlockQ2_K *   y  = static_cast<BlockQ2_K *>(vy);
    const int64_t nb = n / kQK_K;

    uint8_t L[kQK_K];
    uint8_t Laux[kGroup];
    float   weights[kGroup];
    float   mins[kNGroups];
    float   scales[kNGroups];

    for (int64_t i = 0; i < nb; ++i) {
        // Both maxima start at 0: scales and mins (of the shifted group) are never negative.
        float max_scale = 0;
        float max_min   = 0;
        for (int j = 0; j < kNGroups; ++j) {
            const float * xg = x + kGroup * j;
            for (int l = 0; l < kGroup; ++l) {
                weights[l] = std::fabs(xg[l]);
            }
            scales[j] =
                make_qkx2_quants(kGroup, kQMax, xg, weights, L + kGroup * j, &mins[j], Laux, -0.5f, 0.1f, 15, true);
            if (scales[j] > max_scale) {
                max_scale = scales[j];
            }
            if (mins[j] > max_min) {
                max_min = mins[j];
            }
        }

        if (max_scale > 0) {
            const float iscale = kSMax / max_scale;
            for (int j = 0; j < kNGroups; ++j) {
                y[i].scales[j] = uint8_t(nearest_int(iscale * scales[j]));
            }
            y[i].d = fp32_to_fp16(max_scale / kSMax);
        } else {
            std::memset(y[i].scales, 0, sizeof(y[i].scales));
            y[i].d = fp32_to_fp16(0.f);
        }
        if (max_min > 0) {
            const float iscale = kSMax / max_min;
            for (int j = 0; j < kNGroups; ++j) {
                y[i].scales[j] = uint8_t(y[i].scales[j] | (nearest_int(iscale * mins[j]) << 4));
            }
            y[i].dmin = fp32_to_fp16(max_min / kSMax);
        } else {
            y[i].dmin = fp32_to_fp16(0.f);
        }

        requantize(x, y[i], L);
        pack_quants(L, y[i].qs);
        x += kQK_K;
    }
}

void quantize_q2_k(const float * x, void * y, int64_t nrows, int64_t n_per_row, const QuantParams & p) {
    if (!p.imatrix) {
        // Rows are a whole number of blocks, so the chunk can be quantized as one long row.
        quantize_row_q2_k_ref(x, y, nrows * n_per_row);
        return;
    }
    const int64_t blocks_per_row = n_per_row / kQK_K;
    BlockQ2_K *   out            = static_cast<BlockQ2_K *>(y);
    for (int64_t r = 0; r < nrows; ++r) {
        quantize_row_weighted(x + r * n_per_row, out + r * blocks_per_row, n_per_row, p.imatrix);
    }
}

void dequantize_row_q2_k(const void * vx, float * y, int64_t n) {
    const BlockQ2_K * x  = static_cast<const BlockQ2_K *>(vx);
    const int64_t     nb = n / kQK_K;
    for (int64_t i = 0; i < nb; ++i) {
        const float d   = fp16_to_fp32(x[i].d);
        const float min = fp16_to_fp32(x[i].dmin);
        for (int e = 0; e < kQK_K; ++e) {
            const int     h     = e / 128;
            const int     r     = e % 128;
            const int     shift = 2 * (r / 32);
            const uint8_t sc    = x[i].scales[e / kGroup];
            const float   dl    = d * (sc & 0xF);
            const float   ml    = min * (sc >> 4);
            const int     q     = (x[i].qs[32 * h + r % 32] >> shift) & 3;
            y[kQK_K * i + e]    = dl * q - ml;
        }
    }
}

}  // namespace nibble
