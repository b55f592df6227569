// `nibble quantize` from a Hugging Face folder (model/hf_convert.h): the shared TinyStories SafeTensors
// model against its convert_hf_to_gguf.py twin (TinyStories-656K.f16.gguf). The converted GGUF must have
// the twin's tensors byte for byte, in the twin's order, and its KVs except the provenance keys listed
// below; quantizing the folder must give the same tensors as quantizing the twin. Plus the naming
// heuristics, the pre-tokenizer rule, the SentencePiece reader and the errors, on hand-built inputs.
#include "io/gguf.h"
#include "model/hf_convert.h"
#include "model/hf_vocab.h"
#include "quant/quantizer.h"
#include "unit/st_writer.h"
#include "unit/test_paths.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using namespace nibble;
using namespace nibble::test;
using json = nlohmann::json;

namespace {

std::string encoded(const GgufValue & v) {
    const auto e = v.encoded();
    return std::to_string(int(v.type())) + ":" + std::string(reinterpret_cast<const char *>(e.data()), e.size());
}

// Same tensor names, order, shapes, types and bytes.
void expect_same_tensors(const GgufFile & a, const GgufFile & b) {
    ASSERT_EQ(a.tensors().size(), b.tensors().size());
    for (size_t i = 0; i < a.tensors().size(); ++i) {
        const GgufTensor & x = a.tensors()[i];
        const GgufTensor & y = b.tensors()[i];
        EXPECT_EQ(x.name, y.name) << i;
        EXPECT_EQ(x.ggml_type, y.ggml_type) << x.name;
        EXPECT_EQ(std::vector<int64_t>(x.ne, x.ne + 4), std::vector<int64_t>(y.ne, y.ne + 4)) << x.name;
        ASSERT_EQ(x.nbytes, y.nbytes) << x.name;
        EXPECT_EQ(std::memcmp(x.data, y.data, x.nbytes), 0) << x.name << ": data differs";
    }
}

// KVs that legitimately differ from the twin, which a June-2024 converter wrote and the uploader
// (mradermacher) extended. Ours follow today's converter.
const std::set<std::string> kOnlyInTwin = {
    "general.url",        // uploader's provenance
    "general.source.url", // uploader's provenance
    "mradermacher.quantize_version",
    "mradermacher.quantized_by",
    "mradermacher.quantized_at",
    "mradermacher.quantized_on",
    "mradermacher.convert_type",
};
const std::set<std::string> kOnlyInOurs = {
    "general.type",                 // written by converters since mid 2024
    "general.basename",             // folder-name heuristics of today's gguf-py Metadata
    "general.finetune",             // idem ("hf" from "tinystories-656k-hf")
    "general.size_label",           // idem ("656K")
    "tokenizer.ggml.add_sep_token", // today's SpecialVocab reads it off the TemplateProcessing pair
};
const std::set<std::string> kDifferent = {
    "general.name", // "TinyStories-656K" (uploader's) vs "Tinystories 656k Hf" (the folder name, title-cased)
};

void expect_same_kvs(const GgufFile & ours, const GgufFile & twin) {
    std::map<std::string, std::string> o, t;
    for (const GgufKV & kv : ours.metadata()) {
        o[kv.key] = encoded(kv.value);
    }
    for (const GgufKV & kv : twin.metadata()) {
        t[kv.key] = encoded(kv.value);
    }
    for (const auto & [k, v] : t) {
        if (kOnlyInTwin.count(k)) {
            EXPECT_EQ(o.count(k), 0u) << k;
            continue;
        }
        ASSERT_EQ(o.count(k), 1u) << "missing KV " << k;
        if (kDifferent.count(k) == 0) {
            EXPECT_EQ(o[k], v) << "KV " << k << " differs";
        }
    }
    for (const auto & [k, v] : o) {
        if (t.count(k) == 0) {
            EXPECT_EQ(kOnlyInOurs.count(k), 1u) << "unexpected KV " << k;
        }
    }
}

class TinyStoriesHf : public ::testing::Test {
  protected:
    void SetUp() override {
        const fs::path shared = shared_dir();
        hf_                   = shared / "models" / "tinystories-656k-hf";
        twin_                 = shared / "models" / "tinystories-656k-gguf" / "TinyStories-656K.f16.gguf";
        if (shared.empty() || !fs::is_directory(hf_) || !fs::is_regular_file(twin_)) {
            GTEST_SKIP() << "shared TinyStories models not found (set NIBBLE_SHARED_DIR)";
        }
    }
    fs::path hf_, twin_;
};

} // namespace

