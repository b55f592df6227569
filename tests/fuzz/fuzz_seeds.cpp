// Writes the valid seed inputs in tests/fuzz/corpus/<target>/. Seeds only need to be small and
// reach deep: a fuzzer that starts from a well-formed file mutates its way into every section, one
// that starts from nothing spends its time rediscovering magic numbers. Regenerate with
//   cmake --build build-fuzz --target fuzz_seeds && build-fuzz/tests/fuzz/fuzz_seeds tests/fuzz/corpus ../shared
// The optional shared folder adds header-only copies of the tiny shared models (real key sets and
// tensor names, tensor data shrunk to one block) so the checked-in seeds stay far under 50 KB each.
#include "io/gguf.h"
#include "io/gguf_writer.h"
#include "io/safetensors.h"
#include "unit/gguf_builder.h"
#include "unit/st_writer.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using namespace nibble;
using namespace nibble::test;
using json = nlohmann::ordered_json;

namespace {

void write_bytes(const fs::path & p, const Bytes & b) {
    write_text(p, std::string(b.begin(), b.end()));
    std::printf("%8zu %s\n", b.size(), p.c_str());
}

void write_str(const fs::path & p, const std::string & s) {
    write_text(p, s);
    std::printf("%8zu %s\n", s.size(), p.c_str());
}

std::string slurp(const fs::path & p) {
    std::ifstream f(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

// ---- GGUF

void gguf_seeds(const fs::path & dir, const fs::path & shared) {
    write_bytes(dir / "valid_all_types.gguf", valid_builder().build());

    GgufBuilder empty;
    write_bytes(dir / "empty_header.gguf", empty.build());

    // Alignment other than the default, a nested array at the depth limit, an empty array.
    GgufBuilder a   = valid_builder();
    a.kvs[1].second = val_u32(64);
    a.alignment     = 64;
    a.kv("t.deep", val_nested(kGgufMaxArrayDepth)).kv("t.empty", val_empty_array(5));
    write_bytes(dir / "align64_nested.gguf", a.build());

    // One block of every ggml type the reader knows, with 1..4 dims.
    GgufBuilder t;
    t.kv("general.architecture", val_str("llama"));
    int i = 0;
    for (const GgmlTypeInfo & ti : ggml_types()) {
        std::vector<int64_t> ne = { ti.block_size };
        ne.resize(size_t(1 + i % 4), 1);
        t.tensor("t." + std::string(ti.name), ti.id, ne, uint64_t(ti.type_size));
        i++;
    }
    write_bytes(dir / "every_tensor_type.gguf", t.build());

    // A real llama.cpp header: every KV (arrays cut to 16 elements) and every tensor name and type,
    // each tensor shrunk to a single block. Written by our GgufWriter.
    const fs::path src = shared / "models" / "tinystories-656k-gguf" / "tinystories-656k-q8_0.gguf";
    if (shared.empty() || !fs::exists(src)) {
        return;
    }
    Result<GgufFile> in = GgufFile::open(src.string());
    if (!in) {
        std::fprintf(stderr, "%s\n", in.error().message().c_str());
        return;
    }
    GgufWriter w;
    for (const GgufKV & kv : in->metadata()) {
        const GgufValue & v = kv.value;
        if (!v.is_array() || v.size() <= 16) {
            (void)w.add_kv(kv.key, v);
        } else if (v.elem_type() == GgufType::STRING) {
            std::vector<std::string> s;
            for (uint64_t k = 0; k < 16; k++) {
                s.emplace_back(v.string_at(k));
            }
            (void)w.add_string_array(kv.key, s);
        } else if (v.elem_type() == GgufType::FLOAT32) {
            std::vector<float> s;
            for (uint64_t k = 0; k < 16; k++) {
                s.push_back(v.at<float>(k));
            }
            (void)w.add_array<float>(kv.key, s);
        } else if (v.elem_type() == GgufType::INT32) {
            std::vector<int32_t> s;
            for (uint64_t k = 0; k < 16; k++) {
                s.push_back(v.at<int32_t>(k));
            }
            (void)w.add_array<int32_t>(kv.key, s);
        }
    }
    for (const GgufTensor & tt : in->tensors()) {
        const GgmlTypeInfo * ti    = ggml_type_info(tt.ggml_type);
        const int64_t        ne[2] = { ti->block_size, 1 };
        (void)w.add_tensor(tt.name, tt.ggml_type, std::span<const int64_t>(ne, tt.n_dims >= 2 ? 2 : 1));
    }
    const fs::path out = dir / "tinystories_header.gguf";
    if (!w.begin(out.string())) {
        return;
    }
    for (size_t k = 0; k < w.n_tensors(); k++) {
        const std::vector<uint8_t> zero(size_t(w.tensor_nbytes(k)), 0x3c);
        (void)w.write_tensor_data(k, zero.data(), zero.size());
    }
    if (Result<uint64_t> n = w.commit()) {
        std::printf("%8llu %s\n", static_cast<unsigned long long>(*n), out.c_str());
    }
}

// ---- SafeTensors

void st_seeds(const fs::path & dir, const fs::path & shared) {
    write_str(dir / "one_f32.safetensors", st_image({ { "w", "F32", { 2, 2 }, f32_bytes({ 1, -2, 0.5f, 3 }) } }));
    write_str(dir / "empty_header.safetensors", st_image({}));

    std::vector<StEntry> all;
    for (const char * dt : { "F64", "F32", "F16", "BF16", "F8_E4M3", "F8_E5M2", "F8_E8M0", "I64", "I32", "I16", "I8",
                             "U64", "U32", "U16", "U8", "BOOL" }) {
        all.push_back({ std::string("t.") + dt, dt, { 2, 3 }, {} });
    }
    all.push_back({ "t.F4", "F4", { 2, 4 }, std::string(4, '\x21') });        // packed: 8 x 4 bits
    all.push_back({ "t.F6_E2M3", "F6_E2M3", { 4 }, std::string(3, '\x21') }); // 4 x 6 bits
    all.push_back({ "t.scalar", "F32", {}, f32_bytes({ 7 }) });
    all.push_back({ "t.zero", "F16", { 0, 5 }, {} });
    write_str(dir / "every_dtype.safetensors", st_image(all, { { "format", "pt" } }));

    // ModelOpt NVFP4 Linear, and the tied-embedding alias that save_model records in __metadata__.
    const std::string p = "model.layers.0.self_attn.q_proj";
    write_str(dir / "nvfp4_tied.safetensors",
              st_image({ { p + ".weight", "U8", { 4, 16 }, {} },
                         { p + ".weight_scale", "F8_E4M3", { 4, 2 }, std::string(8, '\x38') },
                         { p + ".weight_scale_2", "F32", {}, f32_bytes({ 0.5f }) },
                         { p + ".input_scale", "F32", {}, f32_bytes({ 2.0f }) },
                         { "lm_head.weight", "BF16", { 8, 4 }, {} } },
                       { { "format", "pt" }, { "model.embed_tokens.weight", "lm_head.weight" } }));

    // The shared model's real header with every shape cut to ones (names, dtypes, metadata kept).
    const fs::path src = shared / "models" / "tinystories-656k-hf" / "model.safetensors";
    if (shared.empty() || !fs::exists(src)) {
        return;
    }
    Result<SafeTensorsFile> in = SafeTensorsFile::open(src.string());
    if (!in) {
        return;
    }
    std::vector<StEntry> ts;
    for (const StTensor & t : in->tensors()) {
        ts.push_back({ t.name, t.dtype, std::vector<int64_t>(t.shape.size(), 1), {} });
    }
    write_str(dir / "tinystories_header.safetensors", st_image(ts, in->metadata()));
}

// ---- JSON side files

void json_seeds(const fs::path & dir, const fs::path & shared) {
    const json nvfp4_group = {
        { "targets", { "Linear" } },
        { "weights", { { "num_bits", 4 }, { "type", "float" }, { "strategy", "tensor_group" }, { "group_size", 16 } } },
        { "input_activations", { { "num_bits", 4 }, { "type", "float" } } }
    };
    write_str(dir / "ct_nvfp4_config.json", json{ { "architectures", { "LlamaForCausalLM" } },
                                                  { "model_type", "llama" },
                                                  { "quantization_config",
                                                    { { "quant_method", "compressed-tensors" },
                                                      { "format", "nvfp4-pack-quantized" },
                                                      { "config_groups", { { "group_0", nvfp4_group } } },
                                                      { "kv_cache_scheme", { { "num_bits", 8 }, { "type", "float" } } },
                                                      { "ignore", { "lm_head", "re:.*mlp.gate$" } } } } }
                                                .dump(1));
    const json fp8_group = {
        { "targets", { "Linear" } },
        { "weights",
          { { "num_bits", 8 }, { "type", "float" }, { "strategy", "block" }, { "block_structure", { 128, 128 } } } }
    };
    write_str(dir / "ct_fp8_block_config.json", json{ { "quantization_config",
                                                        { { "quant_method", "compressed-tensors" },
                                                          { "format", "float-quantized" },
                                                          { "config_groups", { { "group_0", fp8_group } } },
                                                          { "ignore", { "lm_head" } } } } }
                                                    .dump());
    write_str(dir / "fp8_block_config.json", json{ { "model_type", "deepseek_v3" },
                                                   { "quantization_config",
                                                     { { "quant_method", "fp8" },
                                                       { "fmt", "e4m3" },
                                                       { "activation_scheme", "dynamic" },
                                                       { "weight_block_size", { 128, 128 } },
                                                       { "modules_to_not_convert", { "model.layers.0.mlp.gate" } } } } }
                                                 .dump());
    write_str(dir / "modelopt_config.json",
              json{ { "quantization_config",
                      { { "quant_method", "modelopt" }, { "quant_algo", "NVFP4" }, { "ignore", { "lm_head" } } } } }
                  .dump());
    write_str(dir / "hf_quant_config_nvfp4.json",
              json{ { "producer", { { "name", "modelopt" }, { "version", "0.29.0" } } },
                    { "quantization",
                      { { "quant_algo", "NVFP4" },
                        { "kv_cache_quant_algo", "FP8" },
                        { "group_size", 16 },
                        { "exclude_modules", { "lm_head", "model.layers.1.*" } } } } }
                  .dump(4));
    write_str(dir / "hf_quant_config_mixed.json",
              json{ { "quantization",
                      { { "quant_algo", "MIXED_PRECISION" },
                        { "quantized_layers",
                          { { "model.layers.0.self_attn.q_proj", { { "quant_algo", "NVFP4" } } },
                            { "model.layers.0.mlp.gate_proj", { { "quant_algo", "FP8" } } } } } } } }
                  .dump());
    write_str(dir / "index.json", json{ { "metadata", { { "total_size", 40 } } },
                                        { "weight_map",
                                          { { "lm_head.weight", "model-00002-of-00002.safetensors" },
                                            { "model.embed_tokens.weight", "model-00001-of-00002.safetensors" },
                                            { "model.norm.weight", "model-00001-of-00002.safetensors" } } } }
                                      .dump(2));
    write_str(dir / "multimodal_config.json",
              json{ { "architectures", { "Mistral3ForConditionalGeneration" } },
                    { "text_config",
                      { { "model_type", "mistral" },
                        { "hidden_size", 5120 },
                        { "head_dim", 128 },
                        { "num_key_value_heads", 8 },
                        { "rope_theta", 1e9 } } },
                    { "rope_scaling",
                      { { "rope_type", "yarn" }, { "factor", 4.0 }, { "original_max_position_embeddings", 8192 } } },
                    { "tie_word_embeddings", false },
                    { "dtype", "bfloat16" } }
                  .dump());
    write_str(dir / "unigram_tokenizer.json",
              json{ { "added_tokens", { { { "id", 3 }, { "content", "<pad>" }, { "special", true } } } },
                    { "normalizer", { { "type", "NFKC" } } },
                    { "pre_tokenizer", { { "type", "Metaspace" } } },
                    { "decoder", nullptr },
                    { "model",
                      { { "type", "Unigram" },
                        { "vocab",
                          { { "<unk>", 0.0 },
                            { "\xe2\x96\x81"
                              "a",
                              -1.5 },
                            { "b", -2.25 } } } } } }
                  .dump());
    write_str(dir / "bpe_pair_merges_tokenizer.json", json{ { "model",
                                                              { { "type", "BPE" },
                                                                { "byte_fallback", true },
                                                                { "vocab", { { "a", 0 }, { "b", 1 }, { "ab", 2 } } },
                                                                { "merges", { { "a", "b" } } } } } }
                                                          .dump());
    write_str(dir / "tokenizer_config_chat.json",
              json{ { "bos_token", { { "content", "<s>" }, { "lstrip", false } } },
                    { "eos_token", "</s>" },
                    { "add_bos_token", true },
                    { "chat_template", { { { "name", "default" }, { "template", "{{ messages }}" } } } } }
                  .dump());

    const fs::path hf = shared / "models" / "tinystories-656k-hf";
    if (shared.empty() || !fs::is_directory(hf)) {
        return;
    }
    for (const char * f : { "config.json", "generation_config.json", "tokenizer_config.json" }) {
        write_str(dir / (std::string("tinystories_") + f), slurp(hf / f));
    }
    // tokenizer.json is 86 KB: keep its structure, cut the vocab and the merges.
    json tok   = json::parse(slurp(hf / "tokenizer.json"));
    json vocab = json::object();
    for (const auto & [k, v] : tok["model"]["vocab"].items()) {
        if (vocab.size() == 48) {
            break;
        }
        vocab[k] = v;
    }
    tok["model"]["vocab"] = vocab;
    if (tok["model"]["merges"].is_array() && tok["model"]["merges"].size() > 24) {
        json m = json::array();
        for (size_t k = 0; k < 24; k++) {
            m.push_back(tok["model"]["merges"][k]);
        }
        tok["model"]["merges"] = m;
    }
    write_str(dir / "tinystories_tokenizer.json", tok.dump(2));
}

} // namespace

int main(int argc, char ** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: fuzz_seeds CORPUS_DIR [SHARED_DIR]\n");
        return 2;
    }
    const fs::path out    = argv[1];
    const fs::path shared = argc > 2 ? fs::path(argv[2]) : fs::path();
    for (const char * t : { "gguf", "safetensors", "json_config" }) {
        fs::create_directories(out / t);
    }
    gguf_seeds(out / "gguf", shared);
    st_seeds(out / "safetensors", shared);
    json_seeds(out / "json_config", shared);
    return 0;
}
