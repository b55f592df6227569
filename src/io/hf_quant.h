// Prequantized Hugging Face checkpoints (FORMATS.md §7, §8): which scheme the configs declare, and
// per Linear prefix which tensor roles are present and what they are. The per-layer kind is decided
// from the tensors themselves (the §8.4 cheat-sheet), not from the config, so mixed checkpoints come
// out right layer by layer; the config is then cross-checked and disagreements become warnings.
// Dtype/shape violations of the §7/§8 tables are hard errors naming the shard and the tensor.
#pragma once

#include "core/status.h"

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace nibble {

class HfCheckpoint;
struct JsonDoc;

enum class HfQuantScheme {
    None,          // no quantization config, no quantized tensors
    Undeclared,    // quantized tensors but no config that declares them
    ModelOptNVFP4, // quant_method modelopt / hf_quant_config.json, quant_algo NVFP4
    ModelOptFP8,
    ModelOptMixed, // quant_algo MIXED_PRECISION, per-layer quantized_layers
    ModelOptOther, // another quant_algo (NVFP4_AWQ, INT4_AWQ, ...): reported, not interpreted
    CtNVFP4,       // compressed-tensors nvfp4-pack-quantized
    CtFP8,         // compressed-tensors float-quantized / naive-quantized, 8-bit float weights
    CtMixed,       // compressed-tensors mixed-precision
    CtOther,
    BlockFP8, // quant_method "fp8" (DeepSeek-V3 style weight_scale_inv)
    Other,    // gptq, awq, bitsandbytes, ...: reported, not interpreted
};
const char * hf_quant_scheme_name(HfQuantScheme s);

// What one Linear's tensors are, by the §8.4 cheat-sheet.
enum class HfLayerQuant {
    Plain,         // float weight, no scales
    NVFP4ModelOpt, // weight U8 [out,in/2] + weight_scale F8_E4M3 [out,in/16] + weight_scale_2
    NVFP4Ct,       // weight_packed U8 [out,in/2] + weight_scale F8_E4M3 + weight_global_scale
    FP8Block,      // weight F8 [out,in] + 2-D weight_scale_inv (DeepSeek) or 2-D weight_scale (CT block)
    FP8Tensor,     // weight F8 + one-element weight_scale (or weight_scale_inv)
    FP8Channel,    // weight F8 + weight_scale [out,1]
    Unrecognized,  // scale-like roles in a combination none of the tables describe (warning)
};
const char * hf_layer_quant_name(HfLayerQuant k);
bool         hf_layer_is_nvfp4(HfLayerQuant k);
bool         hf_layer_is_fp8(HfLayerQuant k);

// Tensor-name suffixes of a quantized Linear `<prefix>.<role>`.
enum class HfRole {
    Weight,
    Bias,
    WeightScale,
    WeightScale2,
    InputScale,
    WeightPacked,
    WeightGlobalScale,
    InputGlobalScale,
    WeightScaleInv,
    WeightZeroPoint,
    WeightShape,
    KScale,
    VScale,
    PreQuantScale,
    Count
};
inline constexpr size_t kHfRoleCount = size_t(HfRole::Count);
const char *            hf_role_name(HfRole r);

// Splits "a.b.up_proj.weight_scale" into "a.b.up_proj" + WeightScale; false when the last
// dot-separated component is not a role (or there is no dot).
bool hf_split_role(const std::string & name, std::string & prefix, HfRole & role);

struct HfQuantLayer {
    std::string  prefix;
    HfLayerQuant kind     = HfLayerQuant::Plain;
    bool         excluded = false; // matched by ignore / exclude_modules
    std::string  declared;         // what the config declares for this layer ("NVFP4", "FP8", ...), may be empty
    std::array<int64_t, kHfRoleCount> roles;           // index into HfCheckpoint::tensors(), -1 when absent
    int64_t                           out = 0, in = 0; // logical weight shape [out, in] (unpacked for NVFP4)
    int64_t block_out = 0, block_in = 0;               // scale tile: 1x16 for NVFP4, the FP8 block, 1xin per channel
    HfRole  scale_role = HfRole::Count;                // the tensor holding the weight's scales

    HfQuantLayer() { roles.fill(-1); }
    bool has(HfRole r) const { return roles[size_t(r)] >= 0; }
};

// Statistics of one scale role over a set of layers: the NVFP4 scale audit (weight_scale_2 and
// input_scale across layers, the question imp's audit answers) and the FP8 scale summary.
struct HfScaleStats {
    std::string role;  // "weight_scale_2", "input_scale", "weight_scale", "weight_scale_inv", "k_scale", ...
    std::string scope; // the layers it is taken over: "NVFP4", "FP8", "attention"
    std::string note;  // e.g. "1 / weight_global_scale" when derived from compressed-tensors
    int64_t     layers_expected = 0, layers_present = 0;
    int64_t     values = 0, nonfinite = 0, nonpositive = 0; // nonpositive counts finite values <= 0
    double      min = 0, max = 0, mean = 0;                 // over finite values
};

struct HfQuantInfo {
    HfQuantScheme                           scheme = HfQuantScheme::None;
    std::string                             source;       // "hf_quant_config.json" or "config.json quantization_config"
    std::string                             quant_method; // as declared ("modelopt", "compressed-tensors", "fp8", ...)
    std::string                             quant_algo;   // ModelOpt quant_algo or compressed-tensors format
    std::string                             kv_cache_quant_algo;
    int64_t                                 group_size      = 0;
    int64_t                                 weight_block[2] = { 0, 0 }; // weight_block_size / block_structure
    std::vector<std::string>                ignore; // exclude_modules / ignore / modules_to_not_convert, as written
    std::vector<HfQuantLayer>               layers; // prefixes with a weight/weight_packed (or KV scales), file order
    std::unordered_map<std::string, size_t> by_prefix; // prefix -> index in layers
    std::array<int64_t, kHfRoleCount>       role_counts{};
    std::vector<HfScaleStats>               audit;
    std::vector<std::string>                warnings;

    int64_t              count(HfLayerQuant k) const;
    const HfQuantLayer * find_layer(const std::string & prefix) const;
    bool                 quantized() const { return scheme != HfQuantScheme::None; }
};

// True when `module` matches one entry: an exact name, an fnmatch glob (ModelOpt exclude_modules,
// "model.layers.30.self_attn*") or a compressed-tensors "re:<regex>" anchored at the start as
// Python's re.match is. A malformed regex never matches.
bool hf_ignore_matches(const std::vector<std::string> & patterns, const std::string & module);

// Reads the quantization config (config.json quantization_config / compression_config and
// hf_quant_config.json when given) and classifies every layer of `ck`. Called by HfCheckpoint::open.
Result<HfQuantInfo> analyze_hf_quant(const HfCheckpoint & ck, const JsonDoc * hf_quant_config);

} // namespace nibble
