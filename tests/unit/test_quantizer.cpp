// The quantize driver (src/quant/quantizer.h) on small synthetic GGUFs: metadata as llama-quantize
// writes it, tensor data equal to quantize_matrix per expert slice with its imatrix slice, NVFP4 file
// type rules, requantization, thread-count independence, and failures that leave no file behind.
// Byte-identity with llama-quantize itself is tests/golden/test_quantize_golden.cpp.
#include "formats/format_table.h"
#include "formats/quantize.h"
#include "io/gguf_writer.h"
#include "quant/quantizer.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

namespace nibble {
namespace {

namespace fs = std::filesystem;

struct SynthTensor {
    std::string          name;
    std::vector<int64_t> ne;
};

// A llama-shaped model, F32, tensors deliberately not in llama order. attn_k has 96 columns (not a
// multiple of 64 or 256) to exercise fallbacks; ffn_up_exps is a 3-D stack of 4 experts.
const std::vector<SynthTensor> kTensors = {
    { "token_embd.weight", { 256, 16 } },    { "blk.0.attn_q.weight", { 256, 256 } },
    { "blk.0.attn_norm.weight", { 256 } },   { "blk.0.attn_k.weight", { 96, 64 } },
    { "blk.0.attn_v.weight", { 256, 128 } }, { "blk.0.ffn_up_exps.weight", { 256, 32, 4 } },
    { "output_norm.weight", { 256 } },       { "output.weight", { 256, 16 } },
};

std::vector<float> values(const SynthTensor & t, size_t seed) {
    size_t n = 1;
    for (int64_t d : t.ne) {
        n *= size_t(d);
    }
    std::vector<float> x(n);
    for (size_t i = 0; i < n; ++i) {
        x[i] = 0.05f * std::sin(0.37f * float(i) + float(seed)) + (i % 97 == 0 ? 0.3f : 0.0f);
    }
    return x;
}

class QuantizerTest : public ::testing::Test {
  protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() / ("nibble-quantizer-" + std::to_string(::getpid()));
        fs::create_directories(dir_);
        GgufWriter w;
        ASSERT_TRUE(w.add_string("general.architecture", "llama").ok());
        ASSERT_TRUE(w.add<uint32_t>("general.file_type", 0).ok()); // moved to the end by the quantizer
        ASSERT_TRUE(w.add<uint32_t>("llama.block_count", 1).ok());
        ASSERT_TRUE(w.add<uint32_t>("llama.attention.head_count", 4).ok());
        ASSERT_TRUE(w.add<uint32_t>("llama.attention.head_count_kv", 2).ok());
        ASSERT_TRUE(w.add<uint16_t>("split.no", 0).ok()); // a one-part "split": keys are dropped
        ASSERT_TRUE(w.add<uint16_t>("split.count", 1).ok());
        ASSERT_TRUE(w.add_string("general.name", "synth").ok());
        for (const SynthTensor & t : kTensors) {
            ASSERT_TRUE(w.add_tensor(t.name, Format::F32, t.ne).ok());
        }
        ASSERT_TRUE(w.begin(model()).ok());
        for (size_t i = 0; i < kTensors.size(); ++i) {
            const std::vector<float> x = values(kTensors[i], i);
            ASSERT_TRUE(w.write_tensor_data(i, x.data(), x.size() * 4).ok());
        }
        ASSERT_TRUE(w.commit().ok());
        Result<GgufFile> f = GgufFile::open(model());
        ASSERT_TRUE(f.ok()) << f.error().message();
        in_.emplace(std::move(f.value()));
    }
    void TearDown() override {
        in_.reset();
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }

    std::string           model() const { return (dir_ / "model.gguf").string(); }
    std::string           out(const std::string & name = "out.gguf") const { return (dir_ / name).string(); }
    std::set<std::string> files() const {
        std::set<std::string> s;
        for (const auto & e : fs::directory_iterator(dir_)) {
            s.insert(e.path().filename().string());
        }
        return s;
    }

    GgufFile quantize(FileType ft, const QuantizeConfig & cfg, const std::string & name = "out.gguf") {
        const Result<QuantizeSummary> s = quantize_gguf(*in_, out(name), ft, cfg);
        EXPECT_TRUE(s.ok()) << s.error().message();
        Result<GgufFile> f = GgufFile::open(out(name));
        EXPECT_TRUE(f.ok()) << f.error().message();
        return std::move(f.value());
    }

