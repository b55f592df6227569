#include "formats/q5_k.h"

#include "formats/quant_common.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace nibble {

namespace {

constexpr int kGroups    = kQK_K / 32;  // 32-element groups per super-block
constexpr int kNmax      = 31;          // 5-bit quants
constexpr int kScaleNmax = 63;          // 6-bit scales and mins

// Inverse of get_scale_min_k4 (same packing as Q4_K); j must run upwards because groups 4..7
// OR their high bits into bytes written by groups 0..3.
void pack_scale_min(int j, uint8_t ls, uint8_t lm, uint8_t * s) {
    if (j < 4) {
        s[j]     = ls;
        s[j + 4] = lm;
    } else {
        s[j + 4] = uint8_t((ls & 0xF) | ((lm & 0xF) << 4));
        s[j - 4] |= uint8_t((ls >> 4) << 6);
        s[j] |= uint8_t((lm >> 4) << 6);
    }
}

// Final quants from the stored (fp16-rounded) super-scales; groups whose effective scale is zero
// keep the quants of the search.
void requantize(const float * x, const BlockQ5_K & b, uint8_t * L) {
    for (int j = 0; j < kGroups; ++j) {
        uint8_t sc, m;
        get_scale_min_k4(j, b.scales, sc, m);
        const float d = fp16_to_fp32(b.d) * sc;
        if (!d) {
            continue;
        }
        const float dm = fp16_to_fp32(b.dmin) * m;
        for (int i = 0; i < 32; ++i) {
            const int l  = nearest_int((x[32 * j + i] + dm) / d);
            L[32 * j + i] = uint8_t(std::max(0, std::min(kNmax, l)));
        }
    }
}

// Low nibbles as Q4_K; bit 2c of qh[l] is the 5th bit of element 64c+l, bit 2c+1 that of 64c+32+l.
void pack_quants(const uint8_t * L, uint8_t * qs, uint8_t * qh) {
    std::memset(qh, 0, kQK_K / 8);
    for (int c = 0; c < kQK_K / 64; ++c) {
        const uint8_t lo_bit = uint8_t(1u << (2 * c));
        const uint8_t hi_bit = uint8_t(2u << (2 * c));
        for (int l = 0; l < 32; ++l) {
            int l1 = L[64 * c + l];
            int l2 = L[64 * c + l + 32];
            if (l1 > 15) {
                l1 -= 16;
                qh[l] |= lo_bit;
            }
            if (l2 > 15) {
                l2 -= 16;
                qh[l] |= hi_bit;
            }
            qs[32 * c + l] = uint8_t(l1 | (l2 << 4));
        }
    }
}

// ggml's quantize_row_q5_K_impl: one row with importance weights qw (length n_per_row).
void quantize_row_impl(const float * x, BlockQ5_K * y, int64_t n_per_row, const float * qw) {
    const int64_t nb = n_per_row / kQK_K;

    uint8_t L[kQK_K];
    uint8_t Laux[32];
    uint8_t Ls[kGroups];
    uint8_t Lm[kGroups];
    float   mins[kGroups];
    float   scales[kGroups];
    float   sw[kGroups];
    float   weights[32];

    for (int64_t i = 0; i < nb; ++i) {
        BlockQ5_K & b = y[i];

        const float sigma2 = 2 * sum_squares(x, kQK_K) / kQK_K;

        for (int j = 0; j < kGroups; ++j) {
            const float * xg = x + 32 * j;
            const float * qg = qw + kQK_K * i + 32 * j;
            for (int l = 0; l < 32; ++l) {
                weights[l] = qg[l] * std::sqrt(sigma2 + xg[l] * xg[l]);
            }
            float sumw = 0;
            for (int l = 0; l < 32; ++l) {
                sumw += weights[l];
            }
            sw[j]     = sumw;
            scales[j] = make_qkx3_quants(32, kNmax, xg, weights, L + 32 * j, &mins[j], Laux, -0.9f, 0.05f, 36, false);
        }

        const float d_block = make_qp_quants(kGroups, kScaleNmax, scales, Ls, sw);
        const float m_block = make_qp_quants(kGroups, kScaleNmax, mins, Lm, sw);
        for (int j = 0; j < kGroups; ++j) {
            // Unlike Q4_K, the reference clamps here.
            const uint8_t ls = std::min<uint8_t>(kScaleNmax, Ls[j]);
            const uint8_t lm = std::min<uint8_t>(kScaleNmax, Lm[j]);
            pack_scale_min(j, ls, lm, b.scales);
        }
        b.d    = fp32_to_fp16(d_block);
        b.dmin = fp32_to_fp16(m_block);

        requantize(x, b, L);
        pack_quants(L, b.qs, b.qh);

        x += kQK_K;
    }
}

}  // namespace

