// The CPU inference engine (src/runtime/session.h, src/backend/cpu): matmul fast paths against the
// scalar oracle for every weight format, the oracle against a double-precision dequantized product,
// batch-vs-sequential and thread-count determinism of whole-model logits, and greedy decoding against
// llama.cpp's tokens (tests/data/forward). Model tests skip when ../shared (NIBBLE_SHARED_DIR) is absent.
#include "backend/cpu/formats/vec_dot.h"
#include "backend/cpu/matmul.h"
#include "backend/cpu/ops.h"
#include "formats/format_table.h"
#include "formats/quantize.h"
#include "model/tokenizer/tokenizer.h"
#include "runtime/session.h"
#include "unit/test_paths.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using namespace nibble;

using namespace nibble::test;

namespace {

// Fast kernels differ from the oracle only in the fp32 order of summing per-block terms: bound
// relative to Σ|w_i x_i| (a few ulp of the largest partial sum over <= 64 blocks).
constexpr double kFastVsRefTol    = 2e-6;
// The oracle against Σ dequant(w) * dequant(a) in double: the same terms, only fp32 rounding of the
// per-block scale products and of the running sum.
constexpr double kRefVsDequantTol = 2e-6;
// Batch vs token-by-token logits: the kernels are the same per row, so the rows are bit-identical;
// the bound only documents "fp32 tolerance" as promised by session.h.
constexpr float  kBatchVsSeqTol   = 1e-5f;

fs::path model_path(const std::string & rel) {
    const fs::path dir = shared_dir();
    if (dir.empty() || !fs::exists(dir / rel)) {
        return {};
    }
    return dir / rel;
}

const char * kF16Model  = "models/tinystories-656k-gguf/TinyStories-656K.f16.gguf";
const char * kQ4_0Model = "golden/llama-quantize/656k.Q4_0.gguf";
const char * kQ4KMModel = "golden/llama-quantize/synth256.Q4_K_M.gguf"; // K-quants (256-wide rows)

std::vector<float> random_floats(size_t n, uint32_t seed, float scale) {
    std::mt19937                    rng(seed);
    std::normal_distribution<float> dist(0.0f, scale);
    std::vector<float>              v(n);
    for (float & x : v) {
        x = dist(rng);
    }
    return v;
}

// One activation row of format a back to floats (what the integer kernels effectively multiply).
std::vector<float> dequant_act(cpu::ActFormat a, const uint8_t * p, int64_t n) {
    std::vector<float> out(static_cast<size_t>(n));
    switch (a) {
        case cpu::ActFormat::F32:
            std::memcpy(out.data(), p, size_t(n) * 4);
            break;
        case cpu::ActFormat::F16:
            format_info(Format::F16).dequantize_row(p, out.data(), n);
            break;
        case cpu::ActFormat::BF16:
            format_info(Format::BF16).dequantize_row(p, out.data(), n);
            break;
        case cpu::ActFormat::Q8_0:
            format_info(Format::Q8_0).dequantize_row(p, out.data(), n);
            break;
        case cpu::ActFormat::Q8_K:
            format_info(Format::Q8_K).dequantize_row(p, out.data(), n);
            break;
        case cpu::ActFormat::Q8_1: {
            const cpu::BlockQ8_1 * b = reinterpret_cast<const cpu::BlockQ8_1 *>(p);
            for (int64_t i = 0; i < n; ++i) {
                out[size_t(i)] = fp16_to_fp32(b[i / 32].d) * b[i / 32].qs[i % 32];
            }
            break;
        }
    }
    return out;
}

struct Logits {
    std::vector<float> v;
    int64_t            n_vocab = 0;
};

// Logits of every position of `tokens`, fed in batches of `batch` tokens.
Logits eval_all(const Model & m, const std::vector<int32_t> & tokens, int64_t batch, int threads) {
    Session s(m, 256, threads);
    Logits  out;
    out.n_vocab = m.info().n_vocab;
    out.v.resize(tokens.size() * size_t(out.n_vocab));
    for (size_t pos = 0; pos < tokens.size(); pos += size_t(batch)) {
        const size_t n = std::min(size_t(batch), tokens.size() - pos);
        auto         r = s.eval({ tokens.data() + pos, n }, out.v.data() + pos * size_t(out.n_vocab), 0);
        EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message());
    }
    return out;
}

std::vector<int32_t> test_tokens(int64_t n_vocab) {
    std::vector<int32_t> t = { 1 };
    std::mt19937         rng(7);
    while (t.size() < 16) {
        t.push_back(int32_t(rng() % uint32_t(n_vocab - 3)) + 3);
    }
    return t;
}

std::map<std::string, std::vector<int32_t>> read_greedy_data() {
    std::map<std::string, std::vector<int32_t>> out;
    std::ifstream in(fs::path(__FILE__).parent_path().parent_path() / "data/forward/tinystories-656k-greedy.txt");
    if (!in) {
        in.open("tests/data/forward/tinystories-656k-greedy.txt");
    }
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#') {
            continue;
        }
        std::istringstream ls(line);
        std::string        key;
        ls >> key;
        int32_t id;
        while (ls >> id) {
            out[key].push_back(id);
        }
    }
    return out;
}

} // namespace