    fs::path                dir_;
    std::optional<GgufFile> in_;
};

std::vector<uint8_t> bytes(const GgufTensor & t) {
    return std::vector<uint8_t>(t.data, t.data + t.nbytes);
}

std::vector<uint8_t> expected(Format f, const std::vector<float> & x, int64_t n_per_row, int64_t nrows,
                              const float * imatrix = nullptr, int search = 0) {
    std::vector<uint8_t> q(size_t(row_size(f, n_per_row) * nrows));
    QuantParams          p;
    p.imatrix      = imatrix;
    p.nvfp4_search = search;
    quantize_matrix(f, x.data(), q.data(), nrows, n_per_row, p, nullptr);
    return q;
}

TEST_F(QuantizerTest, MetadataAndTensorOrderAsLlamaQuantize) {
    const GgufFile           g = quantize(FileType::Q8_0, QuantizeConfig{});
    std::vector<std::string> keys;
    for (const GgufKV & kv : g.metadata()) {
        keys.push_back(kv.key);
    }
    // Input order minus split.*, then the two keys llama-quantize sets (remove + append).
    EXPECT_EQ(keys, (std::vector<std::string>{ "general.architecture", "llama.block_count",
                                               "llama.attention.head_count", "llama.attention.head_count_kv",
                                               "general.name", "general.quantization_version", "general.file_type" }));
    EXPECT_EQ(*g.get_u32("general.quantization_version"), 2u);
    EXPECT_EQ(*g.get_u32("general.file_type"), uint32_t(FileType::Q8_0));
    EXPECT_EQ(g.alignment(), 32u);
    EXPECT_TRUE(g.sequential());

    std::vector<std::string> names;
    for (const GgufTensor & t : g.tensors()) {
        names.push_back(t.name);
    }
    EXPECT_EQ(names, (std::vector<std::string>{ "output.weight", "output_norm.weight", "token_embd.weight",
                                                "blk.0.attn_k.weight", "blk.0.attn_norm.weight", "blk.0.attn_q.weight",
                                                "blk.0.attn_v.weight", "blk.0.ffn_up_exps.weight" }));
    const GgufTensor * q = g.find_tensor("blk.0.attn_q.weight");
    EXPECT_EQ(q->ggml_type, 8u);
    EXPECT_EQ(bytes(*q), expected(Format::Q8_0, values(kTensors[1], 1), 256, 256));
    const GgufTensor * norm = g.find_tensor("blk.0.attn_norm.weight");
    EXPECT_EQ(norm->ggml_type, 0u); // 1-D: copied
    EXPECT_EQ(bytes(*norm), bytes(*in_->find_tensor("blk.0.attn_norm.weight")));
}

TEST_F(QuantizerTest, ExpertSlicesUseTheirImatrixSlice) {
    Imatrix im;
    im.path        = "calib.imatrix";
    im.datasets    = { "calib.txt" };
    im.chunk_count = 7;
    ImatrixEntry e;
    e.n_mat = 4;
    for (int i = 0; i < 4 * 256; ++i) {
        e.mean.push_back(1.0f + float((i * 37) % 101) * (i < 512 ? 0.01f : 10.0f));
    }
    im.entries["blk.0.ffn_up_exps.weight"] = e;
    QuantizeConfig cfg;
    cfg.imatrix      = &im;
    cfg.policy.pure  = true;
    const GgufFile g = quantize(FileType::IQ4_NL, cfg);

    const std::vector<float> x = values(kTensors[5], 5);
    std::vector<uint8_t>     want;
    for (int m = 0; m < 4; ++m) {
        const std::vector<float>   slice(x.begin() + m * 256 * 32, x.begin() + (m + 1) * 256 * 32);
        const std::vector<uint8_t> q = expected(Format::IQ4_NL, slice, 256, 32, e.mean.data() + m * 256);
        want.insert(want.end(), q.begin(), q.end());
    }
    EXPECT_EQ(bytes(*g.find_tensor("blk.0.ffn_up_exps.weight")), want);
    EXPECT_EQ(*g.get_string("quantize.imatrix.file"), "calib.imatrix");
    EXPECT_EQ(*g.get_string("quantize.imatrix.dataset"), "calib.txt");
    EXPECT_EQ(*g.get_u32("quantize.imatrix.entries_count"), 1u);
    EXPECT_EQ(*g.get_u32("quantize.imatrix.chunks_count"), 7u);
}

TEST_F(QuantizerTest, ImatrixOfTheWrongSizeIsAnErrorExceptForTokenEmbd) {
    Imatrix      im;
    ImatrixEntry e;
    e.mean                          = std::vector<float>(100, 1.0f);
    im.entries["token_embd.weight"] = e; // ignored, as llama-quantize does
    QuantizeConfig cfg;
    cfg.imatrix = &im;
    EXPECT_TRUE(quantize_gguf(*in_, out(), FileType::Q8_0, cfg).ok());
    im.entries["blk.0.attn_q.weight"] = e;
    const Result<QuantizeSummary> s   = quantize_gguf(*in_, out("bad.gguf"), FileType::Q8_0, cfg);
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.error().what.find("imatrix size 100 is different from tensor size 256"), std::string::npos)
        << s.error().message();
    EXPECT_FALSE(fs::exists(out("bad.gguf")));
}

