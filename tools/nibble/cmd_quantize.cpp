// `nibble quantize IN OUT TYPE [options]`: llama-quantize's job, byte for byte (src/quant/quantizer.h).
// IN is a GGUF file or a Hugging Face SafeTensors folder, converted on the fly as convert_hf_to_gguf.py
// would convert it (src/model/hf_convert.h) and then quantized exactly like that GGUF.
// Progress goes to stderr (a bar on a terminal, one line per tensor otherwise), the summary to stdout.
// Ctrl-C / SIGTERM stop at the next row chunk, remove the temporary output and exit with 130.
#include "commands.h"
#include "formats/format_table.h"
#include "formats/nvfp4.h"
#include "io/imatrix.h"
#include "model/hf_convert.h"
#include "quant/quantizer.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace nibble::cli {

namespace {

namespace fs = std::filesystem;

// Set from the signal handler: a lock-free atomic store is async-signal-safe.
std::atomic<bool> g_cancel{ false };
static_assert(std::atomic<bool>::is_always_lock_free, "signal handler needs a lock-free flag");

extern "C" void on_signal(int) {
    g_cancel.store(true);
}

// Installs the handlers for the duration of a run and restores the previous ones afterwards.
class SignalGuard {
  public:
    SignalGuard() {
        struct sigaction sa {};
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, &old_int_);
        sigaction(SIGTERM, &sa, &old_term_);
    }
    ~SignalGuard() {
        sigaction(SIGINT, &old_int_, nullptr);
        sigaction(SIGTERM, &old_term_, nullptr);
    }
    SignalGuard(const SignalGuard &)             = delete;
    SignalGuard & operator=(const SignalGuard &) = delete;

  private:
    struct sigaction old_int_ {};
    struct sigaction old_term_ {};
};

struct Args {
    std::string              in, out, type;
    std::string              imatrix;
    std::vector<std::string> include_weights, exclude_weights;
    std::vector<std::string> tensor_types;
    std::string              output_tensor_type, token_embedding_type;
    bool                     pure = false, leave_output = false, allow_requantize = false, dry_run = false;
    int                      threads            = 0;
    int                      nvfp4_search       = kNvfp4DefaultSearch;
    int                      nvfp4_tensor_scale = 0;
};

constexpr int kExitCancelled = 130; // 128 + SIGINT, what a shell reports for ^C

int fail(const std::string & msg) {
    std::fprintf(stderr, "nibble quantize: error: %s\n", msg.c_str());
    return 1;
}

double mib(uint64_t b) {
    return double(b) / (1024.0 * 1024.0);
}

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

std::string file_type_names() {
    std::string s;
    for (const FileTypeInfo & f : file_types()) {
        s += (s.empty() ? "" : " ") + std::string(f.name);
    }
    return s;
}

// Progress on stderr: a redrawn bar with ETA on a terminal, a line per finished tensor otherwise.
class ProgressPrinter {
  public:
    explicit ProgressPrinter(const GgufQuantPlan & plan)
        : plan_(plan), tty_(::isatty(STDERR_FILENO) == 1), t0_(std::chrono::steady_clock::now()) {}

    void operator()(const QuantizeProgress & p) {
        const double elapsed = seconds();
        if (!tty_) {
            if (p.tensor_done) {
                const TensorPlan & tp = plan_.plan.tensors[p.tensor];
                std::fprintf(stderr, "[%4zu/%4zu] %-40s %7s -> %-7s %9.2f -> %8.2f MiB\n", p.tensor + 1, p.n_tensors,
                             tp.name.c_str(), format_or_type(plan_.source[p.tensor].ggml_type).c_str(),
                             format_or_type(plan_.out_ggml_type[p.tensor]).c_str(), mib(plan_.source[p.tensor].nbytes),
                             mib(plan_.out_nbytes[p.tensor]));
            }
            return;
        }
        // Redraw at most 10 times a second, and always at the end.
        if (elapsed - last_draw_ < 0.1 && !(p.tensor_done && p.tensor + 1 == p.n_tensors)) {
            return;
        }
        last_draw_         = elapsed;
        const double  frac = p.bytes_total > 0 ? double(p.bytes_done) / double(p.bytes_total) : 1.0;
        constexpr int kBar = 30;
        const int     fill = std::clamp(int(frac * kBar), 0, kBar);
        std::string   bar  = std::string(size_t(fill), '=') + (fill < kBar ? ">" : "") +
                          std::string(size_t(std::max(0, kBar - fill - 1)), ' ');
        const std::string eta = frac > 0.01 ? clock_text(elapsed * (1.0 - frac) / frac) : "?";
        std::string       name(p.name.substr(0, 32));
        std::fprintf(stderr, "\r\033[K[%s] %5.1f%% %zu/%zu %s elapsed %s ETA %s", bar.c_str(), 100.0 * frac,
                     p.tensor + (p.tensor_done ? 1 : 0), p.n_tensors, name.c_str(), clock_text(elapsed).c_str(),
                     eta.c_str());
        drawn_ = true;
    }

    void finish() {
        if (drawn_) {
            std::fputc('\n', stderr);
            drawn_ = false;
        }
    }

