// Non-matmul ops of the Llama-family forward pass on the CPU, with ggml-cpu's numerics (the values
// llama.cpp computes, up to fp32 summation order). The scalar versions in ops_ref.cpp are the
// oracle; the forward pass uses them directly except for attention, whose AVX2 kernel
// (attention_avx2.cpp) is picked by attention_head_fast().
#pragma once

#include "core/half.h"

#include <cstdint>

namespace nibble::cpu {

// y = (x * (1 / sqrt(mean(x^2) + eps))) * w: ggml_rms_norm (sum of squares in double) followed by
// ggml_mul with the norm weight. w may be null (no weight). x and y may alias.
void rms_norm(const float * x, const float * w, float * y, int64_t n, float eps);

// Rotary embedding. The cache holds cos/sin for the n_rot/2 rotated pairs of one position, built
// like ggml_rope_cache_init (theta multiplied by base^(-2/n_rot) pair after pair, divided by the
// optional llama3 freq_factors, times freq_scale).
struct RopeParams {
    int64_t       n_rot        = 0;
    float         freq_base    = 10000.0f;
    float         freq_scale   = 1.0f;
    const float * freq_factors = nullptr; // n_rot/2 entries (rope_freqs.weight) or null
    bool          neox         = false;   // pairs (i, i + n_rot/2) instead of (2i, 2i+1)
};
void rope_cache(const RopeParams & p, int64_t pos, float * cos_sin); // 2 * (n_rot/2) floats
// Rotates the first n_rot dims of n_heads consecutive heads of head_dim floats, in place.
void rope_apply(const RopeParams & p, const float * cos_sin, float * x, int64_t n_heads, int64_t head_dim);

// y = silu(gate) * up, silu(g) = g / (1 + exp(-g)) (ggml_swiglu). y may alias gate or up.
void swiglu(const float * gate, const float * up, float * y, int64_t n);

// One query head against keys/values 0..n_kv-1 of an fp16 cache (row j of head g at
// k + j * kv_stride), all of which are visible (the caller passes n_kv = position + 1 for causal
// attention). scores_j = (q . k_j) * scale in fp32, softmax in fp32 with the max subtracted,
// out = Σ p_j v_j / Σ p_j. This is ggml's tiled CPU flash attention (used by llama.cpp for batches
// of >= 64 tokens, e.g. llama-perplexity) up to fp32 summation order: q stays fp32, K/V are the
// fp16 cache values. scratch holds n_kv floats.
using AttentionHeadFn = void (*)(const float * q, const half_bits * k, const half_bits * v, int64_t kv_stride,
                                 int64_t n_kv, int64_t head_dim, float scale, float * out, float * scratch);
void attention_head_ref(const float * q, const half_bits * k, const half_bits * v, int64_t kv_stride, int64_t n_kv,
                        int64_t head_dim, float scale, float * out, float * scratch);
void attention_head_avx2(const float * q, const half_bits * k, const half_bits * v, int64_t kv_stride, int64_t n_kv,
                         int64_t head_dim, float scale, float * out, float * scratch);
AttentionHeadFn attention_head_fast(); // AVX2 when available, else the reference

} // namespace nibble::cpu
