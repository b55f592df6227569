// llama-perplexity's protocol (src/runtime/perplexity.h) on a deterministic fake model: chunk count,
// BOS substitution, batching, which rows are scored, the running/final PPL against a straightforward
// reimplementation, saving base logits and reading them back in KL-divergence mode.
#include "runtime/perplexity.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

namespace nibble {
namespace {

namespace fs = std::filesystem;

// A causal toy "model": the logits at a position depend on the token there, the one before, the
// position and a seed -- nothing later, so any batching of a chunk gives the same logits.
float fake_logit(int32_t tok, int32_t prev, int64_t pos, int64_t v, uint32_t seed) {
    uint32_t h =
        uint32_t(tok) * 2654435761u ^ uint32_t(prev) * 40503u ^ uint32_t(pos) * 97u ^ uint32_t(v) * 131u ^ seed;
    h ^= h >> 13;
    h *= 0x5bd1e995u;
    h ^= h >> 15;
    return float(h % 10007u) / 1000.0f - 5.0f + (v == (tok + 1) % 7 ? 3.0f : 0.0f);
}

class FakeModel final : public LogitsEvaluator {
  public:
    FakeModel(int64_t n_vocab, uint32_t seed) : n_vocab_(n_vocab), seed_(seed) {}
    int64_t n_vocab() const override { return n_vocab_; }
    void    clear() override {
        history_.clear();
        ++clears;
    }
    Result<bool> eval(std::span<const int32_t> tokens, float * logits, int64_t first_logit_row) override {
        calls.push_back({ int64_t(history_.size()), int64_t(tokens.size()), first_logit_row });
        if (history_.empty()) {
            first_tokens.push_back(tokens[0]);
        }
        for (size_t i = 0; i < tokens.size(); ++i) {
            const int32_t prev = history_.empty() ? -1 : history_.back();
            const int64_t pos  = int64_t(history_.size());
            history_.push_back(tokens[i]);
            if (int64_t(i) >= first_logit_row) {
                for (int64_t v = 0; v < n_vocab_; ++v) {
                    *logits++ = fake_logit(tokens[i], prev, pos, v, seed_);
                }
            }
        }
        return true;
    }
    struct Call {
        int64_t n_past, n, first_logit_row;
    };
    std::vector<Call>    calls;
    std::vector<int32_t> first_tokens;
    int                  clears = 0;

