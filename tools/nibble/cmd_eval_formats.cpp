// `nibble eval-formats MODEL`: quantize every 2-D weight of a SafeTensors model to each format,
// dequantize it back and report the reconstruction error against the bits per weight. This is the
// quick "which format loses how much" view; perplexity / KL-divergence come with the runtime.
#include "backend/cpu/formats/dequant.h"
#include "commands.h"
#include "core/thread_pool.h"
#include "formats/format_table.h"
#include "formats/nvfp4.h"
#include "formats/quantize.h"
#include "io/gguf.h"
#include "io/imatrix.h"
#include "io/safetensors.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace nibble::cli {
namespace {

struct Arm {
    Format      format;
    int         nvfp4_search;
    std::string label;
    float       tensor_scale_target = 0; // NVFP4: > 0 = second-level scale amax / (6 * target)
    int         ts_candidates       = 0; // NVFP4: > 0 = nvfp4_choose_tensor_scale with this many
    int64_t     ts_row_stride       = 1;
};

struct Weight {
    std::string        name;
    int64_t            rows = 0;
    int64_t            cols = 0;
    std::vector<float> data;
    const float *      importance = nullptr; // imatrix column means, or null
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
            continue; // this format cannot hold rows of this length (llama-quantize would fall back)
        }
        const int64_t     rs = row_size(arm.format, w.cols);
        std::vector<char> q(size_t(rs * w.rows));
        QuantParams       p;
        p.nvfp4_search = arm.nvfp4_search;
        p.imatrix      = w.importance;
        float tscale   = 1.0f;
        auto  t0       = std::chrono::steady_clock::now();
        if (arm.ts_candidates > 0) {
            tscale = nvfp4_choose_tensor_scale(w.data.data(), w.rows, w.cols, p, arm.ts_candidates, arm.ts_row_stride,
                                               &pool);
            p.nvfp4_tensor_scale = tscale;
        } else if (arm.tensor_scale_target > 0) {
            float amax = 0;
            for (float v : w.data) {
                amax = std::max(amax, std::fabs(v));
            }
            tscale               = nvfp4_tensor_scale_for(amax, arm.tensor_scale_target);
            p.nvfp4_tensor_scale = tscale;
        }
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
            const double wt = w.importance != nullptr ? double(w.importance[i % size_t(w.cols)]) : 1.0;
            const double d  = double(w.data[i]) - double(tscale) * double(y[i]);
            r.sq_err += wt * d * d;
            r.sq_ref += wt * double(w.data[i]) * double(w.data[i]);
        }
        r.covered += w.rows * w.cols;
        r.bytes += double(q.size());
        r.tensors += 1;
    }
    return r;
}

// GGUF: every 2-D tensor, dequantized to f32 (a quantized source gives the weights the model runs
// with). SafeTensors: every 2-D tensor converted exactly.
Result<std::vector<Weight>> load_weights(const std::string & path) {
    std::vector<Weight> weights;
    if (path.size() >= 5 && path.compare(path.size() - 5, 5, ".gguf") == 0) {
        auto f = GgufFile::open(path);
        if (!f) {
            return f.error();
        }
        for (const GgufTensor & t : f->tensors()) {
            if (t.n_dims != 2 || t.ne[1] < 2) {
                continue;
            }
            const std::optional<Format> fmt = t.format;
            if (!fmt) {
                std::fprintf(stderr, "nibble: skipping %s: no dequantizer for its type\n", t.name.c_str());
                continue;
            }
            cpu::DequantFn deq = cpu::fast_dequantizer(*fmt);
            if (!deq) {
                deq = format_info(*fmt).dequantize_row;
            }
            Weight        w{ t.name, t.ne[1], t.ne[0], std::vector<float>(size_t(t.ne[0] * t.ne[1])), nullptr };
            const int64_t rs = row_size(*fmt, t.ne[0]);
            for (int64_t r = 0; r < w.rows; ++r) {
                deq(t.data + r * rs, w.data.data() + r * w.cols, w.cols);
            }
            weights.push_back(std::move(w));
        }
        return weights;
    }
    auto file = SafeTensorsFile::open(resolve_model(path));
    if (!file) {
        return file.error();
    }
    for (const StTensor & t : file.value().tensors()) {
        if (t.shape.size() != 2) {
            continue; // norms and biases stay in float in every format
        }
        auto data = to_f32(t);
        if (!data) {
            std::fprintf(stderr, "nibble: skipping %s: %s\n", t.name.c_str(), data.error().message().c_str());
            continue;
        }
        weights.push_back({ t.name, t.shape[0], t.shape[1], std::move(data.value()), nullptr });
    }
    return weights;
}

