// libFuzzer harness for the JSON side files of a Hugging Face checkpoint: config.json,
// tokenizer.json, tokenizer_config.json, hf_quant_config.json and model.safetensors.index.json.
//
// Every input goes through the bounded JSON reader and then through each side-file parser in memory
// (cheap, so this is where most executions go), including read_hf_quant_declared and the ignore-list
// matcher. Inputs that look like a quantization config or an index are also written into a small
// on-disk checkpoint and opened with HfCheckpoint::open: the per-layer analysis (classification
// against real tensors, ignore lists over every prefix, the scale audit) and the shard lookup have
// no in-memory entry point. The fixture tensors match the declared scheme so the analysis gets past
// its first check.
#include "io/hf_checkpoint.h"
#include "io/hf_quant.h"
#include "io/hf_quant_config.h"
#include "io/json_file.h"
#include "unit/st_writer.h"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

namespace {

namespace fs = std::filesystem;
using namespace nibble;
using namespace nibble::test;

constexpr const char * kName = "fuzz.json";

[[noreturn]] void fail(const char * what, const std::string & detail) {
    std::fprintf(stderr, "fuzz_json_config: broken promise: %s: %s\n", what, detail.c_str());
    std::abort();
}

// An error from a parser of `doc` must name it and point inside it.
void check_error(const Error & e, size_t size) {
    if (e.file != kName || e.what.empty() || e.offset > size) {
        fail("error", e.message() + " (input is " + std::to_string(size) + " bytes)");
    }
}

// ---- On-disk fixtures (one process-private temporary folder, made once)

struct Fixtures {
    fs::path root;
    fs::path modelopt_hfq, modelopt_cfg, ct, fp8, index;
};
Fixtures * g_fx = nullptr;

void add_nvfp4_modelopt(std::vector<StEntry> & ts, const std::string & p) {
    ts.push_back({ p + ".weight", "U8", { 4, 16 }, {} });
    ts.push_back({ p + ".weight_scale", "F8_E4M3", { 4, 2 }, std::string(8, '\x38') }); // 1.0 in E4M3
    ts.push_back({ p + ".weight_scale_2", "F32", {}, f32_bytes({ 0.5f }) });
    ts.push_back({ p + ".input_scale", "F32", {}, f32_bytes({ 2.0f }) });
}

void make_fixtures() {
    g_fx             = new Fixtures;
    const char * tmp = std::getenv("TMPDIR");
    std::string  tpl = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/nibble_fuzz_json.XXXXXX";
    if (::mkdtemp(tpl.data()) == nullptr) {
        fail("setup", "mkdtemp " + tpl);
    }
    g_fx->root         = tpl;
    g_fx->modelopt_hfq = g_fx->root / "modelopt_hfq";
    g_fx->modelopt_cfg = g_fx->root / "modelopt_cfg";
    g_fx->ct           = g_fx->root / "ct";
    g_fx->fp8          = g_fx->root / "fp8";
    g_fx->index        = g_fx->root / "index";
    for (const fs::path & d : { g_fx->modelopt_hfq, g_fx->modelopt_cfg, g_fx->ct, g_fx->fp8, g_fx->index }) {
        fs::create_directories(d);
    }

    // ModelOpt: NVFP4 and per-tensor FP8 Linears (MIXED_PRECISION mixes them), KV scales, plain rest.
    std::vector<StEntry> mo;
    add_nvfp4_modelopt(mo, "model.layers.0.self_attn.q_proj");
    add_nvfp4_modelopt(mo, "model.layers.0.mlp.down_proj");
    mo.push_back({ "model.layers.0.mlp.gate_proj.weight", "F8_E4M3", { 4, 32 }, {} });
    mo.push_back({ "model.layers.0.mlp.gate_proj.weight_scale", "F32", {}, f32_bytes({ 0.125f }) });
    mo.push_back({ "model.layers.0.mlp.gate_proj.input_scale", "F32", {}, f32_bytes({ 3.0f }) });
    mo.push_back({ "model.layers.0.self_attn.k_scale", "F32", {}, f32_bytes({ 1.5f }) });
    mo.push_back({ "model.layers.0.self_attn.v_scale", "F32", {}, f32_bytes({ 1.25f }) });
    mo.push_back({ "model.layers.1.mlp.down_proj.weight", "BF16", { 4, 32 }, {} });
    mo.push_back({ "lm_head.weight", "BF16", { 8, 32 }, {} });
    mo.push_back({ "model.norm.weight", "BF16", { 32 }, {} });
    write_st(g_fx->modelopt_hfq / "model.safetensors", mo);
    write_st(g_fx->modelopt_cfg / "model.safetensors", mo);

    // compressed-tensors: an NVFP4 Linear and an FP8 per-channel one, a router, lm_head.
    const std::string    o  = "model.layers.0.self_attn.o_proj";
    const std::string    u  = "model.layers.0.mlp.up_proj";
    std::vector<StEntry> ct = {
        { o + ".weight_packed", "U8", { 4, 16 }, {} },
        { o + ".weight_scale", "F8_E4M3", { 4, 2 }, {} },
        { o + ".weight_global_scale", "F32", { 1 }, f32_bytes({ 4.0f }) },
        { o + ".input_global_scale", "F32", { 1 }, f32_bytes({ 8.0f }) },
        { o + ".weight_shape", "I64", { 2 }, i64_bytes({ 4, 32 }) },
        { u + ".weight", "F8_E4M3", { 4, 32 }, {} },
        { u + ".weight_scale", "BF16", { 4, 1 }, {} },
        { "model.layers.0.mlp.gate.weight", "BF16", { 2, 32 }, {} },
        { "lm_head.weight", "BF16", { 8, 32 }, {} },
        // Ignore patterns run against every prefix: one just under the regex subject cap makes
        // regex cost (time, recursion) show up here rather than on a hostile checkpoint.
        { "model.layers.1." + std::string(1000, 'm') + ".weight", "BF16", { 2, 2 }, {} },
    };
    write_st(g_fx->ct / "model.safetensors", ct);

    // DeepSeek-style block FP8: 129 x 129 weight, 2 x 2 scales for 128 x 128 blocks.
    const std::string    d   = "model.layers.0.mlp.down_proj";
    std::vector<StEntry> fp8 = {
        { d + ".weight", "F8_E4M3", { 129, 129 }, {} },
        { d + ".weight_scale_inv", "F32", { 2, 2 }, f32_bytes({ 1, 2, 3, 4 }) },
        { "model.layers.0.mlp.gate.weight", "BF16", { 4, 129 }, {} },
    };
    write_st(g_fx->fp8 / "model.safetensors", fp8);

    // Two shards for index.json inputs.
    write_st(g_fx->index / "model-00001-of-00002.safetensors",
             { { "model.embed_tokens.weight", "F32", { 4, 2 }, {} }, { "model.norm.weight", "F32", { 2 }, {} } });
    write_st(g_fx->index / "model-00002-of-00002.safetensors", { { "lm_head.weight", "BF16", { 4, 2 }, {} } },
             { { "format", "pt" } });

    std::atexit([] {
        std::error_code ec;
        fs::remove_all(g_fx->root, ec);
    });
}

// Opens the checkpoint in `dir` after writing the input as `file`; only the absence of crashes,
// hangs and leaks is checked (the error names whichever file broke a rule, not necessarily ours).
void open_with(const fs::path & dir, const char * file, const uint8_t * data, size_t size) {
    write_text(dir / file, std::string(reinterpret_cast<const char *>(data), size));
    Result<HfCheckpoint> ck      = HfCheckpoint::open(dir.string());
    // NIBBLE_FUZZ_VERBOSE=1 shows how far each seed gets (a seed that stops at a fixture mismatch
    // wastes the deep path), e.g. fuzz_json_config -runs=0 corpus/json_config.
    static const bool    verbose = std::getenv("NIBBLE_FUZZ_VERBOSE") != nullptr;
    if (verbose) {
        std::fprintf(stderr, "%s: %s\n", dir.filename().c_str(), ck ? "opened" : ck.error().message().c_str());
    }
    if (!ck) {
        if (ck.error().file.empty() || ck.error().what.empty()) {
            fail("checkpoint error", ck.error().message());
        }
        return;
    }
    volatile uint64_t sink = ck->total_bytes() + ck->quant().layers.size() + ck->quant().audit.size();
    for (const HfTensor & t : ck->tensors()) {
        if (ck->find(t.name) == nullptr || t.st == nullptr) {
            fail("checkpoint tensors", t.name);
        }
        sink = sink + t.st->nbytes();
    }
    (void)sink;
}

std::string str_or_empty(const nlohmann::json & obj, const char * key) {
    const auto it = obj.find(key);
    return it != obj.end() && it->is_string() ? it->get<std::string>() : std::string();
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
    make_fixtures();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t * data, size_t size) {
    const std::string text(reinterpret_cast<const char *>(data), size);

    // index.json is read with duplicate keys rejected; the callback path must be as robust.
    JsonReadOptions strict;
    strict.reject_duplicate_keys = true;
    if (Result<JsonDoc> d = parse_json_text(kName, text, strict); !d) {
        check_error(d.error(), size);
    }

    Result<JsonDoc> doc = parse_json_text(kName, text);
    if (!doc) {
        check_error(doc.error(), size);
        return 0;
    }
    if (doc->text.size() != size || doc->key_offset("quant_method") > size) {
        fail("JsonDoc", "text not kept verbatim or key offset past the input");
    }

    // The same document as each kind of side file.
    if (Result<HfConfigSummary> c = parse_hf_config(*doc); !c) {
        check_error(c.error(), size);
    }
    HfTokenizerSummary tok;
    if (std::optional<Error> e = parse_hf_tokenizer(*doc, tok)) {
        check_error(*e, size);
    }
    if (std::optional<Error> e = parse_hf_tokenizer_config(*doc, tok)) {
        check_error(*e, size);
    }
    // The declared quantization, read as config.json and as hf_quant_config.json.
    for (const bool as_config : { true, false }) {
        Result<HfQuantDeclared> d =
            as_config ? read_hf_quant_declared(&*doc, nullptr) : read_hf_quant_declared(nullptr, &*doc);
        if (!d) {
            check_error(d.error(), size);
        } else {
            // Compile the ignore list the way the layer analysis does (a bad regex matches nothing).
            const HfIgnoreMatcher ignore(d->info.ignore);
            volatile bool         hit = ignore.matches("model.layers.0.self_attn.q_proj");
            (void)hit;
        }
    }
    static const HfCheckpoint empty{}; // no tensors: only the declared config is read
    Result<HfQuantInfo>       q = analyze_hf_quant(empty, &*doc);
    if (!q) {
        check_error(q.error(), size);
    }

    // The checkpoint-level path, for inputs shaped like the files it reads.
    const nlohmann::json & root = doc->root;
    if (!root.is_object()) {
        return 0;
    }
    if (root.contains("quantization")) {
        open_with(g_fx->modelopt_hfq, "hf_quant_config.json", data, size);
    }
    for (const char * key : { "quantization_config", "compression_config" }) {
        const auto it = root.find(key);
        if (it == root.end() || !it->is_object()) {
            continue;
        }
        const std::string method = str_or_empty(*it, "quant_method");
        const fs::path &  dir    = method == "modelopt" ? g_fx->modelopt_cfg : method == "fp8" ? g_fx->fp8 : g_fx->ct;
        open_with(dir, "config.json", data, size);
        break;
    }
    if (root.contains("weight_map")) {
        open_with(g_fx->index, "model.safetensors.index.json", data, size);
    }
    return 0;
}
