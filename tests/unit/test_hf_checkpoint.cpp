// Hugging Face checkpoints: the shared TinyStories SafeTensors model against its llama.cpp GGUF twin
// (the acceptance test of the HF -> GGUF mapping), sharded indexes built by hand, the JSON side-file
// reader, and the name/metadata mapping of llama, mistral, qwen2 and qwen3.
#include "core/half.h"
#include "io/gguf.h"
#include "io/hf_checkpoint.h"
#include "model/hf_naming.h"
#include "unit/st_writer.h"
#include "unit/test_paths.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using namespace nibble;
using namespace nibble::test;
using json = nlohmann::json;

namespace {

void expect_error(const Result<HfCheckpoint> & r, const std::string & file_part, const std::string & rule) {
    ASSERT_FALSE(r.ok());
    const std::string msg = r.error().message();
    EXPECT_NE(msg.find(file_part), std::string::npos) << msg;
    EXPECT_NE(msg.find("offset "), std::string::npos) << msg;
    EXPECT_NE(msg.find(rule), std::string::npos) << "expected \"" << rule << "\" in: " << msg;
}

} // namespace

// ---------------------------------------------------------------------------------------------
// The shared model

class TinyStories : public ::testing::Test {
  protected:
    void SetUp() override {
        const fs::path shared = shared_dir();
        hf_                   = shared / "models" / "tinystories-656k-hf";
        gguf_                 = shared / "models" / "tinystories-656k-gguf" / "TinyStories-656K.f16.gguf";
        if (shared.empty() || !fs::is_directory(hf_)) {
            GTEST_SKIP() << "shared models not found (set NIBBLE_SHARED_DIR)";
        }
    }
    fs::path hf_, gguf_;
};

TEST_F(TinyStories, ConfigTokenizerAndAlias) {
    Result<HfCheckpoint> ck = HfCheckpoint::open(hf_.string());
    ASSERT_TRUE(ck.ok()) << ck.error().message();
    const HfConfigSummary & s = ck->summary();
    ASSERT_EQ(s.architectures.size(), 1u);
    EXPECT_EQ(s.architectures[0], "LlamaForCausalLM");
    EXPECT_EQ(s.hidden_size, 128);
    EXPECT_EQ(s.num_hidden_layers, 2);
    EXPECT_EQ(s.num_attention_heads, 8);
    EXPECT_EQ(s.num_key_value_heads, 4);
    EXPECT_EQ(s.intermediate_size, 384);
    EXPECT_EQ(s.vocab_size, 2048);
    EXPECT_EQ(s.rms_norm_eps, 1e-6);
    EXPECT_EQ(s.rope_theta, 10000.0);
    EXPECT_TRUE(s.tie_word_embeddings);
    EXPECT_EQ(s.torch_dtype, "float32");
    EXPECT_NE(ck->generation_config(), nullptr);

    // 20 stored F32 tensors plus the tied-weight alias model.embed_tokens.weight -> lm_head.weight.
    EXPECT_FALSE(ck->sharded());
    EXPECT_EQ(ck->tensors().size(), 21u);
    const HfTensor * emb = ck->find("model.embed_tokens.weight");
    ASSERT_NE(emb, nullptr);
    EXPECT_EQ(emb->alias_of, "lm_head.weight");
    EXPECT_EQ(emb->st, ck->find("lm_head.weight")->st);
    EXPECT_EQ(emb->shape(), (std::vector<int64_t>{ 2048, 128 }));
    EXPECT_EQ(ck->total_bytes(), 2624000u);
    EXPECT_FALSE(ck->quant().quantized());

    const HfTokenizerSummary & t = ck->tokenizer();
    EXPECT_TRUE(t.present);
    EXPECT_EQ(t.model_type, "BPE");
    EXPECT_EQ(t.vocab_size, 2048);
    EXPECT_EQ(t.merges, 1967);
    EXPECT_TRUE(t.byte_fallback);
    ASSERT_EQ(t.added_tokens.size(), 3u);
    EXPECT_EQ(t.added_tokens[1].content, "<|start_story|>");
    EXPECT_TRUE(t.config_present);
    EXPECT_EQ(t.bos_token, "<|start_story|>");
    EXPECT_EQ(t.eos_token, "<|end_story|>");
    EXPECT_EQ(t.add_bos_token, true);
    EXPECT_EQ(t.add_eos_token, false);
    EXPECT_FALSE(t.has_chat_template);
}

