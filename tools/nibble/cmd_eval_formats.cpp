// `nibble eval-formats MODEL`: quantize every 2-D weight of a SafeTensors model to each format,
// dequantize it back and report the reconstruction error against the bits per weight. This is the
// quick "which format loses how much" view; perplexity / KL-divergence come with the runtime.
#include "backend/cpu/formats/dequant.h"
#include "commands.h"
#include "core/thread_pool.h"
#include "formats/format_table.h"
#include "formats/nvfp4.h"
#include "formats/quantize.h"
#include "io/safetensors.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

namespace nibble::cli {
namespace {

struct Arm {
    Format      format;
    int         nvfp4_search;
    std::string label;
};

struct Weight {
    std::string        name;
    int64_t            rows = 0;
    int64_t            cols = 0;
    std::vector<float> data;
};

struct ArmResult {
    double  sq_err = 0, sq_ref = 0, bytes = 0, quant_s = 0, dequant_s = 0;
    int64_t weights = 0, covered = 0, tensors = 0;
};

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::string resolve_model(const std::string & path) {
    namespace fs = std::filesystem;
    if (fs::is_directory(path)) {
        return (fs::path(path) / "model.safetensors").string();
    }
    return path;
}

ArmResult evaluate(const Arm & arm, const std::vector<Weight> & weights, ThreadPool & pool) {
    const FormatInfo & info = format_info(arm.format);
    cpu::DequantFn     deq  = cpu::fast_dequantizer(arm.format);
    if (!deq) {
        deq = info.dequantize_row;
    }
    ArmResult r;
    for (const Weight & w : weights) {
        r.weights += w.rows * w.cols;
        if (w.cols % info.block_size != 0) {
            continue;  // this format cannot hold rows of this length (llama-quantize would fall back)
        }
        const int64_t     rs = row_size(arm.format, w.cols);
        std::vector<char> q(size_t(rs * w.rows));
        QuantParams       p;
        p.nvfp4_search = arm.nvfp4_search;
        auto t0        = std::chrono::steady_clock::now();
        quantize_matrix(arm.format, w.data.data(), q.data(), w.rows, w.cols, p, &pool);
        r.quant_s += seconds_since(t0);

        std::vector<float> y(w.data.size());
        t0 = std::chrono::steady_clock::now();
        pool.parallel_for(w.rows, 64, [&](int64_t r0, int64_t r1) {
            for (int64_t i = r0; i < r1; ++i) {
                deq(q.data() + i * rs, y.data() + i * w.cols, w.cols);
            }
        });
        r.dequant_s += seconds_since(t0);
        for (size_t i = 0; i < y.size(); ++i) {
            const double d = double(w.data[i]) - double(y[i]);
            r.sq_err += d * d;
            r.sq_ref += double(w.data[i]) * double(w.data[i]);
        }
        r.covered += w.rows * w.cols;
        r.bytes += double(q.size());
        r.tensors += 1;
    }
    return r;
}

int run(const std::string & model, int threads, int search) {
    const std::string path = resolve_model(model);
    auto              file = SafeTensorsFile::open(path);
    if (!file) {
        std::fprintf(stderr, "nibble: error: %s\n", file.error().message().c_str());
        return 1;
    }
    std::vector<Weight> weights;
    for (const StTensor & t : file.value().tensors()) {
        if (t.shape.size() != 2) {
            continue;  // norms and biases stay in float in every format
        }
        auto data = to_f32(t);
        if (!data) {
            std::fprintf(stderr, "nibble: skipping %s: %s\n", t.name.c_str(), data.error().message().c_str());
            continue;
        }
        weights.push_back({t.name, t.shape[0], t.shape[1], std::move(data.value())});
    }
    if (weights.empty()) {
        std::fprintf(stderr, "nibble: error: %s has no 2-D tensors\n", path.c_str());
        return 1;
    }
    int64_t total = 0;
    for (const Weight & w : weights) {
        total += w.rows * w.cols;
    }
    ThreadPool pool(threads);
    std::printf("model: %s (%zu matrices, %.2f M weights), %d threads\n", path.c_str(), weights.size(), total / 1e6,
                pool.size());
    std::printf("error = sum (w - dequant(quant(w)))^2 / sum w^2 over the matrices a format can hold\n\n");
    std::printf("%-16s %7s %8s %12s %10s %12s %12s\n", "format", "bpw", "covered", "rel. error", "SNR dB", "quant MB/s",
                "dequant MB/s");

    std::vector<Arm> arms;
    for (Format f : {Format::F16, Format::BF16, Format::Q8_0, Format::Q6_K, Format::Q5_K, Format::Q5_1, Format::Q5_0,
                     Format::Q4_K, Format::Q4_1, Format::Q4_0, Format::IQ4_NL, Format::IQ4_XS, Format::MXFP4,
                     Format::NVFP4, Format::Q3_K, Format::Q2_K}) {
        arms.push_back({f, 0, format_name(f)});
        if (f == Format::NVFP4 && search > 0) {
            arms.push_back({f, search, "nvfp4 search=" + std::to_string(search)});
        }
    }
    for (const Arm & arm : arms) {
        const ArmResult r = evaluate(arm, weights, pool);
        if (r.covered == 0) {
            std::printf("%-16s %7.3f %7.1f%% %12s %10s %12s %12s\n", arm.label.c_str(),
                        format_info(arm.format).bits_per_weight(), 0.0, "n/a (rows)", "", "", "");
            continue;
        }
        const double rel = r.sq_err / r.sq_ref;
        const double mb  = double(r.covered) * 4 / 1e6;
        std::printf("%-16s %7.3f %7.1f%% %12.4e %10.2f %12.1f %12.1f\n", arm.label.c_str(), 8 * r.bytes / r.covered,
                    100.0 * r.covered / r.weights, rel, rel > 0 ? -10 * std::log10(rel) : INFINITY, mb / r.quant_s,
                    mb / r.dequant_s);
    }
    std::printf("\nMB/s are of f32 weights; 'covered' < 100%% means some rows are not a multiple of the block.\n");
    return 0;
}

}  // namespace

void add_eval_formats_command(CLI::App & app, int & exit_code) {
    static std::string model;
    static int         threads = 0;
    static int         search  = kNvfp4DefaultSearch;
    CLI::App *         cmd     = app.add_subcommand(
        "eval-formats", "Quantize every 2-D weight of a SafeTensors model to each format and report error vs bits");
    cmd->add_option("model", model, "model.safetensors, or a folder containing it")->required();
    cmd->add_option("-t,--threads", threads, "worker threads (default: all cores)");
    cmd->add_option("--nvfp4-search", search, "also run NVFP4 with this UE4M3 scale-search window (0 = skip)")
        ->check(CLI::Range(0, 126));
    cmd->callback([&exit_code] { exit_code = run(model, threads, search); });
}

}  // namespace nibble::cli
