// Per-tensor type selection for `nibble quantize`: which tensors are quantized, and to what.
//
// This is llama-quantize's policy (FORMATS.md §4; src/llama-quant.cpp of the 2026-08-18 tree, checked
// against ../shared/golden/llama-quantize) written as one pure function: tensor list + file type +
// options in, one decision per tensor out. Nothing here reads or writes tensor data, so the whole
// policy is printable (`--dry-run`, format_plan) and snapshot-tested (tests/golden/plans, STYLE.md
// Do #13 / Avoid #4). The quantizer only reads the plan.
//
// Where nibble deliberately differs from llama-quantize (each is marked "nibble:" in the .cpp):
//   * FileType::NVFP4 exists (llama-quantize has no CLI entry for it): 2-D/3-D weights -> NVFP4,
//     token_embd/output -> Q8_0, ne[0] % 64 != 0 -> Q8_0 with a reason instead of an abort.
//   * NVFP4 targets (also from --tensor-type overrides) get that Q8_0 shape fallback unless
//     QuantOptions::nvfp4_fallback is off; llama-quantize has no NVFP4 fallback and throws.
//   * --token-embedding-type / --output-tensor-type also get the shape fallback; llama-quantize
//     skips it there and then fails (or writes garbage) inside the quantizer.
//   * Errors do not stop planning: every tensor gets a decision and all errors are collected.
#pragma once

#include "formats/format.h"
#include "plan/file_type.h"

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace nibble {

// One tensor as it will be written. `format` is its current storage (F16/BF16/F32 for unquantized
// inputs; a block format when requantizing).
struct TensorDesc {
    std::string            name;
    std::array<int64_t, 4> ne     = { 1, 1, 1, 1 };
    int                    n_dims = 1; // ggml_n_dims: 1 + index of the last ne[i] > 1
    Format                 format = Format::F32;
};

// `--tensor-type REGEX=TYPE`: std::regex_search on the tensor name, first match wins.
struct TensorTypeOverride {
    std::string pattern;
    Format      format = Format::F32;
};

// Parses "REGEX=TYPE" as llama-quantize's parse_tensor_type does: split at the first '=', the
// pattern is lower-cased, TYPE is a ggml type name (case-insensitive). nullopt when malformed.
std::optional<TensorTypeOverride> parse_tensor_type_override(std::string_view arg);

struct QuantOptions {
    bool has_imatrix         = false; // an importance matrix is given (changes some mixes, §4.3)
    bool pure                = false; // --pure: no mixture, default type everywhere
    bool leave_output_tensor = false; // --leave-output-tensor: output.weight kept as is
    bool allow_requantize    = false; // --allow-requantize: block-quantized inputs may be re-quantized

    std::optional<Format>           output_tensor_type;    // --output-tensor-type
    std::optional<Format>           token_embedding_type;  // --token-embedding-type
    std::vector<TensorTypeOverride> tensor_type_overrides; // --tensor-type, in command-line order

    // Model hyper-parameters the mixes depend on (GGUF `<arch>.block_count`, `.attention.head_count`,
    // `.attention.head_count_kv`, `.expert_count`).
    std::string         arch      = "llama";
    int                 n_layer   = 0; // 0: one more than the largest `blk.N.` in the tensor names
    int                 n_head    = 0;
    int                 n_head_kv = 0;
    int                 n_expert  = 0;
    // llama.cpp's LLM_TYPE_70B; nullopt: llama-quantize's own guess (llama arch, 80 layers, GQA).
    std::optional<bool> is_70b;

    // nibble: NVFP4 targets whose rows are not a multiple of 64 fall back to Q8_0 (else: error).
    bool nvfp4_fallback = true;
};

struct TensorPlan {
    std::string name;
    Format      current             = Format::F32;
    Format      target              = Format::F32;
    bool        allows_quantization = false; // llama-quantize's tensor_allows_quantization
    bool        fallback            = false; // target came from the shape fallback (§4.4)
    bool        requires_imatrix    = false; // §4.5: quantizing this without an imatrix is refused
    std::string reason;                      // why this target, e.g. "ffn_down use_more_bits(3/4)"
    std::string error;                       // non-empty: this tensor cannot be written as planned

    bool converts() const { return target != current; }
};

struct QuantPlan {
    FileType                 file_type = FileType::F16;
    std::vector<TensorPlan>  tensors; // same order as the input list
    int                      n_fallback = 0;
    std::vector<std::string> errors; // every error, "name: message"

    bool ok() const { return errors.empty(); }
};

// llama-model-loader's weights_map order (FORMATS.md §4.3), which is also the tensor order of the
// output file: names without a `blk.N.` prefix first, then by block number, by name within a block.
bool llama_tensor_order_less(std::string_view a, std::string_view b);
void sort_in_llama_order(std::vector<TensorDesc> & tensors);

// nullptr when llama-quantize would quantize this tensor, else why it is kept as it is.
const char * quantization_exclusion(const TensorDesc & t, const QuantOptions & opt);

// §4.5: llama-quantize refuses to write `target` for this tensor without an importance matrix.
bool tensor_requires_imatrix(std::string_view name, Format target, FileType ftype);

// The policy. `tensors` must be in write order (sort_in_llama_order): the attn_v / ffn counters of
// the mixes advance in that order, exactly as in llama-quantize.
QuantPlan plan_quantization(const std::vector<TensorDesc> & tensors, FileType ftype, const QuantOptions & opt);

// One line per tensor, "name type reason", then one "# error: ..." line per error.
std::string format_plan(const QuantPlan & plan);

} // namespace nibble
