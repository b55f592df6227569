// Prequantized HF checkpoints (FORMATS.md §7-§8) on tiny hand-written files: ModelOpt NVFP4 and
// MIXED_PRECISION, compressed-tensors NVFP4 and FP8, DeepSeek-style block FP8, the per-layer role
// validation errors, ignore lists with globs and regexes, and the scale audit numbers.
#include "io/hf_checkpoint.h"
#include "model/hf_naming.h"
#include "unit/st_writer.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using namespace nibble;
using namespace nibble::test;
using json = nlohmann::json;

namespace {

class QuantDir : public ::testing::Test {
  protected:
    void SetUp() override {
        dir_ = fs::path(::testing::TempDir()) /
               ("nibble_hfq_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) + "_" +
                std::to_string(::getpid()));
        fs::remove_all(dir_);
        fs::create_directories(dir_);
    }
    void TearDown() override {
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }

    Result<HfCheckpoint> open() const { return HfCheckpoint::open(dir_.string()); }

    void expect_error(const std::string & rule) const {
        Result<HfCheckpoint> r = open();
        ASSERT_FALSE(r.ok()) << "expected an error with \"" << rule << "\"";
        const std::string msg = r.error().message();
        EXPECT_NE(msg.find("model.safetensors: offset "), std::string::npos) << msg;
        EXPECT_NE(msg.find(rule), std::string::npos) << "expected \"" << rule << "\" in: " << msg;
    }

    fs::path dir_;
};

// ModelOpt NVFP4 Linear with out = 4, in = 32: U8 [4, 16], F8_E4M3 [4, 2], F32 scalars.
void add_modelopt_nvfp4(std::vector<StEntry> & ts, const std::string & p, float ws2, const float * in_scale) {
    ts.push_back({ p + ".weight", "U8", { 4, 16 }, {} });
    ts.push_back({ p + ".weight_scale", "F8_E4M3", { 4, 2 }, std::string(8, '\x38') }); // 1.0 in E4M3
    ts.push_back({ p + ".weight_scale_2", "F32", {}, f32_bytes({ ws2 }) });
    if (in_scale != nullptr) {
        ts.push_back({ p + ".input_scale", "F32", {}, f32_bytes({ *in_scale }) });
    }
}

const json kModelOptNvfp4 = { { "producer", { { "name", "modelopt" }, { "version", "0.29.0" } } },
                              { "quantization",
                                { { "quant_algo", "NVFP4" },
                                  { "kv_cache_quant_algo", nullptr },
                                  { "group_size", 16 },
                                  { "exclude_modules", { "lm_head", "model.layers.1.*" } } } } };

const HfScaleStats * audit_row(const HfQuantInfo & q, const std::string & role, const std::string & scope) {
    for (const HfScaleStats & s : q.audit) {
        if (s.role == role && s.scope == scope) {
            return &s;
        }
    }
    return nullptr;
}

} // namespace