  private:
    int64_t              n_vocab_;
    uint32_t             seed_;
    std::vector<int32_t> history_;
};

std::vector<int32_t> make_tokens(int64_t n, int64_t n_vocab) {
    std::vector<int32_t> t(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
        t[size_t(i)] = int32_t((i * 7 + i / 3) % n_vocab);
    }
    return t;
}

// Straightforward reimplementation of §6.1 in double: per chunk, BOS in place of the first token, score
// positions n_ctx/2 .. n_ctx-2 against the next token.
struct RefPpl {
    double  ppl, err;
    int64_t count;
};
RefPpl reference_ppl(const std::vector<int32_t> & tokens, int64_t n_ctx, int64_t n_chunk, int64_t n_vocab, bool bos,
                     int32_t bos_id, uint32_t seed) {
    double  s = 0, s2 = 0;
    int64_t count = 0;
    for (int64_t c = 0; c < n_chunk; ++c) {
        std::vector<int32_t> in(tokens.begin() + c * n_ctx, tokens.begin() + (c + 1) * n_ctx);
        if (bos) {
            in[0] = bos_id;
        }
        for (int64_t pos = n_ctx / 2; pos <= n_ctx - 2; ++pos) {
            std::vector<double> l(static_cast<size_t>(n_vocab));
            double              mx = -1e30;
            for (int64_t v = 0; v < n_vocab; ++v) {
                l[size_t(v)] = fake_logit(in[size_t(pos)], pos == 0 ? -1 : in[size_t(pos - 1)], pos, v, seed);
                mx           = std::max(mx, l[size_t(v)]);
            }
            double z = 0;
            for (double x : l) {
                z += std::exp(x - mx);
            }
            const double nll = -(l[size_t(tokens[size_t(c * n_ctx + pos + 1)])] - mx - std::log(z));
            s += nll;
            s2 += nll * nll;
            ++count;
        }
    }
    const double m = s / double(count);
    const double v = s2 / double(count) - m * m;
    return { std::exp(m), std::exp(m) * std::sqrt(v / double(count - 1)), count };
}

TEST(PerplexityChunks, ArithmeticAndShortText) {
    EXPECT_EQ(*perplexity_chunks(1000, 128, -1), 7);
    EXPECT_EQ(*perplexity_chunks(1000, 128, 3), 3);
    EXPECT_EQ(*perplexity_chunks(1000, 128, 100), 7);
    EXPECT_EQ(*perplexity_chunks(256, 128, -1), 2);
    const Result<int64_t> few = perplexity_chunks(255, 128, -1);
    ASSERT_FALSE(few);
    EXPECT_NE(few.error().what.find("need at least 2*n_ctx tokens (256"), std::string::npos) << few.error().what;
    EXPECT_NE(few.error().what.find("only 255"), std::string::npos);
}

TEST(Perplexity, MatchesReferenceWithBos) {
    const int64_t              n_vocab = 50, n_ctx = 32;
    const std::vector<int32_t> tokens = make_tokens(32 * 5 + 17, n_vocab); // 5 full chunks + leftovers
    FakeModel                  m(n_vocab, 1);
    PerplexityParams           p;
    p.n_ctx   = n_ctx;
    p.add_bos = true;
    p.bos_id  = 1;
    std::vector<double>            running;
    const Result<PerplexityResult> r = run_perplexity(tokens, p, m, nullptr, [&](const PerplexityProgress & pr) {
        EXPECT_EQ(pr.n_chunk, 5);
        EXPECT_EQ(pr.n_tokens, pr.chunk * n_ctx);
        running.push_back(pr.ppl);
    });
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->n_chunk, 5);
    EXPECT_EQ(r->count, 5 * (n_ctx - 1 - n_ctx / 2)); // 15 scored tokens per chunk
    EXPECT_EQ(r->n_tokens, 5 * n_ctx);
    const RefPpl ref = reference_ppl(tokens, n_ctx, 5, n_vocab, true, 1, 1);
    EXPECT_EQ(r->count, ref.count);
    EXPECT_NEAR(r->ppl, ref.ppl, 1e-5 * ref.ppl);
    EXPECT_NEAR(r->ppl_err, ref.err, 1e-5 * ref.err);
    ASSERT_EQ(running.size(), 5u);
    EXPECT_EQ(running, r->running_ppl);
    EXPECT_DOUBLE_EQ(running.back(), r->ppl);
    // Running values are the PPL over the chunks so far.
    EXPECT_NEAR(running[1], reference_ppl(tokens, n_ctx, 2, n_vocab, true, 1, 1).ppl, 1e-5 * running[1]);
    // One cleared cache per chunk, BOS in place of each chunk's first token, one call per chunk.
    EXPECT_EQ(m.clears, 5);
    EXPECT_EQ(m.first_tokens, std::vector<int32_t>(5, 1));
    ASSERT_EQ(m.calls.size(), 5u);
    EXPECT_EQ(m.calls[0].first_logit_row, n_ctx / 2);
    EXPECT_EQ(m.calls[0].n, n_ctx);
}

TEST(Perplexity, WithoutBosKeepsFirstToken) {
    const int64_t              n_vocab = 40, n_ctx = 16;
    const std::vector<int32_t> tokens = make_tokens(64, n_vocab);
    FakeModel                  m(n_vocab, 2);
    PerplexityParams           p;
    p.n_ctx                          = n_ctx;
    p.n_chunks                       = 3;
    const Result<PerplexityResult> r = run_perplexity(tokens, p, m, nullptr, {});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->n_chunk, 3);
    EXPECT_EQ(m.first_tokens, (std::vector<int32_t>{ tokens[0], tokens[16], tokens[32] }));
    const RefPpl ref = reference_ppl(tokens, n_ctx, 3, n_vocab, false, -1, 2);
    EXPECT_NEAR(r->ppl, ref.ppl, 1e-5 * ref.ppl);
}

