#include "formats/iq4_nl.h"

#include "formats/quant_common.h"

#include <cmath>
#include <cstring>

namespace nibble {

namespace {

// Trial scales of the llama-quantize path (ggml's ntry = 7); the reference uses none (ntry = -1).
constexpr int kTrialsQuantize = 7;
constexpr int kTrialsRef      = -1;

// Index that an all-zero block gets. ggml's ref leaves these nibbles uninitialised; 8 (value +1,
// times d = 0) is what its importance path writes for the same block, so both paths agree here.
constexpr uint8_t kZeroIndex = 8;

// One block; qw (the block's slice of the importance matrix) may be null.
void quantize_block(const float * x, BlockIQ4_NL & y, const float * qw, int ntry) {
    float weight[kQK4_NL];
    if (qw) {
        // sigma2 only feeds the importance weights, so the x^2 path skips it.
        float sigma2 = sum_squares(x, kQK4_NL);
        sigma2 *= 2.f / kQK4_NL;
        for (int j = 0; j < kQK4_NL; ++j) {
            weight[j] = qw[j] * std::sqrt(sigma2 + x[j] * x[j]);
        }
    } else {
        for (int j = 0; j < kQK4_NL; ++j) {
            weight[j] = x[j] * x[j];
        }
    }

    uint8_t L[kQK4_NL];
    std::memset(L, kZeroIndex, sizeof(L));
    const float d = iq4_group_scale(x, weight, ntry, L);
    y.d           = fp32_to_fp16(d);
    if (ntry > 0) {
        // Re-round with the fitted fp32 scale (not the stored half), as ggml does.
        const float id = d ? 1 / d : 0;
        for (int j = 0; j < kQK4_NL; ++j) {
            L[j] = uint8_t(best_index_int8(16, kValuesIq4nl, id * x[j]));
        }
    }
    for (int j = 0; j < kQK4_NL / 2; ++j) {
        y.qs[j] = uint8_t(L[j] | (L[j + kQK4_NL / 2] << 4));
    }
}

}  // namespace

void quantize_row_iq4_nl_ref(const float * x, void * y, int64_t n) {
    BlockIQ4_NL * blocks = static_cast<BlockIQ4_NL *>(y);
    for (int64_t ib = 0; ib < n / kQK4_NL; ++ib) {
        quantize_block(x + ib * kQK4_NL, blocks[ib], nullptr, kTrialsRef);
    }
}

void quantize_iq4_nl(const float * x, void * y, int64_t nrows, int64_t n_per_row, const QuantParams & p) {
    const int64_t nblock = n_per_row / kQK4_NL;
    BlockIQ4_NL * blocks = static_cast<BlockIQ4_NL *>(y);
    for (int64_t row = 0; row < nrows; ++row) {
        const float * xr = x + row * n_per_row;
        BlockIQ4_NL * yr = blocks + row * nblock;
        for (int64_t ib = 0; ib < nblock; ++ib) {
            const float * qw = p.imatrix ? p.imatrix + ib * kQK4_NL : nullptr;
            quantize_block(xr + ib * kQK4_NL, yr[ib], qw, kTrialsQuantize);
        }
    }
}

void dequantize_row_iq4_nl(const void * x, float * y, int64_t n) {
    const BlockIQ4_NL * blocks = static_cast<const BlockIQ4_NL *>(x);
    for (int64_t ib = 0; ib < n / kQK4_NL; ++ib) {
        const float     d  = fp16_to_fp32(blocks[ib].d);
        const uint8_t * qs = blocks[ib].qs;
        float *         yb = y + ib * kQK4_NL;
        for (int j = 0; j < kQK4_NL / 2; ++j) {
            yb[j]               = d * kValuesIq4nl[qs[j] & 0xF];
            yb[j + kQK4_NL / 2] = d * kValuesIq4nl[qs[j] >> 4];
        }
    }
}

}  // namespace nibble