TEST_F(QuantDir, ModelOptNvfp4) {
    std::vector<StEntry> ts;
    const float          in2 = 2.0f;
    add_modelopt_nvfp4(ts, "model.layers.0.self_attn.q_proj", 0.5f, &in2);
    add_modelopt_nvfp4(ts, "model.layers.0.mlp.down_proj", 0.25f, nullptr);
    ts.push_back({ "model.layers.1.mlp.down_proj.weight", "BF16", { 4, 32 }, {} }); // excluded by glob
    ts.push_back({ "lm_head.weight", "BF16", { 8, 32 }, {} });
    ts.push_back({ "model.norm.weight", "BF16", { 32 }, {} });
    write_st(dir_ / "model.safetensors", ts);
    write_text(dir_ / "hf_quant_config.json", kModelOptNvfp4.dump());

    Result<HfCheckpoint> ck = open();
    ASSERT_TRUE(ck.ok()) << ck.error().message();
    const HfQuantInfo & q = ck->quant();
    EXPECT_EQ(q.scheme, HfQuantScheme::ModelOptNVFP4);
    EXPECT_EQ(q.source, "hf_quant_config.json");
    EXPECT_EQ(q.group_size, 16);
    EXPECT_EQ(q.count(HfLayerQuant::NVFP4ModelOpt), 2);
    EXPECT_EQ(q.count(HfLayerQuant::Plain), 3);
    EXPECT_TRUE(q.warnings.empty()) << q.warnings[0];
    const HfQuantLayer * l = q.find_layer("model.layers.0.self_attn.q_proj");
    ASSERT_NE(l, nullptr);
    EXPECT_EQ(l->out, 4);
    EXPECT_EQ(l->in, 32);
    EXPECT_EQ(l->declared, "NVFP4");
    EXPECT_TRUE(l->has(HfRole::InputScale));
    EXPECT_TRUE(q.find_layer("model.layers.1.mlp.down_proj")->excluded);
    EXPECT_TRUE(q.find_layer("lm_head")->excluded);
    EXPECT_FALSE(q.find_layer("model.norm")->excluded);
    EXPECT_EQ(q.role_counts[size_t(HfRole::WeightScale2)], 2);

    const HfScaleStats * ws2 = audit_row(q, "weight_scale_2", "NVFP4");
    ASSERT_NE(ws2, nullptr);
    EXPECT_EQ(ws2->layers_expected, 2);
    EXPECT_EQ(ws2->layers_present, 2);
    EXPECT_EQ(ws2->min, 0.25);
    EXPECT_EQ(ws2->max, 0.5);
    EXPECT_EQ(ws2->mean, 0.375);
    const HfScaleStats * is = audit_row(q, "input_scale", "NVFP4");
    ASSERT_NE(is, nullptr);
    EXPECT_EQ(is->layers_present, 1);
    EXPECT_EQ(is->layers_expected, 2);
    EXPECT_EQ(is->mean, 2.0);

    EXPECT_EQ(hf_to_gguf_name("model.layers.0.self_attn.q_proj.weight_scale_2"), "blk.0.attn_q.scale");
}

TEST_F(QuantDir, ModelOptMixedPrecisionPerLayer) {
    std::vector<StEntry> ts;
    add_modelopt_nvfp4(ts, "model.layers.0.mlp.up_proj", 1.0f, nullptr);
    ts.push_back({ "model.layers.0.mlp.gate_proj.weight", "F8_E4M3", { 4, 32 }, {} });
    ts.push_back({ "model.layers.0.mlp.gate_proj.weight_scale", "F32", {}, f32_bytes({ 0.125f }) });
    ts.push_back({ "model.layers.0.mlp.gate_proj.input_scale", "F32", {}, f32_bytes({ 3.0f }) });
    ts.push_back({ "model.layers.0.self_attn.k_scale", "F32", {}, f32_bytes({ 1.5f }) });
    write_st(dir_ / "model.safetensors", ts);
    json cfg                                = kModelOptNvfp4;
    cfg["quantization"]["quant_algo"]       = "MIXED_PRECISION";
    cfg["quantization"]["quantized_layers"] = { { "model.layers.0.mlp.up_proj", { { "quant_algo", "NVFP4" } } },
                                                { "model.layers.0.mlp.gate_proj", { { "quant_algo", "NVFP4" } } } };
    write_text(dir_ / "hf_quant_config.json", cfg.dump());

    Result<HfCheckpoint> ck = open();
    ASSERT_TRUE(ck.ok()) << ck.error().message();
    const HfQuantInfo & q = ck->quant();
    EXPECT_EQ(q.scheme, HfQuantScheme::ModelOptMixed);
    EXPECT_EQ(q.find_layer("model.layers.0.mlp.up_proj")->kind, HfLayerQuant::NVFP4ModelOpt);
    EXPECT_EQ(q.find_layer("model.layers.0.mlp.gate_proj")->kind, HfLayerQuant::FP8Tensor);
    // The config says NVFP4 for gate_proj, the tensors say FP8: classified by tensors, warned about.
    ASSERT_EQ(q.warnings.size(), 1u);
    EXPECT_NE(q.warnings[0].find("gate_proj\": config declares NVFP4 but the tensors are fp8-tensor"),
              std::string::npos)
        << q.warnings[0];
    const HfScaleStats * fs8 = audit_row(q, "weight_scale", "FP8");
    ASSERT_NE(fs8, nullptr);
    EXPECT_EQ(fs8->min, 0.125);
    const HfScaleStats * k = audit_row(q, "k_scale", "KV cache");
    ASSERT_NE(k, nullptr);
    EXPECT_EQ(k->max, 1.5);
}

