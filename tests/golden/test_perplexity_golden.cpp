// `nibble perplexity` and `nibble imatrix` against llama.cpp (../shared/golden/llama-perplexity and
// ../shared/golden/llama-quantize, see their READMEs), through the built `nibble` binary:
//   * PPL of TinyStories-656K (F16 and its llama-quantize variants, re-made here with `nibble quantize`,
//     which is byte-identical) on wiki.test.656k-vocab.txt, -c 128 --chunks 100 -b 128, equals
//     llama-perplexity's to 4 significant digits;
//   * KL-divergence Q4_0 vs F16 (base logits saved by us, then read back) is close to llama's statistics;
//   * `nibble imatrix` reproduces llama-imatrix's 656k.imatrix.gguf: same entries, counts, chunk
//     metadata, sums within kImatrixRelTol; quantizing with it gives the same tensors as with llama's;
//   * SmolLM2-135M (skipped when absent): wikitext-2 -c 512 --chunks 8 gives llama.cpp's 24.58 +/- 1.67.
#include "io/gguf.h"
#include "io/imatrix.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

extern char ** environ;

namespace nibble {
namespace {

namespace fs = std::filesystem;

// 4 significant digits: llama-perplexity's own run-to-run changes (thread count, summation order)
// stay far below this; a protocol or model error does not.
constexpr double kPplRelTol      = 5e-4;
// imatrix sums: our activations come from a different (but fp32) engine than ggml's; the float sums
// of x_j^2 over 5120 tokens agree to this relative error (max 8.8e-4 measured with a plain fp32
// reference forward, blk.0.ffn_down; ggml rounds F16-weight activations to f16).
constexpr double kImatrixRelTol  = 2e-3;
// Share of quantized bytes allowed to differ between quantizing with our imatrix and with llama's (the
// sums above differ in the 4th digit; measured 1.7e-4 of the bytes for Q4_K_M, 8.8e-5 for IQ4_XS on 656K).
constexpr double kQuantDiffShare = 2e-3;

std::optional<fs::path> shared_dir() {
    if (const char * env = std::getenv("NIBBLE_SHARED_DIR"); env != nullptr && *env != '\0') {
        return fs::is_directory(env) ? std::optional<fs::path>(env) : std::nullopt;
    }
    for (const char * rel : { "../shared", "../../shared" }) {
        if (fs::is_directory(fs::path(rel) / "golden" / "llama-perplexity")) {
            return fs::path(rel);
        }
    }
    return std::nullopt;
}

fs::path smollm2_path() {
    if (const char * env = std::getenv("NIBBLE_SMOLLM2"); env != nullptr && *env != '\0') {
        return env;
    }
    const char * home = std::getenv("HOME");
    return fs::path(home != nullptr ? home : "/root") / ".cache/nibble/models/SmolLM2-135M-Instruct.Q4_1.gguf";
}

std::string read_all(const fs::path & p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

class TempDir {
  public:
    TempDir() {
        path_ = fs::temp_directory_path() / ("nibble-pplgolden-" + std::to_string(::getpid()));
        fs::create_directories(path_);
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    const fs::path & path() const { return path_; }

  private:
    fs::path path_;
};

// Runs `nibble ARGS` with stdout+stderr into `log`; returns the exit status.
int run_cli(const std::vector<std::string> & args, const fs::path & log) {
    std::vector<std::string> argv_s = { NIBBLE_CLI_PATH };
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char *> argv;
    for (std::string & s : argv_s) {
        argv.push_back(s.data());
    }
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, STDOUT_FILENO, STDERR_FILENO);
    pid_t     pid = 0;
    const int rc  = posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        return -1;
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1000 + WTERMSIG(status);
}

// "Final estimate: PPL = x +/- y" -> (x, y)
std::optional<std::pair<double, double>> final_estimate(const std::string & text) {
    static const std::regex re(R"(Final estimate: PPL = ([0-9.]+) \+/- ([0-9.]+))");
    std::smatch             m;
    if (!std::regex_search(text, m, re)) {
        return std::nullopt;
    }
    return std::make_pair(std::stod(m[1]), std::stod(m[2]));
}

// The first number after `label` in a llama-perplexity statistics block.
std::optional<double> stat(const std::string & text, const std::string & label) {
    const size_t at = text.find(label);
    if (at == std::string::npos) {
        return std::nullopt;
    }
    const size_t num = text.find_first_of("-0123456789", at + label.size());
    return num == std::string::npos ? std::nullopt : std::optional<double>(std::stod(text.substr(num)));
}

class PerplexityGolden : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!shared_dir()) {
            GTEST_SKIP() << "../shared not found (set NIBBLE_SHARED_DIR)";
        }
        root_ = *shared_dir();
    }
    fs::path f16() const { return root_ / "models/tinystories-656k-gguf/TinyStories-656K.f16.gguf"; }
    fs::path text() const { return root_ / "golden/llama-perplexity/wiki.test.656k-vocab.txt"; }
    fs::path lq() const { return root_ / "golden/llama-quantize"; }