TEST_F(TinyStories, NameMapIsComplete) {
    Result<HfCheckpoint> ck = HfCheckpoint::open(hf_.string());
    ASSERT_TRUE(ck.ok()) << ck.error().message();
    Result<GgufModelDesc> d = describe_gguf(*ck);
    ASSERT_TRUE(d.ok()) << d.error().message();
    EXPECT_EQ(d->params.arch, "llama");
    EXPECT_TRUE(d->params.tied);
    EXPECT_TRUE(d->params.permute_qk);
    ASSERT_EQ(d->tensors.size(), 20u); // token_embd via the alias, 2 x 9 per layer, output_norm; no output
    EXPECT_EQ(d->tensors[0].gguf_name, "token_embd.weight");
    EXPECT_EQ(d->tensors[0].hf_names, std::vector<std::string>{ "model.embed_tokens.weight" });
    std::set<std::string> names;
    for (const GgufTensorDesc & t : d->tensors) {
        names.insert(t.gguf_name);
    }
    EXPECT_FALSE(names.count("output.weight"));
    for (int l = 0; l < 2; l++) {
        for (const char * m : { "attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "ffn_norm", "ffn_gate",
                                "ffn_up", "ffn_down" }) {
            EXPECT_TRUE(names.count("blk." + std::to_string(l) + "." + m + ".weight")) << m;
        }
    }
    EXPECT_TRUE(names.count("output_norm.weight"));
}

// THE acceptance test: every tensor of the llama.cpp F16 GGUF equals the HF F32 tensor converted to
// F16 (exact: these weights are representable) and, for attn_q / attn_k, row-permuted (§2.8).
TEST_F(TinyStories, SameTensorsAsGgufTwin) {
    if (!fs::is_regular_file(gguf_)) {
        GTEST_SKIP() << "GGUF twin not found";
    }
    Result<HfCheckpoint> ck = HfCheckpoint::open(hf_.string());
    ASSERT_TRUE(ck.ok()) << ck.error().message();
    Result<GgufModelDesc> d = describe_gguf(*ck);
    ASSERT_TRUE(d.ok()) << d.error().message();
    Result<GgufFile> g = GgufFile::open(gguf_.string());
    ASSERT_TRUE(g.ok()) << g.error().message();
    ASSERT_EQ(g->tensors().size(), d->tensors.size());

    std::map<std::string, const GgufTensorDesc *> by_name;
    for (const GgufTensorDesc & t : d->tensors) {
        by_name[t.gguf_name] = &t;
    }
    int permuted = 0;
    for (const GgufTensor & gt : g->tensors()) {
        SCOPED_TRACE(gt.name);
        ASSERT_TRUE(by_name.count(gt.name)) << "no HF source for " << gt.name;
        const GgufTensorDesc & desc = *by_name[gt.name];
        std::vector<int64_t>   ne(gt.ne, gt.ne + gt.n_dims);
        EXPECT_EQ(desc.ne, ne);
        const HfTensor * src = ck->find(desc.hf_names.at(0));
        ASSERT_NE(src, nullptr);
        Result<std::vector<float>> f = to_f32(*src->st);
        ASSERT_TRUE(f.ok());

        std::vector<uint8_t> want;
        if (gt.ggml_type == 0) { // F32: norms
            want.resize(f->size() * 4);
            std::memcpy(want.data(), f->data(), want.size());
        } else {
            ASSERT_EQ(gt.ggml_type, 1u); // F16
            std::vector<uint16_t> h(f->size());
            for (size_t i = 0; i < h.size(); i++) {
                h[i] = fp32_to_fp16((*f)[i]);
                ASSERT_EQ(fp16_to_fp32(h[i]), (*f)[i]) << "weight not exactly representable in F16";
            }
            want.resize(h.size() * 2);
            std::memcpy(want.data(), h.data(), want.size());
        }
        if (desc.permute) {
            const int expect_heads = gt.name.find("attn_q") != std::string::npos ? 8 : 4;
            EXPECT_EQ(desc.n_head, expect_heads);
            const int64_t        rows = src->shape()[0];
            std::vector<uint8_t> perm(want.size());
            ASSERT_TRUE(permute_qk_rows(want.data(), perm.data(), rows, int64_t(want.size()) / rows, desc.n_head));
            // Without the permutation the bytes must differ, or the test would prove nothing.
            EXPECT_NE(0, std::memcmp(perm.data(), want.data(), want.size()));
            want.swap(perm);
            permuted++;
        }
        ASSERT_EQ(gt.nbytes, want.size());
        EXPECT_EQ(0, std::memcmp(gt.data, want.data(), want.size()));
    }
    EXPECT_EQ(permuted, 4); // attn_q and attn_k of 2 layers
}