// The converted model before quantization is the converter's output: every tensor's bytes, in order.
TEST_F(TinyStoriesHf, ConvertedGgufIsTheTwin) {
    Result<std::unique_ptr<HfSource>> src = HfSource::open(hf_.string(), { Format::F16 });
    ASSERT_TRUE(src.ok()) << src.error().message();
    Result<GgufFile> twin = GgufFile::open(twin_.string());
    ASSERT_TRUE(twin.ok()) << twin.error().message();
    const HfSource & s = **src;
    ASSERT_EQ(s.tensors().size(), twin->tensors().size());
    std::vector<uint8_t> scratch;
    for (size_t i = 0; i < s.tensors().size(); ++i) {
        const SourceTensor & a = s.tensors()[i];
        const GgufTensor &   b = twin->tensors()[i];
        EXPECT_EQ(a.name, b.name) << i;
        EXPECT_EQ(a.ggml_type, b.ggml_type) << a.name;
        EXPECT_EQ(std::vector<int64_t>(a.ne, a.ne + 4), std::vector<int64_t>(b.ne, b.ne + 4)) << a.name;
        ASSERT_EQ(a.nbytes, b.nbytes) << a.name;
        Result<const uint8_t *> all = s.read(i, 0, a.nbytes, scratch);
        ASSERT_TRUE(all.ok()) << all.error().message();
        EXPECT_EQ(std::memcmp(*all, b.data, a.nbytes), 0) << a.name << " (Q/K permutation, F32 -> F16)";
        // Pieces that start inside a row read the same bytes.
        if (a.nbytes >= 64) {
            Result<const uint8_t *> part = s.read(i, 36, 20, scratch);
            ASSERT_TRUE(part.ok());
            EXPECT_EQ(std::memcmp(*part, b.data + 36, 20), 0) << a.name;
        }
    }
    expect_same_kvs(s.metadata(), *twin);
    EXPECT_EQ(*s.metadata().get_string("general.name"), "Tinystories 656k Hf");
    EXPECT_FALSE(s.read(0, 1, 2, scratch).ok()); // not element-aligned
}

TEST_F(TinyStoriesHf, QuantizeFolderEqualsQuantizeTwin) {
    Result<GgufFile> twin = GgufFile::open(twin_.string());
    ASSERT_TRUE(twin.ok()) << twin.error().message();
    TempDir out("hfconv_quant");
    for (FileType ft : { FileType::F16, FileType::Q4_K_M, FileType::Q8_0, FileType::F32 }) {
        SCOPED_TRACE(file_type_info(ft).name);
        QuantizeConfig cfg;
        cfg.n_threads                         = 2;
        Result<std::unique_ptr<HfSource>> src = HfSource::open(hf_.string(), { hf_outtype_for(ft) });
        ASSERT_TRUE(src.ok()) << src.error().message();
        const fs::path          a = out / "from_hf.gguf", b = out / "from_twin.gguf";
        Result<QuantizeSummary> sa = quantize_model(**src, a.string(), ft, cfg);
        ASSERT_TRUE(sa.ok()) << sa.error().message();
        Result<QuantizeSummary> sb = quantize_gguf(*twin, b.string(), ft, cfg);
        ASSERT_TRUE(sb.ok()) << sb.error().message();
        Result<GgufFile> ga = GgufFile::open(a.string());
        Result<GgufFile> gb = GgufFile::open(b.string());
        ASSERT_TRUE(ga.ok() && gb.ok());
        expect_same_tensors(*ga, *gb);
        expect_same_kvs(*ga, *gb);
        EXPECT_EQ(*ga->get_u32("general.file_type"), uint32_t(ft));
    }
}

TEST_F(TinyStoriesHf, Errors) {
    TempDir t("hfconv_err");
    for (const char * f : { "model.safetensors", "tokenizer.json", "tokenizer_config.json" }) {
        fs::copy_file(hf_ / f, t / f);
    }
    json cfg = json::parse(std::ifstream(hf_ / "config.json"));

    json bad             = cfg;
    bad["architectures"] = { "GPT2LMHeadModel" };
    bad["model_type"]    = "gpt2";
    write_text(t / "config.json", bad.dump());
    Result<std::unique_ptr<HfSource>> r = HfSource::open(t.path().string());
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message().find("config.json"), std::string::npos) << r.error().message();
    EXPECT_NE(r.error().message().find("GPT2LMHeadModel"), std::string::npos) << r.error().message();

    bad = cfg;
    bad.erase("num_attention_heads");
    write_text(t / "config.json", bad.dump());
    r = HfSource::open(t.path().string());
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message().find("num_attention_heads"), std::string::npos) << r.error().message();

    write_text(t / "config.json", cfg.dump());
    fs::remove(t / "tokenizer.json");
    r = HfSource::open(t.path().string());
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message().find("tokenizer"), std::string::npos) << r.error().message();
}