int run(const std::string & model, int threads, int search, const std::string & imatrix_path, const std::string & only,
        const std::vector<float> & targets, const std::vector<std::pair<int, int64_t>> & ts_auto) {
    const std::string path   = model;
    auto              loaded = load_weights(model);
    if (!loaded) {
        std::fprintf(stderr, "nibble: error: %s\n", loaded.error().message().c_str());
        return 1;
    }
    std::vector<Weight> weights = std::move(loaded.value());
    if (weights.empty()) {
        std::fprintf(stderr, "nibble: error: %s has no 2-D tensors\n", path.c_str());
        return 1;
    }
    Imatrix imatrix;
    if (!imatrix_path.empty()) {
        auto m = load_imatrix(imatrix_path);
        if (!m) {
            std::fprintf(stderr, "nibble: error: %s\n", m.error().message().c_str());
            return 1;
        }
        imatrix     = std::move(m.value());
        int matched = 0;
        for (Weight & w : weights) {
            const ImatrixEntry * e = imatrix.find(w.name);
            if (e != nullptr && e->n_mat == 1 && int64_t(e->mean.size()) == w.cols) {
                w.importance = e->mean.data();
                ++matched;
            }
        }
        std::printf("imatrix: %s (%d of %zu matrices weighted by it)\n", imatrix_path.c_str(), matched, weights.size());
    }
    int64_t total = 0;
    for (const Weight & w : weights) {
        total += w.rows * w.cols;
    }
    ThreadPool pool(threads);
    std::printf("model: %s (%zu matrices, %.2f M weights), %d threads\n", path.c_str(), weights.size(), total / 1e6,
                pool.size());
    std::printf("error = sum %s(w - dequant(quant(w)))^2 / sum %sw^2 over the matrices a format can hold\n\n",
                imatrix_path.empty() ? "" : "imatrix * ", imatrix_path.empty() ? "" : "imatrix * ");
    std::printf("%-16s %7s %8s %12s %10s %12s %12s\n", "format", "bpw", "covered", "rel. error", "SNR dB", "quant MB/s",
                "dequant MB/s");

    std::vector<Arm> arms;
    for (Format f : { Format::F16, Format::BF16, Format::Q8_0, Format::Q6_K, Format::Q5_K, Format::Q5_1, Format::Q5_0,
                      Format::Q4_K, Format::Q4_1, Format::Q4_0, Format::IQ4_NL, Format::IQ4_XS, Format::MXFP4,
                      Format::NVFP4, Format::Q3_K, Format::Q2_K }) {
        if (!only.empty() && only != format_name(f)) {
            continue;
        }
        arms.push_back({ f, 0, format_name(f) });
        if (f != Format::NVFP4) {
            continue;
        }
        for (float t : targets) {
            arms.push_back({ f, 0, "nvfp4 ts=" + std::to_string(int(t)), t });
        }
        if (search > 0) {
            arms.push_back({ f, search, "nvfp4 s=" + std::to_string(search) });
            for (float t : targets) {
                arms.push_back({ f, search, "nvfp4 s=" + std::to_string(search) + " ts=" + std::to_string(int(t)), t });
            }
            for (const auto & [n, stride] : ts_auto) {
                arms.push_back({ f, search,
                                 "nvfp4 s=" + std::to_string(search) + " ts=auto" + std::to_string(n) + "/" +
                                     std::to_string(stride),
                                 0, n, stride });
            }
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

} // namespace

void add_eval_formats_command(CLI::App & app, int & exit_code) {
    static std::string        model;
    static int                threads = 0;
    static int                search  = kNvfp4DefaultSearch;
    static std::string        imatrix_path;
    static std::string        only;
    static std::vector<float> targets{ kNvfp4TensorScaleTarget };
    static std::vector<int>   ts_auto{ 8, 8 };
    CLI::App *                cmd = app.add_subcommand("eval-formats",
                                                       "Quantize every 2-D weight of a model to each format and report error vs bits");
    cmd->add_option("model", model,
                    "a GGUF file (quantized tensors are dequantized first), model.safetensors, or a "
                    "folder containing it")
        ->required();
    cmd->add_option("--imatrix", imatrix_path,
                    "importance matrix: quantize with it and weight the error by it (GGUF or legacy .dat)");
    cmd->add_option("--format", only, "evaluate only this format (e.g. nvfp4)");
    cmd->add_option("--nvfp4-tensor-scale-target", targets,
                    "NVFP4 arms with a per-tensor second-level scale putting the largest block scale at this "
                    "UE4M3 value (repeatable; 0 = none)")
        ->expected(0, -1);
    cmd->add_option("--nvfp4-tensor-scale-auto", ts_auto,
                    "NVFP4 arms choosing the second-level scale per tensor: pairs CANDIDATES ROW_STRIDE")
        ->expected(0, -1);
    cmd->add_option("-t,--threads", threads, "worker threads (default: all cores)");
    cmd->add_option("--nvfp4-search", search, "also run NVFP4 with this UE4M3 scale-search window (0 = skip)")
        ->check(CLI::Range(0, 126));
    cmd->callback([&exit_code] {
        std::vector<std::pair<int, int64_t>> pairs;
        for (size_t i = 0; i + 1 < ts_auto.size(); i += 2) {
            pairs.emplace_back(ts_auto[i], ts_auto[i + 1]);
        }
        exit_code = run(model, threads, search, imatrix_path, only, targets, pairs);
    });
}

} // namespace nibble::cli