TEST_F(QuantDir, ModelOptRoleErrors) {
    const auto write = [&](const std::vector<StEntry> & ts) {
        write_st(dir_ / "model.safetensors", ts);
        write_text(dir_ / "hf_quant_config.json", kModelOptNvfp4.dump());
    };
    const std::string p = "model.layers.0.mlp.up_proj";
    write({ { p + ".weight", "U8", { 4, 16 }, {} },
            { p + ".weight_scale", "F8_E4M3", { 4, 3 }, {} },
            { p + ".weight_scale_2", "F32", {}, f32_bytes({ 1 }) } });
    expect_error("NVFP4 weight_scale must be F8_E4M3 [out, in/16] = [4, 2]");
    write({ { p + ".weight", "U8", { 4, 16 }, {} },
            { p + ".weight_scale", "F32", { 4, 2 }, {} },
            { p + ".weight_scale_2", "F32", {}, f32_bytes({ 1 }) } });
    expect_error("must be F8_E4M3");
    write({ { p + ".weight", "U8", { 4, 16 }, {} },
            { p + ".weight_scale", "F8_E4M3", { 4, 2 }, {} },
            { p + ".weight_scale_2", "F32", { 2 }, f32_bytes({ 1, 1 }) } });
    expect_error("weight_scale_2 must be an F32 scalar");
    write({ { p + ".weight", "U8", { 4, 16 }, {} }, { p + ".weight_scale", "F8_E4M3", { 4, 2 }, {} } });
    expect_error("missing model.layers.0.mlp.up_proj.weight_scale_2");
    write({ { p + ".weight", "U8", { 4, 16 }, {} } });
    expect_error("packed U8 weight of an NVFP4 checkpoint has no weight_scale");
    write({ { p + ".weight_scale", "F8_E4M3", { 4, 2 }, {} } });
    expect_error("weight_scale has no model.layers.0.mlp.up_proj.weight");
    write({ { p + ".weight", "U8", { 4, 3 }, {} }, { p + ".weight_scale", "F8_E4M3", { 4, 1 }, {} } });
    expect_error("input dimension 6 is not a multiple of 16");
}

TEST_F(QuantDir, CompressedTensorsNvfp4) {
    const std::string    p  = "model.layers.0.self_attn.o_proj";
    std::vector<StEntry> ts = {
        { p + ".weight_packed", "U8", { 4, 16 }, {} },
        { p + ".weight_scale", "F8_E4M3", { 4, 2 }, {} },
        { p + ".weight_global_scale", "F32", { 1 }, f32_bytes({ 4.0f }) },
        { p + ".input_global_scale", "F32", { 1 }, f32_bytes({ 8.0f }) },
        { p + ".weight_shape", "I64", { 2 }, i64_bytes({ 4, 32 }) },
        { "model.layers.0.mlp.gate.weight", "BF16", { 2, 32 }, {} }, // MoE router, ignored by regex
        { "lm_head.weight", "BF16", { 8, 32 }, {} },
    };
    write_st(dir_ / "model.safetensors", ts);
    const json group = {
        { "targets", { "Linear" } },
        { "weights", { { "num_bits", 4 }, { "type", "float" }, { "strategy", "tensor_group" }, { "group_size", 16 } } },
        { "input_activations", { { "num_bits", 4 }, { "type", "float" } } }
    };
    const json cfg = { { "quantization_config",
                         { { "quant_method", "compressed-tensors" },
                           { "format", "nvfp4-pack-quantized" },
                           { "config_groups", { { "group_0", group } } },
                           { "ignore", { "lm_head", "re:.*mlp.gate$" } } } } };
    write_text(dir_ / "config.json", cfg.dump());

    Result<HfCheckpoint> ck = open();
    ASSERT_TRUE(ck.ok()) << ck.error().message();
    const HfQuantInfo & q = ck->quant();
    EXPECT_EQ(q.scheme, HfQuantScheme::CtNVFP4);
    EXPECT_EQ(q.group_size, 16);
    const HfQuantLayer * l = q.find_layer(p);
    ASSERT_NE(l, nullptr);
    EXPECT_EQ(l->kind, HfLayerQuant::NVFP4Ct);
    EXPECT_EQ(l->declared, "NVFP4");
    EXPECT_EQ(l->in, 32);
    EXPECT_TRUE(q.find_layer("model.layers.0.mlp.gate")->excluded);
    EXPECT_TRUE(q.warnings.empty()) << q.warnings[0];
    // Audited in ModelOpt's convention: weight_scale_2 = 1 / weight_global_scale.
    const HfScaleStats * ws2 = audit_row(q, "weight_scale_2", "NVFP4 (compressed-tensors)");
    ASSERT_NE(ws2, nullptr);
    EXPECT_EQ(ws2->mean, 0.25);
    EXPECT_EQ(audit_row(q, "input_scale", "NVFP4 (compressed-tensors)")->mean, 0.125);

    // weight_shape must agree with the packed weight.
    ts[4].bytes = i64_bytes({ 4, 30 });
    write_st(dir_ / "model.safetensors", ts);
    expect_error("weight_shape must be I64/I32 [2] holding [4, 32]");
    ts[4].bytes = i64_bytes({ 4, 32 });
    ts.erase(ts.begin() + 2); // no weight_global_scale
    write_st(dir_ / "model.safetensors", ts);
    expect_error("missing model.layers.0.self_attn.o_proj.weight_global_scale");
}

