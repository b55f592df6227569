// The chunk loop of llama-perplexity (`perplexity`, `kl_divergence`) and llama-imatrix
// (`compute_imatrix`). One chunk is evaluated at a time from an empty cache; llama.cpp packs
// n_batch / n_ctx independent chunks into one decode, which gives the same logits per chunk.
// Scoring runs in chunk order on one thread, so the sums (and the printed digits) are deterministic.
#include "runtime/perplexity.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>

namespace nibble {

namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t0) {
    return std::chrono::duration<double>(Clock::now() - t0).count();
}

// -log p(tok) as llama-perplexity's plain path computes it: float max and differences, double sum.
double nll_of(int64_t n_vocab, const float * logits, int32_t tok) {
    float max_logit = logits[0];
    for (int64_t i = 1; i < n_vocab; ++i) {
        max_logit = std::max(max_logit, logits[i]);
    }
    double sum_exp = 0.0;
    for (int64_t i = 0; i < n_vocab; ++i) {
        sum_exp += std::exp(logits[i] - max_logit);
    }
    return -(double(logits[tok] - max_logit) - std::log(sum_exp));
}

// Evaluates one chunk (n_ctx tokens, BOS already substituted) in batches of n_batch from an empty
// cache. Writes the logits of positions [first_row, n_ctx) contiguously into `out`.
Result<bool> eval_chunk(LogitsEvaluator & ev, std::span<const int32_t> toks, int64_t n_batch, int64_t first_row,
                        float * out) {
    const int64_t n_ctx   = int64_t(toks.size());
    const int64_t n_vocab = ev.n_vocab();
    ev.clear();
    for (int64_t b = 0; b < n_ctx; b += n_batch) {
        const int64_t size = std::min(n_batch, n_ctx - b);
        const int64_t flr  = std::clamp<int64_t>(first_row - b, 0, size);
        float *       dst  = out + size_t(b + flr - first_row) * size_t(n_vocab);
        if (Result<bool> r = ev.eval(toks.subspan(size_t(b), size_t(size)), dst, flr); !r) {
            return r;
        }
    }
    return true;
}

Result<bool> check_params(const PerplexityParams & p, int64_t n_vocab) {
    if (p.n_ctx < 4) {
        return Error{ "", 0, "context size " + std::to_string(p.n_ctx) + " is too small (need at least 4)" };
    }
    if (p.n_batch <= 0) {
        return Error{ "", 0, "batch size must be positive" };
    }
    if (n_vocab <= 0) {
        return Error{ "", 0, "model has no vocabulary" };
    }
    if (p.add_bos && (p.bos_id < 0 || p.bos_id >= n_vocab)) {
        return Error{ "", 0, "the vocabulary adds BOS but has no valid BOS token id" };
    }
    return true;
}

} // namespace

Result<int64_t> perplexity_chunks(int64_t n_tokens, int64_t n_ctx, int64_t n_chunks) {
    if (n_tokens < 2 * n_ctx) {
        return Error{ "", 0,
                      "need at least 2*n_ctx tokens (" + std::to_string(2 * n_ctx) + " for a context of " +
                          std::to_string(n_ctx) + "); the text tokenizes to only " + std::to_string(n_tokens) };
    }
    const int64_t n_max = n_tokens / n_ctx;
    return n_chunks < 0 ? n_max : std::min(n_chunks, n_max);
}

std::vector<int32_t> chunk_tokens(std::span<const int32_t> tokens, int64_t c, const PerplexityParams & p) {
    std::vector<int32_t> t(tokens.begin() + c * p.n_ctx, tokens.begin() + (c + 1) * p.n_ctx);
    if (p.add_bos) {
        t[0] = p.bos_id;
    }
    return t;
}

LogitsFileHeader perplexity_base_header(std::span<const int32_t> tokens, int64_t n_ctx, int64_t n_chunk,
                                        int64_t n_vocab) {
    LogitsFileHeader h;
    h.n_ctx   = int32_t(n_ctx);
    h.n_vocab = int32_t(n_vocab);
    h.n_chunk = int32_t(n_chunk);
    h.tokens.assign(tokens.begin(), tokens.begin() + n_chunk * n_ctx);
    return h;
}

