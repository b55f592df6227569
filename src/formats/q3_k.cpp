#include "formats/q3_k.h"

#include "formats/quant_common.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace nibble {

namespace {

constexpr int kGroup   = 16;              // weights per scale
constexpr int kNGroups = kQK_K / kGroup;  // 16 scales per super-block
constexpr int kQHalf   = 4;               // quants in [-4, 3]
constexpr int kSHalf   = 32;              // scale codes in [-32, 31]

// Store the 6-bit code (0..63) of scale j: low nibbles in bytes 0..7 (j < 8 low half, else high
// half), the two high bits in bytes 8..11 at bit 2*(j/4) of byte 8 + j%4. Expects zeroed scales.
void set_scale_code(uint8_t * scales, int j, int code) {
    if (j < 8) {
        scales[j] = uint8_t(code & 0xF);
    } else {
        scales[j - 8] = uint8_t(scales[j - 8] | ((code & 0xF) << 4));
    }
    scales[8 + j % 4] = uint8_t(scales[8 + j % 4] | ((code >> 4) << (2 * (j / 4))));
}

// Signed scale j (code - 32).
int get_scale(const uint8_t * scales, int j) {
    const int low  = j < 8 ? scales[j] & 0xF : scales[j - 8] >> 4;
    const int high = (scales[8 + j % 4] >> (2 * (j / 4))) & 3;
    return (low | (high << 4)) - kSHalf;
}

// Requantize from the stored fp16 d and 6-bit scales, then split the 3-bit quants into the high-bit
// mask and the packed low 2 bits. Groups with a zero stored scale keep the search's quants.
void finish_block(const float * x, BlockQ3_K & b, int8_t * L) {
    const float d_all = fp16_to_fp32(b.d);
    for (int j = 0; j < kNGroups; ++j) {
        const float d = d_all * get_scale(b.scales, j);
        if (!d) {
            continue;
        }
        for (int i = 0; i < kGroup; ++i) {
            const int l       = nearest_int(x[kGroup * j + i] / d);
            L[kGroup * j + i] = int8_t(std::max(-kQHalf, std::min(kQHalf - 1, l)) + kQHalf);
        }
    }

    // Element e's high bit goes to bit e/32 of hmask[e%32].
    std::memset(b.hmask, 0, sizeof(b.hmask));
    for (int e = 0; e < kQK_K; ++e) {
        if (L[e] > 3) {
            b.hmask[e % 32] = uint8_t(b.hmask[e % 32] | (1 << (e / 32)));
            L[e]            = int8_t(L[e] - 4);
        }
    }
    for (int h = 0; h < kQK_K; h += 128) {
        for (int l = 0; l < 32; ++l) {
            b.qs[h / 4 + l] = uint8_t(L[h + l] | (L[h + l + 32] << 2) | (L[h + l + 64] << 4) | (L[h + l + 96] << 6));
        }
    }
}

// ggml's quantize_row_q3_K_impl for one row. qw_row == nullptr weights by x^2 (not reachable from
// quantize_q3_k, kept for parity with the reference).
void quantize_row_weighted(const float * x, BlockQ3_K * y, int64_t n, const float * qw_row) {
    const int64_t nb = n / kQK_K;

    int8_t L[kQK_K];
    float  scales[kNGroups];
    float  weight[kGroup];
    float  sw[kNGroups];
    int8_t Ls[kNGroups];

    for (int64_t i = 0; i < nb; ++i) {
        // 2 * sumx2 first, then / 256, as in the reference.
        const float sigma2 = 2 * sum_squares(x, kQK_K) / kQK_K;
        for (int j = 0; j < kNGroups; ++j) {
            const float * xg = x + kGroup * j;
            if (qw_row) {
                const float * qw = qw_row + kQK_K * i + kGroup * j;
                for (int l = 0; l < kGroup; ++l) {
                    weight[l] = qw[l] * std::sqrt(sigma2 + xg[l] * xg[l]);
                }
            } else {
                for (int l = 0; l < kGroup; ++l) {
                    weight[l] = xg[l] * xg[l];
                }
            }
            float sumw = 0;
            for (int l = 0; l < kGroup; ++l) {
                sumw += weight[l];
            }
            sw[j]     = sumw;
            scales[j] = make_qx_quants(kGroup, kQHalf, xg, L + kGroup * j, 1, weight);
        }

        std::memset(y[i].scales, 0, sizeof(y[i].scales));
        const float d_block = make_qx_quants(kNGroups, kSHalf, scales, Ls, 1, sw);
        for (int j = 0; j < kNGroups; ++j) {
            set_scale_code(y[i].scales, j, Ls[j]);
        }
        y[i].d = fp32_to_fp16(d_block);

        finish_block(x, y[i], L);
        x += kQK_K;
    }
}

}  // namespace