// The KVs the mapping derives from config.json equal llama.cpp's in key, type and value.
TEST_F(TinyStories, SameHyperParametersAsGgufTwin) {
    if (!fs::is_regular_file(gguf_)) {
        GTEST_SKIP() << "GGUF twin not found";
    }
    Result<HfCheckpoint> ck = HfCheckpoint::open(hf_.string());
    ASSERT_TRUE(ck.ok());
    Result<GgufModelDesc> d = describe_gguf(*ck);
    ASSERT_TRUE(d.ok()) << d.error().message();
    Result<GgufFile> g = GgufFile::open(gguf_.string());
    ASSERT_TRUE(g.ok()) << g.error().message();
    // architecture + 10 llama.* keys; the twin adds general.name, file_type and tokenizer keys.
    ASSERT_EQ(d->kvs.size(), 11u);
    uint64_t last_offset = 0; // same relative order as the converter wrote them
    for (const GgufKvDesc & kv : d->kvs) {
        SCOPED_TRACE(kv.key);
        const GgufKV * gkv = g->find(kv.key);
        ASSERT_NE(gkv, nullptr);
        EXPECT_GT(gkv->offset, last_offset);
        last_offset = gkv->offset;
        EXPECT_EQ(gkv->value.type(), kv.type());
        if (kv.type() == GgufType::UINT32) {
            EXPECT_EQ(gkv->value.get<uint32_t>(), std::get<uint32_t>(kv.value));
        } else if (kv.type() == GgufType::FLOAT32) {
            EXPECT_EQ(gkv->value.get<float>(), std::get<float>(kv.value));
        } else if (kv.type() == GgufType::STRING) {
            EXPECT_EQ(gkv->value.get_string(), std::get<std::string>(kv.value));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Sharded checkpoints

namespace {

void write_index(const fs::path & dir, const json & weight_map) {
    write_text(dir / "model.safetensors.index.json",
               json{ { "metadata", { { "total_size", 0 } } }, { "weight_map", weight_map } }.dump(2));
}

void write_two_shards(const fs::path & dir) {
    write_st(dir / "model-00001-of-00002.safetensors",
             { { "a.weight", "F32", { 2, 2 }, f32_bytes({ 1, 2, 3, 4 }) }, { "b.weight", "F16", { 3 }, {} } });
    write_st(dir / "model-00002-of-00002.safetensors", { { "c.weight", "BF16", { 2 }, {} } });
}

} // namespace

TEST(HfShards, TwoShardsResolve) {
    TempDir t("hf_shards");
    write_two_shards(t.path());
    write_index(t.path(), { { "a.weight", "model-00001-of-00002.safetensors" },
                            { "b.weight", "model-00001-of-00002.safetensors" },
                            { "c.weight", "model-00002-of-00002.safetensors" } });
    Result<HfCheckpoint> ck = HfCheckpoint::open(t.path().string());
    ASSERT_TRUE(ck.ok()) << ck.error().message();
    EXPECT_TRUE(ck->sharded());
    EXPECT_EQ(ck->shards().size(), 2u);
    ASSERT_EQ(ck->tensors().size(), 3u);
    EXPECT_EQ(ck->find("a.weight")->shard, 0u);
    EXPECT_EQ(ck->find("c.weight")->shard, 1u);
    EXPECT_EQ(ck->find("c.weight")->dtype(), "BF16");
    Result<std::vector<float>> a = to_f32(*ck->find("a.weight")->st);
    ASSERT_TRUE(a.ok());
    EXPECT_EQ(*a, (std::vector<float>{ 1, 2, 3, 4 }));
    EXPECT_FALSE(ck->has_config());
    EXPECT_FALSE(ck->tokenizer().present);

    // Opening the index file itself is the same as opening its directory.
    Result<HfCheckpoint> ck2 = HfCheckpoint::open((t / "model.safetensors.index.json").string());
    ASSERT_TRUE(ck2.ok()) << ck2.error().message();
    EXPECT_EQ(ck2->tensors().size(), 3u);
}

TEST(HfShards, MissingShard) {
    TempDir t("hf_missing");
    write_two_shards(t.path());
    write_index(t.path(), { { "a.weight", "model-00001-of-00002.safetensors" },
                            { "b.weight", "model-00001-of-00002.safetensors" },
                            { "c.weight", "model-00003-of-00002.safetensors" } });
    expect_error(HfCheckpoint::open(t.path().string()), "model.safetensors.index.json", "does not exist");
}

TEST(HfShards, TensorInWrongShard) {
    TempDir t("hf_wrong");
    write_two_shards(t.path());
    write_index(t.path(), { { "a.weight", "model-00001-of-00002.safetensors" },
                            { "b.weight", "model-00002-of-00002.safetensors" },
                            { "c.weight", "model-00002-of-00002.safetensors" } });
    expect_error(HfCheckpoint::open(t.path().string()), "model.safetensors.index.json",
                 "\"b.weight\" is mapped to shard \"model-00002-of-00002.safetensors\" but that shard does not "
                 "contain it; it is in \"model-00001-of-00002.safetensors\"");
}

TEST(HfShards, TensorInTwoShards) {
    TempDir t("hf_twice");
    write_two_shards(t.path());
    write_st(t / "model-00002-of-00002.safetensors",
             { { "c.weight", "BF16", { 2 }, {} }, { "a.weight", "F32", { 1 }, {} } });
    write_index(t.path(), { { "a.weight", "model-00001-of-00002.safetensors" },
                            { "b.weight", "model-00001-of-00002.safetensors" },
                            { "c.weight", "model-00002-of-00002.safetensors" } });
    expect_error(HfCheckpoint::open(t.path().string()), "model-00002-of-00002.safetensors", "is stored in two shards");
}

TEST(HfShards, IndexRules) {
    TempDir t("hf_rules");
    write_two_shards(t.path());
    // Path traversal out of the checkpoint directory.
    write_index(t.path(), { { "a.weight", "../model-00001-of-00002.safetensors" } });
    expect_error(HfCheckpoint::open(t.path().string()), "index.json", "plain file names");
    // One tensor listed twice (Python's json would keep the last silently).
    write_text(t / "model.safetensors.index.json",
               R"({"weight_map": {"a.weight": "model-00001-of-00002.safetensors",
                                  "a.weight": "model-00002-of-00002.safetensors"}})");
    expect_error(HfCheckpoint::open(t.path().string()), "index.json", "duplicate key \"a.weight\"");
    write_text(t / "model.safetensors.index.json", R"({"metadata": {}})");
    expect_error(HfCheckpoint::open(t.path().string()), "index.json", "weight_map");
    // A tensor in a shard but not in the index is ignored with a warning.
    write_index(t.path(), { { "a.weight", "model-00001-of-00002.safetensors" } });
    Result<HfCheckpoint> ck = HfCheckpoint::open(t.path().string());
    ASSERT_TRUE(ck.ok()) << ck.error().message();
    EXPECT_EQ(ck->tensors().size(), 1u);
    ASSERT_EQ(ck->warnings().size(), 1u);
    EXPECT_NE(ck->warnings()[0].find("b.weight"), std::string::npos);
}

TEST(HfShards, BadSideFiles) {
    TempDir t("hf_side");
    write_st(t / "model.safetensors", { { "a.weight", "F32", { 1 }, {} } });
    write_text(t / "config.json", R"({"hidden_size": 12, "num_hidden_layers": "two"})");
    expect_error(HfCheckpoint::open(t.path().string()), "config.json", "num_hidden_layers must be an integer");
    write_text(t / "config.json", R"({"hidden_size": 12,)");
    expect_error(HfCheckpoint::open(t.path().string()), "config.json", "invalid JSON");
    write_text(t / "config.json", std::string(1000, '[') + std::string(1000, ']'));
    expect_error(HfCheckpoint::open(t.path().string()), "config.json", "nests deeper");
    write_text(t / "config.json", "{}");
    write_text(t / "tokenizer.json", R"({"model": {"type": "BPE", "vocab": {"a": -1}}})");
    expect_error(HfCheckpoint::open(t.path().string()), "tokenizer.json", "vocab id");
    fs::remove(t / "tokenizer.json");
    EXPECT_FALSE(HfCheckpoint::open((t / "nope").string()).ok());
    EXPECT_FALSE(HfCheckpoint::open((t / "config.json").string()).ok()); // not a SafeTensors file
}

TEST(HfJson, ReaderLimits) {
    JsonReadOptions small;
    small.max_bytes   = 16;
    Result<JsonDoc> r = parse_json_text("x.json", R"({"key": "a long value"})", small);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().what.find("over the limit"), std::string::npos);
    r = parse_json_text("x.json", R"({"a": 1, "b": })");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().offset, 14u); // the '}' where a value was expected
    r = parse_json_text("x.json", "{\"a\": \"\xff\"}");
    ASSERT_FALSE(r.ok()); // invalid UTF-8
    r = parse_json_text("x.json", R"({"t": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["})");
    EXPECT_TRUE(r.ok()); // brackets inside strings do not count as nesting
    r = parse_json_text("x.json", R"({"outer": {"inner": 1}, "inner": 2})");
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->key_offset("inner"), 11u);
    EXPECT_EQ(r->key_offset("missing"), 0u);
}