Result<PerplexityResult> run_perplexity(std::span<const int32_t> tokens, const PerplexityParams & p,
                                        LogitsEvaluator & ev, LogitsFileWriter * save_base,
                                        const std::function<void(const PerplexityProgress &)> & on_chunk) {
    const int64_t n_vocab = ev.n_vocab();
    if (Result<bool> r = check_params(p, n_vocab); !r) {
        return r.error();
    }
    const Result<int64_t> nc = perplexity_chunks(int64_t(tokens.size()), p.n_ctx, p.n_chunks);
    if (!nc) {
        return nc.error();
    }
    PerplexityResult res;
    res.n_chunk                    = *nc;
    const int64_t         first    = p.n_ctx / 2;
    const int64_t         n_scored = p.n_ctx - 1 - first;
    const int64_t         row0     = p.all_logits ? 0 : first; // first row held in `logits`
    std::vector<float>    logits(size_t(p.n_ctx - row0) * size_t(n_vocab));
    std::vector<uint16_t> records;
    if (save_base != nullptr) {
        records.resize(size_t(n_scored) * size_t(kld_record_len(n_vocab)));
    }
    const Clock::time_point t0 = Clock::now();
    for (int64_t c = 0; c < res.n_chunk; ++c) {
        const std::vector<int32_t> toks = chunk_tokens(tokens, c, p);
        if (Result<bool> r = eval_chunk(ev, toks, p.n_batch, row0, logits.data()); !r) {
            return r.error();
        }
        res.n_tokens += p.n_ctx;
        // Targets are the original tokens (the BOS substitution only affects the input of position 0).
        const int32_t * target = tokens.data() + c * p.n_ctx + first + 1;
        const float *   rows   = logits.data() + size_t(first - row0) * size_t(n_vocab);
        for (int64_t i = 0; i < n_scored; ++i) {
            const float * row = rows + size_t(i) * size_t(n_vocab);
            const double  v =
                save_base != nullptr
                     ? encode_log_probs(n_vocab, row, records.data() + size_t(i * kld_record_len(n_vocab)), target[i])
                     : nll_of(n_vocab, row, target[i]);
            res.nll += v;
            res.nll2 += v * v;
        }
        if (save_base != nullptr) {
            if (Result<bool> r = save_base->write_chunk(records); !r) {
                return r.error();
            }
        }
        res.count += n_scored;
        res.running_ppl.push_back(std::exp(res.nll / double(res.count)));
        if (on_chunk) {
            on_chunk({ c + 1, res.n_chunk, res.running_ppl.back(), since(t0), res.n_tokens });
        }
    }
    res.seconds     = since(t0);
    const double m  = res.nll / double(res.count);
    double       m2 = res.nll2 / double(res.count);
    res.ppl         = std::exp(m);
    m2 -= m * m;
    res.err_ok  = m2 > 0;
    res.ppl_err = res.err_ok ? std::sqrt(m2 / double(res.count - 1)) * res.ppl : 0.0;
    return res;
}

Result<KldResult> run_kl_divergence(LogitsFileReader & base, const PerplexityParams & params, LogitsEvaluator & ev,
                                    const std::function<void(const KldProgress &)> & on_chunk) {
    const LogitsFileHeader & h = base.header();
    PerplexityParams         p = params;
    p.n_ctx                    = h.n_ctx;
    p.all_logits               = false;
    const int64_t n_vocab      = ev.n_vocab();
    if (Result<bool> r = check_params(p, n_vocab); !r) {
        return r.error();
    }
    if (n_vocab != h.n_vocab) {
        return Error{ base.path(), 12,
                      "base logits have n_vocab " + std::to_string(h.n_vocab) + " but the model has " +
                          std::to_string(n_vocab) + " (inconsistent vocabulary)" };
    }
    const int64_t         first    = p.n_ctx / 2;
    const int64_t         n_scored = p.n_ctx - 1 - first;
    const int64_t         len      = kld_record_len(n_vocab);
    std::vector<float>    logits(size_t(p.n_ctx - first) * size_t(n_vocab));
    std::vector<uint16_t> records;
    KldResult             res;
    res.kld_values.reserve(size_t(n_scored) * size_t(h.n_chunk));
    res.p_diff_values.reserve(size_t(n_scored) * size_t(h.n_chunk));
    const Clock::time_point t0 = Clock::now();
    for (int64_t c = 0; c < h.n_chunk; ++c) {
        const std::vector<int32_t> toks = chunk_tokens(h.tokens, c, p);
        if (Result<bool> r = eval_chunk(ev, toks, p.n_batch, first, logits.data()); !r) {
            return r.error();
        }
        res.n_tokens += p.n_ctx;
        if (Result<bool> r = base.read_chunk(records); !r) {
            return r.error();
        }
        const int32_t * target = h.tokens.data() + c * p.n_ctx + first + 1;
        for (int64_t i = 0; i < n_scored; ++i) {
            const KldToken t = kld_token(n_vocab, logits.data() + size_t(i) * size_t(n_vocab),
                                         records.data() + size_t(i * len), target[i], res.sums);
            res.kld_values.push_back(float(t.kld));
            res.p_diff_values.push_back(t.p_diff);
        }
        if (on_chunk) {
            on_chunk({ c + 1, h.n_chunk, &res.sums, since(t0), res.n_tokens });
        }
    }
    res.seconds = since(t0);
    return res;
}

std::string format_final_estimate(const PerplexityResult & r) {
    if (!r.err_ok) {
        return "Unexpected negative standard deviation of log(prob)\n";
    }
    char buf[128];
    std::snprintf(buf, sizeof buf, "Final estimate: PPL = %.4lf +/- %.5lf\n", r.ppl, r.ppl_err);
    return buf;
}

} // namespace nibble
