#include "io/hf_quant.h"

#include "io/hf_checkpoint.h"
#include "io/hf_quant_config.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <limits>
#include <unordered_map>
#include <utility>

namespace nibble {

using json = nlohmann::json;

namespace {

constexpr const char * kRoleNames[kHfRoleCount] = {
    "weight",
    "bias",
    "weight_scale",
    "weight_scale_2",
    "input_scale",
    "weight_packed",
    "weight_global_scale",
    "input_global_scale",
    "weight_scale_inv",
    "weight_zero_point",
    "weight_shape",
    "k_scale",
    "v_scale",
    "pre_quant_scale",
};

std::string qname(const std::string & s) {
    constexpr size_t kMax = 200;
    return s.size() <= kMax ? "\"" + s + "\"" : "\"" + s.substr(0, kMax) + "...\"";
}

std::string shape_str(const std::vector<int64_t> & s) {
    std::string r = "[";
    for (size_t i = 0; i < s.size(); i++) {
        r += (i ? ", " : "") + std::to_string(s[i]);
    }
    return r + "]";
}

int64_t ceil_div(int64_t a, int64_t b) {
    return (a + b - 1) / b;
}

bool is_fp8(const std::string & dt) {
    return dt == "F8_E4M3" || dt == "F8_E5M2";
}

bool is_float_scale(const std::string & dt) {
    // FORMATS.md lists F32; llm-compressor stores FP8 scales in the model dtype (BF16/F16) and newer
    // DeepSeek releases may use power-of-two E8M0 scales (§8.1), so all of these are scales.
    return dt == "F32" || dt == "BF16" || dt == "F16" || dt == "F8_E8M0";
}

// A scalar per-tensor scale: shape [] or [1] (ModelOpt writes 0-d, others [1]; FORMATS.md §10).
bool is_scalar(const HfTensor & t) {
    return t.shape().size() <= 1 && t.st->numel() == 1;
}

} // namespace

// ---------------------------------------------------------------------------------------------
// Per-layer classification and validation

namespace {

class Analyzer {
  public:
    Analyzer(const HfCheckpoint & ck, HfQuantDeclared & d) : ck_(ck), d_(d), ignore_(d.info.ignore) {}

    Result<HfQuantInfo> run();

  private:
    const HfTensor & tensor(const HfQuantLayer & l, HfRole r) const {
        return ck_.tensors()[size_t(l.roles[size_t(r)])];
    }

    Error terr(const HfTensor & t, const std::string & what) const {
        return Error{ ck_.shards()[t.shard].path(), t.st->begin,
                      "tensor " + qname(t.name) + " (" + t.dtype() + " " + shape_str(t.shape()) + "): " + what };
    }

    std::optional<Error> classify(HfQuantLayer & l) const;
    std::optional<Error> check_nvfp4(HfQuantLayer & l) const;
    std::optional<Error> check_fp8(HfQuantLayer & l) const;
    std::optional<Error> check_scalar(const HfQuantLayer & l, HfRole r, bool required) const;
    std::string          declared_for(const HfQuantLayer & l) const;
    void                 cross_check(HfQuantLayer & l);
    void                 audit();