  private:
    static std::string format_or_type(uint32_t id) {
        const GgmlTypeInfo * ti = ggml_type_info(id);
        return ti != nullptr ? ti->name : std::to_string(id);
    }
    double seconds() const { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count(); }

    const GgufQuantPlan &                 plan_;
    bool                                  tty_;
    std::chrono::steady_clock::time_point t0_;
    double                                last_draw_ = -1.0;
    bool                                  drawn_     = false;
};

void print_summary(const QuantizeSummary & s, const std::string & out, bool dry_run) {
    const FileTypeInfo & ft = file_type_info(s.file_type);
    std::printf("%s %s (%s): %d tensors, %d converted, %d shape fallbacks", dry_run ? "plan" : "quantized", ft.name,
                ft.ftype_name, s.n_tensors, s.n_quantized, s.n_fallback);
    if (!dry_run) {
        std::printf(", %.2f s", s.seconds);
    }
    std::printf("\n  types:");
    for (const auto & [name, count] : s.tensors_per_type) {
        std::printf(" %s %d", name.c_str(), count);
    }
    std::printf("\n  size: %.2f MiB (%.2f bpw) -> %.2f MiB (%.2f bpw), %lld weights\n", mib(s.bytes_in), s.bpw_in(),
                mib(s.bytes_out), s.bpw_out(), static_cast<long long>(s.n_elements));
    if (!dry_run) {
        std::printf("  wrote %s (%.2f MiB)\n", out.c_str(), mib(s.file_size));
    }
}

std::optional<Format> parse_ggml_type(const std::string & name, const char * option, std::string & error) {
    const std::optional<Format> f = format_from_name(name);
    if (!f || format_info(*f).ggml_type < 0) {
        error = std::string(option) + ": unknown ggml type '" + name + "'";
        return std::nullopt;
    }
    return f;
}

int run(const Args & a) {
    std::error_code ec;
    if (!fs::exists(a.in, ec)) {
        return fail(a.in + ": no such file or directory");
    }
    const bool hf_input =
        fs::is_directory(a.in, ec) || a.in.ends_with(".safetensors") || a.in.ends_with(".safetensors.index.json");
    const std::optional<FileType> ftype = file_type_from_name(a.type);
    if (!ftype) {
        return fail("unknown type '" + a.type + "'; one of: " + file_type_names());
    }
    QuantizeConfig cfg;
    cfg.n_threads          = a.threads;
    cfg.nvfp4_search       = a.nvfp4_search;
    cfg.nvfp4_tensor_scale = a.nvfp4_tensor_scale;
    QuantOptions & o       = cfg.policy;
    o.pure                 = a.pure;
    o.leave_output_tensor  = a.leave_output;
    o.allow_requantize     = a.allow_requantize;
    std::string error;
    if (!a.output_tensor_type.empty() &&
        !(o.output_tensor_type = parse_ggml_type(a.output_tensor_type, "--output-tensor-type", error))) {
        return fail(error);
    }
    if (!a.token_embedding_type.empty() &&
        !(o.token_embedding_type = parse_ggml_type(a.token_embedding_type, "--token-embedding-type", error))) {
        return fail(error);
    }
    for (const std::string & tt : a.tensor_types) {
        const std::optional<TensorTypeOverride> ov = parse_tensor_type_override(tt);
        if (!ov) {
            return fail("--tensor-type '" + tt + "': expected REGEX=TYPE with a ggml type name (q4_K, nvfp4, ...)");
        }
        o.tensor_type_overrides.push_back(*ov);
    }
    if (!a.dry_run) {
        if (std::optional<Error> e = check_output_path(a.in, a.out)) {
            return fail(e->what);
        }
    }

    // The input: a GGUF file, or a Hugging Face checkpoint seen as the GGUF its conversion would give.
    std::optional<GgufFile>       gguf;
    std::unique_ptr<TensorSource> in;
    if (hf_input) {
        HfConvertOptions                  conv{ hf_outtype_for(*ftype) };
        Result<std::unique_ptr<HfSource>> hf = HfSource::open(a.in, conv);
        if (!hf) {
            return fail(hf.error().message());
        }
        std::fprintf(stderr, "nibble quantize: %s: Hugging Face %s checkpoint, converted as %s GGUF (%zu tensors)\n",
                     a.in.c_str(), (*hf)->description().params.arch.c_str(), format_name((*hf)->outtype()),
                     (*hf)->tensors().size());
        for (const std::string & note : (*hf)->notes()) {
            std::fprintf(stderr, "nibble quantize:   note: %s\n", note.c_str());
        }
        in = std::move(*hf);
    } else {
        Result<GgufFile> g = GgufFile::open(a.in);
        if (!g) {
            return fail(g.error().message());
        }
        gguf.emplace(std::move(*g));
        in = std::make_unique<GgufSource>(*gguf);
    }
    std::optional<Imatrix> imatrix;
    if (!a.imatrix.empty()) {
        Result<Imatrix> m = load_imatrix(a.imatrix);
        if (!m) {
            return fail(m.error().message());
        }
        imatrix = std::move(m.value());
        filter_imatrix(*imatrix, a.include_weights, a.exclude_weights);
        std::fprintf(stderr, "nibble quantize: imatrix %s: %zu entries, %u chunks%s%s\n", a.imatrix.c_str(),
                     imatrix->entries.size(), imatrix->chunk_count, imatrix->datasets.empty() ? "" : ", dataset ",
                     imatrix->datasets.empty() ? "" : imatrix->datasets[0].c_str());
        cfg.imatrix       = &*imatrix;
        cfg.imatrix_label = a.imatrix;
    }

    Result<GgufQuantPlan> plan = plan_quantization(*in, *ftype, cfg);
    if (!plan) {
        return fail(plan.error().message());
    }
    if (a.dry_run) {
        std::fputs(format_gguf_plan(*plan).c_str(), stdout);
        print_summary(summarize(*plan), a.out, true);
        return plan->plan.ok() ? 0 : 1;
    }
    if (!plan->plan.ok()) {
        // The first few say what is wrong; --dry-run lists all of them.
        constexpr size_t kShown = 12;
        const auto &     errors = plan->plan.errors;
        for (size_t i = 0; i < std::min(errors.size(), kShown); ++i) {
            std::fprintf(stderr, "nibble quantize: %s\n", errors[i].c_str());
        }
        if (errors.size() > kShown) {
            std::fprintf(stderr, "nibble quantize: ... and %zu more (see --dry-run)\n", errors.size() - kShown);
        }
        return fail(std::to_string(plan->plan.errors.size()) +
                    " tensors cannot be quantized as planned; nothing written");
    }

    ProgressPrinter progress(*plan);
    cfg.on_progress = [&progress](const QuantizeProgress & p) { progress(p); };
    g_cancel.store(false);
    cfg.cancel                      = &g_cancel;
    const Result<QuantizeSummary> s = [&] {
        SignalGuard guard;
        return quantize_model(*in, a.out, *ftype, cfg);
    }();
    progress.finish();
    if (!s) {
        if (g_cancel.load()) {
            std::fprintf(stderr, "nibble quantize: interrupted; no output written\n");
            return kExitCancelled;
        }
        return fail(s.error().message());
    }
    print_summary(*s, a.out, false);
    return 0;
}

} // namespace

