// KL-divergence (src/runtime/kld.h): the `_logits_` file layout byte by byte, its validation, the
// log-prob encoding, and the statistics against a straightforward double-precision implementation
// written here independently. The report layout is checked against llama-perplexity's golden output
// (../shared/golden/llama-perplexity/kld-Q4_0-vs-F16.txt, skipped when absent).
#include "runtime/kld.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace nibble {
namespace {

namespace fs = std::filesystem;

// The 16-bit code of a log-prob has a step of (range / 65535); range <= 16 nats.
constexpr double kCodeStep = 16.0 / 65535.0;

class KldTest : public ::testing::Test {
  protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() / ("nibble-kld-" + std::to_string(::getpid()));
        fs::create_directories(dir_);
    }
    void TearDown() override {
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }
    std::string path(const std::string & name) const { return (dir_ / name).string(); }
    fs::path    dir_;
};

std::vector<float> random_logits(std::mt19937 & rng, int64_t n, float spread) {
    std::normal_distribution<float> d(0.0f, spread);
    std::vector<float>              v(static_cast<size_t>(n));
    for (float & x : v) {
        x = d(rng);
    }
    return v;
}

// Reference log-softmax in double.
std::vector<double> log_softmax_ref(const std::vector<float> & l) {
    const double mx  = *std::max_element(l.begin(), l.end());
    double       sum = 0;
    for (float x : l) {
        sum += std::exp(double(x) - mx);
    }
    std::vector<double> out(l.size());
    for (size_t i = 0; i < l.size(); ++i) {
        out[i] = double(l[i]) - mx - std::log(sum);
    }
    return out;
}

std::vector<uint8_t> read_all(const std::string & p) {
    std::ifstream in(p, std::ios::binary);
    return { std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>() };
}

template <class T> T get(const std::vector<uint8_t> & b, size_t at) {
    T v;
    std::memcpy(&v, b.data() + at, sizeof v);
    return v;
}

TEST(KldRecord, LengthIsEvenPlusFour) {
    EXPECT_EQ(kld_record_len(1), 6);
    EXPECT_EQ(kld_record_len(2), 6);
    EXPECT_EQ(kld_record_len(3), 8);
    EXPECT_EQ(kld_record_len(32000), 32004);
    EXPECT_EQ(kld_record_len(49153), 49158);
}

TEST(KldRecord, EncodesLogSoftmaxWithinOneCodeStep) {
    std::mt19937 rng(7);
    for (int64_t n_vocab : { 5, 64, 1001 }) {
        const std::vector<float>  l   = random_logits(rng, n_vocab, 4.0f);
        const std::vector<double> ref = log_softmax_ref(l);
        std::vector<uint16_t>     rec(size_t(kld_record_len(n_vocab)), 0xffff);
        const int32_t             tok = int32_t(n_vocab / 2);
        const double              nll = encode_log_probs(n_vocab, l.data(), rec.data(), tok);
        const double              mx  = *std::max_element(ref.begin(), ref.end());
        EXPECT_NEAR(nll, -ref[size_t(tok)], 1e-5);
        for (int64_t i = 0; i < n_vocab; ++i) {
            if (ref[size_t(i)] > mx - 16.0) {
                EXPECT_NEAR(decode_log_prob(rec.data(), i), ref[size_t(i)], kCodeStep) << i;
            } else {
                EXPECT_EQ(rec[size_t(4 + i)], 0) << i; // below the 16-nat window: code 0
            }
        }
        for (int64_t i = 4 + n_vocab; i < kld_record_len(n_vocab); ++i) {
            EXPECT_EQ(rec[size_t(i)], 0) << "padding";
        }
    }
}

TEST(KldRecord, FlatLogitsHaveZeroScale) {
    std::vector<float>    l(10, 1.5f);
    std::vector<uint16_t> rec(size_t(kld_record_len(10)), 7);
    const double          nll = encode_log_probs(10, l.data(), rec.data(), 3);
    EXPECT_NEAR(nll, std::log(10.0), 1e-6);
    EXPECT_NEAR(decode_log_prob(rec.data(), 3), -std::log(10.0), 1e-6);
    for (int i = 0; i < 10; ++i) {
        EXPECT_EQ(rec[size_t(4 + i)], 0);
    }
}