    // The variant named in results.txt, made the way its README says.
    fs::path model(const std::string & name) {
        if (name == "F16") {
            return f16();
        }
        if (name == "Q4_0") {
            return lq() / "656k.Q4_0.gguf";
        }
        const fs::path out = tmp_.path() / ("656k." + name + ".gguf");
        if (!fs::exists(out)) {
            std::vector<std::string> args = { "quantize" };
            if (name == "NVFP4-blk") {
                args.insert(args.end(), { "--nvfp4-search", "0", "--tensor-type", "blk\\..*=nvfp4" });
            }
            args.insert(args.end(), { f16().string(), out.string(), name == "NVFP4-blk" ? "Q8_0" : name });
            EXPECT_EQ(run_cli(args, tmp_.path() / "quantize.log"), 0) << read_all(tmp_.path() / "quantize.log");
        }
        return out;
    }

    std::string ppl_run(const std::vector<std::string> & extra, const fs::path & m, const std::string & log_name) {
        std::vector<std::string> args = { "perplexity", "-m", m.string(), "-c", "128", "--chunks",
                                          "100",        "-b", "128",      "-t", "2" };
        args.insert(args.end(), extra.begin(), extra.end());
        const fs::path log = tmp_.path() / log_name;
        EXPECT_EQ(run_cli(args, log), 0) << read_all(log);
        return read_all(log);
    }

    fs::path root_;
    TempDir  tmp_;
};

TEST_F(PerplexityGolden, MatchesLlamaPerplexityPerModel) {
    const std::string  results = read_all(root_ / "golden/llama-perplexity/results.txt");
    std::istringstream lines(results);
    std::string        line;
    int                n = 0;
    while (std::getline(lines, line)) {
        const size_t colon = line.find(':');
        if (colon == std::string::npos) {
            continue;
        }
        const std::string name = line.substr(0, colon);
        const auto        want = final_estimate(line);
        ASSERT_TRUE(want) << line;
        const std::string out = ppl_run({ "-f", text().string() }, model(name), name + ".log");
        const auto        got = final_estimate(out);
        ASSERT_TRUE(got) << name << ":\n" << out;
        std::printf("%-10s nibble %.4f +/- %.5f   llama.cpp %.4f +/- %.5f\n", name.c_str(), got->first, got->second,
                    want->first, want->second);
        EXPECT_NEAR(got->first, want->first, kPplRelTol * want->first) << name;
        EXPECT_NEAR(got->second, want->second, 1e-2 * want->second) << name;
        ++n;
    }
    EXPECT_EQ(n, 6);
}

