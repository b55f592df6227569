#include "formats/q8_k.h"

#include "formats/quant_common.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace nibble {

void quantize_row_q8_k_ref(const float * x, void * y, int64_t n) {
    BlockQ8_K *   blocks = static_cast<BlockQ8_K *>(y);
    const int64_t nb     = n / kQK_K;

    for (int64_t i = 0; i < nb; ++i) {
        BlockQ8_K & b = blocks[i];

        // Signed value of largest magnitude, first occurrence wins.
        float max  = 0;
        float amax = 0;
        for (int j = 0; j < kQK_K; ++j) {
            const float ax = std::fabs(x[j]);
            if (ax > amax) {
                amax = ax;
                max  = x[j];
            }
        }
        if (!amax) {
            // ggml leaves bsums untouched here; zero them so the block is fully defined.
            std::memset(&b, 0, sizeof(BlockQ8_K));
            x += kQK_K;
            continue;
        }

        // -127 (not -128) keeps the quants symmetric, as the reference chose for IQ2_XXS's SIMD dot.
        const float iscale = -127.f / max;
        for (int j = 0; j < kQK_K; ++j) {
            b.qs[j] = int8_t(std::min(127, nearest_int(iscale * x[j])));
        }
        for (int g = 0; g < kQK_K / 16; ++g) {
            int sum = 0;
            for (int l = 0; l < 16; ++l) {
                sum += b.qs[16 * g + l];
            }
            b.bsums[g] = int16_t(sum);
        }
        b.d = 1 / iscale;

        x += kQK_K;
    }
}

// Q8_K has no importance-aware quantizer in ggml: every row goes through the reference.
void quantize_q8_k(const float * x, void * y, int64_t nrows, int64_t n_per_row, const QuantParams & p) {
    (void) p;
    BlockQ8_K *   out   = static_cast<BlockQ8_K *>(y);
    const int64_t nbrow = n_per_row / kQK_K;
    for (int64_t r = 0; r < nrows; ++r) {
        quantize_row_q8_k_ref(x + r * n_per_row, out + r * nbrow, n_per_row);
    }
}

void dequantize_row_q8_k(const void * x, float * y, int64_t n) {
    const BlockQ8_K * blocks = static_cast<const BlockQ8_K *>(x);
    const int64_t     nb     = n / kQK_K;

    for (int64_t i = 0; i < nb; ++i) {
        for (int j = 0; j < kQK_K; ++j) {
            *y++ = blocks[i].d * blocks[i].qs[j];
        }
    }
}

}  // namespace nibble
