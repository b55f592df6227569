// NVFP4 (ggml layout): 64 weights per block in 4 sub-blocks of 16, x = E2M1(q) * UE4M3(d[s]).
// 4.5 bits per weight. No per-tensor scale inside: llama.cpp applies an optional `<name>.scale` F32
// side-car after the matmul (FORMATS.md §2.9). Nibbles: sub-block s byte j = element 16s+j (low),
// 16s+j+8 (high).
#pragma once

#include "core/half.h"
#include "core/thread_pool.h"
#include "formats/format.h"

#include <cstdint>
#include <vector>

namespace nibble {

inline constexpr int kQKNvfp4    = 64;
inline constexpr int kQKNvfp4Sub = 16;
struct BlockNVFP4 {
    uint8_t d[kQKNvfp4 / kQKNvfp4Sub]; // UE4M3 scale codes (bit 7 always 0)
    uint8_t qs[kQKNvfp4 / 2];
};
static_assert(sizeof(BlockNVFP4) == kQKNvfp4 / kQKNvfp4Sub + kQKNvfp4 / 2, "wrong nvfp4 block size/padding");

// Default half-width of the UE4M3 scale-code search (issue #2: w = 12).
inline constexpr int kNvfp4DefaultSearch = 12;

void quantize_row_nvfp4_ref(const float * x, void * y, int64_t n);
void quantize_nvfp4(const float * x, void * y, int64_t nrows, int64_t n_per_row, const QuantParams & p);
void dequantize_row_nvfp4(const void * x, float * y, int64_t n);

// Per-tensor second-level scale (QuantParams::nvfp4_tensor_scale): s = amax / (6 * target), so the
// largest 16-element sub-block gets the block scale `target` and the rest spread below it through
// UE4M3's normal range (3 mantissa bits) instead of its subnormals (m * 2^-9): for LLM weights
// (amax ~0.05-0.5) plain amax/6 scales sit at 2^-9..2^-4, where UE4M3 has 1-3 significant bits.
// Returns 1 for amax <= 0, NaN or inf.
float                  nvfp4_tensor_scale_for(float amax, float target);
// A fixed target for experiments (eval-formats): below 256 because ggml's encoder maps every value
// in [256, 448) to 448 (FORMATS.md §1.6).
inline constexpr float kNvfp4TensorScaleTarget = 224.0f;

// Choosing the second-level scale of one tensor: the candidates are "none" (1) and amax / (6 * T)
// for T = 128 * 2^(k / n), k = 0 .. n-1 (one octave below 256); the winner is the one whose rows,
// quantized as x / s with the same QuantParams (search, imatrix), have the smallest
// importance-weighted error Σ w (x - s * dequant)². Why a search and not one target: the error
// depends on where the important sub-blocks' amax/6 falls on the 3-bit UE4M3 grid; on SmolLM2-135M
// (imatrix-weighted, search 12) single targets scatter from -9% to +5% around "none"
// (docs/nvfp4-quality.md). Row subsampling picks badly (every 8th row: +2% instead of -9%), so the
// errors cover every row: nvfp4_add_candidate_errors over a tensor's row chunks, then the argmin.
std::vector<float> nvfp4_tensor_scale_candidates(float amax, int n);
// err[c] += Σ over the rows of candidate c's weighted error. Deterministic for any pool size.
void               nvfp4_add_candidate_errors(const float * x, int64_t nrows, int64_t n_per_row, const QuantParams & p,
                                              const std::vector<float> & candidates, std::vector<double> & err, ThreadPool * pool);
// The candidate with the smallest error (the earliest on ties, so "none" wins a tie).
float              nvfp4_pick_tensor_scale(const std::vector<float> & candidates, const std::vector<double> & err);
// All three over one in-memory tensor, every row_stride-th row (eval-formats).
float              nvfp4_choose_tensor_scale(const float * x, int64_t nrows, int64_t n_per_row, const QuantParams & p,
                                             int n_candidates, int64_t row_stride, ThreadPool * pool);

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

} // namespace nibble
