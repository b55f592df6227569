#include "model/hf_naming.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <map>
#include <numbers>
#include <set>
#include <tuple>
#include <utility>

namespace nibble {

using json = nlohmann::json;

namespace {

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

// HF class / model_type -> GGUF architecture. Mistral is llama to llama.cpp: its converter registers
// MistralForCausalLM on LlamaModel (arch LLAMA, undo_permute = True, conversion/llama.py).
struct ArchRow {
    const char * hf;
    const char * gguf;
};
constexpr ArchRow kArchClasses[] = {
    { "LlamaForCausalLM", "llama" }, { "LLaMAForCausalLM", "llama" }, { "MistralForCausalLM", "llama" },
    { "LlamaModel", "llama" },       { "Qwen2ForCausalLM", "qwen2" }, { "Qwen2Model", "qwen2" },
    { "Qwen3ForCausalLM", "qwen3" }, { "Qwen3Model", "qwen3" },
};
constexpr ArchRow kModelTypes[] = {
    { "llama", "llama" },
    { "mistral", "llama" },
    { "qwen2", "qwen2" },
    { "qwen3", "qwen3" },
};

// Per-layer module suffix -> GGUF module (FORMATS.md §2.7).
struct ModuleRow {
    const char * hf;
    const char * gguf;
};
constexpr ModuleRow kLayerModules[] = {
    { "input_layernorm", "attn_norm" },    { "self_attn.q_proj", "attn_q" },
    { "self_attn.k_proj", "attn_k" },      { "self_attn.v_proj", "attn_v" },
    { "self_attn.o_proj", "attn_output" }, { "self_attn.q_norm", "attn_q_norm" },
    { "self_attn.k_norm", "attn_k_norm" }, { "post_attention_layernorm", "ffn_norm" },
    { "mlp.gate_proj", "ffn_gate" },       { "mlp.up_proj", "ffn_up" },
    { "mlp.down_proj", "ffn_down" },
};

bool parse_layer_index(const std::string & s, size_t & pos, int64_t & n) {
    const size_t start = pos;
    n                  = 0;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9' && pos - start < 9) {
        n = n * 10 + (s[pos] - '0');
        pos++;
    }
    return pos > start && (pos - start == 1 || s[start] != '0');
}

// Splits "model.layers.N.<rest>" (the "model." is optional); false for non-layer names.
bool split_layer(const std::string & prefix, int64_t & layer, std::string & rest) {
    std::string p = prefix.rfind("model.", 0) == 0 ? prefix.substr(6) : prefix;
    if (p.rfind("layers.", 0) != 0) {
        return false;
    }
    size_t pos = 7;
    if (!parse_layer_index(p, pos, layer) || pos >= p.size() || p[pos] != '.') {
        return false;
    }
    rest = p.substr(pos + 1);
    return true;
}

bool fits_u32(int64_t v) {
    return v > 0 && v <= int64_t(std::numeric_limits<uint32_t>::max());
}

// Reorders rows within each head: forward (HF -> GGUF) or inverse.
bool permute_rows(const void * src, void * dst, int64_t rows, int64_t row_bytes, int n_head, bool inverse) {
    if (src == nullptr || dst == nullptr || rows <= 0 || row_bytes <= 0 || n_head <= 0 || rows % n_head != 0) {
        return false;
    }
    const int64_t hd = rows / n_head;
    if (hd % 2 != 0) {
        return false;
    }
    const auto *  s    = static_cast<const uint8_t *>(src);
    auto *        d    = static_cast<uint8_t *>(dst);
    const size_t  rb   = size_t(row_bytes);
    const int64_t half = hd / 2;
    for (int64_t h = 0; h < n_head; h++) {
        for (int64_t j = 0; j < half; j++) {
            for (int64_t i = 0; i < 2; i++) {
                const int64_t gguf_row = h * hd + 2 * j + i;
                const int64_t hf_row   = h * hd + i * half + j;
                const int64_t from     = inverse ? gguf_row : hf_row;
                const int64_t to       = inverse ? hf_row : gguf_row;
                std::memcpy(d + size_t(to) * rb, s + size_t(from) * rb, rb);
            }
        }
    }
    return true;
}

} // namespace