TEST_F(KldTest, FileLayoutIsLlamaPerplexitys) {
    LogitsFileHeader h;
    h.n_ctx   = 8;
    h.n_vocab = 5;
    h.n_chunk = 2;
    for (int i = 0; i < 16; ++i) {
        h.tokens.push_back(i % 5);
    }
    const int64_t         len = kld_record_len(5); // 10
    std::vector<uint16_t> chunk(size_t(h.n_scored() * len));
    ASSERT_EQ(h.n_scored(), 3);
    {
        LogitsFileWriter w;
        ASSERT_TRUE(LogitsFileWriter::open(w, path("a.kld"), h));
        for (int c = 0; c < 2; ++c) {
            for (size_t i = 0; i < chunk.size(); ++i) {
                chunk[i] = uint16_t(c * 1000 + i);
            }
            ASSERT_TRUE(w.write_chunk(chunk));
        }
        EXPECT_FALSE(fs::exists(path("a.kld"))) << "written to a temporary until commit";
        ASSERT_TRUE(w.commit());
    }
    const std::vector<uint8_t> b = read_all(path("a.kld"));
    ASSERT_EQ(b.size(), size_t(8 + 12 + 16 * 4 + 2 * 3 * len * 2));
    EXPECT_EQ(std::string(b.begin(), b.begin() + 8), "_logits_");
    EXPECT_EQ(get<int32_t>(b, 8), 8);
    EXPECT_EQ(get<int32_t>(b, 12), 5);
    EXPECT_EQ(get<int32_t>(b, 16), 2);
    for (int i = 0; i < 16; ++i) {
        EXPECT_EQ(get<int32_t>(b, size_t(20 + 4 * i)), i % 5);
    }
    EXPECT_EQ(get<uint16_t>(b, 84), 0);
    EXPECT_EQ(get<uint16_t>(b, 84 + 2 * size_t(3 * len)), 1000);

    LogitsFileReader r;
    ASSERT_TRUE(LogitsFileReader::open(r, path("a.kld")));
    EXPECT_EQ(r.header().n_ctx, 8);
    EXPECT_EQ(r.header().n_vocab, 5);
    EXPECT_EQ(r.header().n_chunk, 2);
    EXPECT_EQ(r.header().tokens, h.tokens);
    std::vector<uint16_t> got;
    // Record scale/min_log_prob words are arbitrary here; validation only rejects non-finite floats.
    Result<bool>          c0 = r.read_chunk(got);
    ASSERT_TRUE(c0) << c0.error().message();
    EXPECT_EQ(got[5], 5);
    ASSERT_TRUE(r.read_chunk(got));
    EXPECT_EQ(got[0], 1000);
    Result<bool> c2 = r.read_chunk(got);
    ASSERT_FALSE(c2);
}

TEST_F(KldTest, ReaderErrorsNameFileAndOffset) {
    auto write = [&](const std::string & name, const std::vector<uint8_t> & b) {
        std::ofstream(path(name), std::ios::binary)
            .write(reinterpret_cast<const char *>(b.data()), std::streamsize(b.size()));
        return path(name);
    };
    auto header = [](int32_t n_ctx, int32_t n_vocab, int32_t n_chunk) {
        std::vector<uint8_t> b = { '_', 'l', 'o', 'g', 'i', 't', 's', '_' };
        for (int32_t v : { n_ctx, n_vocab, n_chunk }) {
            const auto * p = reinterpret_cast<const uint8_t *>(&v);
            b.insert(b.end(), p, p + 4);
        }
        return b;
    };
    LogitsFileReader r1;
    Result<bool>     e1 = LogitsFileReader::open(r1, write("magic", { 'G', 'G', 'U', 'F', 0, 0, 0, 0, 0, 0 }));
    ASSERT_FALSE(e1);
    EXPECT_NE(e1.error().message().find("_logits_"), std::string::npos);

    LogitsFileReader r2;
    Result<bool>     e2 = LogitsFileReader::open(r2, write("short", header(8, 5, 2))); // no tokens, no records
    ASSERT_FALSE(e2);
    EXPECT_NE(e2.error().message().find("short: offset 20: file size 20 does not match"), std::string::npos)
        << e2.error().message();

    std::vector<uint8_t> bad = header(8, 5, 1);
    for (int i = 0; i < 8; ++i) {
        const int32_t t = i == 3 ? 9 : 1;
        const auto *  p = reinterpret_cast<const uint8_t *>(&t);
        bad.insert(bad.end(), p, p + 4);
    }
    bad.resize(bad.size() + size_t(3 * kld_record_len(5) * 2), 0);
    LogitsFileReader r3;
    Result<bool>     e3 = LogitsFileReader::open(r3, write("tok", bad));
    ASSERT_FALSE(e3);
    EXPECT_NE(e3.error().message().find("offset 32: token 9 out of range"), std::string::npos) << e3.error().message();

    LogitsFileReader r4;
    EXPECT_FALSE(LogitsFileReader::open(r4, path("does-not-exist")));
}

