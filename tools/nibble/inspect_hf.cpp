// `nibble inspect` for Hugging Face checkpoints: key config, tokenizer summary, the tensor table with
// each tensor's GGUF name, totals, a per-dtype histogram and, for prequantized checkpoints, the scheme,
// role counts and the NVFP4 / FP8 scale audit. `--json` prints the same as one JSON object.
#include "inspect_hf.h"

#include "io/hf_checkpoint.h"
#include "model/hf_naming.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

namespace nibble::cli {

namespace {

using json = nlohmann::ordered_json;

std::string human_bytes(uint64_t b) {
    char buf[32];
    if (b >= (1ull << 30)) {
        std::snprintf(buf, sizeof buf, "%.2f GiB", double(b) / double(1ull << 30));
    } else if (b >= (1ull << 20)) {
        std::snprintf(buf, sizeof buf, "%.2f MiB", double(b) / double(1ull << 20));
    } else {
        std::snprintf(buf, sizeof buf, "%.1f KiB", double(b) / 1024.0);
    }
    return buf;
}

// Shortest text that round-trips, so 1e-6 prints as 1e-06 and not 9.99999999999999955e-07.
template <class T> std::string num_text(T v) {
    char       buf[32];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    return std::string(buf, r.ptr);
}

template <class T> json opt_json(const std::optional<T> & v) {
    return v ? json(*v) : json(nullptr);
}

// Scale tensors of quantized layers carry bytes but no parameters of their own, so that the bits
// per weight of a layer come out as (weight + scales) / weights, e.g. 4.5 for NVFP4.
bool is_overhead(const HfCheckpoint & ck, const std::string & name) {
    std::string prefix;
    HfRole      role;
    if (!hf_split_role(name, prefix, role) || role == HfRole::Weight || role == HfRole::WeightPacked ||
        role == HfRole::Bias) {
        return false;
    }
    const HfQuantLayer * l = ck.quant().find_layer(prefix);
    return role == HfRole::KScale || role == HfRole::VScale ||
           (l != nullptr && (hf_layer_is_nvfp4(l->kind) || hf_layer_is_fp8(l->kind)));
}

// Logical element count: packed NVFP4 weights hold two elements per byte.
uint64_t logical_numel(const HfCheckpoint & ck, const HfTensor & t) {
    std::string prefix;
    HfRole      role;
    if (hf_split_role(t.name, prefix, role) && (role == HfRole::Weight || role == HfRole::WeightPacked)) {
        const HfQuantLayer * l = ck.quant().find_layer(prefix);
        if (l != nullptr && hf_layer_is_nvfp4(l->kind)) {
            return uint64_t(l->out) * uint64_t(l->in);
        }
    }
    return t.st->numel();
}

// HF name -> what it becomes in a GGUF: its own tensor, part of another (scales), or nothing.
std::map<std::string, std::string> gguf_names(const HfCheckpoint & ck, const Result<GgufModelDesc> & desc) {
    std::map<std::string, std::string> m;
    if (desc) {
        for (const GgufTensorDesc & t : desc->tensors) {
            for (size_t i = 0; i < t.hf_names.size(); i++) {
                m[t.hf_names[i]] = i == 0 ? t.gguf_name : "(in " + t.gguf_name + ")";
            }
        }
        return m;
    }
    for (const HfTensor & t : ck.tensors()) { // unsupported architecture: the name map alone
        const std::string g = hf_to_gguf_name(t.name);
        if (!g.empty()) {
            m[t.name] = g;
        }
    }
    return m;
}

json config_json(const HfCheckpoint & ck, const Result<GgufModelDesc> & desc) {
    const HfConfigSummary & s = ck.summary();
    json                    j;
    j["hf_architecture"]         = s.architectures.empty() ? json(nullptr) : json(s.architectures[0]);
    j["model_type"]              = s.model_type;
    j["gguf_architecture"]       = desc ? json(desc->params.arch) : json(nullptr);
    j["hidden_size"]             = opt_json(s.hidden_size);
    j["num_hidden_layers"]       = opt_json(s.num_hidden_layers);
    j["num_attention_heads"]     = opt_json(s.num_attention_heads);
    j["num_key_value_heads"]     = opt_json(s.num_key_value_heads);
    j["head_dim"]                = desc ? json(desc->params.head_dim) : opt_json(s.head_dim);
    j["intermediate_size"]       = opt_json(s.intermediate_size);
    j["vocab_size"]              = opt_json(s.vocab_size);
    j["max_position_embeddings"] = opt_json(s.max_position_embeddings);
    j["rope_theta"]              = opt_json(s.rope_theta);
    j["rope_scaling"]            = s.rope_scaling;
    j["rms_norm_eps"]            = opt_json(s.rms_norm_eps);
    j["tie_word_embeddings"]     = s.tie_word_embeddings;
    j["torch_dtype"]             = s.torch_dtype;
    return j;
}

json tokenizer_json(const HfTokenizerSummary & t) {
    json j;
    j["present"]       = t.present;
    j["model"]         = t.model_type;
    j["vocab_size"]    = t.vocab_size;
    j["model_vocab"]   = t.model_vocab;
    j["merges"]        = t.merges;
    j["byte_fallback"] = t.byte_fallback;
    j["normalizer"]    = t.normalizer;
    j["pre_tokenizer"] = t.pre_tokenizer;
    j["decoder"]       = t.decoder;
    json added         = json::array();
    for (const HfAddedToken & a : t.added_tokens) {
        added.push_back({ { "id", a.id }, { "content", a.content }, { "special", a.special } });
    }
    j["added_tokens"]      = added;
    j["config_present"]    = t.config_present;
    j["tokenizer_class"]   = t.tokenizer_class;
    j["bos_token"]         = t.bos_token;
    j["eos_token"]         = t.eos_token;
    j["unk_token"]         = t.unk_token;
    j["pad_token"]         = t.pad_token;
    j["add_bos_token"]     = opt_json(t.add_bos_token);
    j["add_eos_token"]     = opt_json(t.add_eos_token);
    j["has_chat_template"] = t.has_chat_template;
    return j;
}

json quant_json(const HfCheckpoint & ck) {
    const HfQuantInfo & q = ck.quant();
    json                j;
    j["scheme"]              = hf_quant_scheme_name(q.scheme);
    j["source"]              = q.source;
    j["quant_method"]        = q.quant_method;
    j["quant_algo"]          = q.quant_algo;
    j["kv_cache_quant_algo"] = q.kv_cache_quant_algo;
    j["group_size"]          = q.group_size;
    j["weight_block"]        = q.weight_block[0] > 0 ? json{ q.weight_block[0], q.weight_block[1] } : json(nullptr);
    j["ignore"]              = q.ignore;
    json kinds               = json::object();
    for (HfLayerQuant k :
         { HfLayerQuant::Plain, HfLayerQuant::NVFP4ModelOpt, HfLayerQuant::NVFP4Ct, HfLayerQuant::FP8Block,
           HfLayerQuant::FP8Tensor, HfLayerQuant::FP8Channel, HfLayerQuant::Unrecognized }) {
        kinds[hf_layer_quant_name(k)] = q.count(k);
    }
    j["layer_kinds"] = kinds;
    json roles       = json::object();
    for (size_t r = 0; r < kHfRoleCount; r++) {
        roles[hf_role_name(HfRole(r))] = q.role_counts[r];
    }
    j["role_counts"] = roles;
    json audit       = json::array();
    for (const HfScaleStats & s : q.audit) {
        audit.push_back({ { "role", s.role },
                          { "scope", s.scope },
                          { "note", s.note },
                          { "layers_present", s.layers_present },
                          { "layers_expected", s.layers_expected },
                          { "values", s.values },
                          { "min", s.min },
                          { "max", s.max },
                          { "mean", s.mean },
                          { "nonfinite", s.nonfinite },
                          { "nonpositive", s.nonpositive } });
    }
    j["audit"]  = audit;
    json layers = json::array();
    for (const HfQuantLayer & l : q.layers) {
        if (l.kind == HfLayerQuant::Plain && !l.excluded) {
            continue;
        }
        json present = json::array();
        for (size_t r = 0; r < kHfRoleCount; r++) {
            if (l.roles[r] >= 0) {
                present.push_back(hf_role_name(HfRole(r)));
            }
        }
        layers.push_back({ { "prefix", l.prefix },
                           { "kind", hf_layer_quant_name(l.kind) },
                           { "excluded", l.excluded },
                           { "declared", l.declared },
                           { "out", l.out },
                           { "in", l.in },
                           { "roles", present } });
    }
    j["layers"]   = layers;
    j["warnings"] = q.warnings;
    return j;
}

struct Totals {
    uint64_t count = 0, params = 0, bytes = 0;
};

void print_text(const std::string & path, const HfCheckpoint & ck, const json & out) {
    const json & c = out["config"];
    std::printf("%s\n  Hugging Face checkpoint, %zu shard%s, %zu tensors, %s\n\n", path.c_str(), ck.shards().size(),
                ck.shards().size() == 1 ? "" : "s", ck.tensors().size(), human_bytes(ck.total_bytes()).c_str());
    const auto line = [](const char * label, const json & v) {
        if (!v.is_null() && !(v.is_string() && v.get<std::string>().empty())) {
            const std::string text = v.is_string()         ? v.get<std::string>()
                                     : v.is_number_float() ? num_text(v.get<double>())
                                                           : v.dump();
            std::printf("  %-24s %s\n", label, text.c_str());
        }
    };
    for (const char * k : { "hf_architecture", "gguf_architecture", "model_type", "hidden_size", "num_hidden_layers",
                            "num_attention_heads", "num_key_value_heads", "head_dim", "intermediate_size", "vocab_size",
                            "max_position_embeddings", "rope_theta", "rope_scaling", "rms_norm_eps",
                            "tie_word_embeddings", "torch_dtype" }) {
        line(k, c[k]);
    }
    if (out.contains("gguf_mapping_error")) {
        std::printf("  %-24s %s\n", "gguf mapping", out["gguf_mapping_error"].get<std::string>().c_str());
    }
    const HfTokenizerSummary & t = ck.tokenizer();
    if (t.present) {
        int64_t special = std::count_if(t.added_tokens.begin(), t.added_tokens.end(),
                                        [](const HfAddedToken & a) { return a.special; });
        std::printf(
            "\n  tokenizer                %s, %lld tokens (%lld in model), %lld merges, %zu added (%lld special)%s\n",
            t.model_type.c_str(), static_cast<long long>(t.vocab_size), static_cast<long long>(t.model_vocab),
            static_cast<long long>(t.merges), t.added_tokens.size(), static_cast<long long>(special),
            t.byte_fallback ? ", byte fallback" : "");
        std::printf("  %-24s normalizer %s, pre-tokenizer %s, decoder %s\n", "",
                    t.normalizer.empty() ? "-" : t.normalizer.c_str(),
                    t.pre_tokenizer.empty() ? "-" : t.pre_tokenizer.c_str(),
                    t.decoder.empty() ? "-" : t.decoder.c_str());
    }
    if (t.config_present) {
        std::printf("  %-24s bos %s, eos %s, add_bos %s, add_eos %s, chat template %s\n", "",
                    t.bos_token.empty() ? "-" : t.bos_token.c_str(), t.eos_token.empty() ? "-" : t.eos_token.c_str(),
                    t.add_bos_token ? (*t.add_bos_token ? "true" : "false") : "-",
                    t.add_eos_token ? (*t.add_eos_token ? "true" : "false") : "-", t.has_chat_template ? "yes" : "no");
    }

    const json & ts     = out["tensors"];
    size_t       name_w = 4, gguf_w = 9;
    for (const json & e : ts) {
        name_w = std::max(name_w, e["name"].get<std::string>().size());
        gguf_w = std::max(gguf_w, e["gguf_name"].get<std::string>().size());
    }
    std::printf("\n  %-5s %-*s %-*s %-16s %-8s %12s %8s\n", "#", int(name_w), "name", int(gguf_w), "gguf name", "shape",
                "dtype", "bytes", "bpw");
    for (size_t i = 0; i < ts.size(); i++) {
        const json & e = ts[i];
        std::string  shape;
        for (const json & d : e["shape"]) {
            shape += (shape.empty() ? "" : ", ") + d.dump();
        }
        std::printf("  %-5zu %-*s %-*s %-16s %-8s %12llu %8.4f\n", i, int(name_w), e["name"].get<std::string>().c_str(),
                    int(gguf_w), e["gguf_name"].get<std::string>().c_str(), ("[" + shape + "]").c_str(),
                    e["dtype"].get<std::string>().c_str(), static_cast<unsigned long long>(e["bytes"].get<uint64_t>()),
                    e["bpw"].get<double>());
    }
    for (const HfTensor & a : ck.tensors()) {
        if (!a.alias_of.empty()) {
            std::printf("  alias: %s is stored as %s (tied-weight dedup)\n", a.name.c_str(), a.alias_of.c_str());
        }
    }
    if (out.contains("gguf_generated")) {
        for (const json & g : out["gguf_generated"]) {
            std::printf("  generated in GGUF: %s %s (not in the checkpoint)\n",
                        g["gguf_name"].get<std::string>().c_str(), g["ne"].dump().c_str());
        }
    }
    if (out.contains("gguf_skipped")) {
        for (const json & s : out["gguf_skipped"]) {
            std::printf("  not in GGUF: %s\n", s.get<std::string>().c_str());
        }
    }
    const json & tot = out["totals"];
    std::printf("\n  total: %llu tensors, %llu params, %llu bytes (%s), %.4f bpw\n\n",
                static_cast<unsigned long long>(tot["tensors"].get<uint64_t>()),
                static_cast<unsigned long long>(tot["params"].get<uint64_t>()),
                static_cast<unsigned long long>(tot["bytes"].get<uint64_t>()),
                human_bytes(tot["bytes"].get<uint64_t>()).c_str(), tot["bpw"].get<double>());
    std::printf("  %-8s %6s %14s %14s %7s\n", "dtype", "count", "params", "bytes", "share");
    for (const json & f : out["dtypes"]) {
        std::printf("  %-8s %6llu %14llu %14llu %6.2f%%\n", f["dtype"].get<std::string>().c_str(),
                    static_cast<unsigned long long>(f["count"].get<uint64_t>()),
                    static_cast<unsigned long long>(f["params"].get<uint64_t>()),
                    static_cast<unsigned long long>(f["bytes"].get<uint64_t>()), 100.0 * f["share"].get<double>());
    }
}

void print_quant_text(const HfCheckpoint & ck) {
    const HfQuantInfo & q = ck.quant();
    std::printf("\n  quantization             %s", hf_quant_scheme_name(q.scheme));
    if (!q.source.empty()) {
        std::printf(" (%s: method %s, algo %s", q.source.c_str(), q.quant_method.c_str(),
                    q.quant_algo.empty() ? "-" : q.quant_algo.c_str());
        if (q.group_size > 0) {
            std::printf(", group %lld", static_cast<long long>(q.group_size));
        }
        if (q.weight_block[0] > 0) {
            std::printf(", block %lldx%lld", static_cast<long long>(q.weight_block[0]),
                        static_cast<long long>(q.weight_block[1]));
        }
        if (!q.kv_cache_quant_algo.empty()) {
            std::printf(", kv cache %s", q.kv_cache_quant_algo.c_str());
        }
        std::printf(")");
    }
    std::printf("\n  %-24s", "layers");
    for (HfLayerQuant k :
         { HfLayerQuant::NVFP4ModelOpt, HfLayerQuant::NVFP4Ct, HfLayerQuant::FP8Block, HfLayerQuant::FP8Tensor,
           HfLayerQuant::FP8Channel, HfLayerQuant::Unrecognized, HfLayerQuant::Plain }) {
        if (const int64_t n = q.count(k)) {
            std::printf(" %s %lld,", hf_layer_quant_name(k), static_cast<long long>(n));
        }
    }
    const int64_t excluded =
        std::count_if(q.layers.begin(), q.layers.end(), [](const HfQuantLayer & l) { return l.excluded; });
    std::printf(" excluded %lld\n  %-24s", static_cast<long long>(excluded), "roles");
    for (size_t r = 0; r < kHfRoleCount; r++) {
        if (q.role_counts[r] > 0 && HfRole(r) != HfRole::Weight && HfRole(r) != HfRole::Bias) {
            std::printf(" %s %lld", hf_role_name(HfRole(r)), static_cast<long long>(q.role_counts[r]));
        }
    }
    std::printf("\n");
    if (!q.ignore.empty()) {
        std::string ig;
        for (const std::string & s : q.ignore) {
            ig += (ig.empty() ? "" : ", ") + s;
        }
        std::printf("  %-24s %s\n", "ignore", ig.c_str());
    }
    if (!q.audit.empty()) {
        std::printf("\n  %-16s %-28s %9s %8s %13s %13s %13s %s\n", "scale", "layers", "present", "values", "min", "max",
                    "mean", "note");
        for (const HfScaleStats & s : q.audit) {
            char present[32];
            std::snprintf(present, sizeof present, "%lld/%lld", static_cast<long long>(s.layers_present),
                          static_cast<long long>(s.layers_expected));
            std::string note = s.note;
            if (s.nonfinite > 0 || s.nonpositive > 0) {
                note += (note.empty() ? "" : "; ") + std::to_string(s.nonfinite) + " non-finite, " +
                        std::to_string(s.nonpositive) + " <= 0";
            }
            std::printf("  %-16s %-28s %9s %8lld %13.6g %13.6g %13.6g %s\n", s.role.c_str(), s.scope.c_str(), present,
                        static_cast<long long>(s.values), s.min, s.max, s.mean, note.c_str());
        }
    }
    for (const std::string & w : q.warnings) {
        std::printf("  warning: %s\n", w.c_str());
    }
}

} // namespace

int inspect_hf(const std::string & path, bool as_json) {
    Result<HfCheckpoint> r = HfCheckpoint::open(path);
    if (!r) {
        std::fprintf(stderr, "nibble inspect: %s\n", r.error().message().c_str());
        return 1;
    }
    const HfCheckpoint &        ck = *r;
    // The GGUF mapping is informative here: a checkpoint nibble cannot map (another architecture,
    // a config without rms_norm_eps) is still inspected, with the reason shown.
    const Result<GgufModelDesc> desc =
        ck.has_config() ? describe_gguf(ck) : Result<GgufModelDesc>(Error{ ck.dir(), 0, "no config.json" });
    const std::map<std::string, std::string> gnames = gguf_names(ck, desc);

    json                          tensors = json::array();
    std::map<std::string, Totals> by_dtype;
    Totals                        total;
    for (const HfTensor & t : ck.tensors()) {
        const bool     alias    = !t.alias_of.empty();
        const uint64_t bytes    = alias ? 0 : t.st->nbytes();
        const uint64_t numel    = logical_numel(ck, t);
        const bool     overhead = is_overhead(ck, t.name);
        const auto     g        = gnames.find(t.name);
        tensors.push_back({ { "name", t.name },
                            { "gguf_name", g != gnames.end() ? g->second : std::string("-") },
                            { "shape", t.shape() },
                            { "dtype", t.dtype() },
                            { "bytes", bytes },
                            { "bpw", numel ? 8.0 * double(t.st->nbytes()) / double(numel) : 0.0 },
                            { "shard", ck.shards()[t.shard].path() },
                            { "alias_of", alias ? json(t.alias_of) : json(nullptr) } });
        if (alias) {
            continue; // the stored tensor is counted once
        }
        Totals & d = by_dtype[t.dtype()];
        d.count++;
        d.bytes += bytes;
        d.params += overhead ? 0 : numel;
        total.count++;
        total.bytes += bytes;
        total.params += overhead ? 0 : numel;
    }
    json dtypes = json::array();
    for (const auto & [dt, d] : by_dtype) {
        dtypes.push_back({ { "dtype", dt },
                           { "count", d.count },
                           { "params", d.params },
                           { "bytes", d.bytes },
                           { "share", total.bytes ? double(d.bytes) / double(total.bytes) : 0.0 } });
    }

    json out;
    out["path"]    = path;
    out["kind"]    = "hf";
    out["dir"]     = ck.dir();
    out["sharded"] = ck.sharded();
    json shards    = json::array();
    for (const SafeTensorsFile & s : ck.shards()) {
        shards.push_back(s.path());
    }
    out["shards"] = shards;
    out["config"] = config_json(ck, desc);
    if (!desc) {
        out["gguf_mapping_error"] = desc.error().message();
    } else {
        json kvs = json::array();
        for (const GgufKvDesc & kv : desc->kvs) {
            json v;
            std::visit(
                [&v](const auto & x) {
                    if constexpr (std::is_same_v<std::decay_t<decltype(x)>, float>) {
                        v = std::strtod(num_text(x).c_str(), nullptr); // 1e-6f shows as 1e-06, not 9.99e-07
                    } else {
                        v = x;
                    }
                },
                kv.value);
            kvs.push_back({ { "key", kv.key }, { "type", gguf_type_name(kv.type()) }, { "value", v } });
        }
        out["gguf_kvs"]     = kvs;
        out["gguf_skipped"] = desc->skipped;
        json generated      = json::array();
        for (const GgufTensorDesc & t : desc->tensors) {
            if (t.hf_names.empty()) {
                generated.push_back({ { "gguf_name", t.gguf_name }, { "ne", t.ne }, { "values", t.values } });
            }
        }
        out["gguf_generated"] = generated;
    }
    out["generation_config"] =
        ck.generation_config() ? json::parse(ck.generation_config()->root.dump()) : json(nullptr);
    out["tokenizer"]    = tokenizer_json(ck.tokenizer());
    out["tensors"]      = tensors;
    out["totals"]       = { { "tensors", total.count },
                            { "params", total.params },
                            { "bytes", total.bytes },
                            { "bpw", total.params ? 8.0 * double(total.bytes) / double(total.params) : 0.0 } };
    out["dtypes"]       = dtypes;
    out["quantization"] = quant_json(ck);
    out["warnings"]     = ck.warnings();

    if (as_json) {
        std::printf("%s\n", out.dump(2, ' ', false, json::error_handler_t::replace).c_str());
        return 0;
    }
    print_text(path, ck, out);
    if (ck.quant().quantized()) {
        print_quant_text(ck);
    }
    for (const std::string & w : ck.warnings()) {
        std::printf("  warning: %s\n", w.c_str());
    }
    std::printf("\n");
    return 0;
}

} // namespace nibble::cli
