#include "formats/q6_k.h"

#include "formats/quant_common.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace nibble {

namespace {

constexpr int kGroups = kQK_K / 16;  // 16-element groups per super-block
constexpr int kNmax   = 32;          // quants in [-32, 31], stored with +32

// Shared body of the reference and importance paths: they differ only in the weights handed to
// make_qx_quants (nullptr = x^2, else the raw imatrix values of the group).
void quantize_block(const float * x, BlockQ6_K & b, const float * qw) {
    int8_t L[kQK_K];
    float  scales[kGroups];

    // Keep the signed scale of largest magnitude (first occurrence wins).
    float max_scale     = 0;
    float max_abs_scale = 0;
    for (int g = 0; g < kGroups; ++g) {
        const float scale = make_qx_quants(16, kNmax, x + 16 * g, L + 16 * g, 1, qw ? qw + 16 * g : nullptr);
        scales[g]         = scale;
        const float abs_scale = std::fabs(scale);
        if (abs_scale > max_abs_scale) {
            max_abs_scale = abs_scale;
            max_scale     = scale;
        }
    }

    if (max_abs_scale < kGroupMaxEps) {
        std::memset(&b, 0, sizeof(BlockQ6_K));
        b.d = fp32_to_fp16(0.f);
        return;
    }

    const float iscale = -128.f / max_scale;
    b.d                = fp32_to_fp16(1 / iscale);
    for (int g = 0; g < kGroups; ++g) {
        b.scales[g] = int8_t(std::min(127, nearest_int(iscale * scales[g])));
    }

    // Final quants from the stored fp16 super-scale; zero-scale groups keep the search's quants.
    for (int g = 0; g < kGroups; ++g) {
        const float d = fp16_to_fp32(b.d) * b.scales[g];
        if (!d) {
            continue;
        }
        for (int i = 0; i < 16; ++i) {
            const int l  = nearest_int(x[16 * g + i] / d);
            L[16 * g + i] = int8_t(std::max(-32, std::min(31, l)) + 32);
        }
    }

    // Per 128-element half h: ql[64h+l] holds elements l (low) and l+64 (high), ql[64h+32+l] holds
    // l+32 and l+96; qh[32h+l] holds the top 2 bits of l, l+32, l+64, l+96 from low to high.
    for (int h = 0; h < kQK_K / 128; ++h) {
        const int8_t * Lh = L + 128 * h;
        uint8_t *      ql = b.ql + 64 * h;
        uint8_t *      qh = b.qh + 32 * h;
        for (int l = 0; l < 32; ++l) {
            const uint8_t q1 = uint8_t(Lh[l] & 0xF);
            const uint8_t q2 = uint8_t(Lh[l + 32] & 0xF);
            const uint8_t q3 = uint8_t(Lh[l + 64] & 0xF);
            const uint8_t q4 = uint8_t(Lh[l + 96] & 0xF);
            ql[l]      = uint8_t(q1 | (q3 << 4));
            ql[l + 32] = uint8_t(q2 | (q4 << 4));
            qh[l]      = uint8_t((Lh[l] >> 4) | ((Lh[l + 32] >> 4) << 2) | ((Lh[l + 64] >> 4) << 4) |
                                 ((Lh[l + 96] >> 4) << 6));
        }
    }
}

}  // namespace

void quantize_row_q6_k_ref(const float * x, void * y, int64_t n) {
    BlockQ6_K *   blocks = static_cast<BlockQ6_K *>(y);
    const int64_t nb     = n / kQK_K;
    for (int64_t i = 0; i < nb; ++i) {
        quantize_block(x + kQK_K * i, blocks[i], nullptr);
    }
}

void quantize_q6_k(const float * x, void * y, int64_t nrows, int64_t n_per_row, const QuantParams & p) {
    if (!p.imatrix) {
        quantize_row_q6_k_ref(x, y, nrows * n_per_row);
        return;
    }
    BlockQ6_K *   out   = static_cast<BlockQ6_K *>(y);
    const int64_t nbrow = n_per_row / kQK_K;
    for (int64_t r = 0; r < nrows; ++r) {
        for (int64_t i = 0; i < nbrow; ++i) {
            quantize_block(x + r * n_per_row + kQK_K * i, out[r * nbrow + i], p.imatrix + kQK_K * i);
        }
    }
}

void dequantize_row_q6_k(const void * x, float * y, int64_t n) {
    const BlockQ6_K * blocks = static_cast<const BlockQ6_K *>(x);
    const int64_t     nb     = n / kQK_K;

    for (int64_t i = 0; i < nb; ++i) {
        const BlockQ6_K & b  = blocks[i];
        const float       d  = fp16_to_fp32(b.d);
        const uint8_t *   ql = b.ql;
        const uint8_t *   qh = b.qh;
        const int8_t *    sc = b.scales;

        for (int h = 0; h < kQK_K / 128; ++h) {
            for (int l = 0; l < 32; ++l) {
                const int    is = l / 16;
                const int8_t q1 = int8_t(((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32);
                const int8_t q2 = int8_t(((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32);
                const int8_t q3 = int8_t(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
                const int8_t q4 = int8_t(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
                y[l]      = d * sc[is] * q1;
                y[l + 32] = d * sc[is + 2] * q2;
                y[l + 64] = d * sc[is + 4] * q3;
                y[l + 96] = d * sc[is + 6] * q4;
            }
            y += 128;
            ql += 64;
            qh += 32;
            sc += 8;
        }
    }
}

}  // namespace nibble