// ---------------------------------------------------------------------------------------------
// Name and metadata mapping on synthetic configs

namespace {

// A one-layer model of the given architecture; tensors sized from the config.
void write_tiny_model(const fs::path & dir, const json & cfg, bool biases, bool qk_norm, bool drop_k_bias = false) {
    const int64_t        e = cfg["hidden_size"], nh = cfg["num_attention_heads"], nkv = cfg["num_key_value_heads"];
    const int64_t        hd = cfg.contains("head_dim") ? int64_t(cfg["head_dim"]) : e / nh;
    const int64_t        ff = cfg["intermediate_size"], v = cfg["vocab_size"];
    std::vector<StEntry> ts = {
        { "model.embed_tokens.weight", "BF16", { v, e }, {} },
        { "model.norm.weight", "F32", { e }, {} },
        { "model.layers.0.input_layernorm.weight", "F32", { e }, {} },
        { "model.layers.0.post_attention_layernorm.weight", "F32", { e }, {} },
        { "model.layers.0.self_attn.q_proj.weight", "BF16", { nh * hd, e }, {} },
        { "model.layers.0.self_attn.k_proj.weight", "BF16", { nkv * hd, e }, {} },
        { "model.layers.0.self_attn.v_proj.weight", "BF16", { nkv * hd, e }, {} },
        { "model.layers.0.self_attn.o_proj.weight", "BF16", { e, nh * hd }, {} },
        { "model.layers.0.mlp.gate_proj.weight", "BF16", { ff, e }, {} },
        { "model.layers.0.mlp.up_proj.weight", "BF16", { ff, e }, {} },
        { "model.layers.0.mlp.down_proj.weight", "BF16", { e, ff }, {} },
    };
    if (!cfg.value("tie_word_embeddings", false)) {
        ts.push_back({ "lm_head.weight", "BF16", { v, e }, {} });
    }
    if (biases) {
        ts.push_back({ "model.layers.0.self_attn.q_proj.bias", "F32", { nh * hd }, {} });
        if (!drop_k_bias) {
            ts.push_back({ "model.layers.0.self_attn.k_proj.bias", "F32", { nkv * hd }, {} });
        }
        ts.push_back({ "model.layers.0.self_attn.v_proj.bias", "F32", { nkv * hd }, {} });
    }
    if (qk_norm) {
        ts.push_back({ "model.layers.0.self_attn.q_norm.weight", "F32", { hd }, {} });
        ts.push_back({ "model.layers.0.self_attn.k_norm.weight", "F32", { hd }, {} });
    }
    write_st(dir / "model.safetensors", ts);
    write_text(dir / "config.json", cfg.dump());
}

json base_config(const char * arch, const char * model_type) {
    return json{ { "architectures", { arch } }, { "model_type", model_type }, { "hidden_size", 16 },
                 { "intermediate_size", 32 },   { "num_hidden_layers", 1 },   { "num_attention_heads", 4 },
                 { "num_key_value_heads", 2 },  { "vocab_size", 10 },         { "max_position_embeddings", 64 },
                 { "rms_norm_eps", 1e-5 },      { "rope_theta", 1000000.0 },  { "tie_word_embeddings", false } };
}

const GgufKvDesc * find_kv(const GgufModelDesc & d, const std::string & key) {
    for (const GgufKvDesc & kv : d.kvs) {
        if (kv.key == key) {
            return &kv;
        }
    }
    return nullptr;
}

const GgufTensorDesc * find_t(const GgufModelDesc & d, const std::string & name) {
    for (const GgufTensorDesc & t : d.tensors) {
        if (t.gguf_name == name) {
            return &t;
        }
    }
    return nullptr;
}

} // namespace