// Independent straightforward statistics: per token, in double, from the decoded base record.
struct RefToken {
    double kld, nll, nll_base, p_diff;
    bool   same_top;
};

RefToken reference_token(const std::vector<float> & q_logits, const uint16_t * rec, int64_t n_vocab, int32_t tok) {
    const std::vector<double> lq = log_softmax_ref(q_logits);
    RefToken                  t{};
    int64_t                   top_q = 0, top_b = 0;
    for (int64_t i = 0; i < n_vocab; ++i) {
        const double lb = decode_log_prob(rec, i);
        if (lb > -16.0) {
            t.kld += std::exp(lb) * (lb - lq[size_t(i)]);
        }
        top_q = lq[size_t(i)] > lq[size_t(top_q)] ? i : top_q;
        top_b = lb > decode_log_prob(rec, top_b) ? i : top_b;
    }
    t.nll      = -lq[size_t(tok)];
    t.nll_base = -decode_log_prob(rec, tok);
    t.p_diff   = std::exp(-t.nll) - std::exp(-t.nll_base);
    t.same_top = top_q == top_b;
    return t;
}

double mean(const std::vector<double> & v) {
    double s = 0;
    for (double x : v) {
        s += x;
    }
    return s / double(v.size());
}

double std_err(const std::vector<double> & v) {
    const double m  = mean(v);
    double       ss = 0;
    for (double x : v) {
        ss += (x - m) * (x - m);
    }
    return std::sqrt(ss / double(v.size()) / double(v.size() - 1));
}

double percentile_ref(std::vector<double> v, double f) {
    std::sort(v.begin(), v.end());
    const double pos = f * double(v.size() - 1);
    const size_t i   = size_t(pos);
    const double w   = pos - double(i);
    return (1 - w) * v[i] + w * v[std::min(i + 1, v.size() - 1)];
}

