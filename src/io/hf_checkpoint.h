// A Hugging Face checkpoint as one validated object: the SafeTensors shards (single file or
// model.safetensors.index.json), the JSON side files (config, generation config, tokenizer,
// tokenizer config, hf_quant_config) and, for prequantized checkpoints, the per-layer tensor roles
// (io/hf_quant.h). Everything is checked at open: a caller that holds an HfCheckpoint can trust that
// every tensor it lists exists exactly once, in the shard the index names, with bytes matching its
// dtype and shape. Weights stay in the read-only mappings; nothing is copied.
#pragma once

#include "core/status.h"
#include "io/hf_quant.h"
#include "io/json_file.h"
#include "io/safetensors.h"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace nibble {

// One tensor name as the model sees it.
struct HfTensor {
    std::string      name;
    size_t           shard = 0;       // index into HfCheckpoint::shards()
    const StTensor * st    = nullptr; // the stored entry (for an alias: the target's entry)
    // Non-empty when `name` is not stored but aliased by the tied-weight dedup of safetensors'
    // save_model: __metadata__ {"model.embed_tokens.weight": "lm_head.weight"} means the embedding was
    // dropped because it shares storage with lm_head (SOURCES.md §2).
    std::string      alias_of;

    const std::string &          dtype() const { return st->dtype; }
    const std::vector<int64_t> & shape() const { return st->shape; }
};

// The config.json fields nibble reports and maps; absent keys stay empty. For multimodal configs the
// text_config object is merged over the root first, as llama.cpp's converter does.
struct HfConfigSummary {
    std::vector<std::string> architectures;
    std::string              model_type;
    std::optional<int64_t> hidden_size, intermediate_size, num_hidden_layers, num_attention_heads, num_key_value_heads,
        head_dim, vocab_size, max_position_embeddings;
    std::optional<double> rms_norm_eps, rope_theta;
    bool                  tie_word_embeddings = false; // the transformers default for llama/qwen/mistral
    std::string           torch_dtype;                 // "torch_dtype" or the newer "dtype"
    nlohmann::json        rope_scaling;                // rope_parameters or rope_scaling object; null if none
};

struct HfAddedToken {
    int64_t     id = 0;
    std::string content;
    bool        special = false;
};

// What tokenizer.json and tokenizer_config.json say, kept for `inspect` and for the tokenizer issue;
// no tokenizer.ggml.* conversion happens here.
struct HfTokenizerSummary {
    bool                      present = false;   // tokenizer.json found
    std::string               model_type;        // "BPE", "Unigram", "WordPiece", "WordLevel"
    int64_t                   model_vocab   = 0; // entries in model.vocab
    int64_t                   vocab_size    = 0; // max token id + 1 over the vocab and the added tokens
    int64_t                   merges        = 0; // BPE merges
    bool                      byte_fallback = false;
    std::string               normalizer, pre_tokenizer, decoder; // "type" of each, empty when null
    std::vector<HfAddedToken> added_tokens;

    bool                config_present = false; // tokenizer_config.json found
    std::string         tokenizer_class;
    std::string         bos_token, eos_token, unk_token, pad_token;
    std::optional<bool> add_bos_token, add_eos_token;
    bool                has_chat_template = false; // in tokenizer_config.json or chat_template.jinja
};

class HfCheckpoint {
  public:
    // `path` is a checkpoint directory (model.safetensors.index.json or model.safetensors), an
    // index.json file, or a single .safetensors file; side files are read from its directory.
    static Result<HfCheckpoint> open(const std::string & path);

    const std::string &                  dir() const { return dir_; }
    bool                                 sharded() const { return !index_path_.empty(); }
    const std::string &                  index_path() const { return index_path_; }
    const std::vector<SafeTensorsFile> & shards() const { return shards_; }

    // Stored tensors in file order (shard by shard, by offset), then aliases.
    const std::vector<HfTensor> & tensors() const { return tensors_; }
    const HfTensor *              find(const std::string & name) const;

    bool                             has_config() const { return config_.has_value(); }
    const JsonDoc *                  config() const { return config_ ? &*config_ : nullptr; }
    const JsonDoc *                  generation_config() const { return gen_config_ ? &*gen_config_ : nullptr; }
    const HfConfigSummary &          summary() const { return summary_; }
    const HfTokenizerSummary &       tokenizer() const { return tokenizer_; }
    const HfQuantInfo &              quant() const { return quant_; }
    const std::vector<std::string> & warnings() const { return warnings_; }

    uint64_t total_bytes() const; // stored tensor bytes (aliases not counted twice)

  private:
    friend struct HfCheckpointLoader;

    std::string                             dir_;
    std::string                             index_path_;
    std::vector<SafeTensorsFile>            shards_;
    std::vector<HfTensor>                   tensors_;
    std::unordered_map<std::string, size_t> by_name_;
    std::optional<JsonDoc>                  config_, gen_config_;
    HfConfigSummary                         summary_;
    HfTokenizerSummary                      tokenizer_;
    HfQuantInfo                             quant_;
    std::vector<std::string>                warnings_;
};

// Parsers for the side files, exposed for tests and fuzz harnesses.
Result<HfConfigSummary> parse_hf_config(const JsonDoc & config);
// These two fill their half of `out`; nullopt means success.
std::optional<Error>    parse_hf_tokenizer(const JsonDoc & tokenizer_json, HfTokenizerSummary & out);
std::optional<Error>    parse_hf_tokenizer_config(const JsonDoc & tokenizer_config, HfTokenizerSummary & out);

} // namespace nibble
