// Where tests find ../shared, and scratch directories they clean up after themselves.
#pragma once

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>

namespace nibble::test {

// Tests find models through one env var, else ../shared next to the repo root (STYLE.md Avoid #5).
// Empty when neither exists (the caller skips).
inline std::filesystem::path shared_dir() {
    namespace fs = std::filesystem;
    if (const char * env = std::getenv("NIBBLE_SHARED_DIR"); env != nullptr && *env != '\0') {
        return env;
    }
    for (const char * rel : { "../shared", "../../shared", "shared" }) {
        if (fs::is_directory(fs::path(rel) / "models")) {
            return rel;
        }
    }
    return {};
}

// A fresh directory under gtest's temp dir, named after `tag` and the process, removed afterwards.
class TempDir {
  public:
    explicit TempDir(const std::string & tag) {
        path_ = std::filesystem::path(::testing::TempDir()) / ("nibble_" + tag + "_" + std::to_string(::getpid()));
        std::filesystem::remove_all(path_);
        std::filesystem::create_directories(path_);
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    TempDir(const TempDir &)             = delete;
    TempDir & operator=(const TempDir &) = delete;

    const std::filesystem::path & path() const { return path_; }
    std::filesystem::path         operator/(const std::string & s) const { return path_ / s; }

  private:
    std::filesystem::path path_;
};

}  // namespace nibble::test