void quantize_row_q5_k_ref(const float * x, void * y, int64_t n) {
    BlockQ5_K *   blocks = static_cast<BlockQ5_K *>(y);
    const int64_t nb     = n / kQK_K;

    uint8_t L[kQK_K];
    uint8_t Laux[32];
    float   weights[32];
    float   mins[kGroups];
    float   scales[kGroups];

    for (int64_t i = 0; i < nb; ++i) {
        BlockQ5_K & b = blocks[i];

        // Mins are subtracted, so scales and mins are both non-negative maxima.
        float max_scale = 0;
        float max_min   = 0;
        for (int j = 0; j < kGroups; ++j) {
            const float * xg   = x + 32 * j;
            const float   av_x = std::sqrt(sum_squares(xg, 32) / 32);
            for (int l = 0; l < 32; ++l) {
                weights[l] = av_x + std::fabs(xg[l]);
            }
            scales[j] = make_qkx2_quants(32, kNmax, xg, weights, L + 32 * j, &mins[j], Laux, -0.5f, 0.1f, 15, false);
            if (scales[j] > max_scale) {
                max_scale = scales[j];
            }
            if (mins[j] > max_min) {
                max_min = mins[j];
            }
        }

        const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
        const float inv_min   = max_min > 0 ? 63.f / max_min : 0.f;
        for (int j = 0; j < kGroups; ++j) {
            // The reference narrows to uint8 before clamping.
            const uint8_t ls = std::min<uint8_t>(kScaleNmax, uint8_t(nearest_int(inv_scale * scales[j])));
            const uint8_t lm = std::min<uint8_t>(kScaleNmax, uint8_t(nearest_int(inv_min * mins[j])));
            pack_scale_min(j, ls, lm, b.scales);
        }
        b.d    = fp32_to_fp16(max_scale / 63.f);
        b.dmin = fp32_to_fp16(max_min / 63.f);

        requantize(x, b, L);
        pack_quants(L, b.qs, b.qh);

        x += kQK_K;
    }
}

void quantize_q5_k(const float * x, void * y, int64_t nrows, int64_t n_per_row, const QuantParams & p) {
    if (!p.imatrix) {
        quantize_row_q5_k_ref(x, y, nrows * n_per_row);
        return;
    }
    BlockQ5_K *   out   = static_cast<BlockQ5_K *>(y);
    const int64_t nbrow = n_per_row / kQK_K;
    for (int64_t r = 0; r < nrows; ++r) {
        quantize_row_impl(x + r * n_per_row, out + r * nbrow, n_per_row, p.imatrix);
    }
}

void dequantize_row_q5_k(const void * x, float * y, int64_t n) {
    const BlockQ5_K * blocks = static_cast<const BlockQ5_K *>(x);
    const int64_t     nb     = n / kQK_K;

    for (int64_t i = 0; i < nb; ++i) {
        const BlockQ5_K & b    = blocks[i];
        const float       d    = fp16_to_fp32(b.d);
        const float       dmin = fp16_to_fp32(b.dmin);
        const uint8_t *   ql   = b.qs;
        const uint8_t *   qh   = b.qh;

        for (int c = 0; c < kQK_K / 64; ++c) {
            const uint8_t lo_bit = uint8_t(1u << (2 * c));
            const uint8_t hi_bit = uint8_t(2u << (2 * c));
            uint8_t       sc, m;
            get_scale_min_k4(2 * c, b.scales, sc, m);
            const float d1 = d * sc;
            const float m1 = dmin * m;
            get_scale_min_k4(2 * c + 1, b.scales, sc, m);
            const float d2 = d * sc;
            const float m2 = dmin * m;
            for (int l = 0; l < 32; ++l) {
                *y++ = d1 * ((ql[l] & 0xF) + (qh[l] & lo_bit ? 16 : 0)) - m1;
            }
            for (int l = 0; l < 32; ++l) {
                *y++ = d2 * ((ql[l] >> 4) + (qh[l] & hi_bit ? 16 : 0)) - m2;
            }
            ql += 32;
        }
    }
}

}  // namespace nibble
