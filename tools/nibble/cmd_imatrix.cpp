// `nibble imatrix -m MODEL -f TEXT -o FILE`: llama-imatrix's collection (FORMATS.md §5): the text in
// chunks of n_ctx tokens (BOS in place of each chunk's first token when the vocabulary adds one), every
// position evaluated with its logits (so the last layer's FFN sees every token), Σx² per input column
// of every `blk.*` matmul. Output: the GGUF imatrix llama-quantize and `nibble quantize` read.
// Progress and the running perplexity go to stderr; the summary to stdout.
#include "commands.h"
#include "eval_common.h"
#include "io/imatrix.h"
#include "runtime/imatrix_collector.h"
#include "runtime/perplexity.h"

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

namespace nibble::cli {

namespace {

constexpr const char * kTool = "nibble imatrix";

struct Args {
    std::string              model, text, out = "imatrix.gguf";
    std::vector<std::string> in_files;
    int64_t                  n_ctx          = 512;
    int64_t                  n_chunks       = -1;
    int64_t                  n_batch        = 2048;
    int64_t                  from_chunk     = 0;
    int                      threads        = 0;
    bool                     process_output = false;
    bool                     no_ppl         = false;
};

int fail(const std::string & msg) {
    std::fprintf(stderr, "%s: error: %s\n", kTool, msg.c_str());
    return 1;
}

// The session, stopping at the first chunk where the collector saw a non-finite sum (llama-imatrix
// exits there too).
class CollectingEvaluator final : public LogitsEvaluator {
  public:
    CollectingEvaluator(Session & s, int64_t n_vocab, const ImatrixCollector & c) : ev_(s, n_vocab), c_(c) {}
    int64_t      n_vocab() const override { return ev_.n_vocab(); }
    void         clear() override { ev_.clear(); }
    Result<bool> eval(std::span<const int32_t> tokens, float * logits, int64_t first_logit_row) override {
        Result<bool> r = ev_.eval(tokens, logits, first_logit_row);
        if (r && c_.error()) {
            return Error{ "", 0, "imatrix collection failed: " + *c_.error() };
        }
        return r;
    }

