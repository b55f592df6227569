// `nibble inspect FILE|DIR [--json]`: what a model file holds. GGUF files are handled here; SafeTensors
// files and Hugging Face checkpoint folders go to inspect_hf(). Bad files give the reader's error
// (file, byte offset, rule) on stderr and exit status 1.
#include "commands.h"
#include "formats/format_table.h"
#include "inspect_hf.h"
#include "io/gguf.h"

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace nibble::cli {

namespace {

namespace fs = std::filesystem;
using json   = nlohmann::json;

// llama_ftype values stored in general.file_type (FORMATS.md §4.1).
const char * ftype_name(uint32_t v) {
    static const std::map<uint32_t, const char *> kNames = {
        { 0, "ALL_F32" },           { 1, "MOSTLY_F16" },     { 2, "MOSTLY_Q4_0" },    { 3, "MOSTLY_Q4_1" },
        { 7, "MOSTLY_Q8_0" },       { 8, "MOSTLY_Q5_0" },    { 9, "MOSTLY_Q5_1" },    { 10, "MOSTLY_Q2_K" },
        { 11, "MOSTLY_Q3_K_S" },    { 12, "MOSTLY_Q3_K_M" }, { 13, "MOSTLY_Q3_K_L" }, { 14, "MOSTLY_Q4_K_S" },
        { 15, "MOSTLY_Q4_K_M" },    { 16, "MOSTLY_Q5_K_S" }, { 17, "MOSTLY_Q5_K_M" }, { 18, "MOSTLY_Q6_K" },
        { 19, "MOSTLY_IQ2_XXS" },   { 20, "MOSTLY_IQ2_XS" }, { 21, "MOSTLY_Q2_K_S" }, { 22, "MOSTLY_IQ3_XS" },
        { 23, "MOSTLY_IQ3_XXS" },   { 24, "MOSTLY_IQ1_S" },  { 25, "MOSTLY_IQ4_NL" }, { 26, "MOSTLY_IQ3_S" },
        { 27, "MOSTLY_IQ3_M" },     { 28, "MOSTLY_IQ2_S" },  { 29, "MOSTLY_IQ2_M" },  { 30, "MOSTLY_IQ4_XS" },
        { 31, "MOSTLY_IQ1_M" },     { 32, "MOSTLY_BF16" },   { 36, "MOSTLY_TQ1_0" },  { 37, "MOSTLY_TQ2_0" },
        { 38, "MOSTLY_MXFP4_MOE" }, { 39, "MOSTLY_NVFP4" },  { 40, "MOSTLY_Q1_0" },   { 41, "MOSTLY_Q2_0" },
    };
    const auto it = kNames.find(v & ~1024u); // 1024 = GUESSED flag
    return it == kNames.end() ? "unknown" : it->second;
}

// nlohmann widens a float to double and prints 17 digits (1e-6f -> 9.999999974752427e-07); go through
// the shortest float text instead so the JSON shows the value the file's author wrote.
json float_json(float f) {
    char       buf[32];
    const auto r = std::to_chars(buf, buf + sizeof buf, f);
    return std::strtod(std::string(buf, r.ptr).c_str(), nullptr);
}

json scalar_json(const GgufValue & v) {
    switch (v.type()) {
        case GgufType::UINT8:
            return *v.get<uint8_t>();
        case GgufType::INT8:
            return *v.get<int8_t>();
        case GgufType::UINT16:
            return *v.get<uint16_t>();
        case GgufType::INT16:
            return *v.get<int16_t>();
        case GgufType::UINT32:
            return *v.get<uint32_t>();
        case GgufType::INT32:
            return *v.get<int32_t>();
        case GgufType::UINT64:
            return *v.get<uint64_t>();
        case GgufType::INT64:
            return *v.get<int64_t>();
        case GgufType::FLOAT32:
            return float_json(*v.get<float>());
        case GgufType::FLOAT64:
            return *v.get<double>();
        case GgufType::BOOL:
            return *v.get<bool>();
        case GgufType::STRING:
            return std::string(*v.get_string());
        default:
            return nullptr;
    }
}

json array_elem_json(const GgufValue & v, uint64_t i) {
    switch (v.elem_type()) {
        case GgufType::UINT8:
            return v.at<uint8_t>(i);
        case GgufType::INT8:
            return v.at<int8_t>(i);
        case GgufType::UINT16:
            return v.at<uint16_t>(i);
        case GgufType::INT16:
            return v.at<int16_t>(i);
        case GgufType::UINT32:
            return v.at<uint32_t>(i);
        case GgufType::INT32:
            return v.at<int32_t>(i);
        case GgufType::UINT64:
            return v.at<uint64_t>(i);
        case GgufType::INT64:
            return v.at<int64_t>(i);
        case GgufType::FLOAT32:
            return float_json(v.at<float>(i));
        case GgufType::FLOAT64:
            return v.at<double>(i);
        case GgufType::BOOL:
            return v.at<bool>(i);
        case GgufType::STRING:
            return std::string(v.string_at(i));
        default:
            return nullptr;
    }
}

// Arrays longer than this (token lists, merges) are summarised by type and count only.
constexpr uint64_t kJsonMaxArray = 64;

json value_json(const GgufValue & v) {
    if (!v.is_array()) {
        return scalar_json(v);
    }
    if (v.size() > kJsonMaxArray) {
        return nullptr; // the caller reports count and element type
    }
    json a = json::array();
    for (uint64_t i = 0; i < v.size(); i++) {
        a.push_back(v.elem_type() == GgufType::ARRAY ? value_json(v.array_at(i)) : array_elem_json(v, i));
    }
    return a;
}

json kv_json(const GgufKV & kv) {
    json j = { { "key", kv.key }, { "type", gguf_type_name(kv.value.type()) } };
    if (kv.value.is_array()) {
        j["elem_type"] = gguf_type_name(kv.value.elem_type());
        j["count"]     = kv.value.size();
    }
    if (!kv.value.is_array() || kv.value.size() <= kJsonMaxArray) {
        j["value"] = value_json(kv.value);
    }
    return j;
}

std::string shape_string(const GgufTensor & t) {
    std::string s = "[";
    for (uint32_t d = 0; d < t.n_dims; d++) {
        s += (d ? ", " : "") + std::to_string(t.ne[d]);
    }
    return s + "]";
}

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

struct FormatTotals {
    uint64_t count = 0, params = 0, bytes = 0;
};

// The hyper-parameters worth a line each (FORMATS.md §2.6); {arch} is replaced by the architecture.
constexpr const char * kHparamKeys[][2] = {
    { "name", "general.name" },
    { "file_type", "general.file_type" },
    { "quantization_version", "general.quantization_version" },
    { "context_length", "{arch}.context_length" },
    { "embedding_length", "{arch}.embedding_length" },
    { "block_count", "{arch}.block_count" },
    { "feed_forward_length", "{arch}.feed_forward_length" },
    { "head_count", "{arch}.attention.head_count" },
    { "head_count_kv", "{arch}.attention.head_count_kv" },
    { "rope_freq_base", "{arch}.rope.freq_base" },
    { "rms_norm_eps", "{arch}.attention.layer_norm_rms_epsilon" },
    { "norm_eps", "{arch}.attention.layer_norm_epsilon" },
    { "vocab_size", "{arch}.vocab_size" },
    { "expert_count", "{arch}.expert_count" },
    { "expert_used_count", "{arch}.expert_used_count" },
};

int inspect_gguf(const std::string & path, bool as_json) {
    Result<GgufFile> r = GgufFile::open(path);
    if (!r) {
        std::fprintf(stderr, "nibble inspect: %s\n", r.error().message().c_str());
        return 1;
    }
    const GgufFile & f    = *r;
    std::string      arch = "?";
    if (Result<std::string_view> a = f.get_string("general.architecture")) {
        arch = std::string(*a);
    }

    json                                             hparams = json::object();
    std::vector<std::pair<std::string, std::string>> hparam_text; // label, rendered value
    for (const auto & [label, pattern] : kHparamKeys) {
        std::string key = pattern;
        if (key.rfind("{arch}", 0) == 0) {
            key = arch + key.substr(6);
        }
        if (const GgufKV * kv = f.find(key)) {
            hparams[label] = kv->value.is_array() && kv->value.size() > kJsonMaxArray ? json(kv->value.to_string())
                                                                                      : value_json(kv->value);
            std::string text =
                kv->value.type() == GgufType::STRING ? std::string(*kv->value.get_string()) : kv->value.to_string();
            if (kv->value.type() == GgufType::UINT32 && std::string_view(label) == "file_type") {
                text += std::string(" (") + ftype_name(*kv->value.get<uint32_t>()) + ")";
            }
            hparam_text.emplace_back(label, std::move(text));
        }
    }
    if (hparams.contains("file_type") && hparams["file_type"].is_number_unsigned()) {
        hparams["file_type_name"] = ftype_name(hparams["file_type"].get<uint32_t>());
    }

    json tok = json::object();
    for (const char * k : { "model", "pre" }) {
        if (Result<std::string_view> s = f.get_string(std::string("tokenizer.ggml.") + k)) {
            tok[k] = std::string(*s);
        }
    }
    for (const auto & [label, key] :
         { std::pair{ "vocab_size", "tokenizer.ggml.tokens" }, std::pair{ "merges", "tokenizer.ggml.merges" } }) {
        const GgufKV * kv = f.find(key);
        tok[label]        = kv != nullptr && kv->value.is_array() ? kv->value.size() : 0;
    }
    for (const char * k : { "bos_token_id", "eos_token_id", "unknown_token_id", "padding_token_id" }) {
        if (const GgufKV * kv = f.find(std::string("tokenizer.ggml.") + k)) {
            tok[k] = value_json(kv->value);
        }
    }

    std::map<std::string, FormatTotals> by_format;
    uint64_t                            total_params = 0, total_bytes = 0;
    json                                tensors = json::array();
    for (const GgufTensor & t : f.tensors()) {
        const GgmlTypeInfo * ti    = ggml_type_info(t.ggml_type); // non-null: validated at open
        const double         bpw   = 8.0 * double(t.nbytes) / double(t.numel());
        json                 shape = json::array();
        for (uint32_t d = 0; d < t.n_dims; d++) {
            shape.push_back(t.ne[d]);
        }
        tensors.push_back({ { "name", t.name },
                            { "shape", shape },
                            { "format", ti->name },
                            { "ggml_type", t.ggml_type },
                            { "bytes", t.nbytes },
                            { "bpw", bpw },
                            { "offset", f.data_offset() + t.offset } });
        FormatTotals & ft = by_format[ti->name];
        ft.count++;
        ft.params += uint64_t(t.numel());
        ft.bytes += t.nbytes;
        total_params += uint64_t(t.numel());
        total_bytes += t.nbytes;
    }
    const double total_bpw = total_params ? 8.0 * double(total_bytes) / double(total_params) : 0.0;
    json         formats   = json::array();
    for (const auto & [name, ft] : by_format) {
        formats.push_back({ { "format", name },
                            { "count", ft.count },
                            { "params", ft.params },
                            { "bytes", ft.bytes },
                            { "share", total_bytes ? double(ft.bytes) / double(total_bytes) : 0.0 } });
    }

    if (as_json) {
        json metadata = json::array();
        for (const GgufKV & kv : f.metadata()) {
            metadata.push_back(kv_json(kv));
        }
        const json out = {
            { "path", path },
            { "kind", "gguf" },
            { "file_size", f.file_size() },
            { "version", f.version() },
            { "alignment", f.alignment() },
            { "data_offset", f.data_offset() },
            { "sequential_layout", f.sequential() },
            { "architecture", arch },
            { "hparams", hparams },
            { "tokenizer", tok },
            { "metadata", metadata },
            { "tensors", tensors },
            { "totals",
              { { "tensors", f.tensors().size() },
                { "params", total_params },
                { "bytes", total_bytes },
                { "bpw", total_bpw } } },
            { "formats", formats },
        };
        // Token texts may be invalid UTF-8 (ggml does not check); replace rather than throw.
        std::printf("%s\n", out.dump(2, ' ', false, json::error_handler_t::replace).c_str());
        return 0;
    }

    std::printf("%s\n", path.c_str());
    std::printf("  GGUF v%u, %s, %zu KVs, %zu tensors, alignment %u, data at %llu (%s layout)\n\n", f.version(),
                human_bytes(f.file_size()).c_str(), f.metadata().size(), f.tensors().size(), f.alignment(),
                static_cast<unsigned long long>(f.data_offset()), f.sequential() ? "sequential" : "non-sequential");
    std::printf("  %-22s %s\n", "architecture", arch.c_str());
    for (const auto & [label, text] : hparam_text) {
        std::printf("  %-22s %s\n", label.c_str(), text.c_str());
    }
    std::printf("\n  tokenizer              %s", tok.value("model", std::string("-")).c_str());
    std::printf(" (pre %s), %llu tokens, %llu merges", tok.value("pre", std::string("-")).c_str(),
                static_cast<unsigned long long>(tok["vocab_size"].get<uint64_t>()),
                static_cast<unsigned long long>(tok["merges"].get<uint64_t>()));
    for (const char * k : { "bos_token_id", "eos_token_id" }) {
        if (tok.contains(k)) {
            std::printf(", %.3s %s", k, tok[k].dump().c_str());
        }
    }

    size_t name_w = 4;
    for (const GgufTensor & t : f.tensors()) {
        name_w = std::max(name_w, t.name.size());
    }
    std::printf("\n\n  %-5s %-*s %-22s %-8s %12s %8s\n", "#", int(name_w), "name", "shape", "format", "bytes", "bpw");
    for (size_t i = 0; i < f.tensors().size(); i++) {
        const json & t = tensors[i];
        std::printf("  %-5zu %-*s %-22s %-8s %12llu %8.4f\n", i, int(name_w), t["name"].get<std::string>().c_str(),
                    shape_string(f.tensors()[i]).c_str(), t["format"].get<std::string>().c_str(),
                    static_cast<unsigned long long>(t["bytes"].get<uint64_t>()), t["bpw"].get<double>());
    }
    std::printf("\n  total: %zu tensors, %llu params, %llu bytes (%s), %.4f bpw\n\n", f.tensors().size(),
                static_cast<unsigned long long>(total_params), static_cast<unsigned long long>(total_bytes),
                human_bytes(total_bytes).c_str(), total_bpw);
    std::printf("  %-8s %6s %14s %14s %7s\n", "format", "count", "params", "bytes", "share");
    for (const json & ft : formats) {
        std::printf("  %-8s %6llu %14llu %14llu %6.2f%%\n", ft["format"].get<std::string>().c_str(),
                    static_cast<unsigned long long>(ft["count"].get<uint64_t>()),
                    static_cast<unsigned long long>(ft["params"].get<uint64_t>()),
                    static_cast<unsigned long long>(ft["bytes"].get<uint64_t>()), 100.0 * ft["share"].get<double>());
    }
    return 0;
}

bool has_gguf_magic(const std::string & path) {
    std::ifstream in(path, std::ios::binary);
    char          m[4] = {};
    return in.read(m, 4) && std::string_view(m, 4) == "GGUF";
}

int run_inspect(const std::string & path, bool as_json) {
    std::error_code       ec;
    const fs::file_status st = fs::status(path, ec);
    if (ec || !fs::exists(st)) {
        std::fprintf(stderr, "nibble inspect: %s: no such file or directory\n", path.c_str());
        return 1;
    }
    // Folders are Hugging Face checkpoints. A .gguf name goes to the GGUF reader even when the magic
    // is wrong, so a damaged GGUF reports "bad magic" instead of a SafeTensors header error.
    if (fs::is_directory(st)) {
        return inspect_hf(path, as_json);
    }
    if (fs::path(path).extension() == ".gguf" || has_gguf_magic(path)) {
        return inspect_gguf(path, as_json);
    }
    return inspect_hf(path, as_json);
}

} // namespace

void add_inspect_command(CLI::App & app, int & exit_code) {
    static std::string path;
    static bool        as_json = false;
    const char * help = "Show metadata, tokenizer, tensors and formats of a GGUF file or a Hugging Face checkpoint";
    CLI::App *   cmd  = app.add_subcommand("inspect", help);
    cmd->add_option("path", path, "model.gguf, model.safetensors, or a checkpoint folder")->required();
    cmd->add_flag("--json", as_json, "print one JSON object instead of tables");
    cmd->callback([&exit_code] { exit_code = run_inspect(path, as_json); });
}

} // namespace nibble::cli
