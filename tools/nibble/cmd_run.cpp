// `nibble run`: generate text from a prompt with the CPU engine (greedy by default). Streams the
// text to stdout; at the end prints prompt and generation speed and a 64-bit FNV-1a hash of every
// logits row used for sampling to stderr, so two runs (threads, builds, machines) compare at a glance.
#include "commands.h"
#include "core/thread_pool.h"
#include "model/tokenizer/tokenizer.h"
#include "runtime/sampler.h"
#include "runtime/session.h"

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace nibble::cli {

namespace {

struct RunOptions {
    std::string   model;
    std::string   prompt;
    int           n_predict = 64;
    int           threads   = 0;
    SamplerParams sampling;
};

uint64_t fnv1a(uint64_t h, const void * data, size_t n) {
    const unsigned char * p = static_cast<const unsigned char *>(data);
    for (size_t i = 0; i < n; ++i) {
        h = (h ^ p[i]) * 0x100000001b3ull;
    }
    return h;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

int run(const RunOptions & o) {
    Result<Model> model = Model::load(o.model);
    if (!model) {
        std::fprintf(stderr, "nibble run: %s\n", model.error().message().c_str());
        return 1;
    }
    Result<Tokenizer> tok = Tokenizer::from_gguf(model->gguf());
    if (!tok) {
        std::fprintf(stderr, "nibble run: %s\n", tok.error().message().c_str());
        return 1;
    }
    const std::vector<int32_t> prompt = tok->encode(o.prompt, tok->add_bos(), true);
    if (prompt.empty()) {
        std::fprintf(stderr, "nibble run: the prompt encodes to no tokens\n");
        return 1;
    }
    const int          threads = o.threads > 0 ? o.threads : default_thread_count();
    const int64_t      n_vocab = model->info().n_vocab;
    Session            session(*model, int64_t(prompt.size()) + o.n_predict, threads);
    Sampler            sampler(o.sampling);
    std::vector<float> logits(static_cast<size_t>(n_vocab));
    uint64_t           hash = 0xcbf29ce484222325ull;

    std::printf("%s", o.prompt.c_str());
    std::fflush(stdout);
    const auto   t0 = std::chrono::steady_clock::now();
    Result<bool> r  = session.eval(prompt, logits.data(), int64_t(prompt.size()) - 1);
    if (!r) {
        std::fprintf(stderr, "nibble run: %s\n", r.error().message().c_str());
        return 1;
    }
    const double t_prompt = seconds_since(t0);
    const auto   t1       = std::chrono::steady_clock::now();
    int          n_gen    = 0;
    while (n_gen < o.n_predict) {
        hash             = fnv1a(hash, logits.data(), logits.size() * sizeof(float));
        const int32_t id = sampler.sample(logits.data(), n_vocab);
        if (tok->is_eog(id)) {
            break;
        }
        const std::string piece = tok->token_to_piece(id);
        std::fwrite(piece.data(), 1, piece.size(), stdout);
        std::fflush(stdout);
        ++n_gen;
        if (n_gen == o.n_predict) {
            break;
        }
        r = session.eval({ &id, 1 }, logits.data(), 0);
        if (!r) {
            std::fprintf(stderr, "\nnibble run: %s\n", r.error().message().c_str());
            return 1;
        }
    }
    const double t_gen = seconds_since(t1);
    std::printf("\n");
    const ModelInfo & info = model->info();
    std::fprintf(stderr, "\n%s: %lld params, %.1f MiB, %d threads\n", info.name.c_str(), (long long)info.n_params,
                 double(info.weight_bytes) / (1 << 20), threads);
    std::fprintf(stderr, "prompt: %zu tokens in %.3f s (%.1f tok/s)\n", prompt.size(), t_prompt,
                 double(prompt.size()) / t_prompt);
    // Each generated token but the last costs one eval; the last one's sampling is included.
    std::fprintf(stderr, "generation: %d tokens in %.3f s (%.1f tok/s, %.1f GB/s of weights)\n", n_gen, t_gen,
                 t_gen > 0 ? double(n_gen) / t_gen : 0.0,
                 t_gen > 0 ? double(n_gen) * double(info.weight_bytes) / t_gen / 1e9 : 0.0);
    std::fprintf(stderr, "logits hash: %016llx\n", (unsigned long long)hash);
    return 0;
}

} // namespace

void add_run_command(CLI::App & app, int & exit_code) {
    auto       o   = std::make_shared<RunOptions>();
    CLI::App * cmd = app.add_subcommand("run", "Generate text from a prompt with a GGUF model on the CPU");
    cmd->add_option("-m,--model", o->model, "model.gguf (llama, mistral, qwen2, qwen3 architectures)")->required();
    cmd->add_option("-p,--prompt", o->prompt, "prompt text")->required();
    cmd->add_option("-n,--n-predict", o->n_predict, "tokens to generate")->capture_default_str();
    cmd->add_option("--temp", o->sampling.temperature, "temperature; 0 = greedy")->capture_default_str();
    cmd->add_option("--top-k", o->sampling.top_k, "keep the k most likely tokens (0 = all)")->capture_default_str();
    cmd->add_option("--top-p", o->sampling.top_p, "keep the smallest set with this probability mass")
        ->capture_default_str();
    cmd->add_option("--seed", o->sampling.seed, "sampling seed (std::mt19937_64)")->capture_default_str();
    cmd->add_option("-t,--threads", o->threads, "threads (0 = all hardware threads)")->capture_default_str();
    cmd->callback([o, &exit_code] { exit_code = run(*o); });
}

} // namespace nibble::cli