TEST(HfNaming, Qwen3HeadDimAndNorms) {
    TempDir t("hf_qwen3");
    json    cfg                = base_config("Qwen3ForCausalLM", "qwen3");
    cfg["head_dim"]            = 8; // != 16 / 4, as in small Qwen3 models
    cfg["tie_word_embeddings"] = true;
    write_tiny_model(t.path(), cfg, false, true);
    Result<HfCheckpoint> ck = HfCheckpoint::open(t.path().string());
    ASSERT_TRUE(ck.ok()) << ck.error().message();
    Result<GgufModelDesc> d = describe_gguf(*ck);
    ASSERT_TRUE(d.ok()) << d.error().message();
    EXPECT_EQ(d->params.arch, "qwen3");
    EXPECT_FALSE(d->params.permute_qk);
    EXPECT_EQ(d->tensors.size(), 13u);
    ASSERT_NE(find_kv(*d, "qwen3.attention.key_length"), nullptr);
    EXPECT_EQ(std::get<uint32_t>(find_kv(*d, "qwen3.attention.key_length")->value), 8u);
    EXPECT_EQ(find_kv(*d, "qwen3.attention.key_length")->type(), GgufType::UINT32);
    EXPECT_EQ(std::get<float>(find_kv(*d, "qwen3.rope.freq_base")->value), 1000000.0f);
    EXPECT_EQ(find_kv(*d, "qwen3.vocab_size"), nullptr); // only llama writes it from config
    ASSERT_NE(find_t(*d, "blk.0.attn_q.weight"), nullptr);
    EXPECT_FALSE(find_t(*d, "blk.0.attn_q.weight")->permute);
    EXPECT_EQ(find_t(*d, "blk.0.attn_q.weight")->ne, (std::vector<int64_t>{ 16, 32 }));
    EXPECT_NE(find_t(*d, "blk.0.attn_k_norm.weight"), nullptr);
    EXPECT_EQ(find_t(*d, "output.weight"), nullptr);
}

