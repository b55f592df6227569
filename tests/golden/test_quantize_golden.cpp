// `nibble quantize` against llama-quantize (../shared/golden/llama-quantize, see its README):
//   * library: for both models, every file type and variant (plain / imatrix) and NVFP4-blk, the
//     quantizer's output has the same tensors in the same order with the same types, shapes, sizes and
//     sha256 of the data, and the same metadata (imatrix file/dataset strings: existence and type only);
//     the four full golden files are reproduced byte for byte;
//   * CLI: the `nibble` binary reproduces synth256.NVFP4-blk.gguf byte for byte, and an interrupted or
//     failed run leaves no output (and no temporary) file, keeping an existing output untouched.
#include "io/gguf.h"
#include "io/gguf_writer.h"
#include "io/imatrix.h"
#include "quant/quantizer.h"
#include "unit/sha256.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

extern char ** environ;

namespace nibble {
namespace {

namespace fs = std::filesystem;
using json   = nlohmann::json;

// NIBBLE_SHARED_DIR, else ../shared beside the checkout (ctest runs from the repo root).
std::optional<fs::path> shared_dir() {
    if (const char * env = std::getenv("NIBBLE_SHARED_DIR"); env != nullptr && *env != '\0') {
        return fs::is_directory(env) ? std::optional<fs::path>(env) : std::nullopt;
    }
    for (const char * rel : { "../shared", "../../shared" }) {
        if (fs::is_directory(fs::path(rel) / "golden" / "llama-quantize")) {
            return fs::path(rel);
        }
    }
    return std::nullopt;
}

fs::path golden_dir() {
    return *shared_dir() / "golden" / "llama-quantize";
}

// A fresh folder under the system temp dir, removed with everything in it at the end of the test.
class TempDir {
  public:
    TempDir() {
        path_ = base() / ("nibble-qgolden-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++));
        fs::create_directories(path_);
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    const fs::path & path() const { return path_; }

    // Names of the files in the folder (to catch stray temporary files).
    std::set<std::string> files() const {
        std::set<std::string> names;
        for (const auto & e : fs::directory_iterator(path_)) {
            names.insert(e.path().filename().string());
        }
        return names;
    }

  private:
    // tmpfs when there is one: every quantized file is fsync'ed on commit, which on a slow disk costs
    // more than the quantization of these small models.
    static fs::path base() {
        std::error_code ec;
        if (fs::is_directory("/dev/shm", ec) && ::access("/dev/shm", W_OK) == 0) {
            return "/dev/shm";
        }
        return fs::temp_directory_path();
    }

    fs::path          path_;
    static inline int counter_ = 0;
};

std::string read_all(const fs::path & p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

// A metadata value as the manifests write it (scalars; arrays as lists).
json value_json(const GgufValue & v) {
    if (v.is_array()) {
        json a = json::array();
        for (uint64_t i = 0; i < v.size(); ++i) {
            switch (v.elem_type()) {
                case GgufType::STRING:
                    a.push_back(std::string(v.string_at(i)));
                    break;
                case GgufType::INT32:
                    a.push_back(v.at<int32_t>(i));
                    break;
                case GgufType::UINT32:
                    a.push_back(v.at<uint32_t>(i));
                    break;
                case GgufType::FLOAT32:
                    a.push_back(double(v.at<float>(i)));
                    break;
                default:
                    a.push_back(nullptr);
            }
        }
        return a;
    }
    switch (v.type()) {
        case GgufType::UINT8:
            return *v.get<uint8_t>();
        case GgufType::INT8:
            return *v.get<int8_t>();
        case GgufType::UINT16:
            return *v.get<uint16_t>();
        case GgufType::INT16:
            return *v.get<int16_t>();
        case GgufType::UINT32:
            return *v.get<uint32_t>();
        case GgufType::INT32:
            return *v.get<int32_t>();
        case GgufType::UINT64:
            return *v.get<uint64_t>();
        case GgufType::INT64:
            return *v.get<int64_t>();
        case GgufType::FLOAT32:
            return double(*v.get<float>()); // the manifests hold the float widened to double
        case GgufType::FLOAT64:
            return *v.get<double>();
        case GgufType::BOOL:
            return *v.get<bool>();
        case GgufType::STRING:
            return std::string(*v.get_string());
        default:
            return nullptr;
    }
}

// Keys the manifests leave out (README: "token list/scores/types copied unchanged from the input").
const std::set<std::string> kOmittedKeys = { "tokenizer.ggml.tokens", "tokenizer.ggml.scores",
                                             "tokenizer.ggml.token_type", "tokenizer.ggml.merges" };

struct Case {
    std::string type, variant;
};

// Runs one case through the library and compares the output with the manifest entry.
void check_case(const GgufFile & in, const Imatrix & imatrix, const json & expected, const Case & c,
                const fs::path & out, const std::optional<fs::path> & full_file) {
    SCOPED_TRACE(in.path() + " " + c.type + " " + c.variant);
    QuantizeConfig cfg;
    cfg.n_threads = 2;
    std::optional<FileType> ft;
    if (c.type == "NVFP4-blk") {
        // llama-quantize --tensor-type 'blk\..*=nvfp4' MODEL OUT Q8_0: ggml's RTN NVFP4.
        ft = FileType::Q8_0;
        cfg.policy.tensor_type_overrides.push_back(*parse_tensor_type_override("blk\\..*=nvfp4"));
        cfg.nvfp4_search = 0;
    } else {
        ft = file_type_from_name(c.type);
    }
    ASSERT_TRUE(ft.has_value());
    if (c.variant == "imatrix") {
        cfg.imatrix       = &imatrix;
        cfg.imatrix_label = fs::path(imatrix.path).filename().string();
    }
    const Result<QuantizeSummary> s = quantize_gguf(in, out.string(), *ft, cfg);
    ASSERT_TRUE(s.ok()) << s.error().message();

    const Result<GgufFile> got = GgufFile::open(out.string());
    ASSERT_TRUE(got.ok()) << got.error().message();
    EXPECT_TRUE(got->sequential());
    EXPECT_EQ(got->alignment(), 32u);

    // Tensors: llama-model-loader order, then type, shape, size and data of each.
    const json &             tensors = expected.at("tensors");
    std::vector<std::string> order;
    for (const auto & [name, e] : tensors.items()) {
        order.push_back(name);
    }
    std::stable_sort(order.begin(), order.end(), llama_tensor_order_less);
    ASSERT_EQ(got->tensors().size(), order.size());
    for (size_t i = 0; i < order.size(); ++i) {
        const GgufTensor & t = got->tensors()[i];
        ASSERT_EQ(t.name, order[i]) << "tensor " << i;
        const json & e  = tensors.at(t.name);
        const auto * ti = ggml_type_info(t.ggml_type);
        ASSERT_NE(ti, nullptr);
        // The manifests spell ggml type names in lower case ("q6_k" for ggml's "q6_K").
        std::string type = ti->name;
        std::transform(type.begin(), type.end(), type.begin(), [](char ch) { return char(std::tolower(ch)); });
        EXPECT_EQ(type, e.at("type").get<std::string>()) << t.name;
        const std::vector<int64_t> ne = e.at("ne").get<std::vector<int64_t>>();
        ASSERT_EQ(t.n_dims, ne.size()) << t.name;
        for (size_t d = 0; d < ne.size(); ++d) {
            EXPECT_EQ(t.ne[d], ne[d]) << t.name << " dim " << d;
        }
        EXPECT_EQ(t.nbytes, e.at("nbytes").get<uint64_t>()) << t.name;
        EXPECT_EQ(test::sha256_hex(t.data, t.nbytes), e.at("sha256").get<std::string>()) << t.name << " data differs";
    }

    // Metadata: the manifest's keys and values; everything else only the omitted tokenizer arrays.
    const json & meta = expected.at("metadata");
    for (const GgufKV & kv : got->metadata()) {
        if (kOmittedKeys.count(kv.key) != 0) {
            const GgufKV * src = in.find(kv.key);
            ASSERT_NE(src, nullptr) << kv.key;
            EXPECT_TRUE(std::equal(kv.value.encoded().begin(), kv.value.encoded().end(), src->value.encoded().begin(),
                                   src->value.encoded().end()))
                << kv.key << " not copied unchanged";
            continue;
        }
        ASSERT_TRUE(meta.contains(kv.key)) << "unexpected key " << kv.key;
        if (kv.key == "quantize.imatrix.file" || kv.key == "quantize.imatrix.dataset") {
            EXPECT_EQ(kv.value.type(), GgufType::STRING) << kv.key; // README: the path strings may differ
            continue;
        }
        EXPECT_EQ(value_json(kv.value), meta.at(kv.key)) << kv.key;
        if (kv.key.starts_with("quantize.imatrix.") || kv.key == "general.file_type" ||
            kv.key == "general.quantization_version") {
            EXPECT_EQ(kv.value.type(), GgufType::UINT32) << kv.key;
        } else if (const GgufKV * src = in.find(kv.key)) {
            EXPECT_EQ(kv.value.type(), src->value.type()) << kv.key << " changed type";
        }
    }
    for (const auto & [key, v] : meta.items()) {
        EXPECT_NE(got->find(key), nullptr) << "missing key " << key;
    }

    if (full_file) {
        EXPECT_TRUE(read_all(out) == read_all(*full_file)) << "differs from " << *full_file;
    }
    std::error_code ec;
    fs::remove(out, ec);
}

void check_model(const std::string & model, const fs::path & input) {
    const std::optional<fs::path> shared = shared_dir();
    if (!shared) {
        GTEST_SKIP() << "../shared not found (set NIBBLE_SHARED_DIR)";
    }
    std::ifstream mf(golden_dir() / (model + ".manifest.json"));
    ASSERT_TRUE(mf) << model << ".manifest.json";
    const json manifest = json::parse(mf);

    const Result<GgufFile> in = GgufFile::open(input.string());
    ASSERT_TRUE(in.ok()) << in.error().message();
    const Result<Imatrix> im = load_imatrix((golden_dir() / (model + ".imatrix.gguf")).string());
    ASSERT_TRUE(im.ok()) << im.error().message();

    TempDir tmp;
    int     n_cases = 0;
    for (const auto & [type, variants] : manifest.items()) {
        for (const auto & [variant, expected] : variants.items()) {
            // Full files kept for debugging: synth256.Q4_K_M.gguf, synth256.IQ4_XS.imatrix.gguf, ...
            const std::string       stem = model + "." + type + (variant == "imatrix" ? ".imatrix" : "") + ".gguf";
            std::optional<fs::path> full;
            if (fs::exists(golden_dir() / stem)) {
                full = golden_dir() / stem;
            }
            check_case(*in, *im, expected, Case{ type, variant }, tmp.path() / "out.gguf", full);
            ++n_cases;
        }
    }
    EXPECT_EQ(n_cases, 39); // 19 file types x {plain, imatrix} + NVFP4-blk
    EXPECT_EQ(tmp.files().size(), 0u) << "stray files left behind";
}

TEST(QuantizeGolden, Synth256EveryTypeByteIdenticalWithLlamaQuantize) {
    if (!shared_dir()) {
        GTEST_SKIP() << "../shared not found (set NIBBLE_SHARED_DIR)";
    }
    check_model("synth256", golden_dir() / "synth256.f16.gguf");
}

TEST(QuantizeGolden, TinyStories656kEveryTypeByteIdenticalWithLlamaQuantize) {
    if (!shared_dir()) {
        GTEST_SKIP() << "../shared not found (set NIBBLE_SHARED_DIR)";
    }
    check_model("656k", *shared_dir() / "models" / "tinystories-656k-gguf" / "TinyStories-656K.f16.gguf");
}

// The GGUF imatrix reader keeps the raw sums and counts, and the writer reproduces llama-imatrix's file.
TEST(QuantizeGolden, ImatrixRoundTripsByteForByte) {
    if (!shared_dir()) {
        GTEST_SKIP() << "../shared not found (set NIBBLE_SHARED_DIR)";
    }
    TempDir tmp;
    for (const char * model : { "656k", "synth256" }) {
        const fs::path        src = golden_dir() / (std::string(model) + ".imatrix.gguf");
        const Result<Imatrix> m   = load_imatrix(src.string());
        ASSERT_TRUE(m.ok()) << m.error().message();
        std::vector<ImatrixStats> stats;
        for (const auto & [name, e] : m->entries) {
            stats.push_back({ name, e.in_sum2, e.counts });
        }
        const fs::path out = tmp.path() / "im.gguf";
        ASSERT_TRUE(write_imatrix_gguf(out.string(), stats, m->datasets, m->chunk_count, m->chunk_size).ok());
        EXPECT_TRUE(read_all(out) == read_all(src)) << model;
    }
}

// ---------------------------------------------------------------------------------------------
// CLI

#ifdef NIBBLE_CLI_PATH
// Runs the nibble binary with `args`, stdout and stderr to `log`. With `interrupt_at`, sends SIGINT as
// soon as that text shows up in the log (so the signal lands mid-run, after the handler is installed).
// Returns the exit status, or 1000 + the signal number when the process was killed by a signal.
int run_cli(const std::vector<std::string> & args, const fs::path & log = "/dev/null",
            const std::string & interrupt_at = {}) {
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
    if (!interrupt_at.empty()) {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
        while (std::chrono::steady_clock::now() < deadline && ::waitpid(pid, &status, WNOHANG) == 0) {
            if (read_all(log).find(interrupt_at) != std::string::npos) {
                ::kill(pid, SIGINT);
                break;
            }
            std::this_thread::sleep_for(std::chrono::microseconds(200));
        }
    }
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1000 + WTERMSIG(status);
}

TEST(QuantizeCli, Nvfp4BlkReproducesLlamaQuantizeByteForByte) {
    if (!shared_dir()) {
        GTEST_SKIP() << "../shared not found (set NIBBLE_SHARED_DIR)";
    }
    TempDir        tmp;
    const fs::path out = tmp.path() / "nvfp4-blk.gguf";
    ASSERT_EQ(run_cli({ "quantize", "--nvfp4-search", "0", "--tensor-type", "blk\\..*=nvfp4",
                        (golden_dir() / "synth256.f16.gguf").string(), out.string(), "Q8_0" }),
              0);
    EXPECT_TRUE(read_all(out) == read_all(golden_dir() / "synth256.NVFP4-blk.gguf"));
    EXPECT_EQ(tmp.files(), std::set<std::string>{ "nvfp4-blk.gguf" });
}

// A model whose second weight holds a NaN: quantizing fails after the first tensor has been written.
void write_nan_model(const fs::path & path) {
    GgufWriter w;
    ASSERT_TRUE(w.add_string("general.architecture", "llama").ok());
    const std::vector<int64_t> ne = { 256, 64 };
    ASSERT_TRUE(w.add_tensor("blk.0.attn_q.weight", Format::F32, ne).ok());
    ASSERT_TRUE(w.add_tensor("blk.0.attn_v.weight", Format::F32, ne).ok());
    std::vector<float> x(256 * 64);
    for (size_t i = 0; i < x.size(); ++i) {
        x[i] = std::sin(float(i));
    }
    ASSERT_TRUE(w.begin(path.string()).ok());
    ASSERT_TRUE(w.write_tensor_data(0, x.data(), x.size() * 4).ok());
    x[1000] = std::nanf("");
    ASSERT_TRUE(w.write_tensor_data(1, x.data(), x.size() * 4).ok());
    ASSERT_TRUE(w.commit().ok());
}

TEST(QuantizeCli, FailedRunLeavesNoOutputAndKeepsAnExistingOne) {
    TempDir        tmp;
    const fs::path model = tmp.path() / "nan.gguf";
    write_nan_model(model);
    const fs::path out = tmp.path() / "out.gguf";
    EXPECT_EQ(run_cli({ "quantize", model.string(), out.string(), "Q8_0" }), 1);
    EXPECT_FALSE(fs::exists(out));

    std::ofstream(out) << "previous";
    EXPECT_EQ(run_cli({ "quantize", model.string(), out.string(), "Q8_0" }), 1);
    EXPECT_EQ(read_all(out), "previous");
    EXPECT_EQ(tmp.files(), (std::set<std::string>{ "nan.gguf", "out.gguf" }));

    // Refusals before any work: output is the input, unknown type, a folder as input.
    EXPECT_EQ(run_cli({ "quantize", model.string(), model.string(), "Q8_0" }), 1);
    EXPECT_EQ(run_cli({ "quantize", model.string(), (tmp.path() / "." / "nan.gguf").string(), "Q8_0" }), 1);
    EXPECT_EQ(run_cli({ "quantize", model.string(), out.string(), "Q9_9" }), 1);
    EXPECT_EQ(run_cli({ "quantize", tmp.path().string(), out.string(), "Q8_0" }), 1);
    EXPECT_EQ(read_all(out), "previous");
    EXPECT_EQ(tmp.files(), (std::set<std::string>{ "nan.gguf", "out.gguf" }));
}

TEST(QuantizeCli, SigintLeavesNoPartialFile) {
    if (!shared_dir()) {
        GTEST_SKIP() << "../shared not found (set NIBBLE_SHARED_DIR)";
    }
    TempDir                        tmp;
    const fs::path                 out  = tmp.path() / "out.gguf";
    // The slowest small job we have (single thread, the widest NVFP4 search) so the signal lands mid-run.
    const std::vector<std::string> args = { "quantize",       "-t",   "1",
                                            "--nvfp4-search", "126",  (golden_dir() / "synth256.f16.gguf").string(),
                                            out.string(),     "NVFP4" };
    // Signal once the first tensor is done (the plain progress lines go to the log: not a terminal).
    const int                      rc   = run_cli(args, tmp.path() / "log.txt", "[   1/");
    if (rc == 0) {
        GTEST_SKIP() << "the run finished before the signal arrived (machine too fast for this test)";
    }
    EXPECT_EQ(rc, 130) << read_all(tmp.path() / "log.txt");
    EXPECT_FALSE(fs::exists(out));
    EXPECT_EQ(tmp.files(), std::set<std::string>{ "log.txt" });
}
#endif

} // namespace
} // namespace nibble
