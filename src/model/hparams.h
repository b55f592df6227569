// Hyper-parameters of a Llama-family model, read from the `<arch>.*` GGUF keys (FORMATS.md §2.6)
// with llama.cpp's defaults for the optional ones.
#pragma once

#include "core/status.h"

#include <cstdint>
#include <string>
#include <string_view>

namespace nibble {

class GgufFile;

struct HParams {
    std::string arch;
    int64_t     n_vocab     = 0; // from token_embd.weight (the loader fills it)
    int64_t     n_ctx_train = 0; // context_length
    int64_t     n_embd      = 0; // embedding_length
    int64_t     n_layer     = 0; // block_count
    int64_t     n_head      = 0; // attention.head_count
    int64_t     n_head_kv   = 0; // attention.head_count_kv (default n_head)
    int64_t     head_dim    = 0; // attention.key_length (default n_embd / n_head)
    int64_t     head_dim_v  = 0; // attention.value_length (default head_dim)
    int64_t     n_ff        = 0; // feed_forward_length
    int64_t     n_rot       = 0; // rope.dimension_count (default head_dim)
    float       rms_eps     = 1e-5f;
    float       rope_base   = 10000.0f; // rope.freq_base
    float       rope_scale  = 1.0f;     // freq_scale = 1 / rope.scaling.factor for linear scaling

    int64_t q_dim() const { return n_head * head_dim; }
    int64_t kv_dim() const { return n_head_kv * head_dim; }
};

// Reads and checks the keys of `arch` (general.architecture). Per-layer arrays (head_count,
// head_count_kv, feed_forward_length) are accepted when all entries are equal. Errors name the
// file and the key.
Result<HParams> load_hparams(const GgufFile & file, std::string_view arch);

} // namespace nibble