  private:
    SessionEvaluator         ev_;
    const ImatrixCollector & c_;
};

// --in-file: earlier GGUF imatrices are added to this one (their datasets come first).
Result<bool> merge_inputs(const Args & a, ImatrixCollector & c, std::vector<std::string> & datasets) {
    for (const std::string & f : a.in_files) {
        Result<Imatrix> m = load_imatrix(f);
        if (!m) {
            return m.error();
        }
        if (m->legacy) {
            return Error{ f, 0, "--in-file: only GGUF imatrix files can be merged (raw sums needed)" };
        }
        for (const auto & [name, e] : m->entries) {
            if (e.counts.size() != 1) {
                return Error{ f, 0, "--in-file: " + name + " has per-expert counts (MoE is not supported)" };
            }
            if (Result<bool> r = c.merge(name, e.in_sum2, std::lround(e.counts[0])); !r) {
                return Error{ f, 0, r.error().what };
            }
        }
        datasets.insert(datasets.end(), m->datasets.begin(), m->datasets.end());
        std::fprintf(stderr, "%s: loaded %zu entries from %s\n", kTool, m->entries.size(), f.c_str());
    }
    return true;
}

int run(const Args & a) {
    Result<std::string> text = read_text_file(a.text);
    if (!text) {
        return fail(text.error().message());
    }
    Result<LoadedModel> lm = load_model_and_tokenizer(a.model, kTool);
    if (!lm) {
        return fail(lm.error().message());
    }
    ImatrixCollector         collector(ImatrixCollectorOptions{ a.process_output, 16 });
    std::vector<std::string> datasets;
    if (Result<bool> r = merge_inputs(a, collector, datasets); !r) {
        return fail(r.error().message());
    }
    datasets.push_back(a.text);

    std::vector<int32_t> tokens = tokenize_text(*lm->tokenizer, *text, kTool);
    if (a.from_chunk > 0) {
        if (size_t((a.from_chunk + 2) * a.n_ctx) >= tokens.size()) {
            return fail(a.text + ": there will be not enough tokens left after removing " +
                        std::to_string(a.from_chunk) + " chunks");
        }
        std::fprintf(stderr, "%s: removing initial %lld chunks (%lld tokens)\n", kTool,
                     static_cast<long long>(a.from_chunk), static_cast<long long>(a.from_chunk * a.n_ctx));
        tokens.erase(tokens.begin(), tokens.begin() + a.from_chunk * a.n_ctx);
    }
    PerplexityParams p;
    p.n_ctx                       = a.n_ctx;
    p.n_chunks                    = a.n_chunks;
    p.n_batch                     = a.n_batch;
    p.add_bos                     = lm->tokenizer->add_bos();
    p.bos_id                      = lm->tokenizer->bos_id();
    p.all_logits                  = true;
    const Result<int64_t> n_chunk = perplexity_chunks(int64_t(tokens.size()), p.n_ctx, p.n_chunks);
    if (!n_chunk) {
        return fail(a.text + ": " + n_chunk.error().what);
    }
    std::fprintf(stderr, "%s: computing over %lld chunks, n_ctx=%lld, batch_size=%lld\n", kTool,
                 static_cast<long long>(*n_chunk), static_cast<long long>(p.n_ctx), static_cast<long long>(p.n_batch));

    const int64_t n_vocab = lm->model->info().n_vocab;
    Session       session(*lm->model, p.n_ctx, a.threads);
    session.set_observer(&collector);
    CollectingEvaluator            ev(session, n_vocab, collector);
    ChunkProgress                  progress(kTool);
    const Result<PerplexityResult> r = run_perplexity(tokens, p, ev, nullptr, [&](const PerplexityProgress & pr) {
        progress(pr.chunk, pr.n_chunk, pr.seconds, pr.n_tokens);
        if (!a.no_ppl) {
            std::fprintf(stderr, "[%lld]%.4lf,", static_cast<long long>(pr.chunk), pr.ppl);
        }
    });
    session.set_observer(nullptr);
    if (!r) {
        return fail(r.error().message());
    }
    if (!a.no_ppl) {
        std::fprintf(stderr, "\n%s", format_final_estimate(*r).c_str());
    }
    progress.finish(r->seconds, r->n_tokens);

    const uint32_t                  chunks = collector.chunk_count(p.n_ctx);
    const std::vector<ImatrixStats> stats  = collector.stats();
    const Result<uint64_t>          size   = write_imatrix_gguf(a.out, stats, datasets, chunks, uint32_t(p.n_ctx));
    if (!size) {
        return fail(size.error().message());
    }
    std::printf("wrote %s: %zu entries, %u chunks of %lld tokens, %.1f KiB\n", a.out.c_str(), stats.size(), chunks,
                static_cast<long long>(p.n_ctx), double(*size) / 1024.0);
    return 0;
}

} // namespace

void add_imatrix_command(CLI::App & app, int & exit_code) {
    static Args a;
    CLI::App *  cmd = app.add_subcommand("imatrix", "Collect an importance matrix (llama-imatrix compatible GGUF)");
    cmd->add_option("-m,--model", a.model, "model .gguf")->required();
    cmd->add_option("-f,--file", a.text, "calibration text")->required();
    cmd->add_option("-o,--output", a.out, "output imatrix .gguf (default imatrix.gguf)");
    cmd->add_option("-c,--ctx-size", a.n_ctx, "tokens per chunk (default 512)")->check(CLI::Range(4, 1 << 20));
    cmd->add_option("--chunks", a.n_chunks, "use at most N chunks (default: all)")->check(CLI::Range(-1, 1 << 30));
    cmd->add_option("--chunk,--from-chunk", a.from_chunk, "skip the first N chunks of the text")
        ->check(CLI::Range(0, 1 << 30));
    cmd->add_option("-b,--batch-size", a.n_batch, "tokens per evaluation call (default 2048)")
        ->check(CLI::Range(1, 1 << 20));
    cmd->add_option("-t,--threads", a.threads, "threads (default: all cores)")->check(CLI::Range(0, 4096));
    cmd->add_option("--in-file", a.in_files, "GGUF imatrix to add to this one (repeatable)")->allow_extra_args(false);
    cmd->add_flag("--process-output", a.process_output, "also collect output.weight");
    cmd->add_flag("--no-ppl", a.no_ppl, "do not print the perplexity");
    cmd->callback([&exit_code] { exit_code = run(a); });
}

} // namespace nibble::cli