// (c) Every weight format: AVX2 (where there is one) against the scalar oracle, and the oracle
// against the double-precision product of the dequantized operands.
TEST(CpuMatmul, FastMatchesReferenceForEveryFormat) {
    const int64_t n_in = 512, n_out = 24, m = 3;
    for (const FormatInfo & fi : kFormats) {
        cpu::ActFormat act;
        if (!cpu::vec_dot_type(fi.format, &act)) {
            continue;
        }
        SCOPED_TRACE(fi.name);
        std::vector<float> w       = random_floats(size_t(n_in * n_out), 1 + uint32_t(fi.format), 0.05f);
        w[7]                       = 0.9f; // an outlier, as real weights have
        const std::vector<float> x = random_floats(size_t(n_in * m), 99, 1.0f);
        std::vector<uint8_t>     q(size_t(row_size(fi.format, n_in) * n_out));
        quantize_matrix(fi.format, w.data(), q.data(), n_out, n_in, QuantParams{}, nullptr);
        const cpu::WeightView wv{ fi.format, q.data(), n_in, n_out };

        std::vector<float> y_fast(size_t(m * n_out)), y_ref(size_t(m * n_out));
        cpu::MatmulScratch scratch;
        ThreadPool         pool(2);
        cpu::matmul(wv, x.data(), m, y_fast.data(), n_out, &pool, scratch, cpu::MatmulPath::Fast);
        cpu::matmul(wv, x.data(), m, y_ref.data(), n_out, nullptr, scratch, cpu::MatmulPath::Reference);

        std::vector<float>   wd(static_cast<size_t>(n_in));
        std::vector<uint8_t> a(size_t(cpu::act_row_size(act, n_in)));
        for (int64_t t = 0; t < m; ++t) {
            cpu::quantize_act_row(act, x.data() + t * n_in, a.data(), n_in);
            const std::vector<float> ad = dequant_act(act, a.data(), n_in);
            for (int64_t r = 0; r < n_out; ++r) {
                fi.dequantize_row(q.data() + r * row_size(fi.format, n_in), wd.data(), n_in);
                double exact = 0, mag = 0, wmax = 0, asum = 0;
                for (int64_t i = 0; i < n_in; ++i) {
                    exact += double(wd[size_t(i)]) * double(ad[size_t(i)]);
                    mag += std::fabs(double(wd[size_t(i)]) * double(ad[size_t(i)]));
                    wmax = std::max(wmax, std::fabs(double(wd[size_t(i)])));
                    asum += std::fabs(double(ad[size_t(i)]));
                }
                // Q8_1 carries s = fp16(d * Σq) for the weight's min term (ggml's design), which is not
                // the sum of the dequantized activations: up to 2^-11 relative per block, |min| <= max|w|.
                const double s_err = act == cpu::ActFormat::Q8_1 ? std::ldexp(wmax * asum, -11) : 0.0;
                const double ref   = y_ref[size_t(t * n_out + r)];
                const double fast  = y_fast[size_t(t * n_out + r)];
                EXPECT_NEAR(ref, exact, kRefVsDequantTol * mag + s_err + 1e-30) << "row " << r << " act row " << t;
                EXPECT_NEAR(fast, ref, kFastVsRefTol * mag + 1e-30) << "row " << r << " act row " << t;
            }
        }
    }
}

TEST(CpuOps, AttentionFastMatchesReference) {
    for (int64_t hd : { 16, 64, 128, 24 }) {
        const int64_t            n_kv = 37, stride = 3 * hd;
        const std::vector<float> q  = random_floats(size_t(hd), 5, 1.0f);
        const std::vector<float> kf = random_floats(size_t(n_kv * stride), 6, 1.0f);
        const std::vector<float> vf = random_floats(size_t(n_kv * stride), 8, 1.0f);
        std::vector<half_bits>   k(kf.size()), v(vf.size());
        for (size_t i = 0; i < kf.size(); ++i) {
            k[i] = fp32_to_fp16(kf[i]);
            v[i] = fp32_to_fp16(vf[i]);
        }
        std::vector<float> o_ref(static_cast<size_t>(hd)), o_fast(o_ref.size()), scratch(static_cast<size_t>(n_kv));
        const float        scale = 1.0f / std::sqrt(float(hd));
        cpu::attention_head_ref(q.data(), k.data() + hd, v.data() + hd, stride, n_kv, hd, scale, o_ref.data(),
                                scratch.data());
        cpu::attention_head_fast()(q.data(), k.data() + hd, v.data() + hd, stride, n_kv, hd, scale, o_fast.data(),
                                   scratch.data());
        for (int64_t d = 0; d < hd; ++d) {
            EXPECT_NEAR(o_fast[size_t(d)], o_ref[size_t(d)], 1e-5f) << "head_dim " << hd << " d " << d;
        }
    }
}