// ---------------------------------------------------------------------------------------------

GgufType GgufKvDesc::type() const {
    constexpr GgufType kTypes[] = { GgufType::UINT32, GgufType::INT32, GgufType::FLOAT32, GgufType::BOOL,
                                    GgufType::STRING };
    return kTypes[value.index()];
}

std::string GgufKvDesc::value_string() const {
    switch (value.index()) {
        case 0:
            return std::to_string(std::get<uint32_t>(value));
        case 1:
            return std::to_string(std::get<int32_t>(value));
        case 2: {
            char buf[32];
            std::snprintf(buf, sizeof buf, "%.9g", double(std::get<float>(value)));
            return buf;
        }
        case 3:
            return std::get<bool>(value) ? "true" : "false";
        default:
            return std::get<std::string>(value);
    }
}

bool permute_qk_rows(const void * src, void * dst, int64_t rows, int64_t row_bytes, int n_head) {
    return permute_rows(src, dst, rows, row_bytes, n_head, false);
}

bool unpermute_qk_rows(const void * src, void * dst, int64_t rows, int64_t row_bytes, int n_head) {
    return permute_rows(src, dst, rows, row_bytes, n_head, true);
}

std::vector<float> llama3_rope_factors(const json & rope, double theta, int64_t head_dim) {
    // llama.cpp evaluates this in float32 torch ops; double here can differ from it in the last bit.
    const auto num = [&rope](const char * k, double dflt) {
        const auto it = rope.is_object() ? rope.find(k) : rope.end();
        return it != rope.end() && it->is_number() ? it->get<double>() : dflt;
    };
    const double       factor       = num("factor", 8.0);
    const double       low_factor   = num("low_freq_factor", 1.0);
    const double       high_factor  = num("high_freq_factor", 4.0);
    const double       old_ctx      = num("original_max_position_embeddings", 8192.0);
    const double       low_wavelen  = old_ctx / low_factor;
    const double       high_wavelen = old_ctx / high_factor;
    std::vector<float> out;
    for (int64_t i = 0; i < head_dim; i += 2) { // torch.arange(0, dim, 2)
        const double freq    = 1.0 / std::pow(theta, double(i) / double(head_dim));
        const double wavelen = 2.0 * std::numbers::pi / freq;
        double       f;
        if (wavelen < high_wavelen) {
            f = 1.0;
        } else if (wavelen > low_wavelen) {
            f = factor;
        } else {
            const double smooth = (old_ctx / wavelen - low_factor) / (high_factor - low_factor);
            f                   = 1.0 / ((1.0 - smooth) / factor + smooth);
        }
        out.push_back(float(f));
    }
    return out;
}

Result<std::string> gguf_arch_for(const HfConfigSummary & cfg, const std::string & config_path) {
    if (!cfg.architectures.empty()) {
        for (const ArchRow & r : kArchClasses) {
            if (cfg.architectures[0] == r.hf) {
                return std::string(r.gguf);
            }
        }
    }
    for (const ArchRow & r : kModelTypes) {
        if (cfg.model_type == r.hf) {
            return std::string(r.gguf);
        }
    }
    const std::string what = cfg.architectures.empty() ? "model_type " + qname(cfg.model_type)
                                                       : "architecture " + qname(cfg.architectures[0]);
    return Error{ config_path, 0, what + " is not supported for GGUF mapping (llama, mistral, qwen2, qwen3)" };
}

std::string gguf_module_name(const std::string & prefix) {
    if (prefix == "lm_head") {
        return "output";
    }
    const std::string p = prefix.rfind("model.", 0) == 0 ? prefix.substr(6) : prefix;
    if (p == "embed_tokens") {
        return "token_embd";
    }
    if (p == "norm") {
        return "output_norm";
    }
    int64_t     layer;
    std::string rest;
    if (!split_layer(prefix, layer, rest)) {
        return {};
    }
    for (const ModuleRow & m : kLayerModules) {
        if (rest == m.hf) {
            return "blk." + std::to_string(layer) + "." + m.gguf;
        }
    }
    return {};
}