TEST(HfNaming, Qwen2BiasesRequired) {
    TempDir t("hf_qwen2");
    write_tiny_model(t.path(), base_config("Qwen2ForCausalLM", "qwen2"), true, false);
    Result<HfCheckpoint> ck = HfCheckpoint::open(t.path().string());
    ASSERT_TRUE(ck.ok()) << ck.error().message();
    Result<GgufModelDesc> d = describe_gguf(*ck);
    ASSERT_TRUE(d.ok()) << d.error().message();
    EXPECT_EQ(d->params.arch, "qwen2");
    ASSERT_NE(find_t(*d, "blk.0.attn_k.bias"), nullptr);
    EXPECT_EQ(find_t(*d, "blk.0.attn_k.bias")->ne, (std::vector<int64_t>{ 8 }));
    ASSERT_NE(find_t(*d, "output.weight"), nullptr);
    EXPECT_EQ(find_kv(*d, "qwen2.attention.key_length"), nullptr); // no head_dim in config

    write_tiny_model(t.path(), base_config("Qwen2ForCausalLM", "qwen2"), true, false, /*drop_k_bias=*/true);
    ck = HfCheckpoint::open(t.path().string());
    ASSERT_TRUE(ck.ok());
    d = describe_gguf(*ck);
    ASSERT_FALSE(d.ok());
    EXPECT_NE(d.error().what.find("blk.0.attn_k.bias"), std::string::npos) << d.error().message();
}