TEST_F(QuantDir, BlockFp8) {
    const std::string    p  = "model.layers.0.mlp.down_proj";
    std::vector<StEntry> ts = {
        { p + ".weight", "F8_E4M3", { 200, 300 }, {} },
        { p + ".weight_scale_inv", "F32", { 2, 3 }, f32_bytes({ 1, 2, 3, 4, 5, 6 }) },
        { "model.layers.0.mlp.gate.weight", "BF16", { 4, 300 }, {} },
    };
    write_st(dir_ / "model.safetensors", ts);
    const json cfg = { { "quantization_config",
                         { { "quant_method", "fp8" },
                           { "fmt", "e4m3" },
                           { "activation_scheme", "dynamic" },
                           { "weight_block_size", { 128, 128 } } } } };
    write_text(dir_ / "config.json", cfg.dump());
    Result<HfCheckpoint> ck = open();
    ASSERT_TRUE(ck.ok()) << ck.error().message();
    const HfQuantInfo & q = ck->quant();
    EXPECT_EQ(q.scheme, HfQuantScheme::BlockFP8);
    const HfQuantLayer * l = q.find_layer(p);
    EXPECT_EQ(l->kind, HfLayerQuant::FP8Block);
    EXPECT_EQ(l->block_out, 128);
    EXPECT_EQ(l->scale_role, HfRole::WeightScaleInv);
    EXPECT_TRUE(q.warnings.empty()) << q.warnings[0];
    const HfScaleStats * s = audit_row(q, "weight_scale_inv", "FP8");
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(s->values, 6);
    EXPECT_EQ(s->mean, 3.5);
    EXPECT_EQ(s->max, 6.0);

    ts[1] = { p + ".weight_scale_inv", "F32", { 2, 2 }, {} }; // ceil(300 / 128) = 3 columns needed
    write_st(dir_ / "model.safetensors", ts);
    expect_error("with 128x128 blocks must be [2, 3]");
    ts[1] = { p + ".weight_scale_inv", "I32", { 2, 3 }, {} };
    write_st(dir_ / "model.safetensors", ts);
    expect_error("FP8 scale must be F32, BF16, F16 or F8_E8M0");
    ts.erase(ts.begin() + 1);
    write_st(dir_ / "model.safetensors", ts);
    expect_error("FP8 weight has neither weight_scale nor weight_scale_inv");
}

