// The attention KV cache of one sequence: K and V rows of every layer and position, stored as fp16
// like llama.cpp's default cache (type_k = type_v = f16). Layout [layer][position][n_head_kv *
// head_dim], so one head's keys are a strided walk over positions.
#pragma once

#include "core/half.h"

#include <cstdint>
#include <vector>

namespace nibble {

class KvCache {
  public:
    KvCache() = default;
    KvCache(int64_t n_layer, int64_t n_ctx, int64_t kv_dim);

    int64_t n_ctx() const { return n_ctx_; }
    int64_t kv_dim() const { return kv_dim_; } // row stride in elements

    half_bits *       k(int64_t layer, int64_t pos) { return k_.data() + offset(layer, pos); }
    half_bits *       v(int64_t layer, int64_t pos) { return v_.data() + offset(layer, pos); }
    const half_bits * k(int64_t layer, int64_t pos) const { return k_.data() + offset(layer, pos); }
    const half_bits * v(int64_t layer, int64_t pos) const { return v_.data() + offset(layer, pos); }

    // Stores n f32 values as fp16 (round to nearest even, as ggml_cpy f32 -> f16).
    static void store(const float * x, half_bits * dst, int64_t n);

  private:
    size_t offset(int64_t layer, int64_t pos) const { return size_t((layer * n_ctx_ + pos) * kv_dim_); }

    int64_t                n_ctx_  = 0;
    int64_t                kv_dim_ = 0;
    std::vector<half_bits> k_;
    std::vector<half_bits> v_;
};

} // namespace nibble
