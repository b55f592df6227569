#include "formats/q8_0.h"

#include <cmath>

namespace nibble {

void quantize_row_q8_0_ref(const float * x, void * y, int64_t n) {
    BlockQ8_0 *   out = static_cast<BlockQ8_0 *>(y);
    const int64_t nb  = n / kQK8_0;
    for (int64_t ib = 0; ib < nb; ++ib) {
        const float * xb   = x + ib * kQK8_0;
        float         amax = 0.0f;
        for (int j = 0; j < kQK8_0; ++j) {
            // Operand order as ggml's MAX(amax, |v|), so a NaN propagates the same way.
            const float av = std::fabs(xb[j]);
            amax           = amax > av ? amax : av;
        }
        // Codes use the fp32 reciprocal; an all-zero block stores +0.
        const float d  = amax / 127;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        out[ib].d      = fp32_to_fp16(d);
        for (int j = 0; j < kQK8_0; ++j) {
            // roundf: ties away from zero (not nearest_int's ties-to-even).
            out[ib].qs[j] = int8_t(std::round(xb[j] * id));
        }
    }
}

void quantize_q8_0(const float * x, void * y, int64_t nrows, int64_t n_per_row, const QuantParams &) {
    // ggml's Q8_0 has no importance-aware path.
    quantize_row_q8_0_ref(x, y, nrows * n_per_row);
}

void dequantize_row_q8_0(const void * x, float * y, int64_t n) {
    const BlockQ8_0 * in = static_cast<const BlockQ8_0 *>(x);
    const int64_t     nb = n / kQK8_0;
    for (int64_t ib = 0; ib < nb; ++ib) {
        const float d  = fp16_to_fp32(in[ib].d);
        float *     yb = y + ib * kQK8_0;
        for (int j = 0; j < kQK8_0; ++j) {
            yb[j] = float(in[ib].qs[j]) * d;
        }
    }
}

}  // namespace nibble