TEST(Perplexity, BatchingAndAllLogitsGiveIdenticalResults) {
    const int64_t              n_vocab = 30, n_ctx = 128;
    const std::vector<int32_t> tokens = make_tokens(3 * 128, n_vocab);
    PerplexityParams           p;
    p.n_ctx   = n_ctx;
    p.add_bos = true;
    p.bos_id  = 0;
    FakeModel                      whole(n_vocab, 3);
    const Result<PerplexityResult> a = run_perplexity(tokens, p, whole, nullptr, {});
    p.n_batch                        = 32;
    FakeModel                      split(n_vocab, 3);
    const Result<PerplexityResult> b = run_perplexity(tokens, p, split, nullptr, {});
    p.all_logits                     = true;
    FakeModel                      all(n_vocab, 3);
    const Result<PerplexityResult> c = run_perplexity(tokens, p, all, nullptr, {});
    ASSERT_TRUE(a && b && c);
    EXPECT_EQ(a->nll, b->nll);
    EXPECT_EQ(a->nll, c->nll);
    EXPECT_EQ(a->nll2, b->nll2);
    // 4 batches per chunk, positions continue across batches, logits only from position 64 on.
    ASSERT_EQ(split.calls.size(), 12u);
    const int64_t want_first[4] = { 32, 32, 0, 0 };
    for (int j = 0; j < 4; ++j) {
        EXPECT_EQ(split.calls[size_t(j)].n_past, 32 * j);
        EXPECT_EQ(split.calls[size_t(j)].n, 32);
        EXPECT_EQ(split.calls[size_t(j)].first_logit_row, want_first[j]);
        EXPECT_EQ(all.calls[size_t(j)].first_logit_row, 0);
    }
    // Odd batch size: the batch holding position 64 starts its logits mid-way.
    p.all_logits = false;
    p.n_batch    = 50;
    FakeModel                      odd(n_vocab, 3);
    const Result<PerplexityResult> d = run_perplexity(tokens, p, odd, nullptr, {});
    ASSERT_TRUE(d);
    EXPECT_EQ(d->nll, a->nll);
    ASSERT_EQ(odd.calls.size(), 9u);
    EXPECT_EQ(odd.calls[1].first_logit_row, 14);
    EXPECT_EQ(odd.calls[2].n, 28);
}

TEST(Perplexity, Errors) {
    FakeModel        m(10, 0);
    PerplexityParams p;
    p.n_ctx                            = 64;
    const std::vector<int32_t>     few = make_tokens(100, 10);
    const Result<PerplexityResult> r   = run_perplexity(few, p, m, nullptr, {});
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().what.find("need at least 2*n_ctx tokens"), std::string::npos);
    p.add_bos                         = true; // but no BOS id
    const std::vector<int32_t> enough = make_tokens(200, 10);
    EXPECT_FALSE(run_perplexity(enough, p, m, nullptr, {}));
    EXPECT_EQ(m.calls.size(), 0u);
}

TEST(Perplexity, FinalEstimateLine) {
    PerplexityResult r;
    r.ppl     = 1294.53884;
    r.ppl_err = 56.543884;
    r.err_ok  = true;
    EXPECT_EQ(format_final_estimate(r), "Final estimate: PPL = 1294.5388 +/- 56.54388\n");
    r.err_ok = false;
    EXPECT_EQ(format_final_estimate(r), "Unexpected negative standard deviation of log(prob)\n");
}

class KlDivergence : public ::testing::Test {
  protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() / ("nibble-ppl-" + std::to_string(::getpid()));
        fs::create_directories(dir_);
    }
    void TearDown() override {
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }
    fs::path dir_;
};

