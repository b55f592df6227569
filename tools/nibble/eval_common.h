// Shared by `nibble perplexity` and `nibble imatrix`: loading model +
// tokenizer, reading and tokenizing the text the way llama.cpp's -f does, and
// progress lines on stderr.
#pragma once

#include "core/status.h"
#include "model/tokenizer/tokenizer.h"
#include "runtime/perplexity.h"
#include "runtime/session.h"
#include "runtime/session_evaluator.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace nibble::cli {

struct LoadedModel {
    std::optional<Model>     model;
    std::optional<Tokenizer> tokenizer;
    double                   load_seconds = 0;
};

// Model::load + Tokenizer::from_gguf; `tool` prefixes the stderr summary line.
Result<LoadedModel> load_model_and_tokenizer(const std::string & path, const char * tool);

// The file's bytes with one trailing newline removed (llama.cpp's -f).
Result<std::string> read_text_file(const std::string & path);

// Tokenizes like llama-perplexity / llama-imatrix: BOS when the vocabulary adds
// it, no special-token parsing. Prints the token count and tokens/s of the
// tokenizer to stderr.
std::vector<int32_t> tokenize_text(const Tokenizer & tok, const std::string & text, const char * tool);

// llama.cpp's "%.2f seconds per pass - ETA ..." after the first chunk, then a
// progress line per chunk.
class ChunkProgress {
  public:
    explicit ChunkProgress(const char * tool) : tool_(tool) {}
    void operator()(int64_t chunk, int64_t n_chunk, double seconds, int64_t n_tokens);
    void finish(double seconds, int64_t n_tokens);

  private:
    const char * tool_;
    bool         quiet_ = false;
    bool         tty_   = false;
    bool         drawn_ = false;
    bool         init_  = false;
};

} // namespace nibble::cli