void quantize_row_q3_k_ref(const float * x, void * vy, int64_t n) {
    BlockQ3_K *   y  = static_cast<BlockQ3_K *>(vy);
    const int64_t nb = n / kQK_K;

    int8_t L[kQK_K];
    float  scales[kNGroups];

    for (int64_t i = 0; i < nb; ++i) {
        // max_scale is the signed scale of largest magnitude (first one wins).
        float max_scale = 0;
        float amax      = 0;
        for (int j = 0; j < kNGroups; ++j) {
            scales[j]         = make_q3_quants(kGroup, kQHalf, x + kGroup * j, L + kGroup * j, true);
            const float scale = std::fabs(scales[j]);
            if (scale > amax) {
                amax      = scale;
                max_scale = scales[j];
            }
        }

        std::memset(y[i].scales, 0, sizeof(y[i].scales));
        if (max_scale) {
            const float iscale = -32.f / max_scale;
            for (int j = 0; j < kNGroups; ++j) {
                // The reference narrows to int8 before clamping.
                const int l = int8_t(nearest_int(iscale * scales[j]));
                set_scale_code(y[i].scales, j, std::max(-kSHalf, std::min(kSHalf - 1, l)) + kSHalf);
            }
            y[i].d = fp32_to_fp16(1 / iscale);
        } else {
            y[i].d = fp32_to_fp16(0.f);
        }

        finish_block(x, y[i], L);
        x += kQK_K;
    }
}

void quantize_q3_k(const float * x, void * y, int64_t nrows, int64_t n_per_row, const QuantParams & p) {
    if (!p.imatrix) {
        // Rows are a whole number of blocks, so the chunk can be quantized as one long row.
        quantize_row_q3_k_ref(x, y, nrows * n_per_row);
        return;
    }
    const int64_t blocks_per_row = n_per_row / kQK_K;
    BlockQ3_K *   out            = static_cast<BlockQ3_K *>(y);
    for (int64_t r = 0; r < nrows; ++r) {
        quantize_row_weighted(x + r * n_per_row, out + r * blocks_per_row, n_per_row, p.imatrix);
    }
}

void dequantize_row_q3_k(const void * vx, float * y, int64_t n) {
    const BlockQ3_K * x  = static_cast<const BlockQ3_K *>(vx);
    const int64_t     nb = n / kQK_K;
    for (int64_t i = 0; i < nb; ++i) {
        const float d_all = fp16_to_fp32(x[i].d);
        for (int e = 0; e < kQK_K; ++e) {
            const int   h    = e / 128;
            const int   r    = e % 128;
            const int   s    = r / 32;
            const int   l    = r % 32;
            const float dl   = d_all * get_scale(x[i].scales, e / kGroup);
            const int   low  = (x[i].qs[32 * h + l] >> (2 * s)) & 3;
            const bool  high = (x[i].hmask[l] >> (4 * h + s)) & 1;
            y[kQK_K * i + e] = dl * (low - (high ? 0 : 4));
        }
    }
}

}  // namespace nibble
