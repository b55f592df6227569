// Hugging Face -> GGUF (llama.cpp) naming and metadata for llama, mistral, qwen2 and qwen3
// (FORMATS.md §2.6-§2.8), as llama.cpp's convert_hf_to_gguf does it. The result is a plain
// description, not a file: which GGUF tensor comes from which HF tensor(s), its ggml shape, whether
// its rows need the Q/K permutation, and the typed KVs, so a writer can produce the GGUF without
// Python. Tokenizer KVs (tokenizer.ggml.*) are not produced here.
#pragma once

#include "core/status.h"
#include "io/gguf.h"
#include "io/hf_checkpoint.h"
#include "io/hf_quant.h"

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace nibble {

// One typed metadata pair. llama.cpp's loader is strictly typed (§2.2), so the alternative held is
// the GGUF type: uint32_t -> UINT32, int32_t -> INT32, float -> FLOAT32, bool -> BOOL, string -> STRING.
struct GgufKvDesc {
    std::string                                               key;
    std::variant<uint32_t, int32_t, float, bool, std::string> value;

    GgufType    type() const;
    std::string value_string() const; // for printing
};

struct GgufTensorDesc {
    std::string              gguf_name;
    // Source tensors. [0] is the weight (or bias/norm); for prequantized layers its scale tensors
    // follow in the order weight_scale, weight_scale_2 / weight_global_scale, weight_scale_inv.
    // Empty for generated tensors.
    std::vector<std::string> hf_names;
    std::vector<int64_t>     ne;        // ggml order, ne[0] contiguous (HF shape reversed, NVFP4 unpacked)
    std::string              src_dtype; // SafeTensors dtype of hf_names[0]
    HfLayerQuant             quant   = HfLayerQuant::Plain; // prequantized source layout
    bool                     permute = false;               // apply permute_qk_rows with n_head heads
    int                      n_head  = 0;
    bool                     invert  = false; // side-car holding 1/x (compressed-tensors global scales)
    std::vector<float>       values;          // data of generated tensors (rope_freqs)
};

// The hyper-parameters the mapping uses, validated against the tensors.
struct HfModelParams {
    std::string          arch;    // GGUF architecture: "llama", "qwen2", "qwen3"
    std::string          hf_arch; // architectures[0], or model_type when that is absent
    int64_t              n_embd = 0, n_layer = 0, n_head = 0, n_head_kv = 0, n_ff = 0, n_vocab = 0, n_ctx = 0;
    int64_t              head_dim       = 0; // config head_dim, else n_embd / n_head
    bool                 head_dim_given = false;
    float                rms_eps        = 0;
    std::optional<float> rope_theta;         // absent: llama.cpp's default (10000) applies
    std::string          rope_type;          // rope_scaling type: "", "linear", "yarn", "llama3", ...
    bool                 tied       = false; // no output.weight; llama.cpp reuses token_embd
    bool                 permute_qk = false; // llama-arch GGUFs carry the §2.8 Q/K row permutation
};

struct GgufModelDesc {
    HfModelParams               params;
    std::vector<GgufKvDesc>     kvs;     // in llama.cpp converter order; general.file_type is the writer's
    std::vector<GgufTensorDesc> tensors; // generated tensors first, then by HF name (the converter's order)
    std::vector<std::string>    skipped; // HF tensors not carried over, each with the reason
};

// GGUF architecture for a config (architectures[0] first, then model_type); error when unsupported.
Result<std::string> gguf_arch_for(const HfConfigSummary & cfg, const std::string & config_path);

// Builds the description for an opened checkpoint. Errors name config.json keys or tensors.
Result<GgufModelDesc> describe_gguf(const HfCheckpoint & ck);

// GGUF module name of an HF module prefix ("model.layers.3.self_attn.q_proj" -> "blk.3.attn_q"),
// empty when it has none. The "model." prefix is optional (bare Qwen2Model/LlamaModel exports).
std::string gguf_module_name(const std::string & hf_prefix);

// GGUF tensor name of an HF tensor name: .weight/.bias map directly, ModelOpt weight_scale_2 and
// input_scale map to the §2.9 side-cars "<module>.scale" / "<module>.input_scale", a CT
// weight_packed to "<module>.weight". Empty for names with no GGUF tensor of their own.
std::string hf_to_gguf_name(const std::string & hf_name);

// §2.8: GGUF row h*hd + 2j + i = HF row h*hd + i*(hd/2) + j, hd = rows / n_head. Rows are opaque
// byte strings of row_bytes, so this works for float rows, packed NVFP4 rows and their scale rows.
// False (dst untouched) when rows is not n_head * an even head size, or on non-positive arguments.
// src and dst must not overlap.
bool permute_qk_rows(const void * src, void * dst, int64_t rows, int64_t row_bytes, int n_head);
// The inverse: GGUF order back to HF order.
bool unpermute_qk_rows(const void * src, void * dst, int64_t rows, int64_t row_bytes, int n_head);

// rope_freqs.weight for rope_type "llama3" (Llama 3.1+), as llama.cpp's converter computes it:
// head_dim/2 factors from factor, low/high_freq_factor and original_max_position_embeddings.
std::vector<float> llama3_rope_factors(const nlohmann::json & rope, double theta, int64_t head_dim);

} // namespace nibble