TEST_F(PerplexityGolden, KlDivergenceQ4_0VsF16) {
    const fs::path    base = tmp_.path() / "base.kld";
    const std::string b    = ppl_run({ "-f", text().string(), "--kl-divergence-base", base.string() }, f16(), "b.log");
    const auto        fb   = final_estimate(b);
    ASSERT_TRUE(fb) << b;
    EXPECT_NEAR(fb->first, 1294.5388, kPplRelTol * 1294.5388);
    // 100 chunks of 63 scored tokens, records of n_vocab + 4 uint16 (n_vocab 2048 is even): the size of
    // the file llama-perplexity writes for the same run.
    EXPECT_EQ(fs::file_size(base), uint64_t(20 + 4 * 100 * 128 + 100 * 63 * (2048 + 4) * 2));

    const std::string k = ppl_run({ "--kl-divergence-base", base.string(), "--kl-divergence" }, model("Q4_0"), "k.log");
    const std::string golden = read_all(root_ / "golden/llama-perplexity/kld-Q4_0-vs-F16.txt");
    std::printf("%s\n", k.substr(k.find("====== Perplexity statistics")).c_str());
    struct Tol {
        const char * label;
        double       abs_tol;
    };
    // Means and their errors to ~4 digits; tail percentiles of a few thousand tokens move more with
    // fp32 differences between engines, so they get a looser bound.
    for (const Tol & t : { Tol{ "Mean PPL(Q)                   :", 0.7 }, Tol{ "Mean PPL(base)                :", 0.7 },
                           Tol{ "Mean ln(PPL(Q)/PPL(base))     :", 5e-4 }, Tol{ "Mean    KLD:", 5e-4 },
                           Tol{ "Maximum KLD:", 0.02 }, Tol{ "99.0%   KLD:", 0.005 }, Tol{ "Median  KLD:", 5e-4 },
                           Tol{ "Mean    Δp:", 0.01 }, Tol{ "RMS Δp    :", 0.02 }, Tol{ "Same top p:", 0.2 } }) {
        const auto g = stat(golden, t.label), o = stat(k, t.label);
        ASSERT_TRUE(g && o) << t.label;
        EXPECT_NEAR(*o, *g, t.abs_tol) << t.label;
    }
}