namespace {

json tiny_qwen3_config() {
    return { { "architectures", { "Qwen3ForCausalLM" } },
             { "model_type", "qwen3" },
             { "hidden_size", 16 },
             { "intermediate_size", 32 },
             { "num_hidden_layers", 1 },
             { "num_attention_heads", 2 },
             { "num_key_value_heads", 1 },
             { "vocab_size", 8 },
             { "rms_norm_eps", 1e-6 },
             { "tie_word_embeddings", true } };
}

std::vector<StEntry> tiny_qwen3_tensors(const std::string & embd_dtype) {
    return {
        { "model.embed_tokens.weight", embd_dtype, { 8, 16 }, {} },
        { "model.norm.weight", "F32", { 16 }, {} },
        { "model.layers.0.input_layernorm.weight", "F32", { 16 }, {} },
        { "model.layers.0.post_attention_layernorm.weight", "F32", { 16 }, {} },
        { "model.layers.0.self_attn.q_proj.weight", "BF16", { 16, 16 }, {} },
        { "model.layers.0.self_attn.k_proj.weight", "BF16", { 8, 16 }, {} },
        { "model.layers.0.self_attn.v_proj.weight", "BF16", { 8, 16 }, {} },
        { "model.layers.0.self_attn.o_proj.weight", "BF16", { 16, 16 }, {} },
        { "model.layers.0.self_attn.q_norm.weight", "F32", { 8 }, {} },
        { "model.layers.0.self_attn.k_norm.weight", "F32", { 8 }, {} },
        { "model.layers.0.mlp.gate_proj.weight", "BF16", { 32, 16 }, {} },
        { "model.layers.0.mlp.up_proj.weight", "BF16", { 32, 16 }, {} },
        { "model.layers.0.mlp.down_proj.weight", "BF16", { 16, 32 }, {} },
    };
}

} // namespace

// A prequantized (FP8) tensor is refused with a message that says so; a missing tensor is named.
TEST(HfConvert, RejectsPrequantizedDtypeAndMissingTensors) {
    TempDir t("hfconv_fp8");
    write_text(t / "config.json", tiny_qwen3_config().dump());
    write_st(t / "model.safetensors", tiny_qwen3_tensors("F8_E4M3"));
    Result<std::unique_ptr<HfSource>> r = HfSource::open(t.path().string());
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message().find("F8_E4M3"), std::string::npos) << r.error().message();
    EXPECT_NE(r.error().message().find("model.safetensors"), std::string::npos) << r.error().message();

    std::vector<StEntry> ts = tiny_qwen3_tensors("BF16");
    ts.erase(ts.begin() + 11); // mlp.up_proj
    write_st(t / "model.safetensors", ts);
    r = HfSource::open(t.path().string());
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message().find("blk.0.ffn_up.weight"), std::string::npos) << r.error().message();
}

