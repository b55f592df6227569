// NVFP4 (ggml layout): 64 weights per block in 4 sub-blocks of 16, x = E2M1(q) * UE4M3(d[s]).
// 4.5 bits per weight. No per-tensor scale inside: llama.cpp applies an optional `<name>.scale` F32
// side-car after the matmul (FORMATS.md §2.9). Nibbles: sub-block s byte j = element 16s+j (low),
// 16s+j+8 (high).
#pragma once

#include "core/half.h"
#include "formats/format.h"

#include <cstdint>

namespace nibble {

inline constexpr int kQKNvfp4    = 64;
inline constexpr int kQKNvfp4Sub = 16;
struct BlockNVFP4 {
    uint8_t d[kQKNvfp4 / kQKNvfp4Sub];  // UE4M3 scale codes (bit 7 always 0)
    uint8_t qs[kQKNvfp4 / 2];
};
static_assert(sizeof(BlockNVFP4) == kQKNvfp4 / kQKNvfp4Sub + kQKNvfp4 / 2, "wrong nvfp4 block size/padding");

// Default half-width of the UE4M3 scale-code search (issue #2: w = 12).
inline constexpr int kNvfp4DefaultSearch = 12;

void quantize_row_nvfp4_ref(const float * x, void * y, int64_t n);
void quantize_nvfp4(const float * x, void * y, int64_t nrows, int64_t n_per_row, const QuantParams & p);
void dequantize_row_nvfp4(const void * x, float * y, int64_t n);

// Scale search (QuantParams::nvfp4_search): per 16-element sub-block, try the UE4M3 codes
// base-window..base+window (clamped to [1, 0x7E]) around ggml's base = encode(amax/6) and keep
// the one with the smallest Σ w·(x - dequant)², w = weights[column] (1 when weights is null);
// ties keep the earlier candidate (base first, then base-1, base+1, base-2, ...). Elements round
// exactly as ggml's scan would for that scale. window <= 0 is byte-identical to the reference.
void quantize_row_nvfp4_search(const float * x, void * y, int64_t n, const float * weights, int window);

// Σ w·(x - dequant(y))² over n elements in double; weights (per element) may be null (w = 1).
double nvfp4_weighted_sq_error(const float * x, const void * y, int64_t n, const float * weights);

// E2M1 code of x for the half-value scale dd (ue4m3_to_fp32_half): the same index as
// best_index_fp4_ggml(x, dd) for every x and dd, without the 16-entry scan when dd is a non-zero
// decoded UE4M3 scale (any other dd takes the scan).
uint8_t nvfp4_fp4_index_fast(float x, float dd);

}  // namespace nibble