// (a) Logits of a 16-token batch equal token-by-token logits (and a 5 + 11 split).
TEST(CpuForward, BatchMatchesSequential) {
    for (const char * rel : { kF16Model, kQ4_0Model, kQ4KMModel }) {
        const fs::path p = model_path(rel);
        if (p.empty()) {
            GTEST_SKIP() << rel << " not found (set NIBBLE_SHARED_DIR)";
        }
        SCOPED_TRACE(rel);
        Result<Model> m = Model::load(p.string());
        ASSERT_TRUE(m.ok()) << m.error().message();
        const std::vector<int32_t> tokens = test_tokens(m->info().n_vocab);
        const Logits               batch  = eval_all(*m, tokens, 16, 2);
        for (int64_t step : { 1, 5 }) {
            const Logits seq      = eval_all(*m, tokens, step, 2);
            float        max_diff = 0, max_abs = 0;
            for (size_t i = 0; i < batch.v.size(); ++i) {
                max_diff = std::max(max_diff, std::fabs(batch.v[i] - seq.v[i]));
                max_abs  = std::max(max_abs, std::fabs(batch.v[i]));
            }
            EXPECT_LE(max_diff, kBatchVsSeqTol * max_abs) << "step " << step;
        }
    }
}

// (b) 1, 2 and 3 threads give byte-identical logits.
TEST(CpuForward, ThreadCountDeterminism) {
    for (const char * rel : { kF16Model, kQ4KMModel }) {
        const fs::path p = model_path(rel);
        if (p.empty()) {
            GTEST_SKIP() << rel << " not found (set NIBBLE_SHARED_DIR)";
        }
        Result<Model> m = Model::load(p.string());
        ASSERT_TRUE(m.ok()) << m.error().message();
        const std::vector<int32_t> tokens = test_tokens(m->info().n_vocab);
        const Logits               one    = eval_all(*m, tokens, 16, 1);
        for (int threads : { 2, 3 }) {
            const Logits other = eval_all(*m, tokens, 16, threads);
            EXPECT_EQ(0, std::memcmp(one.v.data(), other.v.data(), one.v.size() * sizeof(float)))
                << rel << ": " << threads << " threads";
        }
    }
}

// (d) Greedy decoding reproduces llama.cpp's tokens (tests/data/forward/tinystories-656k-greedy.txt).
TEST(CpuForward, GreedyMatchesLlamaCpp) {
    const auto data = read_greedy_data();
    ASSERT_TRUE(data.count("prompt") && data.count("f16") && data.count("q4_0"));
    for (auto [rel, key] : { std::pair{ kF16Model, "f16" }, std::pair{ kQ4_0Model, "q4_0" } }) {
        const fs::path p = model_path(rel);
        if (p.empty()) {
            GTEST_SKIP() << rel << " not found (set NIBBLE_SHARED_DIR)";
        }
        Result<Model> m = Model::load(p.string());
        ASSERT_TRUE(m.ok()) << m.error().message();
        const std::vector<int32_t> & prompt = data.at("prompt");
        const std::vector<int32_t> & want   = data.at(key);
        Session                      s(*m, 128, 2);
        std::vector<float>           logits(static_cast<size_t>(m->info().n_vocab));
        ASSERT_TRUE(s.eval(prompt, logits.data(), int64_t(prompt.size()) - 1).ok());
        std::vector<int32_t> got;
        while (got.size() < want.size()) {
            const int32_t id = int32_t(std::max_element(logits.begin(), logits.end()) - logits.begin());
            got.push_back(id);
            ASSERT_TRUE(s.eval({ &id, 1 }, logits.data(), 0).ok());
        }
        EXPECT_EQ(got, want) << key;
        if (Result<Tokenizer> tok = Tokenizer::from_gguf(m->gguf()); tok.ok() && std::string(key) == "f16") {
            EXPECT_EQ(tok->encode("Once upon a time", true, false), prompt);
            const std::string text = tok->decode(got);
            EXPECT_EQ(text.rfind(", a little girl named Lily lived in a small house with her mom, dad,", 0), 0u)
                << text;
        }
    }
}

TEST(CpuForward, LoadErrorsNameFileAndTensor) {
    Result<Model> missing = Model::load("/nonexistent/model.gguf");
    EXPECT_FALSE(missing.ok());
    const fs::path p = model_path(kF16Model);
    if (p.empty()) {
        GTEST_SKIP();
    }
    Result<Model> m = Model::load(p.string());
    ASSERT_TRUE(m.ok());
    EXPECT_EQ(m->info().arch, "llama");
    EXPECT_EQ(m->info().n_layer, 2);
    Session            s(*m, 8, 1);
    std::vector<float> logits(size_t(m->info().n_vocab) * 9);
    const int32_t      bad[] = { 1, int32_t(m->info().n_vocab) };
    EXPECT_FALSE(s.eval(bad, logits.data(), 0).ok());
    EXPECT_EQ(s.n_past(), 0);
    std::vector<int32_t> nine(9, 1);
    EXPECT_FALSE(s.eval(nine, logits.data(), 0).ok()); // context full
    EXPECT_EQ(s.n_past(), 0);
}