TEST(KldStats, MatchIndependentImplementation) {
    std::mt19937                       rng(42);
    const int64_t                      n_vocab = 301, n_tok = 500;
    std::vector<uint16_t>              rec(size_t(kld_record_len(n_vocab)));
    KldSums                            sums;
    std::vector<float>                 kv, pv;
    std::vector<double>                r_kld, r_nll, r_nll_base, r_pdiff;
    int                                r_same = 0;
    std::normal_distribution<float>    noise(0.0f, 0.3f);
    std::uniform_int_distribution<int> pick(0, int(n_vocab) - 1);
    for (int64_t t = 0; t < n_tok; ++t) {
        const std::vector<float> base = random_logits(rng, n_vocab, 3.0f);
        std::vector<float>       q    = base;
        for (float & x : q) {
            x += noise(rng);
        }
        const int32_t tok = pick(rng);
        encode_log_probs(n_vocab, base.data(), rec.data(), tok);
        const KldToken k = kld_token(n_vocab, q.data(), rec.data(), tok, sums);
        kv.push_back(float(k.kld));
        pv.push_back(k.p_diff);
        const RefToken r = reference_token(q, rec.data(), n_vocab, tok);
        EXPECT_NEAR(k.kld, r.kld, 1e-5 + 1e-4 * r.kld);
        EXPECT_NEAR(k.p_diff, r.p_diff, 1e-5);
        r_kld.push_back(r.kld);
        r_nll.push_back(r.nll);
        r_nll_base.push_back(r.nll_base);
        r_pdiff.push_back(r.p_diff);
        r_same += r.same_top ? 1 : 0;
    }
    ASSERT_EQ(sums.count, uint64_t(n_tok));
    EXPECT_EQ(sums.n_same_top, uint64_t(r_same));
    const KldStats st = kld_statistics(sums, kv, pv);

    const double ppl = std::exp(mean(r_nll)), ppl_base = std::exp(mean(r_nll_base));
    EXPECT_NEAR(st.ppl.mean, ppl, 1e-5 * ppl);
    EXPECT_NEAR(st.ppl.err, ppl * std_err(r_nll), 1e-4 * ppl);
    EXPECT_NEAR(st.ppl_base.mean, ppl_base, 1e-5 * ppl_base);
    // Correlation and the ratio's error through the covariance of the per-token NLLs.
    double cov = 0;
    for (size_t i = 0; i < r_nll.size(); ++i) {
        cov += (r_nll[i] - mean(r_nll)) * (r_nll_base[i] - mean(r_nll_base));
    }
    cov /= double(n_tok) * double(n_tok - 1);
    EXPECT_NEAR(st.cor, cov / (std_err(r_nll) * std_err(r_nll_base)), 1e-4);
    const double diff_err =
        std::sqrt(std_err(r_nll) * std_err(r_nll) + std_err(r_nll_base) * std_err(r_nll_base) - 2 * cov);
    EXPECT_NEAR(st.log_ratio.mean, mean(r_nll) - mean(r_nll_base), 1e-5);
    EXPECT_NEAR(st.log_ratio.err, diff_err, 1e-5);
    EXPECT_NEAR(st.ratio.mean, std::exp(mean(r_nll) - mean(r_nll_base)), 1e-5);

    EXPECT_NEAR(st.kld.mean, mean(r_kld), 1e-5);
    EXPECT_NEAR(st.kld.err, std_err(r_kld), 1e-5);
    EXPECT_NEAR(st.kld_max, *std::max_element(r_kld.begin(), r_kld.end()), 1e-4);
    EXPECT_NEAR(st.kld_min, *std::min_element(r_kld.begin(), r_kld.end()), 1e-4);
    EXPECT_NEAR(st.kld_median, percentile_ref(r_kld, 0.5), 1e-4);
    EXPECT_NEAR(st.kld_99, percentile_ref(r_kld, 0.99), 1e-4);
    EXPECT_NEAR(st.kld_01, percentile_ref(r_kld, 0.001), 1e-4);

    EXPECT_NEAR(st.p_diff.mean, mean(r_pdiff), 1e-5);
    EXPECT_NEAR(st.p_diff.err, std_err(r_pdiff), 1e-5);
    EXPECT_NEAR(st.dp_75, percentile_ref(r_pdiff, 0.75), 1e-5);
    EXPECT_NEAR(st.dp_10, percentile_ref(r_pdiff, 0.10), 1e-5);
    double ss = 0;
    for (double d : r_pdiff) {
        ss += d * d;
    }
    EXPECT_NEAR(st.rms_p_diff.mean, std::sqrt(ss / double(n_tok)), 1e-5);
    const double top = double(r_same) / double(n_tok);
    EXPECT_NEAR(st.same_top.mean, top, 1e-12);
    EXPECT_NEAR(st.same_top.err, std::sqrt(top * (1 - top) / double(n_tok - 1)), 1e-12);
}

TEST(KldStats, IdenticalModelHasZeroDivergence) {
    std::mt19937          rng(3);
    const int64_t         n_vocab = 97;
    std::vector<uint16_t> rec(size_t(kld_record_len(n_vocab)));
    KldSums               sums;
    std::vector<float>    kv, pv;
    for (int t = 0; t < 200; ++t) {
        const std::vector<float> l = random_logits(rng, n_vocab, 2.0f);
        encode_log_probs(n_vocab, l.data(), rec.data(), t % 97);
        const KldToken k = kld_token(n_vocab, l.data(), rec.data(), t % 97, sums);
        kv.push_back(float(k.kld));
        pv.push_back(k.p_diff);
    }
    const KldStats st = kld_statistics(sums, kv, pv);
    EXPECT_LT(std::fabs(st.kld.mean), 1e-6);
    EXPECT_LT(std::fabs(st.log_ratio.mean), 1e-5);
    EXPECT_DOUBLE_EQ(st.same_top.mean, 1.0);
    EXPECT_GT(st.cor, 0.9999);
}