// Byte-level BPE (Qwen) vocabulary: gpt2 model, merges, control / user-defined / padding tokens.
TEST(HfConvert, Qwen3BpeTokenizer) {
    TempDir t("hfconv_qwen3tok");
    write_text(t / "config.json", tiny_qwen3_config().dump());
    write_st(t / "model.safetensors", tiny_qwen3_tensors("BF16"));
    const std::string qwen2 =
        R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
    json tok = { { "added_tokens",
                   { { { "id", 5 }, { "content", "<|endoftext|>" }, { "special", true }, { "normalized", false } },
                     { { "id", 6 }, { "content", "<think>" }, { "special", false }, { "normalized", false } } } },
                 { "normalizer", { { "type", "NFC" } } },
                 { "pre_tokenizer",
                   { { "type", "Sequence" },
                     { "pretokenizers",
                       { { { "type", "Split" }, { "pattern", { { "Regex", qwen2 } } } },
                         { { "type", "ByteLevel" }, { "use_regex", false } } } } } },
                 { "decoder", { { "type", "ByteLevel" } } },
                 { "model",
                   { { "type", "BPE" },
                     { "vocab", { { "a", 0 }, { "b", 1 }, { "ab", 2 }, { "\u0120a", 3 }, { "c", 4 } } },
                     { "merges", json::array({ json::array({ "a", "b" }), json::array({ "\u0120", "a" }) }) } } } };
    write_text(t / "tokenizer.json", tok.dump());
    json tc = { { "eos_token", "<|endoftext|>" },
                { "pad_token", "<|endoftext|>" },
                { "add_bos_token", false },
                { "chat_template", "{{ messages }}" } };
    write_text(t / "tokenizer_config.json", tc.dump());
    Result<std::unique_ptr<HfSource>> r = HfSource::open(t.path().string());
    ASSERT_TRUE(r.ok()) << r.error().message();
    const GgufFile & m = (*r)->metadata();
    EXPECT_EQ(*m.get_string("tokenizer.ggml.model"), "gpt2");
    EXPECT_EQ(*m.get_string("tokenizer.ggml.pre"), "qwen2");
    const GgufKV * tokens = m.find("tokenizer.ggml.tokens");
    ASSERT_NE(tokens, nullptr);
    ASSERT_EQ(tokens->value.size(), 8u); // config vocab_size
    EXPECT_EQ(tokens->value.string_at(5), "<|endoftext|>");
    EXPECT_EQ(tokens->value.string_at(7), "[PAD7]");
    const GgufKV * types = m.find("tokenizer.ggml.token_type");
    ASSERT_NE(types, nullptr);
    EXPECT_EQ(types->value.at<int32_t>(0), 1);
    EXPECT_EQ(types->value.at<int32_t>(5), 3);
    EXPECT_EQ(types->value.at<int32_t>(6), 4);
    EXPECT_EQ(types->value.at<int32_t>(7), 5);
    EXPECT_EQ(m.find("tokenizer.ggml.scores"), nullptr);
    const GgufKV * merges = m.find("tokenizer.ggml.merges");
    ASSERT_NE(merges, nullptr);
    EXPECT_EQ(merges->value.string_at(0), "a b");
    EXPECT_EQ(merges->value.string_at(1), "\xc4\xa0 a");
    EXPECT_EQ(*m.get_u32("tokenizer.ggml.eos_token_id"), 5u);
    EXPECT_EQ(*m.get_u32("tokenizer.ggml.padding_token_id"), 5u);
    EXPECT_EQ(*m.get<bool>("tokenizer.ggml.add_bos_token"), false);
    EXPECT_EQ(*m.get_string("tokenizer.chat_template"), "{{ messages }}");
    EXPECT_EQ(*m.get_u32("general.file_type"), 32u); // auto: the first 2-D tensor is BF16
    EXPECT_EQ(m.find("qwen3.vocab_size"), nullptr);
}

TEST(HfConvert, ModelIdHeuristics) {
    struct Case {
        const char *   id;
        int64_t        params;
        HfModelIdParts want; // name, organization, basename, finetune, version, size_label
    };
    // Expected values computed with gguf-py's Metadata.get_model_id_components / id_to_title.
    const Case cases[] = {
        { "meta-llama/Llama-3.1-8B-Instruct",
          8030261248,
          { "Llama 3.1 8B Instruct", "Meta Llama", "Llama-3.1", "Instruct", "", "8B" } },
        { "Qwen/Qwen2.5-0.5B-Instruct",
          494032768,
          { "Qwen2.5 0.5B Instruct", "Qwen", "Qwen2.5", "Instruct", "", "0.5B" } },
        { "tinystories-656k-hf", 656000, { "Tinystories 656k Hf", "", "tinystories", "hf", "", "656K" } },
        { "mistralai/Mistral-7B-Instruct-v0.3",
          7248023552,
          { "Mistral 7B Instruct v0.3", "Mistralai", "Mistral", "Instruct", "v0.3", "7B" } },
        { "Qwen/Qwen3-30B-A3B", 30532122624, { "Qwen3 30B A3B", "Qwen", "Qwen3", "", "", "30B-A3B" } },
        { "bigscience/bloom-7b1", 7069016064, { "Bloom 7b1", "Bigscience", "bloom", "", "", "7.1B" } },
        { "TinyLlama-1.1B-Chat-v1.0",
          1100048384,
          { "TinyLlama 1.1B Chat v1.0", "", "TinyLlama", "Chat", "v1.0", "1.1B" } },
        { "gpt2", 124000000, { "Gpt2", "", "", "", "", "" } },
        { "Llama-2-7b-32k", 6738415616, { "Llama 2 7b 32k", "", "Llama-2", "32k", "", "7B" } },
    };
    for (const Case & c : cases) {
        const HfModelIdParts p = hf_model_id_parts(c.id, c.params);
        EXPECT_EQ(p.name, c.want.name) << c.id;
        EXPECT_EQ(p.organization, c.want.organization) << c.id;
        EXPECT_EQ(p.basename, c.want.basename) << c.id;
        EXPECT_EQ(p.finetune, c.want.finetune) << c.id;
        EXPECT_EQ(p.version, c.want.version) << c.id;
        EXPECT_EQ(p.size_label, c.want.size_label) << c.id;
    }
    EXPECT_EQ(hf_size_label(656000), "656K");
    EXPECT_EQ(hf_size_label(7241732096), "7.2B");
    EXPECT_EQ(hf_size_label(494032768), "494M");
    EXPECT_EQ(hf_size_label(1100048384), "1.1B");
    EXPECT_EQ(hf_size_label(999), "1.0K");
    EXPECT_EQ(hf_size_label(12345678901234), "12T");
}