    const HfCheckpoint & ck_;
    HfQuantDeclared &    d_;
    HfIgnoreMatcher      ignore_;
    HfQuantInfo &        info_ = d_.info;
};

// The §8.4 cheat-sheet, then the table of the kind found.
std::optional<Error> Analyzer::classify(HfQuantLayer & l) const {
    const bool has_w = l.has(HfRole::Weight);
    const bool nvfp4_expected =
        !l.excluded && (info_.scheme == HfQuantScheme::ModelOptNVFP4 || info_.scheme == HfQuantScheme::ModelOptMixed ||
                        info_.scheme == HfQuantScheme::CtNVFP4 || info_.scheme == HfQuantScheme::CtMixed);
    if (l.has(HfRole::WeightPacked)) {
        l.kind = HfLayerQuant::NVFP4Ct;
        return check_nvfp4(l);
    }
    if (has_w && tensor(l, HfRole::Weight).dtype() == "U8" && l.has(HfRole::WeightScale)) {
        l.kind = HfLayerQuant::NVFP4ModelOpt;
        return check_nvfp4(l);
    }
    if (has_w && is_fp8(tensor(l, HfRole::Weight).dtype())) {
        return check_fp8(l);
    }
    if (has_w && tensor(l, HfRole::Weight).dtype() == "U8" && tensor(l, HfRole::Weight).shape().size() == 2 &&
        nvfp4_expected) {
        return terr(tensor(l, HfRole::Weight), "packed U8 weight of an NVFP4 checkpoint has no weight_scale");
    }
    for (HfRole r : { HfRole::WeightScale, HfRole::WeightScale2, HfRole::WeightScaleInv, HfRole::WeightGlobalScale,
                      HfRole::WeightZeroPoint }) {
        if (l.has(r)) {
            l.kind = HfLayerQuant::Unrecognized;
            return std::nullopt;
        }
    }
    l.kind = HfLayerQuant::Plain;
    return std::nullopt;
}

std::optional<Error> Analyzer::check_scalar(const HfQuantLayer & l, HfRole r, bool required) const {
    if (!l.has(r)) {
        if (required) {
            const HfRole wr = l.has(HfRole::WeightPacked) ? HfRole::WeightPacked : HfRole::Weight;
            return terr(tensor(l, wr), std::string("missing ") + l.prefix + "." + hf_role_name(r) + " (required for " +
                                           hf_layer_quant_name(l.kind) + ")");
        }
        return std::nullopt;
    }
    const HfTensor & t = tensor(l, r);
    if (t.dtype() != "F32" || !is_scalar(t)) {
        return terr(t, std::string(hf_role_name(r)) + " must be an F32 scalar ([] or [1])");
    }
    return std::nullopt;
}

// ModelOpt (FORMATS.md §7.2) and compressed-tensors (§7.3) NVFP4: packed U8 [out, in/2] and
// F8_E4M3 block scales [out, in/16], plus the per-tensor scale of each convention.
std::optional<Error> Analyzer::check_nvfp4(HfQuantLayer & l) const {
    const bool       ct = l.kind == HfLayerQuant::NVFP4Ct;
    const HfTensor & w  = tensor(l, ct ? HfRole::WeightPacked : HfRole::Weight);
    if (w.dtype() != "U8" || w.shape().size() != 2 || w.shape()[0] == 0 || w.shape()[1] == 0) {
        return terr(w, "NVFP4 packed weight must be U8 [out, in/2]");
    }
    l.out        = w.shape()[0];
    l.in         = 2 * w.shape()[1];
    l.block_out  = 1;
    l.block_in   = 16;
    l.scale_role = HfRole::WeightScale;
    if (!l.has(HfRole::WeightScale)) {
        return terr(w, "missing " + l.prefix + ".weight_scale (NVFP4 block scales)");
    }
    const HfTensor & s = tensor(l, HfRole::WeightScale);
    if (l.in % 16 != 0) {
        return terr(w, "NVFP4 input dimension " + std::to_string(l.in) + " is not a multiple of 16");
    }
    if (s.dtype() != "F8_E4M3" || s.shape() != std::vector<int64_t>{ l.out, l.in / 16 }) {
        return terr(s, "NVFP4 weight_scale must be F8_E4M3 [out, in/16] = " + shape_str({ l.out, l.in / 16 }));
    }
    if (ct) {
        if (auto e = check_scalar(l, HfRole::WeightGlobalScale, true)) {
            return e;
        }
        if (auto e = check_scalar(l, HfRole::InputGlobalScale, false)) {
            return e;
        }
        if (l.has(HfRole::WeightShape)) { // optional [out, in] of the unpacked weight
            const HfTensor & ws = tensor(l, HfRole::WeightShape);
            bool ok = ws.shape() == std::vector<int64_t>{ 2 } && (ws.dtype() == "I64" || ws.dtype() == "I32");
            if (ok) {
                int64_t v[2] = { 0, 0 };
                for (int i = 0; i < 2; i++) {
                    if (ws.dtype() == "I64") {
                        std::memcpy(&v[i], ws.st->data + 8 * i, 8);
                    } else {
                        int32_t x;
                        std::memcpy(&x, ws.st->data + 4 * i, 4);
                        v[i] = x;
                    }
                }
                ok = v[0] == l.out && v[1] == l.in;
            }
            if (!ok) {
                return terr(ws, "weight_shape must be I64/I32 [2] holding " + shape_str({ l.out, l.in }));
            }
        }
        return std::nullopt;
    }
    if (auto e = check_scalar(l, HfRole::WeightScale2, true)) {
        return e;
    }
    return check_scalar(l, HfRole::InputScale, false);
}

// Block FP8 (§8.1), compressed-tensors FP8 (§8.2), ModelOpt FP8 (§8.3): F8 weight [out, in] and a
// float scale whose shape says the granularity.
std::optional<Error> Analyzer::check_fp8(HfQuantLayer & l) const {
    const HfTensor & w = tensor(l, HfRole::Weight);
    if (w.shape().size() != 2 || w.shape()[0] == 0 || w.shape()[1] == 0) {
        return terr(w, "FP8 weight must be 2-D [out, in]");
    }
    l.out = w.shape()[0];
    l.in  = w.shape()[1];
    if (l.has(HfRole::WeightScaleInv)) {
        l.scale_role = HfRole::WeightScaleInv;
    } else if (l.has(HfRole::WeightScale)) {
        l.scale_role = HfRole::WeightScale;
    } else {
        return terr(w, "FP8 weight has neither weight_scale nor weight_scale_inv");
    }
    const HfTensor & s = tensor(l, l.scale_role);
    if (!is_float_scale(s.dtype())) {
        return terr(s, "FP8 scale must be F32, BF16, F16 or F8_E8M0");
    }
    if (is_scalar(s)) {
        l.kind      = HfLayerQuant::FP8Tensor;
        l.block_out = l.out;
        l.block_in  = l.in;
    } else if (l.scale_role == HfRole::WeightScale && s.shape() == std::vector<int64_t>{ l.out, 1 }) {
        l.kind      = HfLayerQuant::FP8Channel;
        l.block_out = 1;
        l.block_in  = l.in;
    } else if (s.shape().size() == 2) {
        l.kind       = HfLayerQuant::FP8Block;
        // The block comes from weight_block_size / block_structure; 128x128 is what every known
        // producer uses when the config does not say.
        int64_t b[2] = { info_.weight_block[0], info_.weight_block[1] };
        for (const HfCtGroup & g : d_.groups) {
            if (b[0] == 0 && g.block[0] > 0) {
                b[0] = g.block[0];
                b[1] = g.block[1];
            }
        }
        l.block_out = b[0] > 0 ? b[0] : 128;
        l.block_in  = b[1] > 0 ? b[1] : 128;
        const std::vector<int64_t> want{ ceil_div(l.out, l.block_out), ceil_div(l.in, l.block_in) };
        if (s.shape() != want) {
            return terr(s, "block FP8 scale for weight " + shape_str(w.shape()) + " with " +
                               std::to_string(l.block_out) + "x" + std::to_string(l.block_in) + " blocks must be " +
                               shape_str(want));
        }
    } else {
        return terr(s, "FP8 scale shape fits none of per-tensor [] / [1], per-channel [out, 1] or 2-D blocks");
    }
    return check_scalar(l, HfRole::InputScale, false);
}

// What the config says this layer should be, in the strings declared_matches() understands.
std::string Analyzer::declared_for(const HfQuantLayer & l) const {
    if (l.excluded) {
        return {};
    }
    switch (info_.scheme) {
        case HfQuantScheme::ModelOptMixed: {
            const auto it = d_.per_layer.find(l.prefix);
            return it == d_.per_layer.end() ? std::string() : it->second;
        }
        case HfQuantScheme::ModelOptNVFP4:
        case HfQuantScheme::ModelOptFP8:
            return l.kind == HfLayerQuant::Plain ? std::string() : info_.quant_algo;
        case HfQuantScheme::BlockFP8:
            return l.kind == HfLayerQuant::Plain ? std::string() : info_.weight_block[0] > 0 ? "FP8/block" : "FP8";
        case HfQuantScheme::CtNVFP4:
        case HfQuantScheme::CtFP8:
        case HfQuantScheme::CtMixed:
            if (l.kind == HfLayerQuant::Plain) {
                return {};
            }
            for (const HfCtGroup & g : d_.groups) {
                // Class-name targets ("Linear") match every layer: names alone cannot tell classes apart.
                const bool class_target = std::any_of(g.targets.begin(), g.targets.end(), [](const std::string & t) {
                    return !t.empty() && t.find('.') == std::string::npos && t.rfind("re:", 0) != 0 &&
                           std::isupper(static_cast<unsigned char>(t[0]));
                });
                if (class_target || hf_ignore_matches(g.targets, l.prefix)) {
                    return g.declared;
                }
            }
            return {};
        default:
            return {};
    }
}

bool declared_matches(const std::string & declared, HfLayerQuant kind) {
    if (declared.rfind("NVFP4", 0) == 0) {
        return hf_layer_is_nvfp4(kind);
    }
    if (declared == "FP8/tensor") {
        return kind == HfLayerQuant::FP8Tensor;
    }
    if (declared == "FP8/channel") {
        return kind == HfLayerQuant::FP8Channel;
    }
    if (declared == "FP8/block") {
        return kind == HfLayerQuant::FP8Block;
    }
    if (declared.rfind("FP8", 0) == 0) {
        return hf_layer_is_fp8(kind);
    }
    return true; // an algorithm we do not interpret (W8A8_SQ_PER_CHANNEL, INT4_AWQ, ...)
}

void Analyzer::cross_check(HfQuantLayer & l) {
    l.declared             = declared_for(l);
    const std::string what = "layer " + qname(l.prefix) + ": ";
    if (l.kind == HfLayerQuant::Unrecognized) {
        info_.warnings.push_back(what + "scale tensors in a combination none of the known schemes uses");
    }
    if (l.excluded && l.kind != HfLayerQuant::Plain) {
        info_.warnings.push_back(what + "is in the ignore list but its tensors are " + hf_layer_quant_name(l.kind));
    }
    if (l.has(HfRole::PreQuantScale)) {
        info_.warnings.push_back(what + "has pre_quant_scale (AWQ): activations must be pre-scaled");
    }
    if (l.declared.empty()) {
        if (info_.scheme == HfQuantScheme::ModelOptMixed && l.kind != HfLayerQuant::Plain && !l.excluded) {
            info_.warnings.push_back(what + "is " + hf_layer_quant_name(l.kind) + " but not in quantized_layers");
        }
        return;
    }
    if (l.kind == HfLayerQuant::Plain) {
        info_.warnings.push_back(what + "config declares " + l.declared + " but the tensors are not quantized");
    } else if (!declared_matches(l.declared, l.kind)) {
        info_.warnings.push_back(what + "config declares " + l.declared + " but the tensors are " +
                                 hf_layer_quant_name(l.kind));
    }
}

struct Acc {
    HfScaleStats s;
    double       sum    = 0;
    int64_t      finite = 0;