TEST(HfNaming, MistralIsLlamaWithPermutationAndLlama3Rope) {
    TempDir t("hf_mistral");
    json    cfg         = base_config("MistralForCausalLM", "mistral");
    cfg["rope_scaling"] = { { "rope_type", "llama3" },
                            { "factor", 8.0 },
                            { "low_freq_factor", 1.0 },
                            { "high_freq_factor", 4.0 },
                            { "original_max_position_embeddings", 8192 } };
    write_tiny_model(t.path(), cfg, false, false);
    Result<HfCheckpoint> ck = HfCheckpoint::open(t.path().string());
    ASSERT_TRUE(ck.ok()) << ck.error().message();
    Result<GgufModelDesc> d = describe_gguf(*ck);
    ASSERT_TRUE(d.ok()) << d.error().message();
    EXPECT_EQ(d->params.arch, "llama");
    EXPECT_EQ(std::get<std::string>(d->kvs[0].value), "llama");
    EXPECT_EQ(std::get<uint32_t>(find_kv(*d, "llama.rope.dimension_count")->value), 4u);
    EXPECT_EQ(std::get<uint32_t>(find_kv(*d, "llama.vocab_size")->value), 10u);
    ASSERT_EQ(d->tensors[0].gguf_name, "rope_freqs.weight");
    EXPECT_EQ(d->tensors[0].values.size(), 2u); // head_dim / 2
    EXPECT_EQ(d->tensors[0].values[0], 1.0f);   // highest frequency: unscaled
    const GgufTensorDesc * k = find_t(*d, "blk.0.attn_k.weight");
    ASSERT_NE(k, nullptr);
    EXPECT_TRUE(k->permute);
    EXPECT_EQ(k->n_head, 2);
    EXPECT_EQ(find_t(*d, "blk.0.attn_q.weight")->n_head, 4);
    EXPECT_FALSE(find_t(*d, "blk.0.attn_v.weight")->permute);
    ASSERT_NE(find_t(*d, "output.weight"), nullptr);
}