TEST_F(QuantizerTest, Nvfp4FileTypeRules) {
    QuantizeConfig cfg; // default search 12
    const GgufFile g = quantize(FileType::NVFP4, cfg);
    EXPECT_EQ(*g.get_u32("general.file_type"), 39u);
    EXPECT_EQ(g.find_tensor("token_embd.weight")->ggml_type, 8u);   // embeddings: Q8_0
    EXPECT_EQ(g.find_tensor("output.weight")->ggml_type, 8u);       // output: Q8_0
    EXPECT_EQ(g.find_tensor("blk.0.attn_k.weight")->ggml_type, 8u); // 96 % 64 != 0: Q8_0 fallback
    EXPECT_EQ(g.find_tensor("blk.0.attn_norm.weight")->ggml_type, 0u);
    EXPECT_EQ(g.find_tensor("blk.0.attn_q.weight")->ggml_type, 40u);
    EXPECT_EQ(g.find_tensor("blk.0.ffn_up_exps.weight")->ggml_type, 40u);
    EXPECT_EQ(bytes(*g.find_tensor("blk.0.attn_q.weight")),
              expected(Format::NVFP4, values(kTensors[1], 1), 256, 256, nullptr, 12));
    // The search changes the bytes; search 0 is ggml's RTN.
    cfg.nvfp4_search   = 0;
    const GgufFile rtn = quantize(FileType::NVFP4, cfg, "rtn.gguf");
    EXPECT_EQ(bytes(*rtn.find_tensor("blk.0.attn_q.weight")),
              expected(Format::NVFP4, values(kTensors[1], 1), 256, 256, nullptr, 0));
    EXPECT_NE(bytes(*rtn.find_tensor("blk.0.attn_q.weight")), bytes(*g.find_tensor("blk.0.attn_q.weight")));
}