void add_quantize_command(CLI::App & app, int & exit_code) {
    static Args a;
    CLI::App *  cmd = app.add_subcommand(
         "quantize", "Quantize a GGUF model or a Hugging Face checkpoint (llama-quantize compatible, plus NVFP4)");
    cmd->add_option("input", a.in,
                    "input model: a .gguf file (F32/F16/BF16, or quantized with --allow-requantize), or a Hugging "
                    "Face SafeTensors folder (llama, mistral, qwen2, qwen3; F32/F16/BF16 weights), converted as "
                    "convert_hf_to_gguf.py would (to the target type for F32/F16/BF16, else its auto type) and "
                    "then quantized")
        ->required();
    cmd->add_option("output", a.out, "output .gguf (written atomically; never the input)")->required();
    cmd->add_option("type", a.type, "file type: " + file_type_names())->required();
    cmd->add_option("--imatrix", a.imatrix, "importance matrix (GGUF from llama-imatrix, or legacy .dat)");
    cmd->add_option("--include-weights", a.include_weights, "use imatrix entries whose name contains this (repeatable)")
        ->allow_extra_args(false);
    cmd->add_option("--exclude-weights", a.exclude_weights,
                    "ignore imatrix entries whose name contains this (repeatable)")
        ->allow_extra_args(false);
    cmd->add_option("--tensor-type", a.tensor_types, "REGEX=TYPE: type of tensors matching REGEX (repeatable)")
        ->allow_extra_args(false);
    cmd->add_option("--output-tensor-type", a.output_tensor_type, "ggml type of output.weight");
    cmd->add_option("--token-embedding-type", a.token_embedding_type, "ggml type of token_embd.weight");
    cmd->add_flag("--pure", a.pure, "no mixture: the file type's format for every quantized tensor");
    cmd->add_flag("--leave-output-tensor", a.leave_output, "keep output.weight as it is");
    cmd->add_flag("--allow-requantize", a.allow_requantize,
                  "allow quantized inputs (dequantized first; loses quality)");
    cmd->add_flag("--dry-run", a.dry_run, "print tensor -> type, reason and sizes; write nothing");
    cmd->add_option("-t,--threads", a.threads, "worker threads (default: all cores)")->check(CLI::Range(0, 4096));
    cmd->add_option("--nvfp4-search", a.nvfp4_search, "NVFP4 UE4M3 scale-search half-width (0 = ggml's RTN)")
        ->check(CLI::Range(0, 126));
    cmd->add_option("--nvfp4-tensor-scale", a.nvfp4_tensor_scale,
                    "NVFP4: also write a per-tensor second-level scale (`<name>.scale`, applied by llama.cpp after "
                    "the matmul), chosen per tensor among this many candidates by the importance-weighted error; "
                    "0 = off")
        ->check(CLI::Range(0, 64));
    cmd->callback([&exit_code] { exit_code = run(a); });
}

} // namespace nibble::cli
