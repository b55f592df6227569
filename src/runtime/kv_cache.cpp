#include "runtime/kv_cache.h"

namespace nibble {

KvCache::KvCache(int64_t n_layer, int64_t n_ctx, int64_t kv_dim)
    : n_ctx_(n_ctx), kv_dim_(kv_dim), k_(size_t(n_layer * n_ctx * kv_dim)), v_(size_t(n_layer * n_ctx * kv_dim)) {}

void KvCache::store(const float * x, half_bits * dst, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
        dst[i] = fp32_to_fp16(x[i]);
    }
}

} // namespace nibble