TEST_F(QuantizerTest, Nvfp4TensorScaleSideCars) {
    QuantizeConfig cfg;
    cfg.nvfp4_tensor_scale     = 8;
    const GgufFile           g = quantize(FileType::NVFP4, cfg);
    // A side-car only after NVFP4 tensors llama.cpp reads one for (attn_q and attn_v here;
    // ffn_up_exps is a stack of experts, token_embd/output/attn_k are Q8_0), directly after its weight.
    std::vector<std::string> names;
    for (const GgufTensor & t : g.tensors()) {
        names.push_back(t.name);
    }
    const auto q = std::find(names.begin(), names.end(), "blk.0.attn_q.weight");
    ASSERT_NE(q, names.end());
    ASSERT_NE(q + 1, names.end());
    EXPECT_EQ(*(q + 1), "blk.0.attn_q.scale");
    EXPECT_EQ(std::count_if(names.begin(), names.end(),
                            [](const std::string & n) { return n.find(".scale") != std::string::npos; }),
              2);
    EXPECT_NE(g.find_tensor("blk.0.attn_v.scale"), nullptr);
    const GgufTensor * st = g.find_tensor("blk.0.attn_q.scale");
    ASSERT_EQ(st->ggml_type, 0u);
    ASSERT_EQ(st->numel(), 1);
    float scale = 0;
    std::memcpy(&scale, st->data, sizeof scale);
    EXPECT_TRUE(std::isfinite(scale) && scale > 0);

    // The bytes are quantize(x / scale), and the chosen scale is never worse than none by the
    // measure it is chosen by (all candidates include "none").
    const std::vector<float> x = values(kTensors[1], 1);
    std::vector<float>       xs(x.size());
    for (size_t i = 0; i < x.size(); ++i) {
        xs[i] = x[i] / scale;
    }
    EXPECT_EQ(bytes(*g.find_tensor("blk.0.attn_q.weight")), expected(Format::NVFP4, xs, 256, 256, nullptr, 12));
    const std::vector<uint8_t> none = expected(Format::NVFP4, x, 256, 256, nullptr, 12);
    const GgufTensor *         qt   = g.find_tensor("blk.0.attn_q.weight");
    double                     e_s = 0, e_1 = 0;
    const int64_t              rb = row_size(Format::NVFP4, 256);
    for (int64_t r = 0; r < 256; ++r) {
        e_s += nvfp4_weighted_sq_error(xs.data() + r * 256, qt->data + r * rb, 256, nullptr) * double(scale) *
               double(scale);
        e_1 += nvfp4_weighted_sq_error(x.data() + r * 256, none.data() + r * rb, 256, nullptr);
    }
    EXPECT_LE(e_s, e_1 * (1 + 1e-6));
    // Off by default: llama-quantize's layout.
    const GgufFile plain = quantize(FileType::NVFP4, QuantizeConfig{}, "plain.gguf");
    EXPECT_EQ(plain.find_tensor("blk.0.attn_q.scale"), nullptr);
}

TEST_F(QuantizerTest, OutputDoesNotDependOnThreadCount) {
    QuantizeConfig cfg;
    cfg.n_threads = 1;
    quantize(FileType::NVFP4, cfg, "t1.gguf");
    cfg.n_threads = 3;
    quantize(FileType::NVFP4, cfg, "t3.gguf");
    std::ifstream a(out("t1.gguf"), std::ios::binary), b(out("t3.gguf"), std::ios::binary);
    EXPECT_TRUE(std::equal(std::istreambuf_iterator<char>(a), {}, std::istreambuf_iterator<char>(b), {}));
}

TEST_F(QuantizerTest, RequantizeNeedsPermissionAndDequantizesFirst) {
    quantize(FileType::Q8_0, QuantizeConfig{}, "q8.gguf");
    const Result<GgufFile> q8 = GgufFile::open(out("q8.gguf"));
    ASSERT_TRUE(q8.ok());
    QuantizeConfig                cfg;
    const Result<QuantizeSummary> refused = quantize_gguf(*q8, out("q4.gguf"), FileType::Q4_0, cfg);
    ASSERT_FALSE(refused.ok());
    EXPECT_NE(refused.error().what.find("allow-requantize"), std::string::npos) << refused.error().message();
    EXPECT_FALSE(fs::exists(out("q4.gguf")));

    cfg.policy.allow_requantize = true;
    ASSERT_TRUE(quantize_gguf(*q8, out("q4.gguf"), FileType::Q4_0, cfg).ok());
    const Result<GgufFile> q4 = GgufFile::open(out("q4.gguf"));
    ASSERT_TRUE(q4.ok());
    const GgufTensor & src = *q8->find_tensor("blk.0.attn_q.weight");
    std::vector<float> x(256 * 256);
    for (int r = 0; r < 256; ++r) {
        format_info(Format::Q8_0).dequantize_row(src.data + r * row_size(Format::Q8_0, 256), x.data() + r * 256, 256);
    }
    EXPECT_EQ(bytes(*q4->find_tensor("blk.0.attn_q.weight")), expected(Format::Q4_0, x, 256, 256));
}

TEST_F(QuantizerTest, CancellationLeavesNoFile) {
    std::atomic<bool> cancel{ false };
    QuantizeConfig    cfg;
    cfg.cancel      = &cancel;
    int calls       = 0;
    cfg.on_progress = [&](const QuantizeProgress & p) {
        ++calls;
        EXPECT_LE(p.bytes_done, p.bytes_total);
        if (p.tensor_done && p.tensor == 2) {
            cancel = true;
        }
    };
    const Result<QuantizeSummary> s = quantize_gguf(*in_, out(), FileType::Q4_K_M, cfg);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().what, "cancelled");
    EXPECT_EQ(calls, 3);
    EXPECT_EQ(files(), std::set<std::string>{ "model.gguf" });
}