TEST_F(PerplexityGolden, ImatrixMatchesLlamaImatrix) {
    // llama-imatrix -m 656K.f16 -f tiny.filt.txt -c 128 --chunks 40 (README of llama-quantize).
    const fs::path ours = tmp_.path() / "656k.imatrix.gguf";
    const fs::path log  = tmp_.path() / "imatrix.log";
    ASSERT_EQ(run_cli({ "imatrix", "-m", f16().string(), "-f", (lq() / "tiny.filt.txt").string(), "-c", "128",
                        "--chunks", "40", "-t", "2", "-o", ours.string() },
                      log),
              0)
        << read_all(log);
    const Result<Imatrix> a = load_imatrix(ours.string());
    const Result<Imatrix> b = load_imatrix((lq() / "656k.imatrix.gguf").string());
    ASSERT_TRUE(a) << a.error().message();
    ASSERT_TRUE(b) << b.error().message();
    EXPECT_EQ(a->chunk_count, b->chunk_count);
    EXPECT_EQ(a->chunk_size, b->chunk_size);
    ASSERT_EQ(a->datasets.size(), 1u);
    ASSERT_EQ(a->entries.size(), b->entries.size());
    double worst = 0;
    for (const auto & [name, eb] : b->entries) {
        const ImatrixEntry * ea = a->find(name);
        ASSERT_NE(ea, nullptr) << name;
        EXPECT_EQ(ea->counts, eb.counts) << name;
        ASSERT_EQ(ea->in_sum2.size(), eb.in_sum2.size()) << name;
        for (size_t j = 0; j < eb.in_sum2.size(); ++j) {
            const double rel = std::fabs(double(ea->in_sum2[j]) - double(eb.in_sum2[j])) /
                               std::max(1e-30, std::fabs(double(eb.in_sum2[j])));
            worst = std::max(worst, rel);
            EXPECT_LE(rel, kImatrixRelTol) << name << "[" << j << "] " << ea->in_sum2[j] << " vs " << eb.in_sum2[j];
        }
    }
    std::printf("imatrix: %zu entries, counts equal, largest relative difference of a sum %.3g\n", b->entries.size(),
                worst);

    // Quantizing with our imatrix and with llama's. Byte identity would need activations bit-identical
    // to ggml's; sums that differ in the 4th digit flip a few near-tie rounding decisions, so the test
    // bounds the share of differing bytes and prints the tensors concerned.
    for (const char * type : { "Q4_K_M", "IQ4_XS" }) {
        const fs::path with_ours   = tmp_.path() / (std::string(type) + ".ours.gguf");
        const fs::path with_theirs = tmp_.path() / (std::string(type) + ".theirs.gguf");
        ASSERT_EQ(run_cli({ "quantize", "--imatrix", ours.string(), f16().string(), with_ours.string(), type }, log),
                  0);
        ASSERT_EQ(run_cli({ "quantize", "--imatrix", (lq() / "656k.imatrix.gguf").string(), f16().string(),
                            with_theirs.string(), type },
                          log),
                  0);
        const Result<GgufFile> x = GgufFile::open(with_ours.string());
        const Result<GgufFile> y = GgufFile::open(with_theirs.string());
        ASSERT_TRUE(x && y);
        ASSERT_EQ(x->tensors().size(), y->tensors().size());
        int      same = 0, n = 0;
        uint64_t diff_bytes = 0, bytes = 0;
        for (size_t i = 0; i < x->tensors().size(); ++i) {
            const GgufTensor & tx = x->tensors()[i];
            const GgufTensor & ty = y->tensors()[i];
            ASSERT_EQ(tx.name, ty.name);
            ASSERT_EQ(tx.ggml_type, ty.ggml_type) << tx.name;
            ASSERT_EQ(tx.nbytes, ty.nbytes);
            uint64_t d = 0;
            for (uint64_t k = 0; k < tx.nbytes; ++k) {
                d += tx.data[k] != ty.data[k] ? 1 : 0;
            }
            ++n;
            same += d == 0 ? 1 : 0;
            diff_bytes += d;
            bytes += tx.nbytes;
            if (d != 0) {
                std::printf("  %s %s: %llu of %llu bytes differ\n", type, tx.name.c_str(),
                            static_cast<unsigned long long>(d), static_cast<unsigned long long>(tx.nbytes));
            }
        }
        std::printf("%s with our imatrix: %d of %d tensors byte-identical to llama-imatrix's (%.2g of bytes differ)\n",
                    type, same, n, double(diff_bytes) / double(bytes));
        EXPECT_LE(double(diff_bytes), kQuantDiffShare * double(bytes)) << type;
    }
}

TEST(PerplexitySmolLM2, Wikitext8ChunksMatchesLlamaCpp) {
    const fs::path model = smollm2_path();
    const auto     sd    = shared_dir();
    if (!fs::exists(model) || !sd || !fs::exists(*sd / "data/wikitext-2-raw/wiki.test.raw")) {
        GTEST_SKIP() << "SmolLM2-135M-Instruct.Q4_1.gguf or wiki.test.raw not found (NIBBLE_SMOLLM2)";
    }
    TempDir        tmp;
    const fs::path log = tmp.path() / "smol.log";
    ASSERT_EQ(run_cli({ "perplexity", "-m", model.string(), "-f", (*sd / "data/wikitext-2-raw/wiki.test.raw").string(),
                        "-c", "512", "--chunks", "8" },
                      log),
              0)
        << read_all(log);
    const auto got = final_estimate(read_all(log));
    ASSERT_TRUE(got) << read_all(log);
    // llama-perplexity, same arguments: Final estimate: PPL = 24.5813 +/- 1.66801
    EXPECT_NEAR(got->first, 24.5813, kPplRelTol * 24.5813);
    EXPECT_NEAR(got->second, 1.66801, 1e-2 * 1.66801);
}

} // namespace
} // namespace nibble