TEST_F(KlDivergence, SavedBaseReadsBackAndComparesWithItself) {
    const int64_t              n_vocab = 33, n_ctx = 24;
    const std::vector<int32_t> tokens = make_tokens(24 * 6, n_vocab);
    PerplexityParams           p;
    p.n_ctx                             = n_ctx;
    p.n_chunks                          = 5;
    p.add_bos                           = true;
    p.bos_id                            = 2;
    const std::string              base = (dir_ / "base.kld").string();
    FakeModel                      plain_model(n_vocab, 9), save_model(n_vocab, 9);
    const Result<PerplexityResult> plain = run_perplexity(tokens, p, plain_model, nullptr, {});
    ASSERT_TRUE(plain);
    LogitsFileWriter w;
    ASSERT_TRUE(LogitsFileWriter::open(w, base, perplexity_base_header(tokens, n_ctx, 5, n_vocab)));
    const Result<PerplexityResult> saved = run_perplexity(tokens, p, save_model, &w, {});
    ASSERT_TRUE(saved);
    ASSERT_TRUE(w.commit());
    // The saving path computes the NLL in float: equal to the plain path to float precision.
    EXPECT_NEAR(saved->ppl, plain->ppl, 1e-5 * plain->ppl);
    EXPECT_EQ(fs::file_size(base), uint64_t(20 + 4 * 5 * 24 + 5 * 11 * kld_record_len(n_vocab) * 2));

    LogitsFileReader r;
    ASSERT_TRUE(LogitsFileReader::open(r, base));
    EXPECT_EQ(r.header().n_chunk, 5);
    EXPECT_EQ(r.header().tokens, std::vector<int32_t>(tokens.begin(), tokens.begin() + 5 * 24)); // original tokens
    FakeModel               same(n_vocab, 9);
    int                     lines = 0;
    const Result<KldResult> k     = run_kl_divergence(r, p, same, [&](const KldProgress & pr) {
        ++lines;
        EXPECT_EQ(pr.sums->count, uint64_t(pr.chunk * 11));
    });
    ASSERT_TRUE(k) << k.error().message();
    EXPECT_EQ(lines, 5);
    EXPECT_EQ(same.first_tokens, std::vector<int32_t>(5, 2));
    const KldStats st = kld_statistics(k->sums, k->kld_values, k->p_diff_values);
    EXPECT_LT(st.kld.mean, 1e-6);
    EXPECT_DOUBLE_EQ(st.same_top.mean, 1.0);
    EXPECT_NEAR(st.ppl.mean, st.ppl_base.mean, 1e-3 * st.ppl.mean);
    EXPECT_NEAR(st.ppl.mean, plain->ppl, 1e-5 * plain->ppl);
}

TEST_F(KlDivergence, DifferentModelAndVocabMismatch) {
    const int64_t              n_vocab = 33, n_ctx = 24;
    const std::vector<int32_t> tokens = make_tokens(24 * 3, n_vocab);
    PerplexityParams           p;
    p.n_ctx                = n_ctx;
    const std::string base = (dir_ / "base.kld").string();
    FakeModel         model(n_vocab, 4);
    LogitsFileWriter  w;
    ASSERT_TRUE(LogitsFileWriter::open(w, base, perplexity_base_header(tokens, n_ctx, 3, n_vocab)));
    ASSERT_TRUE(run_perplexity(tokens, p, model, &w, {}));
    ASSERT_TRUE(w.commit());
    {
        LogitsFileReader r;
        ASSERT_TRUE(LogitsFileReader::open(r, base));
        FakeModel               other(n_vocab, 5); // different "weights"
        const Result<KldResult> k = run_kl_divergence(r, p, other, {});
        ASSERT_TRUE(k);
        const KldStats st = kld_statistics(k->sums, k->kld_values, k->p_diff_values);
        EXPECT_GT(st.kld.mean, 0.1);
        EXPECT_LT(st.same_top.mean, 0.9);
        EXPECT_EQ(k->kld_values.size(), 3u * 11u);
    }
    LogitsFileReader r;
    ASSERT_TRUE(LogitsFileReader::open(r, base));
    FakeModel               wrong(n_vocab + 1, 4);
    const Result<KldResult> k = run_kl_divergence(r, p, wrong, {});
    ASSERT_FALSE(k);
    EXPECT_EQ(k.error().file, base);
    EXPECT_EQ(k.error().offset, 12u);
    EXPECT_NE(k.error().what.find("n_vocab 33 but the model has 34"), std::string::npos) << k.error().what;
}

} // namespace
} // namespace nibble