std::string hf_to_gguf_name(const std::string & hf_name) {
    std::string prefix;
    HfRole      role;
    if (!hf_split_role(hf_name, prefix, role)) {
        return {};
    }
    const std::string m = gguf_module_name(prefix);
    if (m.empty()) {
        return {};
    }
    switch (role) {
        case HfRole::Weight:
        case HfRole::WeightPacked:
            return m + ".weight";
        case HfRole::Bias:
            return m + ".bias";
        case HfRole::WeightScale2:
        case HfRole::WeightGlobalScale:
            return m + ".scale";
        case HfRole::InputScale:
        case HfRole::InputGlobalScale:
            return m + ".input_scale";
        default:
            return {};
    }
}

// ---------------------------------------------------------------------------------------------
// describe_gguf

namespace {

class Mapper {
  public:
    explicit Mapper(const HfCheckpoint & ck) : ck_(ck) {}

    Result<GgufModelDesc> run();

  private:
    Error cfg_err(const char * key, const std::string & what) const { return ck_.config()->error_at(key, what); }

    Error tensor_err(const HfTensor & t, const std::string & what) const {
        return Error{ ck_.shards()[t.shard].path(), t.st->begin, "tensor " + qname(t.name) + ": " + what };
    }

    std::optional<Error> need_u32(const char * key, const std::optional<int64_t> & v, int64_t & dst) const;
    std::optional<Error> params();
    std::optional<Error> kvs();
    std::optional<Error> tensors();
    std::optional<Error> add_main(const HfTensor & t, const HfQuantLayer * layer, const std::string & module,
                                  HfRole role);
    std::optional<Error> check_complete();
    std::vector<int64_t> expected_shape(const std::string & module, HfRole role) const;

    void u32(const std::string & key, int64_t v) { out_.kvs.push_back({ p_.arch + "." + key, uint32_t(v) }); }
    void f32(const std::string & key, double v) { out_.kvs.push_back({ p_.arch + "." + key, float(v) }); }