TEST_F(QuantDir, CompressedTensorsFp8ChannelAndUndeclared) {
    const std::string    p  = "model.layers.0.mlp.up_proj";
    std::vector<StEntry> ts = {
        { p + ".weight", "F8_E4M3", { 4, 32 }, {} },
        { p + ".weight_scale", "BF16", { 4, 1 }, {} },
    };
    write_st(dir_ / "model.safetensors", ts);
    const json group = { { "targets", { "Linear" } },
                         { "weights", { { "num_bits", 8 }, { "type", "float" }, { "strategy", "channel" } } } };
    write_text(dir_ / "config.json", json{ { "quantization_config",
                                             { { "quant_method", "compressed-tensors" },
                                               { "format", "float-quantized" },
                                               { "config_groups", { { "group_0", group } } },
                                               { "ignore", { "lm_head" } } } } }
                                         .dump());
    Result<HfCheckpoint> ck = open();
    ASSERT_TRUE(ck.ok()) << ck.error().message();
    EXPECT_EQ(ck->quant().scheme, HfQuantScheme::CtFP8);
    EXPECT_EQ(ck->quant().find_layer(p)->kind, HfLayerQuant::FP8Channel);
    EXPECT_TRUE(ck->quant().warnings.empty()) << ck->quant().warnings[0];

    // Without any config the tensors still say FP8: the scheme is "undeclared", with a warning.
    fs::remove(dir_ / "config.json");
    ck = open();
    ASSERT_TRUE(ck.ok()) << ck.error().message();
    EXPECT_EQ(ck->quant().scheme, HfQuantScheme::Undeclared);
    EXPECT_EQ(ck->quant().warnings.size(), 1u);
}

TEST(HfIgnore, GlobsRegexesAndNames) {
    const std::vector<std::string> pats = { "lm_head", "model.layers.30.self_attn*", "re:.*mlp.gate$", "re:(" };
    EXPECT_TRUE(hf_ignore_matches(pats, "lm_head"));
    EXPECT_FALSE(hf_ignore_matches(pats, "lm_head_2"));
    EXPECT_TRUE(hf_ignore_matches(pats, "model.layers.30.self_attn.q_proj"));
    EXPECT_FALSE(hf_ignore_matches(pats, "model.layers.3.self_attn.q_proj"));
    EXPECT_TRUE(hf_ignore_matches(pats, "model.layers.7.mlp.gate"));
    EXPECT_FALSE(hf_ignore_matches(pats, "model.layers.7.mlp.gate_proj"));
    EXPECT_TRUE(hf_ignore_matches({ "re:model\\.layers\\.[0-2]\\." }, "model.layers.1.mlp.up_proj"));
    EXPECT_FALSE(hf_ignore_matches({ "re:layers\\.1" }, "model.layers.1.mlp.up_proj")); // re.match anchors at 0
    EXPECT_TRUE(hf_ignore_matches({ "model.layers.?.mlp.*" }, "model.layers.5.mlp.down_proj"));
    EXPECT_TRUE(hf_ignore_matches({ "model.layers.[0-3].*" }, "model.layers.2.mlp.down_proj"));
    EXPECT_FALSE(hf_ignore_matches({ "model.layers.[!0-3].*" }, "model.layers.2.mlp.down_proj"));
    EXPECT_TRUE(hf_ignore_matches({ "*.k_proj" }, "model.layers.2.self_attn.k_proj"));
    EXPECT_FALSE(hf_ignore_matches({ "*.k_proj" }, "model.layers.2.self_attn.k_proj_2"));
    EXPECT_TRUE(hf_ignore_matches({ "a[b" }, "a[b")); // unterminated bracket is literal
    EXPECT_TRUE(hf_ignore_matches({ "**a**b*" }, "xxaxxbxx"));
    // Hostile inputs stay fast: glob backtracking is bounded and regexes run breadth-first.
    const std::string long_name(1000, 'a');
    EXPECT_FALSE(hf_ignore_matches({ std::string(40, '*') + "b" }, long_name));
    EXPECT_FALSE(hf_ignore_matches({ "*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b" }, long_name));
    EXPECT_FALSE(hf_ignore_matches({ "re:(a*)*b" }, long_name));
}

TEST(HfRoles, Split) {
    std::string p;
    HfRole      r;
    ASSERT_TRUE(hf_split_role("model.layers.0.mlp.up_proj.weight_scale_2", p, r));
    EXPECT_EQ(p, "model.layers.0.mlp.up_proj");
    EXPECT_EQ(r, HfRole::WeightScale2);
    ASSERT_TRUE(hf_split_role("a.weight", p, r));
    EXPECT_EQ(r, HfRole::Weight);
    EXPECT_FALSE(hf_split_role("a.rotary_emb.inv_freq", p, r));
    EXPECT_FALSE(hf_split_role("weight", p, r));
}
