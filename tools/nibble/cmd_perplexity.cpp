// `nibble perplexity -m MODEL -f TEXT`: llama-perplexity's numbers (src/runtime/perplexity.h).
//   default                      PPL over the second half of each n_ctx chunk, running `[i]ppl,` values
//                                and "Final estimate: PPL = x +/- err" on stdout;
//   --kl-divergence-base FILE    the same, also saving the scored log-probs (llama.cpp's format);
//   --kl-divergence              KL-divergence of this model against a saved FILE (no text needed).
// Progress, the first-pass ETA and tokens/s go to stderr.
#include "commands.h"
#include "eval_common.h"
#include "runtime/kld.h"
#include "runtime/perplexity.h"

#include <cstdio>
#include <string>

namespace nibble::cli {

namespace {

constexpr const char * kTool = "nibble perplexity";

struct Args {
    std::string model, text, kld_base;
    int64_t     n_ctx    = 512;
    int64_t     n_chunks = -1;
    int64_t     n_batch  = 2048;
    int         threads  = 0;
    bool        kld      = false;
};

int fail(const std::string & msg) {
    std::fprintf(stderr, "%s: error: %s\n", kTool, msg.c_str());
    return 1;
}

PerplexityParams protocol_params(const Args & a, const Tokenizer & tok) {
    PerplexityParams p;
    p.n_ctx    = a.n_ctx;
    p.n_chunks = a.n_chunks;
    p.n_batch  = a.n_batch;
    p.add_bos  = tok.add_bos();
    p.bos_id   = tok.bos_id();
    return p;
}

int run_kld(const Args & a) {
    LogitsFileReader base;
    if (Result<bool> r = LogitsFileReader::open(base, a.kld_base); !r) {
        return fail(r.error().message());
    }
    const LogitsFileHeader & h = base.header();
    std::fprintf(stderr, "%s: base logits %s: n_ctx %d, n_vocab %d, %d chunks\n", kTool, a.kld_base.c_str(), h.n_ctx,
                 h.n_vocab, h.n_chunk);
    Result<LoadedModel> lm = load_model_and_tokenizer(a.model, kTool);
    if (!lm) {
        return fail(lm.error().message());
    }
    const int64_t n_vocab = lm->model->info().n_vocab;
    if (n_vocab != h.n_vocab) {
        return fail(a.kld_base + ": offset 12: base logits have n_vocab " + std::to_string(h.n_vocab) + " but " +
                    a.model + " has " + std::to_string(n_vocab) + " (a different vocabulary)");
    }
    PerplexityParams p = protocol_params(a, *lm->tokenizer);
    p.n_ctx            = h.n_ctx; // the file decides the chunking
    Session          session(*lm->model, h.n_ctx, a.threads);
    SessionEvaluator ev(session, n_vocab);
    ChunkProgress    progress(kTool);
    std::fprintf(stderr, "%s: computing over %d chunks, n_ctx=%d, batch_size=%lld\n", kTool, h.n_chunk, h.n_ctx,
                 static_cast<long long>(a.n_batch));
    std::fputs(format_kld_chunk_header().c_str(), stdout);
    const Result<KldResult> r = run_kl_divergence(base, p, ev, [&](const KldProgress & k) {
        progress(k.chunk, k.n_chunk, k.seconds, k.n_tokens);
        std::fputs(format_kld_chunk_line(int(k.chunk), *k.sums).c_str(), stdout);
        std::fflush(stdout);
    });
    if (!r) {
        return fail(r.error().message());
    }
    std::fputc('\n', stdout);
    progress.finish(r->seconds, r->n_tokens);
    if (r->sums.count < 100) {
        std::fprintf(stderr, "%s: only %llu scored tokens: no statistics (need 100)\n", kTool,
                     static_cast<unsigned long long>(r->sums.count));
        return 0;
    }
    std::fputs(format_kld_report(kld_statistics(r->sums, r->kld_values, r->p_diff_values)).c_str(), stdout);
    return 0;
}

int run_ppl(const Args & a) {
    Result<std::string> text = read_text_file(a.text);
    if (!text) {
        return fail(text.error().message());
    }
    Result<LoadedModel> lm = load_model_and_tokenizer(a.model, kTool);
    if (!lm) {
        return fail(lm.error().message());
    }
    const std::vector<int32_t> tokens  = tokenize_text(*lm->tokenizer, *text, kTool);
    const PerplexityParams     p       = protocol_params(a, *lm->tokenizer);
    const int64_t              n_vocab = lm->model->info().n_vocab;
    const Result<int64_t>      n_chunk = perplexity_chunks(int64_t(tokens.size()), p.n_ctx, p.n_chunks);
    if (!n_chunk) {
        return fail(a.text + ": " + n_chunk.error().what);
    }
    LogitsFileWriter   writer;
    LogitsFileWriter * save = nullptr;
    if (!a.kld_base.empty()) {
        const LogitsFileHeader h = perplexity_base_header(tokens, p.n_ctx, *n_chunk, n_vocab);
        if (Result<bool> r = LogitsFileWriter::open(writer, a.kld_base, h); !r) {
            return fail(r.error().message());
        }
        save = &writer;
        std::fprintf(stderr, "%s: saving all logits to %s (%.1f MiB)\n", kTool, a.kld_base.c_str(),
                     double(*n_chunk) * double(h.n_scored()) * double(kld_record_len(n_vocab)) * 2.0 /
                         (1024.0 * 1024.0));
    }
    std::fprintf(stderr, "%s: calculating perplexity over %lld chunks, n_ctx=%lld, batch_size=%lld\n", kTool,
                 static_cast<long long>(*n_chunk), static_cast<long long>(p.n_ctx), static_cast<long long>(p.n_batch));
    Session                        session(*lm->model, p.n_ctx, a.threads);
    SessionEvaluator               ev(session, n_vocab);
    ChunkProgress                  progress(kTool);
    const Result<PerplexityResult> r = run_perplexity(tokens, p, ev, save, [&](const PerplexityProgress & pr) {
        progress(pr.chunk, pr.n_chunk, pr.seconds, pr.n_tokens);
        std::printf("[%lld]%.4lf,", static_cast<long long>(pr.chunk), pr.ppl);
        std::fflush(stdout);
    });
    if (!r) {
        return fail(r.error().message());
    }
    std::printf("\n");
    if (save != nullptr) {
        if (Result<bool> c = writer.commit(); !c) {
            return fail(c.error().message());
        }
    }
    progress.finish(r->seconds, r->n_tokens);
    std::fputs(format_final_estimate(*r).c_str(), stdout);
    return r->err_ok ? 0 : 1;
}

int run(const Args & a) {
    if (a.kld) {
        if (a.kld_base.empty()) {
            return fail("--kl-divergence needs --kl-divergence-base FILE (base logits saved from the reference model)");
        }
        return run_kld(a);
    }
    if (a.text.empty()) {
        return fail("no text: give -f FILE (or --kl-divergence with --kl-divergence-base)");
    }
    return run_ppl(a);
}

} // namespace

void add_perplexity_command(CLI::App & app, int & exit_code) {
    static Args a;
    CLI::App *  cmd = app.add_subcommand("perplexity", "Perplexity and KL-divergence (llama-perplexity compatible)");
    cmd->add_option("-m,--model", a.model, "model .gguf")->required();
    cmd->add_option("-f,--file", a.text, "text to evaluate (e.g. wikitext-2 wiki.test.raw)");
    cmd->add_option("-c,--ctx-size", a.n_ctx, "tokens per chunk (default 512)")->check(CLI::Range(4, 1 << 20));
    cmd->add_option("--chunks", a.n_chunks, "evaluate at most N chunks (default: all)")->check(CLI::Range(-1, 1 << 30));
    cmd->add_option("-b,--batch-size", a.n_batch, "tokens per evaluation call (default 2048)")
        ->check(CLI::Range(1, 1 << 20));
    cmd->add_option("-t,--threads", a.threads, "threads (default: all cores)")->check(CLI::Range(0, 4096));
    cmd->add_option("--kl-divergence-base,--save-all-logits", a.kld_base,
                    "base logits file: written by a plain run, read with --kl-divergence");
    cmd->add_flag("--kl-divergence", a.kld, "compare with the base logits of --kl-divergence-base");
    cmd->callback([&exit_code] { exit_code = run(a); });
}

} // namespace nibble::cli