    const HfCheckpoint &          ck_;
    GgufModelDesc                 out_;
    HfModelParams &               p_ = out_.params;
    std::map<std::string, size_t> by_gguf_; // gguf name -> index in out_.tensors
};

std::optional<Error> Mapper::need_u32(const char * key, const std::optional<int64_t> & v, int64_t & dst) const {
    if (!v) {
        return cfg_err(key, std::string("config.json has no ") + key + ", needed for the GGUF mapping");
    }
    if (!fits_u32(*v)) {
        return cfg_err(key, std::string(key) + " = " + std::to_string(*v) + " must be in [1, 2^32) (GGUF UINT32)");
    }
    dst = *v;
    return std::nullopt;
}

std::optional<Error> Mapper::params() {
    const HfConfigSummary & s = ck_.summary();
    Result<std::string>     a = gguf_arch_for(s, ck_.config()->path);
    if (!a) {
        return a.error();
    }
    p_.arch    = a.value();
    p_.hf_arch = s.architectures.empty() ? s.model_type : s.architectures[0];
    for (auto [key, v, dst] : { std::tuple{ "hidden_size", &s.hidden_size, &p_.n_embd },
                                std::tuple{ "num_hidden_layers", &s.num_hidden_layers, &p_.n_layer },
                                std::tuple{ "num_attention_heads", &s.num_attention_heads, &p_.n_head },
                                std::tuple{ "intermediate_size", &s.intermediate_size, &p_.n_ff },
                                std::tuple{ "vocab_size", &s.vocab_size, &p_.n_vocab } }) {
        if (auto e = need_u32(key, *v, *dst)) {
            return e;
        }
    }
    p_.n_head_kv = p_.n_head;
    if (s.num_key_value_heads) {
        if (auto e = need_u32("num_key_value_heads", s.num_key_value_heads, p_.n_head_kv)) {
            return e;
        }
    }
    if (p_.n_head % p_.n_head_kv != 0) {
        return cfg_err("num_key_value_heads", "num_attention_heads " + std::to_string(p_.n_head) +
                                                  " is not a multiple of num_key_value_heads " +
                                                  std::to_string(p_.n_head_kv));
    }
    if (s.max_position_embeddings) {
        if (auto e = need_u32("max_position_embeddings", s.max_position_embeddings, p_.n_ctx)) {
            return e;
        }
    }
    if (s.head_dim) {
        if (auto e = need_u32("head_dim", s.head_dim, p_.head_dim)) {
            return e;
        }
        p_.head_dim_given = true;
    } else if (p_.n_embd % p_.n_head != 0) {
        return cfg_err("hidden_size", "hidden_size is not a multiple of num_attention_heads and head_dim is not given");
    } else {
        p_.head_dim = p_.n_embd / p_.n_head;
    }
    if (p_.head_dim % 2 != 0) {
        return cfg_err("head_dim", "head size " + std::to_string(p_.head_dim) + " is odd; RoPE needs pairs");
    }
    // Bounds from the checkpoint itself, so a hostile config cannot drive allocations (the per-layer
    // tensor list, rope_freqs) or overflow the shape products below: every layer needs 9 tensors,
    // and no weight dimension can exceed the bytes on disk.
    if (uint64_t(p_.n_layer) * 9 > ck_.tensors().size()) {
        return cfg_err("num_hidden_layers", "num_hidden_layers = " + std::to_string(p_.n_layer) +
                                                " but the checkpoint has only " + std::to_string(ck_.tensors().size()) +
                                                " tensors");
    }
    const uint64_t bytes = std::max<uint64_t>(ck_.total_bytes(), 1);
    if (uint64_t(p_.n_head) * uint64_t(p_.head_dim) > bytes || uint64_t(p_.n_head_kv) * uint64_t(p_.head_dim) > bytes) {
        return cfg_err("num_attention_heads", "num_attention_heads x head_dim exceeds the checkpoint's size");
    }
    if (!s.rms_norm_eps || !std::isfinite(*s.rms_norm_eps) || *s.rms_norm_eps <= 0) {
        return cfg_err("rms_norm_eps", "rms_norm_eps must be present and a positive number");
    }
    p_.rms_eps = float(*s.rms_norm_eps);
    if (s.rope_theta) {
        if (!std::isfinite(*s.rope_theta) || *s.rope_theta <= 0 || *s.rope_theta > 3.0e38) {
            return cfg_err("rope_theta", "rope_theta must be a positive float32");
        }
        p_.rope_theta = float(*s.rope_theta);
    }
    if (s.rope_scaling.is_object()) {
        for (const char * k : { "rope_type", "type" }) {
            if (const auto it = s.rope_scaling.find(k);
                p_.rope_type.empty() && it != s.rope_scaling.end() && it->is_string()) {
                p_.rope_type = it->get<std::string>();
            }
        }
    }
    p_.tied       = s.tie_word_embeddings;
    p_.permute_qk = p_.arch == "llama";
    return std::nullopt;
}

// The KVs in the order llama.cpp's converter writes them (TextModel then LlamaModel
// set_gguf_parameters), with the §2.6 types.
std::optional<Error> Mapper::kvs() {
    out_.kvs.push_back({ "general.architecture", p_.arch });
    u32("block_count", p_.n_layer);
    if (p_.n_ctx > 0) {
        u32("context_length", p_.n_ctx);
    }
    u32("embedding_length", p_.n_embd);
    u32("feed_forward_length", p_.n_ff);
    u32("attention.head_count", p_.n_head);
    if (ck_.summary().num_key_value_heads) {
        u32("attention.head_count_kv", p_.n_head_kv);
    }
    const json & rope   = ck_.summary().rope_scaling;
    const auto   num_of = [&rope](const char * k) -> std::optional<double> {
        const auto it = rope.is_object() ? rope.find(k) : rope.end();
        return it != rope.end() && it->is_number() ? std::optional<double>(it->get<double>()) : std::nullopt;
    };
    const std::optional<double> factor = num_of("factor");
    if (p_.rope_type == "linear" && factor) {
        out_.kvs.push_back({ p_.arch + ".rope.scaling.type", std::string("linear") });
        f32("rope.scaling.factor", *factor);
    } else if (p_.rope_type == "yarn" && factor) {
        std::optional<double> orig = num_of("original_max_position_embeddings");
        if (!orig && ck_.config()->root.contains("original_max_position_embeddings") &&
            ck_.config()->root["original_max_position_embeddings"].is_number()) {
            orig = ck_.config()->root["original_max_position_embeddings"].get<double>();
        }
        if (!orig || !fits_u32(int64_t(*orig))) {
            return cfg_err("rope_scaling", "yarn rope scaling needs original_max_position_embeddings");
        }
        out_.kvs.push_back({ p_.arch + ".rope.scaling.type", std::string("yarn") });
        f32("rope.scaling.factor", *factor);
        u32("rope.scaling.original_context_length", int64_t(*orig));
        for (auto [hf, gguf] : { std::pair{ "extrapolation_factor", "rope.scaling.yarn_ext_factor" },
                                 std::pair{ "attention_factor", "rope.scaling.yarn_attn_factor" },
                                 std::pair{ "attn_factor", "rope.scaling.yarn_attn_factor" },
                                 std::pair{ "beta_fast", "rope.scaling.yarn_beta_fast" },
                                 std::pair{ "beta_slow", "rope.scaling.yarn_beta_slow" } }) {
            // Init-capture: clang < 16 cannot capture a structured binding (the fuzz build uses clang 14).
            const bool dup = std::any_of(out_.kvs.begin(), out_.kvs.end(), [&, key = gguf](const GgufKvDesc & kv) {
                return kv.key == p_.arch + "." + key;
            });
            if (const auto v = num_of(hf); v && !dup) {
                f32(gguf, *v);
            }
        }
    } else if (p_.rope_type == "su" || p_.rope_type == "longrope") {
        out_.kvs.push_back({ p_.arch + ".rope.scaling.type", std::string("longrope") });
    } else if (!p_.rope_type.empty() && p_.rope_type != "llama3" && p_.rope_type != "default") {
        out_.skipped.push_back("rope_scaling type " + qname(p_.rope_type) + ": not mapped (llama.cpp ignores it too)");
    }
    if (p_.rope_theta) {
        f32("rope.freq_base", *p_.rope_theta);
    }
    f32("attention.layer_norm_rms_epsilon", p_.rms_eps);
    if (p_.head_dim_given) {
        u32("attention.key_length", p_.head_dim);
        u32("attention.value_length", p_.head_dim);
    }
    if (p_.arch == "llama") {
        u32("vocab_size", p_.n_vocab);
        u32("rope.dimension_count", p_.head_dim);
    }
    return std::nullopt;
}

std::vector<int64_t> Mapper::expected_shape(const std::string & module, HfRole role) const {
    const std::string m    = module.rfind("blk.", 0) == 0 ? module.substr(module.find('.', 4) + 1) : module;
    const int64_t     q    = p_.n_head * p_.head_dim;
    const int64_t     kv   = p_.n_head_kv * p_.head_dim;
    const bool        bias = role == HfRole::Bias;
    if (m == "token_embd" || m == "output") {
        return { p_.n_vocab, p_.n_embd };
    }
    if (m == "output_norm" || m == "attn_norm" || m == "ffn_norm") {
        return { p_.n_embd };
    }
    if (m == "attn_q") {
        return bias ? std::vector<int64_t>{ q } : std::vector<int64_t>{ q, p_.n_embd };
    }
    if (m == "attn_k" || m == "attn_v") {
        return bias ? std::vector<int64_t>{ kv } : std::vector<int64_t>{ kv, p_.n_embd };
    }
    if (m == "attn_output") {
        return bias ? std::vector<int64_t>{ p_.n_embd } : std::vector<int64_t>{ p_.n_embd, q };
    }
    if (m == "attn_q_norm" || m == "attn_k_norm") {
        return { p_.head_dim };
    }
    if (m == "ffn_gate" || m == "ffn_up") {
        return { p_.n_ff, p_.n_embd };
    }
    return { p_.n_embd, p_.n_ff }; // ffn_down
}

std::optional<Error> Mapper::add_main(const HfTensor & t, const HfQuantLayer * layer, const std::string & module,
                                      HfRole role) {
    const HfLayerQuant         kind      = layer != nullptr ? layer->kind : HfLayerQuant::Plain;
    const bool                 quantized = role != HfRole::Bias && (hf_layer_is_nvfp4(kind) || hf_layer_is_fp8(kind));
    const std::vector<int64_t> shape     = quantized ? std::vector<int64_t>{ layer->out, layer->in } : t.shape();
    if (module.find("q_norm") != std::string::npos || module.find("k_norm") != std::string::npos) {
        if (p_.arch != "qwen3") {
            return tensor_err(t, "q_norm/k_norm tensors exist only in qwen3, not in " + p_.arch);
        }
    }
    if (role == HfRole::Bias &&
        (module == "token_embd" || module == "output" || module.find("norm") != std::string::npos ||
         module.find("ffn_") != std::string::npos)) {
        return tensor_err(t, "bias has no GGUF counterpart in " + p_.arch);
    }
    if (const std::vector<int64_t> want = expected_shape(module, role); shape != want) {
        return tensor_err(t, "shape " + shape_str(shape) + " does not match config.json, expected " + shape_str(want));
    }
    GgufTensorDesc d;
    d.gguf_name = module + (role == HfRole::Bias ? ".bias" : ".weight");
    d.hf_names.push_back(t.name);
    if (quantized) {
        for (HfRole r :
             { HfRole::WeightScale, HfRole::WeightScale2, HfRole::WeightGlobalScale, HfRole::WeightScaleInv }) {
            if (layer->has(r)) {
                d.hf_names.push_back(ck_.tensors()[size_t(layer->roles[size_t(r)])].name);
            }
        }
    }
    d.ne.assign(shape.rbegin(), shape.rend());
    d.src_dtype = t.dtype();
    d.quant     = quantized ? kind : HfLayerQuant::Plain;
    if (p_.permute_qk && (module.ends_with(".attn_q") || module.ends_with(".attn_k"))) {
        d.permute = true;
        d.n_head  = int(module.ends_with(".attn_q") ? p_.n_head : p_.n_head_kv);
    }
    if (!by_gguf_.emplace(d.gguf_name, out_.tensors.size()).second) {
        return tensor_err(t, "maps to " + d.gguf_name + ", which another tensor already maps to");
    }
    out_.tensors.push_back(std::move(d));
    return std::nullopt;
}

std::optional<Error> Mapper::tensors() {
    if (p_.rope_type == "llama3") { // generated first, as the converter does
        GgufTensorDesc d;
        d.gguf_name = "rope_freqs.weight";
        d.values    = llama3_rope_factors(ck_.summary().rope_scaling, p_.rope_theta.value_or(10000.0f), p_.head_dim);
        d.ne        = { int64_t(d.values.size()) };
        d.src_dtype = "F32";
        by_gguf_.emplace(d.gguf_name, 0);
        out_.tensors.push_back(std::move(d));
    }
    std::vector<const HfTensor *> sorted;
    for (const HfTensor & t : ck_.tensors()) {
        sorted.push_back(&t);
    }
    std::sort(sorted.begin(), sorted.end(), [](const HfTensor * a, const HfTensor * b) { return a->name < b->name; });

    for (const HfTensor * tp : sorted) {
        const HfTensor & t = *tp;
        if (t.name.ends_with(".rotary_emb.inv_freq")) {
            out_.skipped.push_back(t.name + ": RoPE frequencies are recomputed by llama.cpp");
            continue;
        }
        std::string prefix;
        HfRole      role;
        if (!hf_split_role(t.name, prefix, role)) {
            return tensor_err(t, "cannot map to a GGUF tensor name for " + p_.arch);
        }
        const std::string    module = gguf_module_name(prefix);
        const HfQuantLayer * layer  = ck_.quant().find_layer(prefix);
        const HfLayerQuant   kind   = layer != nullptr ? layer->kind : HfLayerQuant::Plain;
        int64_t              li;
        std::string          rest;
        if (module.empty() && role != HfRole::KScale && role != HfRole::VScale) {
            return tensor_err(t, "cannot map to a GGUF tensor name for " + p_.arch);
        }
        if (split_layer(prefix, li, rest) && li >= p_.n_layer) {
            return tensor_err(t, "layer " + std::to_string(li) +
                                     " is beyond num_hidden_layers = " + std::to_string(p_.n_layer));
        }
        if (module == "output" && p_.tied) {
            out_.skipped.push_back(t.name + ": tie_word_embeddings, llama.cpp reuses token_embd.weight");
            continue;
        }
        switch (role) {
            case HfRole::Weight:
            case HfRole::WeightPacked:
            case HfRole::Bias:
                if (auto e = add_main(t, layer, module, role)) {
                    return e;
                }
                break;
            case HfRole::WeightScale2:
            case HfRole::WeightGlobalScale:
            case HfRole::InputScale:
            case HfRole::InputGlobalScale: {
                if (!hf_layer_is_nvfp4(kind)) {
                    out_.skipped.push_back(t.name + ": scale of a " + hf_layer_quant_name(kind) +
                                           " layer, folded into the weight");
                    break;
                }
                // §2.9 side-cars: F32 [1]; compressed-tensors stores the reciprocal (§7.3).
                const bool     in_scale = role == HfRole::InputScale || role == HfRole::InputGlobalScale;
                GgufTensorDesc d;
                d.gguf_name = module + (in_scale ? ".input_scale" : ".scale");
                d.hf_names  = { t.name };
                d.ne        = { 1 };
                d.src_dtype = t.dtype();
                d.invert    = role == HfRole::WeightGlobalScale || role == HfRole::InputGlobalScale;
                by_gguf_.emplace(d.gguf_name, out_.tensors.size());
                out_.tensors.push_back(std::move(d));
                break;
            }
            case HfRole::KScale:
            case HfRole::VScale:
                out_.skipped.push_back(t.name + ": FP8 KV-cache scale, unused by GGUF");
                break;
            case HfRole::PreQuantScale:
                return tensor_err(t, "AWQ pre_quant_scale is not supported");
            default:
                if (kind == HfLayerQuant::Plain || kind == HfLayerQuant::Unrecognized) {
                    return tensor_err(t, "scale tensor of an unquantized layer cannot be mapped");
                }
                break; // weight_scale, weight_scale_inv, weight_shape: listed with their weight
        }
    }
    return check_complete();
}

std::optional<Error> Mapper::check_complete() {
    // Tied checkpoints saved by safetensors' dedup may keep only lm_head.weight and no alias record.
    if (!by_gguf_.count("token_embd.weight") && p_.tied && ck_.find("lm_head.weight") != nullptr) {
        if (auto e = add_main(*ck_.find("lm_head.weight"), ck_.quant().find_layer("lm_head"), "token_embd",
                              HfRole::Weight)) {
            return e;
        }
        out_.skipped.push_back("lm_head.weight: stored once, used as token_embd.weight (tied)");
    }
    if (!p_.tied && !by_gguf_.count("output.weight")) {
        out_.skipped.push_back("(no lm_head.weight: llama.cpp will reuse token_embd.weight)");
    }
    std::vector<std::string> need = { "token_embd.weight", "output_norm.weight" };
    for (int64_t l = 0; l < p_.n_layer; l++) {
        const std::string b = "blk." + std::to_string(l) + ".";
        for (const char * m : { "attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "ffn_norm", "ffn_gate",
                                "ffn_up", "ffn_down" }) {
            need.push_back(b + m + ".weight");
        }
        if (p_.arch == "qwen3") {
            need.push_back(b + "attn_q_norm.weight");
            need.push_back(b + "attn_k_norm.weight");
        }
        if (p_.arch == "qwen2") {
            for (const char * m : { "attn_q", "attn_k", "attn_v" }) {
                need.push_back(b + m + ".bias");
            }
        }
    }
    for (const std::string & n : need) {
        if (!by_gguf_.count(n)) {
            return Error{ ck_.dir(), 0, "checkpoint has no tensor for " + n + " (" + p_.arch + " needs it)" };
        }
    }
    return std::nullopt;
}

Result<GgufModelDesc> Mapper::run() {
    if (ck_.config() == nullptr) {
        return Error{ ck_.dir() + "/config.json", 0, "config.json is required for the GGUF mapping" };
    }
    for (auto step : { &Mapper::params, &Mapper::kvs, &Mapper::tensors }) {
        if (auto e = (this->*step)()) {
            return *e;
        }
    }
    return std::move(out_);
}

} // namespace

Result<GgufModelDesc> describe_gguf(const HfCheckpoint & ck) {
    return Mapper(ck).run();
}

} // namespace nibble