TEST(KldStats, PercentileInterpolatesLinearly) {
    const std::vector<float> v = { 0.0f, 1.0f, 2.0f, 10.0f };
    EXPECT_FLOAT_EQ(kld_percentile(v, 0.0f), 0.0f);
    EXPECT_FLOAT_EQ(kld_percentile(v, 1.0f), 10.0f);
    EXPECT_FLOAT_EQ(kld_percentile(v, 0.5f), 1.5f);
    EXPECT_NEAR(kld_percentile(v, 0.9f), 2.0f + 0.7f * 8.0f, 1e-5);
    const MeanErr few = mean_and_uncertainty(10.0, 30.0, 5); // count <= 10: no uncertainty
    EXPECT_DOUBLE_EQ(few.mean, 2.0);
    EXPECT_DOUBLE_EQ(few.err, 0.0);
}

// The report reproduces llama-perplexity's layout: fed the golden numbers, it prints the golden text.
TEST(KldReport, LayoutMatchesLlamaPerplexity) {
    std::string golden_path;
    for (const char * rel : { "../shared", "../../shared" }) {
        const char *   env  = std::getenv("NIBBLE_SHARED_DIR");
        const fs::path root = env != nullptr && *env != '\0' ? fs::path(env) : fs::path(rel);
        const fs::path p    = root / "golden" / "llama-perplexity" / "kld-Q4_0-vs-F16.txt";
        if (fs::exists(p)) {
            golden_path = p.string();
            break;
        }
    }
    if (golden_path.empty()) {
        GTEST_SKIP() << "golden llama-perplexity output not found (set NIBBLE_SHARED_DIR)";
    }
    std::ifstream     in(golden_path);
    std::stringstream ss;
    ss << in.rdbuf();
    KldStats st;
    st.ppl             = { 1296.717504, 56.753021 };
    st.ppl_base        = { 1290.101308, 56.172701 };
    st.cor             = 0.9911;
    st.log_ratio       = { 0.005115, 0.005837 };
    st.ratio           = { 1.005128, 0.005867 };
    st.diff            = { 6.616196, 7.566737 };
    st.kld             = { 0.072059, 0.000828 };
    st.kld_max         = 0.922244f;
    st.kld_999         = 0.563947f;
    st.kld_99          = 0.336523f;
    st.kld_95          = 0.193452f;
    st.kld_90          = 0.140979f;
    st.kld_median      = 0.051990f;
    st.kld_10          = 0.024122f;
    st.kld_5           = 0.019407f;
    st.kld_1           = 0.010902f;
    st.kld_01          = 0.004080f;
    st.kld_min         = 0.001427f;
    st.p_diff          = { 0.00067, 0.00032 };
    st.dp_max          = 0.36959f;
    st.dp_999          = 0.18761f;
    st.dp_99           = 0.09528f;
    st.dp_95           = 0.01976f;
    st.dp_90           = 0.00432f;
    st.dp_75           = 0.00022f;
    st.dp_median       = -0.0000001f;
    st.dp_25           = -0.00017f;
    st.dp_10           = -0.00291f;
    st.dp_5            = -0.01366f;
    st.dp_1            = -0.08279f;
    st.dp_01           = -0.21459f;
    st.dp_min          = -0.36169f;
    st.rms_p_diff      = { 0.02512, 0.00112 };
    st.same_top        = { 0.75968, 0.00538 };
    std::string golden = ss.str(); // the tool prints one more empty line after the block
    while (!golden.empty() && golden.back() == '\n') {
        golden.pop_back();
    }
    EXPECT_EQ(format_kld_report(st), golden + "\n");
}

} // namespace
} // namespace nibble
