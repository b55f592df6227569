#include "formats/iq4_xs.h"

#include "formats/quant_common.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace nibble {

namespace {

constexpr int kGroup     = 32;              // elements sharing one 6-bit scale
constexpr int kNumGroups = kQK_K / kGroup;  // 8
constexpr int kTrials    = 7;               // ggml's ntry for IQ4_XS (reference and importance path alike)

// One super-block; qw (its slice of the importance matrix) may be null, then the weights are x^2.
void quantize_block(const float * x, BlockIQ4_XS & y, const float * qw) {
    float sigma2 = sum_squares(x, kQK_K);
    sigma2 *= 2.f / kQK_K;

    float scales[kNumGroups];
    float max_scale  = 0;
    float amax_scale = 0;
    for (int ib = 0; ib < kNumGroups; ++ib) {
        const float * xb = x + ib * kGroup;
        float         weight[kGroup];
        for (int j = 0; j < kGroup; ++j) {
            weight[j] = qw ? qw[ib * kGroup + j] * std::sqrt(sigma2 + xb[j] * xb[j]) : xb[j] * xb[j];
        }
        scales[ib]        = iq4_group_scale(xb, weight, kTrials, nullptr);
        const float abs_d = std::fabs(scales[ib]);
        if (abs_d > amax_scale) {
            amax_scale = abs_d;
            max_scale  = scales[ib];
        }
    }

    // Super-block scale maps the largest group scale to -32 (the 6-bit code range is [-32, 31]).
    // An all-zero super-block gives d = -0.0, stored as 0x8000, exactly like ggml.
    const float d  = -max_scale / 32;
    y.d            = fp32_to_fp16(d);
    const float id = d ? 1 / d : 0.f;

    uint16_t scales_h = 0;
    std::memset(y.scales_l, 0, sizeof(y.scales_l));
    uint8_t L[kQK_K];
    for (int ib = 0; ib < kNumGroups; ++ib) {
        const int     l   = std::clamp(nearest_int(id * scales[ib]), -32, 31);
        // Elements are re-rounded with the fp32 group scale d*l, not the stored half.
        const float   dl  = d * l;
        const float   idl = dl ? 1 / dl : 0.f;
        const float * xb  = x + ib * kGroup;
        for (int j = 0; j < kGroup; ++j) {
            L[ib * kGroup + j] = uint8_t(best_index_int8(16, kValuesIq4nl, idl * xb[j]));
        }
        const int code = l + 32;
        y.scales_l[ib / 2] |= uint8_t((code & 0xF) << (4 * (ib % 2)));
        scales_h |= uint16_t((code >> 4) << (2 * ib));
    }
    y.scales_h = scales_h;

    for (int ib = 0; ib < kNumGroups; ++ib) {
        for (int j = 0; j < kGroup / 2; ++j) {
            y.qs[16 * ib + j] = uint8_t(L[kGroup * ib + j] | (L[kGroup * ib + kGroup / 2 + j] << 4));
        }
    }
}

}  // namespace

void quantize_row_iq4_xs_ref(const float * x, void * y, int64_t n) {
    // ggml's reference is its importance path without an importance matrix.
    quantize_iq4_xs(x, y, 1, n, QuantParams{});
}

void quantize_iq4_xs(const float * x, void * y, int64_t nrows, int64_t n_per_row, const QuantParams & p) {
    const int64_t nblock = n_per_row / kQK_K;
    BlockIQ4_XS * blocks = static_cast<BlockIQ4_XS *>(y);
    for (int64_t row = 0; row < nrows; ++row) {
        const float * xr = x + row * n_per_row;
        BlockIQ4_XS * yr = blocks + row * nblock;
        for (int64_t ibl = 0; ibl < nblock; ++ibl) {
            const float * qw = p.imatrix ? p.imatrix + ibl * kQK_K : nullptr;
            quantize_block(xr + ibl * kQK_K, yr[ibl], qw);
        }
    }
}

void dequantize_row_iq4_xs(const void * x, float * y, int64_t n) {
    const BlockIQ4_XS * blocks = static_cast<const BlockIQ4_XS *>(x);
    for (int64_t ibl = 0; ibl < n / kQK_K; ++ibl) {
        const BlockIQ4_XS & b = blocks[ibl];
        const float         d = fp16_to_fp32(b.d);
        for (int ib = 0; ib < kNumGroups; ++ib) {
            const int       ls = ((b.scales_l[ib / 2] >> (4 * (ib % 2))) & 0xF) | (((b.scales_h >> (2 * ib)) & 3) << 4);
            const float     dl = d * (ls - 32);
            const uint8_t * qs = b.qs + 16 * ib;
            float *         yb = y + ibl * kQK_K + ib * kGroup;
            for (int j = 0; j < kGroup / 2; ++j) {
                yb[j]              = dl * kValuesIq4nl[qs[j] & 0xF];
                yb[j + kGroup / 2] = dl * kValuesIq4nl[qs[j] >> 4];
            }
        }
    }
}

}  // namespace nibble