TEST(HfConvert, PreTokenizerNames) {
    auto doc = [](const std::string & regex) {
        json t = { { "pre_tokenizer",
                     { { "type", "Sequence" },
                       { "pretokenizers",
                         { { { "type", "Split" }, { "pattern", { { "Regex", regex } } }, { "behavior", "Isolated" } },
                           { { "type", "ByteLevel" }, { "use_regex", false } } } } } } };
        return *parse_json_text("tokenizer.json", t.dump());
    };
    const std::string llama3 =
        R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
    const std::string qwen2 =
        R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
    EXPECT_EQ(*hf_bpe_pre_name(doc(llama3), nullptr), "llama-bpe");
    EXPECT_EQ(*hf_bpe_pre_name(doc(qwen2), nullptr), "qwen2");
    const JsonDoc r1 = *parse_json_text(
        "tokenizer_config.json", json{ { "bos_token",
                                         { { "content", "<\xef\xbd\x9c"
                                                        "begin\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>" } } } }
                                     .dump());
    EXPECT_EQ(*hf_bpe_pre_name(doc(qwen2), &r1), "deepseek-r1-qwen");
    const Result<std::string> unknown = hf_bpe_pre_name(doc("\\p{L}+"), nullptr);
    ASSERT_FALSE(unknown.ok());
    EXPECT_NE(unknown.error().message().find("not recognized"), std::string::npos);
}

TEST(HfConvert, SentencePiecePieces) {
    // ModelProto { pieces { piece: "<unk>" score: 0 type: UNKNOWN } pieces { piece: "\xe2\x96\x81a" score: -1.5 }
    //              trainer_spec { ... } }
    std::string pb;
    auto        piece = [&](const std::string & text, float score, int type) {
        std::string m;
        m += char(0x0a), m += char(text.size()), m += text;
        m += char(0x15), m.append(reinterpret_cast<const char *>(&score), 4);
        if (type != 0) {
            m += char(0x18), m += char(type);
        }
        pb += char(0x0a), pb += char(m.size()), pb += m;
    };
    piece("<unk>", 0.0f, 2);
    piece("\xe2\x96\x81"
          "a",
          -1.5f, 0);
    pb += char(0x12), pb += char(2), pb += char(0x08), pb += char(1); // trainer_spec, skipped
    Result<std::vector<SpmPiece>> p =
        parse_spm_pieces("tokenizer.model", reinterpret_cast<const uint8_t *>(pb.data()), pb.size());
    ASSERT_TRUE(p.ok()) << p.error().message();
    ASSERT_EQ(p->size(), 2u);
    EXPECT_EQ((*p)[0].piece, "<unk>");
    EXPECT_EQ((*p)[0].type, 2);
    EXPECT_EQ((*p)[1].piece, "\xe2\x96\x81"
                             "a");
    EXPECT_EQ((*p)[1].score, -1.5f);
    EXPECT_EQ((*p)[1].type, 1);
    pb.resize(pb.size() - 5); // truncated inside trainer_spec / last piece
    EXPECT_FALSE(parse_spm_pieces("tokenizer.model", reinterpret_cast<const uint8_t *>(pb.data()), pb.size()).ok());
}
