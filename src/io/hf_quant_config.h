// The quantization a checkpoint declares: config.json quantization_config (or the older
// compression_config) and ModelOpt's hf_quant_config.json (FORMATS.md §7.2, §7.3, §8). Separate from
// the per-layer analysis in hf_quant.cpp so the JSON side can be tested and fuzzed on its own.
#pragma once

#include "core/status.h"
#include "io/hf_quant.h"

#include <cstdint>
#include <map>
#include <regex>
#include <string>
#include <vector>

namespace nibble {

struct JsonDoc;

// One compressed-tensors config group, reduced to what the layer cross-check needs.
struct HfCtGroup {
    std::vector<std::string> targets;
    std::string              declared; // "NVFP4", "FP8/tensor", "FP8/channel", "FP8/block", "other"
    int64_t                  block[2] = { 0, 0 };
};

struct HfQuantDeclared {
    HfQuantInfo                        info;      // scheme, method, algo, ignore, ...; no layers yet
    std::map<std::string, std::string> per_layer; // ModelOpt MIXED_PRECISION quantized_layers: prefix -> algo
    std::vector<HfCtGroup>             groups;    // compressed-tensors config_groups
};

// Either document may be null. When both describe ModelOpt, hf_quant_config.json wins (it carries
// quantized_layers) and the ignore lists are merged. Wrong JSON types are errors at the key.
Result<HfQuantDeclared> read_hf_quant_declared(const JsonDoc * config, const JsonDoc * hf_quant_config);

// Ignore / exclude_modules matcher: exact names, fnmatch globs ("model.layers.30.self_attn*") and
// compressed-tensors "re:<regex>" entries anchored at the start like Python's re.match. Regexes are
// compiled once; a pattern that does not compile or is over 1 KiB matches nothing.
class HfIgnoreMatcher {
  public:
    explicit HfIgnoreMatcher(const std::vector<std::string> & patterns);
    bool matches(const std::string & module) const;

  private:
    std::vector<std::string> globs_;
    std::vector<std::regex>  res_;
};

} // namespace nibble