TEST_F(QuantizerTest, OutputMayNotBeTheInput) {
    const Result<QuantizeSummary> s = quantize_gguf(*in_, model(), FileType::Q8_0, QuantizeConfig{});
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.error().what.find("the output is the input"), std::string::npos);
    EXPECT_TRUE(check_output_path(model(), (dir_ / "." / "model.gguf").string()).has_value());
    fs::create_symlink(model(), dir_ / "link.gguf");
    EXPECT_TRUE(check_output_path(model(), out("link.gguf")).has_value());
    EXPECT_FALSE(check_output_path(model(), out("new.gguf")).has_value());
    EXPECT_TRUE(check_output_path(model(), dir_.string()).has_value()); // a folder
}

TEST_F(QuantizerTest, DryRunPlanMatchesTheWrittenFile) {
    const Result<GgufQuantPlan> p = plan_gguf_quantization(*in_, FileType::Q4_K_M, QuantizeConfig{});
    ASSERT_TRUE(p.ok()) << p.error().message();
    EXPECT_TRUE(p->plan.ok()) << format_gguf_plan(*p);
    const QuantizeSummary planned = summarize(*p);
    const GgufFile        g       = quantize(FileType::Q4_K_M, QuantizeConfig{});
    uint64_t              total   = 0;
    for (size_t i = 0; i < g.tensors().size(); ++i) {
        EXPECT_EQ(g.tensors()[i].ggml_type, p->out_ggml_type[i]) << g.tensors()[i].name;
        total += g.tensors()[i].nbytes;
    }
    EXPECT_EQ(planned.bytes_out, total);
    EXPECT_EQ(planned.n_tensors, 8);
    const std::string text = format_gguf_plan(*p);
    EXPECT_NE(text.find("blk.0.attn_k.weight"), std::string::npos);
    EXPECT_NE(text.find("fallback"), std::string::npos) << text; // 96 columns: q4_K -> q5_0 -> ...
}

TEST_F(QuantizerTest, NonFiniteInputIsAnErrorWithItsPosition) {
    // Rewrite the model with a NaN in attn_v (row 3, column 5).
    GgufWriter w;
    ASSERT_TRUE(w.add_string("general.architecture", "llama").ok());
    const std::vector<int64_t> ne = { 256, 8 };
    ASSERT_TRUE(w.add_tensor("blk.0.attn_v.weight", Format::F32, ne).ok());
    std::vector<float> x(256 * 8, 0.5f);
    x[3 * 256 + 5] = INFINITY;
    ASSERT_TRUE(w.begin(out("inf.gguf")).ok());
    ASSERT_TRUE(w.write_tensor_data(0, x.data(), x.size() * 4).ok());
    ASSERT_TRUE(w.commit().ok());
    const Result<GgufFile> f = GgufFile::open(out("inf.gguf"));
    ASSERT_TRUE(f.ok());
    const Result<QuantizeSummary> s = quantize_gguf(*f, out("q.gguf"), FileType::Q8_0, QuantizeConfig{});
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.error().what.find("row 3, column 5"), std::string::npos) << s.error().message();
    EXPECT_FALSE(fs::exists(out("q.gguf")));
    EXPECT_EQ(files(), (std::set<std::string>{ "model.gguf", "inf.gguf" }));
}

TEST_F(QuantizerTest, SplitInputsAreRefused) {
    GgufWriter w;
    ASSERT_TRUE(w.add<uint16_t>("split.count", 3).ok());
    ASSERT_TRUE(w.begin(out("split.gguf")).ok());
    ASSERT_TRUE(w.commit().ok());
    const Result<GgufFile> f = GgufFile::open(out("split.gguf"));
    ASSERT_TRUE(f.ok());
    const Result<QuantizeSummary> s = quantize_gguf(*f, out("q.gguf"), FileType::Q8_0, QuantizeConfig{});
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.error().what.find("split"), std::string::npos);
}

} // namespace
} // namespace nibble
