// llama-perplexity's protocol (FORMATS.md §6.1-6.3) as library functions over an injected evaluator, so
// the chunking, scoring and statistics are testable without a model: `nibble perplexity` passes a
// Session, tests pass a deterministic fake. The same protocol with all logits requested is
// llama-imatrix's evaluation loop (`collect` below).
#pragma once

#include "core/status.h"
#include "runtime/kld.h"

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

namespace nibble {

// What the protocol needs from a model: Session's clear/eval (src/runtime/session.h).
class LogitsEvaluator {
  public:
    virtual ~LogitsEvaluator()           = default;
    virtual int64_t      n_vocab() const = 0;
    virtual void         clear()         = 0; // forget the KV cache, positions restart at 0
    // Evaluates tokens at the next positions; writes logits of rows [first_logit_row, n).
    virtual Result<bool> eval(std::span<const int32_t> tokens, float * logits, int64_t first_logit_row) = 0;
};

struct PerplexityParams {
    int64_t n_ctx      = 512;
    int64_t n_chunks   = -1;   // -1: all full chunks
    int64_t n_batch    = 2048; // tokens per eval call (a chunk is split when n_batch < n_ctx)
    bool    add_bos    = false;
    int32_t bos_id     = -1;
    // llama-imatrix: request the logits of every position (its FFN of the last layer then sees all
    // tokens); only the second half is scored either way.
    bool    all_logits = false;
};

struct PerplexityProgress {
    int64_t chunk    = 0; // 1-based, chunks done
    int64_t n_chunk  = 0;
    double  ppl      = 0; // running
    double  seconds  = 0; // since the first eval
    int64_t n_tokens = 0; // evaluated so far
};

struct PerplexityResult {
    int64_t             n_chunk = 0;
    int64_t             count   = 0; // scored tokens
    double              nll = 0, nll2 = 0;
    double              ppl = 0, ppl_err = 0; // ppl_err 0 when the variance is not positive
    bool                err_ok = false;
    std::vector<double> running_ppl; // after each chunk
    double              seconds  = 0;
    int64_t             n_tokens = 0; // evaluated (n_chunk * n_ctx)
};

// Number of chunks the protocol uses, or an error when the text is shorter than 2 * n_ctx tokens.
Result<int64_t> perplexity_chunks(int64_t n_tokens, int64_t n_ctx, int64_t n_chunks);

// Tokens actually fed to the model for chunk c (BOS substitution applied).
std::vector<int32_t> chunk_tokens(std::span<const int32_t> tokens, int64_t c, const PerplexityParams & p);

// Runs the protocol over `tokens`. With `save_base` (opened by the caller with this function's header,
// see perplexity_base_header) the scored log-probs are written as llama-perplexity
// --kl-divergence-base does (and the NLL is then the float value of that code path).
Result<PerplexityResult> run_perplexity(std::span<const int32_t> tokens, const PerplexityParams & p,
                                        LogitsEvaluator & ev, LogitsFileWriter * save_base,
                                        const std::function<void(const PerplexityProgress &)> & on_chunk);

LogitsFileHeader perplexity_base_header(std::span<const int32_t> tokens, int64_t n_ctx, int64_t n_chunk,
                                        int64_t n_vocab);

struct KldProgress {
    int64_t         chunk    = 0; // 1-based
    int64_t         n_chunk  = 0;
    const KldSums * sums     = nullptr;
    double          seconds  = 0;
    int64_t         n_tokens = 0;
};

struct KldResult {
    KldSums            sums;
    std::vector<float> kld_values, p_diff_values; // per scored token, in order
    double             seconds  = 0;
    int64_t            n_tokens = 0;
};

// --kl-divergence: evaluates the chunks stored in `base` (tokens from the file, same BOS substitution)
// and compares with its log-probs. n_vocab of the evaluator must equal the file's.
Result<KldResult> run_kl_divergence(LogitsFileReader & base, const PerplexityParams & p, LogitsEvaluator & ev,
                                    const std::function<void(const KldProgress &)> & on_chunk);

// Final line: "Final estimate: PPL = %.4lf +/- %.5lf".
std::string format_final_estimate(const PerplexityResult & r);

} // namespace nibble