    void add(float v) {
        s.values++;
        if (!std::isfinite(v)) {
            s.nonfinite++;
            return;
        }
        s.nonpositive += v <= 0.0f;
        s.min = finite ? std::min(s.min, double(v)) : double(v);
        s.max = finite ? std::max(s.max, double(v)) : double(v);
        sum += v;
        finite++;
    }

    HfScaleStats done() {
        s.mean = finite ? sum / double(finite) : 0.0;
        return s;
    }
};

std::vector<float> values_of(const HfTensor & t) {
    if (t.dtype() == "F8_E8M0") {
        std::vector<float> v(size_t(t.st->nbytes()));
        for (size_t i = 0; i < v.size(); i++) {
            const uint8_t b = t.st->data[i];
            v[i]            = b == 0xFF ? std::numeric_limits<float>::quiet_NaN() : std::ldexp(1.0f, int(b) - 127);
        }
        return v;
    }
    Result<std::vector<float>> r = to_f32(*t.st);
    return r ? std::move(r.value()) : std::vector<float>{};
}

void Analyzer::audit() {
    // One row per (role, layer set). `invert` gives the ModelOpt convention for compressed-tensors'
    // divisors (weight_scale_2 = 1 / weight_global_scale, FORMATS.md §7.3).
    const auto row = [&](const char * role, const char * scope, const char * note, HfRole src, bool invert,
                         auto && in_scope) {
        Acc a;
        a.s.role  = role;
        a.s.scope = scope;
        a.s.note  = note;
        for (const HfQuantLayer & l : info_.layers) {
            if (!in_scope(l)) {
                continue;
            }
            a.s.layers_expected++;
            if (!l.has(src)) {
                continue;
            }
            a.s.layers_present++;
            for (float v : values_of(tensor(l, src))) {
                a.add(invert ? 1.0f / v : v);
            }
        }
        if (a.s.layers_expected > 0) {
            info_.audit.push_back(a.done());
        }
    };
    const auto is_mo  = [](const HfQuantLayer & l) { return l.kind == HfLayerQuant::NVFP4ModelOpt; };
    const auto is_ct  = [](const HfQuantLayer & l) { return l.kind == HfLayerQuant::NVFP4Ct; };
    const auto fp8_ws = [](const HfQuantLayer & l) {
        return hf_layer_is_fp8(l.kind) && l.scale_role == HfRole::WeightScale;
    };
    const auto fp8_wsi = [](const HfQuantLayer & l) {
        return hf_layer_is_fp8(l.kind) && l.scale_role == HfRole::WeightScaleInv;
    };
    const auto fp8  = [](const HfQuantLayer & l) { return hf_layer_is_fp8(l.kind); };
    const auto kv_k = [](const HfQuantLayer & l) { return l.has(HfRole::KScale); };
    const auto kv_v = [](const HfQuantLayer & l) { return l.has(HfRole::VScale); };
    row("weight_scale_2", "NVFP4", "", HfRole::WeightScale2, false, is_mo);
    row("input_scale", "NVFP4", "", HfRole::InputScale, false, is_mo);
    row("weight_scale_2", "NVFP4 (compressed-tensors)", "1 / weight_global_scale", HfRole::WeightGlobalScale, true,
        is_ct);
    row("input_scale", "NVFP4 (compressed-tensors)", "1 / input_global_scale", HfRole::InputGlobalScale, true, is_ct);
    row("weight_scale", "FP8", "multiplier", HfRole::WeightScale, false, fp8_ws);
    row("weight_scale_inv", "FP8", "multiplier despite the name", HfRole::WeightScaleInv, false, fp8_wsi);
    row("input_scale", "FP8", "", HfRole::InputScale, false, fp8);
    row("k_scale", "KV cache", "", HfRole::KScale, false, kv_k);
    row("v_scale", "KV cache", "", HfRole::VScale, false, kv_v);
}

Result<HfQuantInfo> Analyzer::run() {

    // Group tensors by prefix, keeping first-appearance (file) order.
    std::unordered_map<std::string, size_t> at;
    std::vector<HfQuantLayer>               groups;
    for (size_t i = 0; i < ck_.tensors().size(); i++) {
        std::string prefix;
        HfRole      role;
        if (!hf_split_role(ck_.tensors()[i].name, prefix, role)) {
            continue;
        }
        info_.role_counts[size_t(role)]++;
        auto [it, fresh] = at.emplace(prefix, groups.size());
        if (fresh) {
            groups.emplace_back();
            groups.back().prefix = prefix;
        }
        groups[it->second].roles[size_t(role)] = int64_t(i);
    }

    for (HfQuantLayer & l : groups) {
        for (HfRole r : { HfRole::KScale, HfRole::VScale }) { // attention-level KV scales: scalars
            if (l.has(r) && !is_scalar(tensor(l, r))) {
                return terr(tensor(l, r), std::string(hf_role_name(r)) + " must be a scalar");
            }
        }
        if (!l.has(HfRole::Weight) && !l.has(HfRole::WeightPacked)) {
            for (HfRole r :
                 { HfRole::WeightScale, HfRole::WeightScale2, HfRole::WeightScaleInv, HfRole::WeightGlobalScale }) {
                if (l.has(r)) {
                    return terr(tensor(l, r), std::string(hf_role_name(r)) + " has no " + l.prefix + ".weight");
                }
            }
            if (l.has(HfRole::KScale) || l.has(HfRole::VScale)) {
                info_.layers.push_back(std::move(l)); // kept for the KV-scale audit
            }
            continue;
        }
        l.excluded = ignore_.matches(l.prefix);
        if (auto e = classify(l)) {
            return *e;
        }
        cross_check(l);
        info_.layers.push_back(std::move(l));
    }

    const bool any_quantized = std::any_of(info_.layers.begin(), info_.layers.end(), [](const HfQuantLayer & l) {
        return hf_layer_is_nvfp4(l.kind) || hf_layer_is_fp8(l.kind);
    });
    if (info_.scheme == HfQuantScheme::None && any_quantized) {
        info_.scheme = HfQuantScheme::Undeclared;
        info_.warnings.push_back("quantized tensors found but no quantization_config or hf_quant_config.json");
    } else if (info_.scheme != HfQuantScheme::None && info_.scheme != HfQuantScheme::Other &&
               info_.scheme != HfQuantScheme::CtOther && info_.scheme != HfQuantScheme::ModelOptOther &&
               !any_quantized) {
        info_.warnings.push_back(std::string("config declares ") + hf_quant_scheme_name(info_.scheme) +
                                 " but no layer has NVFP4 or FP8 tensors");
    }
    for (size_t i = 0; i < info_.layers.size(); i++) {
        info_.by_prefix.emplace(info_.layers[i].prefix, i);
    }
    audit();
    return std::move(info_);
}

} // namespace

// ---------------------------------------------------------------------------------------------

const char * hf_quant_scheme_name(HfQuantScheme s) {
    switch (s) {
        case HfQuantScheme::None:
            return "none";
        case HfQuantScheme::Undeclared:
            return "undeclared";
        case HfQuantScheme::ModelOptNVFP4:
            return "modelopt-nvfp4";
        case HfQuantScheme::ModelOptFP8:
            return "modelopt-fp8";
        case HfQuantScheme::ModelOptMixed:
            return "modelopt-mixed-precision";
        case HfQuantScheme::ModelOptOther:
            return "modelopt-other";
        case HfQuantScheme::CtNVFP4:
            return "compressed-tensors-nvfp4";
        case HfQuantScheme::CtFP8:
            return "compressed-tensors-fp8";
        case HfQuantScheme::CtMixed:
            return "compressed-tensors-mixed-precision";
        case HfQuantScheme::CtOther:
            return "compressed-tensors-other";
        case HfQuantScheme::BlockFP8:
            return "fp8-block";
        case HfQuantScheme::Other:
            return "other";
    }
    return "?";
}

const char * hf_layer_quant_name(HfLayerQuant k) {
    switch (k) {
        case HfLayerQuant::Plain:
            return "plain";
        case HfLayerQuant::NVFP4ModelOpt:
            return "nvfp4-modelopt";
        case HfLayerQuant::NVFP4Ct:
            return "nvfp4-compressed-tensors";
        case HfLayerQuant::FP8Block:
            return "fp8-block";
        case HfLayerQuant::FP8Tensor:
            return "fp8-tensor";
        case HfLayerQuant::FP8Channel:
            return "fp8-channel";
        case HfLayerQuant::Unrecognized:
            return "unrecognized";
    }
    return "?";
}

bool hf_layer_is_nvfp4(HfLayerQuant k) {
    return k == HfLayerQuant::NVFP4ModelOpt || k == HfLayerQuant::NVFP4Ct;
}

bool hf_layer_is_fp8(HfLayerQuant k) {
    return k == HfLayerQuant::FP8Block || k == HfLayerQuant::FP8Tensor || k == HfLayerQuant::FP8Channel;
}

const char * hf_role_name(HfRole r) {
    return size_t(r) < kHfRoleCount ? kRoleNames[size_t(r)] : "?";
}

bool hf_split_role(const std::string & name, std::string & prefix, HfRole & role) {
    const size_t dot = name.rfind('.');
    if (dot == std::string::npos || dot == 0) {
        return false;
    }
    const std::string last = name.substr(dot + 1);
    for (size_t i = 0; i < kHfRoleCount; i++) {
        if (last == kRoleNames[i]) {
            prefix = name.substr(0, dot);
            role   = HfRole(i);
            return true;
        }
    }
    return false;
}

int64_t HfQuantInfo::count(HfLayerQuant k) const {
    return std::count_if(layers.begin(), layers.end(), [k](const HfQuantLayer & l) {
        return (l.has(HfRole::Weight) || l.has(HfRole::WeightPacked)) && l.kind == k;
    });
}

const HfQuantLayer * HfQuantInfo::find_layer(const std::string & prefix) const {
    const auto it = by_prefix.find(prefix);
    return it == by_prefix.end() ? nullptr : &layers[it->second];
}

bool hf_ignore_matches(const std::vector<std::string> & patterns, const std::string & module) {
    return HfIgnoreMatcher(patterns).matches(module);
}

Result<HfQuantInfo> analyze_hf_quant(const HfCheckpoint & ck, const JsonDoc * hf_quant_config) {
    Result<HfQuantDeclared> d = read_hf_quant_declared(ck.config(), hf_quant_config);
    if (!d) {
        return d.error();
    }
    return Analyzer(ck, d.value()).run();
}

} // namespace nibble
