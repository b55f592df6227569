// llama-imatrix's accumulation (src/runtime/imatrix_collector.h): which matmuls are collected, Σx² per
// column in float in row order, row counts, chunk count, the GGUF file it produces, and the whole
// protocol (run_perplexity with all logits) driving a fake model that reports its matmuls.
#include "io/imatrix.h"
#include "runtime/imatrix_collector.h"
#include "runtime/perplexity.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace nibble {
namespace {

namespace fs = std::filesystem;

std::vector<float> random_rows(std::mt19937 & rng, int64_t rows, int64_t cols) {
    std::normal_distribution<float> d(0.0f, 2.0f);
    std::vector<float>              x(size_t(rows * cols));
    for (float & v : x) {
        v = d(rng);
    }
    return x;
}

TEST(ImatrixCollect, SumsSquaresPerColumnInRowOrder) {
    std::mt19937             rng(11);
    ImatrixCollector         c;
    const int64_t            k  = 37;
    const std::vector<float> x1 = random_rows(rng, 20, k);
    const std::vector<float> x2 = random_rows(rng, 17, k);
    c.on_matmul("blk.0.attn_q.weight", x1.data(), 20, k);
    c.on_matmul("blk.0.attn_q.weight", x2.data(), 17, k);
    ASSERT_FALSE(c.error());
    const std::vector<ImatrixStats> s = c.stats();
    ASSERT_EQ(s.size(), 1u);
    EXPECT_EQ(s[0].name, "blk.0.attn_q.weight");
    EXPECT_EQ(s[0].counts, std::vector<float>{ 37.0f });
    ASSERT_EQ(s[0].in_sum2.size(), size_t(k));
    for (int64_t j = 0; j < k; ++j) {
        float  f = 0.0f; // llama-imatrix: float accumulator, rows in order
        double d = 0.0;
        for (const std::vector<float> * x : { &x1, &x2 }) {
            for (size_t r = 0; r < x->size() / size_t(k); ++r) {
                const float v = (*x)[r * size_t(k) + size_t(j)];
                f += v * v;
                d += double(v) * double(v);
            }
        }
        EXPECT_EQ(s[0].in_sum2[size_t(j)], f) << j;
        EXPECT_NEAR(s[0].in_sum2[size_t(j)], d, 1e-5 * d);
    }
}

TEST(ImatrixCollect, WhichMatmulsAreCollected) {
    std::vector<float> x(32 * 8, 1.0f);
    ImatrixCollector   c;
    c.on_matmul("blk.3.ffn_down.weight", x.data(), 16, 8); // 16 rows: collected
    c.on_matmul("blk.3.ffn_up.weight", x.data(), 15, 8);   // fewer than 16 rows: ignored
    c.on_matmul("output.weight", x.data(), 32, 8);         // not a block tensor
    c.on_matmul("token_embd.weight", x.data(), 32, 8);
    EXPECT_EQ(c.n_entries(), 1u);
    EXPECT_TRUE(c.wants("blk.0.attn_k.weight", 16));
    EXPECT_FALSE(c.wants("blk.0.attn_k.weight", 1)); // single-token decode steps
    EXPECT_FALSE(c.wants("output.weight", 512));

    ImatrixCollector with_output(ImatrixCollectorOptions{ true, 16 });
    with_output.on_matmul("output.weight", x.data(), 32, 8);
    ASSERT_EQ(with_output.n_entries(), 1u);
    EXPECT_EQ(with_output.stats()[0].in_sum2[0], 32.0f);
}

TEST(ImatrixCollect, ChunkCountAndSortedOutput) {
    ImatrixCollector   c;
    std::vector<float> x(128 * 4, 0.5f);
    for (int chunk = 0; chunk < 3; ++chunk) {
        c.on_matmul("blk.1.attn_v.weight", x.data(), 128, 4);
        c.on_matmul("blk.0.attn_v.weight", x.data(), 128, 4);
        c.on_matmul("blk.10.attn_v.weight", x.data(), 64, 4);
    }
    EXPECT_EQ(c.chunk_count(128), 3u);
    EXPECT_EQ(c.chunk_count(100), 3u); // 384 / 100
    const std::vector<ImatrixStats> s = c.stats();
    ASSERT_EQ(s.size(), 3u);
    EXPECT_EQ(s[0].name, "blk.0.attn_v.weight");
    EXPECT_EQ(s[1].name, "blk.1.attn_v.weight");
    EXPECT_EQ(s[2].name, "blk.10.attn_v.weight");
    EXPECT_EQ(s[2].counts[0], 192.0f);
    EXPECT_FLOAT_EQ(s[0].in_sum2[0], 384 * 0.25f);
}

TEST(ImatrixCollect, NonFiniteAndInconsistentSizesAreErrors) {
    std::vector<float> x(16 * 4, 1.0f);
    ImatrixCollector   c;
    c.on_matmul("blk.0.attn_q.weight", x.data(), 16, 4);
    c.on_matmul("blk.0.attn_q.weight", x.data(), 16, 2);
    ASSERT_TRUE(c.error());
    EXPECT_NE(c.error()->find("inconsistent size for blk.0.attn_q.weight (4 vs 2)"), std::string::npos);

    ImatrixCollector n;
    x[5] = std::numeric_limits<float>::infinity();
    n.on_matmul("blk.0.ffn_up.weight", x.data(), 16, 4);
    ASSERT_TRUE(n.error());
    EXPECT_NE(n.error()->find("blk.0.ffn_up.weight column 1"), std::string::npos) << *n.error();
}

TEST(ImatrixCollect, MergeAddsRawSums) {
    ImatrixCollector   c;
    std::vector<float> x(16 * 2, 2.0f);
    c.on_matmul("blk.0.attn_q.weight", x.data(), 16, 2);
    ASSERT_TRUE(c.merge("blk.0.attn_q.weight", { 1.0f, 3.0f }, 10));
    EXPECT_FALSE(c.merge("blk.0.attn_q.weight", { 1.0f }, 1));
    const std::vector<ImatrixStats> s = c.stats();
    EXPECT_EQ(s[0].in_sum2, (std::vector<float>{ 65.0f, 67.0f }));
    EXPECT_EQ(s[0].counts, std::vector<float>{ 26.0f });
}

// A fake model with two "layers" that reports the activations entering its matmuls for every
// evaluated token, then the protocol of llama-imatrix over it, written as a GGUF imatrix and read back.
class MatmulFake final : public LogitsEvaluator {
  public:
    explicit MatmulFake(MatmulObserver * obs) : obs_(obs) {}
    int64_t      n_vocab() const override { return 12; }
    void         clear() override { pos_ = 0; }
    Result<bool> eval(std::span<const int32_t> tokens, float * logits, int64_t first_logit_row) override {
        const int64_t      n = int64_t(tokens.size());
        std::vector<float> a(size_t(n * 6)), b(size_t(n * 10));
        for (int64_t r = 0; r < n; ++r) {
            for (int64_t j = 0; j < 6; ++j) {
                a[size_t(r * 6 + j)] = float((tokens[size_t(r)] + j) % 5) * 0.25f + float(pos_ + r) * 0.01f;
            }
            for (int64_t j = 0; j < 10; ++j) {
                b[size_t(r * 10 + j)] = float(j) - float(tokens[size_t(r)] % 3);
            }
        }
        obs_->on_matmul("blk.0.attn_q.weight", a.data(), n, 6);
        obs_->on_matmul("blk.0.ffn_down.weight", b.data(), n, 10);
        obs_->on_matmul("output.weight", b.data(), n - first_logit_row, 10);
        for (int64_t r = first_logit_row; r < n; ++r) {
            for (int64_t v = 0; v < 12; ++v) {
                *logits++ = float((tokens[size_t(r)] * 3 + v) % 12) * 0.1f;
            }
        }
        pos_ += n;
        return true;
    }

