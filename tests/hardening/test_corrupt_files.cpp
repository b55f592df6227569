// Corrupt-file corpus checks (issue 3, hardening): every checked-in broken GGUF, SafeTensors file and
// JSON side file must give a clean error that names the file, a byte offset and the broken rule, in
// under a second, and `nibble inspect` must exit non-zero on it without a crash or a sanitizer report.
// The SafeTensors and JSON files are generated from corrupt_cases.h; regenerate after changing it:
//   NIBBLE_REGEN_CORRUPT_CORPUS=1 build/tests/hardening/nibble_corrupt_tests --gtest_filter='*Generator*'
// (the GGUF corpus belongs to tests/unit/test_gguf.cpp and is only run through the CLI here).
#include "hardening/corrupt_cases.h"
#include "io/hf_checkpoint.h"
#include "io/safetensors.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

extern char ** environ;

namespace fs = std::filesystem;
using namespace nibble;
using namespace nibble::test;

namespace {

// The corpora, found next to this source file (absolute __FILE__ under CMake) or from the repository
// root that ctest runs in.
fs::path data_dir() {
    const fs::path here = fs::path(__FILE__).parent_path().parent_path() / "data";
    if (here.is_absolute() && fs::is_directory(here)) {
        return here;
    }
    return fs::path("tests") / "data";
}

std::string read_all(const fs::path & p) {
    std::ifstream f(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

void write_all(const fs::path & p, const std::string & b) {
    std::ofstream f(p, std::ios::binary | std::ios::trunc);
    f.write(b.data(), std::streamsize(b.size()));
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

bool regen() {
    return std::getenv("NIBBLE_REGEN_CORRUPT_CORPUS") != nullptr;
}

// Writes (when regenerating) or compares the generated cases against the checked-in folder.
void match_generator(const fs::path & dir, const std::vector<BrokenFile> & cases) {
    uint64_t total = 0;
    for (const BrokenFile & c : cases) {
        const fs::path p = dir / c.name;
        if (regen()) {
            fs::create_directories(p.parent_path());
            write_all(p, c.bytes);
        }
        EXPECT_TRUE(fs::exists(p) && read_all(p) == c.bytes)
            << p << " is missing or stale; regenerate: NIBBLE_REGEN_CORRUPT_CORPUS=1 "
            << "build/tests/hardening/nibble_corrupt_tests --gtest_filter='*Generator*'";
        total += c.bytes.size();
    }
    EXPECT_LT(total, 200u * 1024); // keep the repository small
}

std::map<std::string, std::string> rules_by_name(const std::vector<BrokenFile> & cases) {
    std::map<std::string, std::string> m;
    for (const BrokenFile & c : cases) {
        m[c.name] = c.rule;
    }
    return m;
}

// "<file>: offset N: <rule>" with the expected rule when the case is a generated one (files added by
// hand, such as fuzzer reproducers, only need to fail).
void expect_clean_error(const Error & e, const std::string & file, const std::string & rule) {
    const std::string msg = e.message();
    EXPECT_EQ(e.file, file) << msg;
    EXPECT_EQ(msg.rfind(file + ": offset ", 0), 0u) << msg;
    EXPECT_FALSE(e.what.empty()) << msg;
    if (!rule.empty()) {
        EXPECT_NE(msg.find(rule), std::string::npos) << "expected \"" << rule << "\" in: " << msg;
    }
}

class TempDir {
  public:
    explicit TempDir(const std::string & tag) {
        path_ = fs::path(::testing::TempDir()) / ("nibble_corrupt_" + tag + "_" + std::to_string(::getpid()));
        fs::remove_all(path_);
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

// A valid checkpoint with the JSON case copied in under the file name its role folder stands for.
// Returns the path of the copy.
fs::path checkpoint_with(const fs::path & dir, const fs::path & json_case) {
    for (const auto & e : fs::directory_iterator(dir)) {
        fs::remove_all(e.path());
    }
    const std::string shard = st_raw("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8);
    write_all(dir / "model.safetensors", shard);
    write_all(dir / "model-00001-of-00001.safetensors", shard);
    const std::string role = json_case.parent_path().filename().string();
    for (const JsonRole & r : kJsonRoles) {
        if (role == r.folder) {
            const fs::path dst = dir / r.file_name;
            fs::copy_file(json_case, dst);
            return dst;
        }
    }
    ADD_FAILURE() << "unknown role folder " << role << " for " << json_case;
    return {};
}

std::vector<fs::path> files_in(const fs::path & dir, const std::string & ext) {
    std::vector<fs::path> out;
    for (const auto & e : fs::recursive_directory_iterator(dir)) {
        if (e.is_regular_file() && e.path().extension() == ext) {
            out.push_back(e.path());
        }
    }
    std::sort(out.begin(), out.end());
    return out;
}

} // namespace

// ---------------------------------------------------------------------------------------------
// SafeTensors

TEST(SafetensorsCorrupt, MatchesGenerator) {
    match_generator(data_dir() / "safetensors-corrupt", safetensors_corrupt_cases());
}

TEST(SafetensorsCorrupt, CasesBreakTheirRule) {
    for (const BrokenFile & c : safetensors_corrupt_cases()) {
        SCOPED_TRACE(c.name);
        const auto              t0 = std::chrono::steady_clock::now();
        Result<SafeTensorsFile> r =
            SafeTensorsFile::parse(c.name, reinterpret_cast<const uint8_t *>(c.bytes.data()), c.bytes.size());
        EXPECT_LT(seconds_since(t0), 1.0);
        ASSERT_FALSE(r.ok());
        expect_clean_error(r.error(), c.name, c.rule);
    }
}

TEST(SafetensorsCorrupt, EveryCheckedInFileFails) {
    const auto rules = rules_by_name(safetensors_corrupt_cases());
    const auto files = files_in(data_dir() / "safetensors-corrupt", ".safetensors");
    EXPECT_GE(files.size(), 50u);
    for (const fs::path & p : files) {
        SCOPED_TRACE(p.string());
        const auto              it   = rules.find(p.filename().string());
        const std::string       rule = it == rules.end() ? "" : it->second;
        auto                    t0   = std::chrono::steady_clock::now();
        Result<SafeTensorsFile> r    = SafeTensorsFile::open(p.string());
        EXPECT_LT(seconds_since(t0), 1.0);
        ASSERT_FALSE(r.ok());
        expect_clean_error(r.error(), p.string(), rule);
        // The checkpoint loader (what `nibble inspect` uses) reports the same error.
        t0                      = std::chrono::steady_clock::now();
        Result<HfCheckpoint> ck = HfCheckpoint::open(p.string());
        EXPECT_LT(seconds_since(t0), 1.0);
        ASSERT_FALSE(ck.ok());
        expect_clean_error(ck.error(), p.string(), rule);
    }
}

// ---------------------------------------------------------------------------------------------
// JSON side files

TEST(JsonCorrupt, MatchesGenerator) {
    match_generator(data_dir() / "json-corrupt", json_corrupt_cases());
}

TEST(JsonCorrupt, EveryCheckedInFileFails) {
    const auto rules = rules_by_name(json_corrupt_cases());
    const auto root  = data_dir() / "json-corrupt";
    const auto files = files_in(root, ".json");
    EXPECT_GE(files.size(), 60u);
    TempDir tmp("json");
    for (const fs::path & p : files) {
        SCOPED_TRACE(p.string());
        const auto           it   = rules.find(fs::relative(p, root).generic_string());
        const std::string    rule = it == rules.end() ? "" : it->second;
        const fs::path       copy = checkpoint_with(tmp.path(), p);
        const auto           t0   = std::chrono::steady_clock::now();
        Result<HfCheckpoint> ck   = HfCheckpoint::open(tmp.path().string());
        EXPECT_LT(seconds_since(t0), 1.0);
        ASSERT_FALSE(ck.ok());
        expect_clean_error(ck.error(), copy.string(), rule);
    }
}

// ---------------------------------------------------------------------------------------------
// `nibble inspect` on every corrupt file: non-zero exit, the error on stderr, no crash.

#ifdef NIBBLE_CLI

namespace {

struct RunResult {
    int         status = -1; // exit status, or -signal when killed
    std::string err;         // stderr
    double      seconds = 0;
};

RunResult run_inspect(const std::string & path, const fs::path & err_file) {
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    std::string cli = NIBBLE_CLI, cmd = "inspect", arg = path;
    char *      argv[] = { cli.data(), cmd.data(), arg.data(), nullptr };
    RunResult   r;
    const auto  t0  = std::chrono::steady_clock::now();
    pid_t       pid = 0;
    if (posix_spawn(&pid, cli.c_str(), &fa, nullptr, argv, environ) == 0) {
        int ws = 0;
        waitpid(pid, &ws, 0);
        r.status = WIFEXITED(ws) ? WEXITSTATUS(ws) : -WTERMSIG(ws);
    }
    r.seconds = seconds_since(t0);
    posix_spawn_file_actions_destroy(&fa);
    r.err = read_all(err_file);
    return r;
}

// `shown` is the path the message must name (the file itself, or the side file inside a folder).
void expect_inspect_fails(const std::string & arg, const std::string & shown, const fs::path & err_file) {
    SCOPED_TRACE(arg);
    const RunResult r = run_inspect(arg, err_file);
    EXPECT_GT(r.status, 0) << "exit status " << r.status << ", stderr: " << r.err; // < 0: killed by a signal
    EXPECT_LT(r.seconds, 1.0);
    EXPECT_NE(r.err.find(shown + ": offset "), std::string::npos) << r.err;
    for (const char * s : { "Sanitizer", "runtime error", "terminate called" }) {
        EXPECT_EQ(r.err.find(s), std::string::npos) << r.err;
    }
}

} // namespace

TEST(InspectCorrupt, EveryCorruptFileExitsNonZero) {
    ASSERT_TRUE(fs::exists(NIBBLE_CLI)) << NIBBLE_CLI;
    TempDir        tmp("cli");
    const fs::path err = tmp.path() / "stderr.txt";
    size_t         n   = 0;
    for (const char * sub : { "gguf-corrupt", "safetensors-corrupt" }) {
        for (const fs::path & p :
             files_in(data_dir() / sub, std::string(".") + (sub[0] == 'g' ? "gguf" : "safetensors"))) {
            expect_inspect_fails(p.string(), p.string(), err);
            n++;
        }
    }
    const fs::path ck = tmp.path() / "ck";
    fs::create_directories(ck);
    for (const fs::path & p : files_in(data_dir() / "json-corrupt", ".json")) {
        const fs::path copy = checkpoint_with(ck, p);
        SCOPED_TRACE(p.string());
        expect_inspect_fails(ck.string(), copy.string(), err);
        n++;
    }
    EXPECT_GE(n, 150u);
}

#endif

// ---------------------------------------------------------------------------------------------
// Found while fuzzing: every "re:" entry of an ignore list was compiled by std::regex, whose NFA for
// "a{9999}" has ~10k states; the 13 KB config.json in tests/fuzz/repro (1000 such entries) cost ~7 s
// and ~480 MB to open. HfIgnoreMatcher now dedupes entries and bounds the estimated compile cost.

TEST(JsonCorrupt, IgnoreRegexCostIsBounded) {
    const fs::path repro = data_dir().parent_path() / "fuzz" / "repro" / "ignore_regex_blowup.config.json";
    ASSERT_TRUE(fs::exists(repro)) << repro;
    TempDir tmp("regex");
    write_all(tmp.path() / "model.safetensors",
              st_raw("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8));
    fs::copy_file(repro, tmp.path() / "config.json");
    const auto           t0 = std::chrono::steady_clock::now();
    Result<HfCheckpoint> ck = HfCheckpoint::open(tmp.path().string());
    EXPECT_LT(seconds_since(t0), 1.0);
}
