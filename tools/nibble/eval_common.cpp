#include "eval_common.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

namespace nibble::cli {

namespace {

std::string clock_text(double s) {
    const long t = long(s + 0.5);
    char       buf[32];
    if (t >= 3600) {
        std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    } else {
        std::snprintf(buf, sizeof buf, "%ld:%02ld", t / 60, t % 60);
    }
    return buf;
}

double now_seconds() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

} // namespace

Result<LoadedModel> load_model_and_tokenizer(const std::string & path, const char * tool) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) {
        return Error{ path, 0, "no such file" };
    }
    LoadedModel   out;
    const double  t0 = now_seconds();
    Result<Model> m  = Model::load(path);
    if (!m) {
        return m.error();
    }
    out.model.emplace(std::move(m.value()));
    Result<Tokenizer> t = Tokenizer::from_gguf(out.model->gguf());
    if (!t) {
        return t.error();
    }
    out.tokenizer.emplace(std::move(t.value()));
    out.load_seconds     = now_seconds() - t0;
    const ModelInfo & mi = out.model->info();
    std::fprintf(
        stderr,
        "%s: model %s (%s): %lld layers, n_embd %lld, n_vocab %lld, %.2f M params, %.2f MiB, loaded in %.2f s\n", tool,
        mi.name.c_str(), mi.arch.c_str(), static_cast<long long>(mi.n_layer), static_cast<long long>(mi.n_embd),
        static_cast<long long>(mi.n_vocab), double(mi.n_params) * 1e-6, double(mi.weight_bytes) / (1024.0 * 1024.0),
        out.load_seconds);
    return out;
}

Result<std::string> read_text_file(const std::string & path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        return Error{ path, 0, std::string("cannot open text file: ") + std::strerror(errno) };
    }
    std::string text{ std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>() };
    if (in.bad()) {
        return Error{ path, 0, "read error" };
    }
    if (!text.empty() && text.back() == '\n') {
        text.pop_back();
    }
    return text;
}

std::vector<int32_t> tokenize_text(const Tokenizer & tok, const std::string & text, const char * tool) {
    const double         t0     = now_seconds();
    std::vector<int32_t> tokens = tok.encode(text, /*add_bos=*/true, /*parse_special=*/false);
    const double         dt     = now_seconds() - t0;
    std::fprintf(stderr, "%s: %zu bytes -> %zu tokens in %.2f s (%.0f tokens/s)%s\n", tool, text.size(), tokens.size(),
                 dt, dt > 0 ? double(tokens.size()) / dt : 0.0, tok.add_bos() ? ", BOS added" : "");
    return tokens;
}

void ChunkProgress::operator()(int64_t chunk, int64_t n_chunk, double seconds, int64_t n_tokens) {
    if (!init_) {
        // With stdout on a terminal (or in the same file as stderr) the running `[i]ppl,` values are
        // the progress; progress lines would land in the middle of them.
        struct stat o {
        }, e{};
        const bool same_file = ::fstat(STDOUT_FILENO, &o) == 0 && ::fstat(STDERR_FILENO, &e) == 0 &&
                               o.st_dev == e.st_dev && o.st_ino == e.st_ino;
        quiet_ = ::isatty(STDOUT_FILENO) == 1 || same_file;
        tty_   = !quiet_ && ::isatty(STDERR_FILENO) == 1;
        init_  = true;
    }
    const double tps = seconds > 0 ? double(n_tokens) / seconds : 0.0;
    const double eta = chunk > 0 ? seconds * double(n_chunk - chunk) / double(chunk) : 0.0;
    if (chunk == 1) {
        std::fprintf(stderr, "%s%s: %.2f seconds per pass - ETA %s\n", drawn_ ? "\r\033[K" : "", tool_, seconds,
                     clock_text(seconds * double(n_chunk)).c_str());
        drawn_ = false;
    }
    if (quiet_) {
        return;
    }
    if (tty_) {
        std::fprintf(stderr, "\r\033[K%s: chunk %lld/%lld, %.1f tokens/s, elapsed %s, ETA %s", tool_,
                     static_cast<long long>(chunk), static_cast<long long>(n_chunk), tps, clock_text(seconds).c_str(),
                     clock_text(eta).c_str());
        drawn_ = true;
    } else if (chunk == n_chunk || chunk % 10 == 0) {
        std::fprintf(stderr, "%s: chunk %lld/%lld, %.1f tokens/s, elapsed %s, ETA %s\n", tool_,
                     static_cast<long long>(chunk), static_cast<long long>(n_chunk), tps, clock_text(seconds).c_str(),
                     clock_text(eta).c_str());
    }
}

void ChunkProgress::finish(double seconds, int64_t n_tokens) {
    if (drawn_) {
        std::fputc('\n', stderr);
        drawn_ = false;
    }
    std::fprintf(stderr, "%s: evaluated %lld tokens in %.2f s: %.1f tokens/s\n", tool_,
                 static_cast<long long>(n_tokens), seconds, seconds > 0 ? double(n_tokens) / seconds : 0.0);
}

} // namespace nibble::cli