TEST(HfNaming, Errors) {
    TempDir t("hf_errors");
    json    cfg = base_config("GPT2LMHeadModel", "gpt2");
    write_tiny_model(t.path(), cfg, false, false);
    Result<HfCheckpoint> ck = HfCheckpoint::open(t.path().string());
    ASSERT_TRUE(ck.ok());
    Result<GgufModelDesc> d = describe_gguf(*ck);
    ASSERT_FALSE(d.ok());
    EXPECT_NE(d.error().what.find("not supported"), std::string::npos);

    cfg = base_config("LlamaForCausalLM", "llama");
    write_tiny_model(t.path(), cfg, false, false);
    cfg["num_key_value_heads"] = 4; // k_proj is stored for 2 heads
    write_text(t / "config.json", cfg.dump());
    ck = HfCheckpoint::open(t.path().string());
    ASSERT_TRUE(ck.ok());
    d = describe_gguf(*ck);
    ASSERT_FALSE(d.ok());
    EXPECT_NE(d.error().what.find("k_proj.weight\": shape [8, 16] does not match config.json, expected [16, 16]"),
              std::string::npos)
        << d.error().message();

    cfg.erase("num_key_value_heads");
    cfg["num_attention_heads"] = 0;
    write_text(t / "config.json", cfg.dump());
    ck = HfCheckpoint::open(t.path().string());
    ASSERT_TRUE(ck.ok());
    d = describe_gguf(*ck);
    ASSERT_FALSE(d.ok());
    EXPECT_NE(d.error().message().find("config.json: offset "), std::string::npos) << d.error().message();
    EXPECT_NE(d.error().what.find("num_attention_heads"), std::string::npos);
}

TEST(HfNaming, TensorNames) {
    EXPECT_EQ(hf_to_gguf_name("model.embed_tokens.weight"), "token_embd.weight");
    EXPECT_EQ(hf_to_gguf_name("lm_head.weight"), "output.weight");
    EXPECT_EQ(hf_to_gguf_name("model.norm.weight"), "output_norm.weight");
    EXPECT_EQ(hf_to_gguf_name("model.layers.12.self_attn.o_proj.weight"), "blk.12.attn_output.weight");
    EXPECT_EQ(hf_to_gguf_name("model.layers.0.self_attn.q_proj.bias"), "blk.0.attn_q.bias");
    EXPECT_EQ(hf_to_gguf_name("model.layers.3.post_attention_layernorm.weight"), "blk.3.ffn_norm.weight");
    EXPECT_EQ(hf_to_gguf_name("model.layers.3.mlp.down_proj.weight_scale_2"), "blk.3.ffn_down.scale");
    EXPECT_EQ(hf_to_gguf_name("model.layers.3.mlp.down_proj.input_scale"), "blk.3.ffn_down.input_scale");
    EXPECT_EQ(hf_to_gguf_name("model.layers.3.mlp.down_proj.weight_scale"), "");
    EXPECT_EQ(hf_to_gguf_name("layers.1.self_attn.k_norm.weight"), "blk.1.attn_k_norm.weight");
    EXPECT_EQ(hf_to_gguf_name("model.layers.01.mlp.up_proj.weight"), ""); // not a canonical index
    EXPECT_EQ(hf_to_gguf_name("model.vision_tower.weight"), "");
}

TEST(HfNaming, PermuteRoundTrip) {
    // 2 heads of 6 rows, 3 bytes per row: GGUF row h*6 + 2j + i = HF row h*6 + 3i + j.
    const int64_t        rows = 12, rb = 3;
    std::vector<uint8_t> hf(size_t(rows * rb)), gguf(hf.size()), back(hf.size());
    for (size_t i = 0; i < hf.size(); i++) {
        hf[i] = uint8_t(i / rb); // each row filled with its HF index
    }
    ASSERT_TRUE(permute_qk_rows(hf.data(), gguf.data(), rows, rb, 2));
    const uint8_t want[12] = { 0, 3, 1, 4, 2, 5, 6, 9, 7, 10, 8, 11 };
    for (int64_t r = 0; r < rows; r++) {
        EXPECT_EQ(gguf[size_t(r * rb)], want[r]) << r;
    }
    ASSERT_TRUE(unpermute_qk_rows(gguf.data(), back.data(), rows, rb, 2));
    EXPECT_EQ(back, hf);
    EXPECT_FALSE(permute_qk_rows(hf.data(), gguf.data(), rows, rb, 5)); // 12 rows do not split into 5 heads
    EXPECT_FALSE(permute_qk_rows(hf.data(), gguf.data(), rows, rb, 4)); // odd head size
    EXPECT_FALSE(permute_qk_rows(hf.data(), gguf.data(), rows, rb, 0));
}