  private:
    MatmulObserver * obs_;
    int64_t          pos_ = 0;
};

TEST(ImatrixCollect, ProtocolWritesLlamaImatrixGguf) {
    ImatrixCollector     c;
    MatmulFake           m(&c);
    std::vector<int32_t> tokens(64 * 4 + 10);
    for (size_t i = 0; i < tokens.size(); ++i) {
        tokens[i] = int32_t((i * 5) % 12);
    }
    PerplexityParams p;
    p.n_ctx                          = 64;
    p.n_batch                        = 32; // two batches per chunk: still every row reaches the observer
    p.add_bos                        = true;
    p.bos_id                         = 1;
    p.all_logits                     = true;
    const Result<PerplexityResult> r = run_perplexity(tokens, p, m, nullptr, {});
    ASSERT_TRUE(r);
    ASSERT_FALSE(c.error());
    EXPECT_EQ(r->n_chunk, 4);
    EXPECT_EQ(c.chunk_count(p.n_ctx), 4u);
    const std::vector<ImatrixStats> s = c.stats();
    ASSERT_EQ(s.size(), 2u); // output.weight needs --process-output
    for (const ImatrixStats & e : s) {
        EXPECT_EQ(e.counts, std::vector<float>{ 256.0f }) << e.name;
    }

    const fs::path out = fs::temp_directory_path() / ("nibble-imatrix-collect-" + std::to_string(::getpid()) + ".gguf");
    ASSERT_TRUE(write_imatrix_gguf(out.string(), s, { "calib.txt" }, c.chunk_count(p.n_ctx), uint32_t(p.n_ctx)));
    const Result<Imatrix> back = load_imatrix(out.string());
    std::error_code       ec;
    fs::remove(out, ec);
    ASSERT_TRUE(back) << back.error().message();
    EXPECT_EQ(back->chunk_count, 4u);
    EXPECT_EQ(back->chunk_size, 64u);
    EXPECT_EQ(back->datasets, std::vector<std::string>{ "calib.txt" });
    const ImatrixEntry * q = back->find("blk.0.attn_q.weight");
    ASSERT_NE(q, nullptr);
    EXPECT_EQ(q->in_sum2, s[0].in_sum2);
    EXPECT_FLOAT_EQ(q->mean[0], s[0].in_sum2[0] / 256.0f);
}

} // namespace
} // namespace nibble
