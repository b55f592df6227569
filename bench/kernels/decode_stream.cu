/*
Kernel lab: the decode stream. The seven projections of all 32 Llama-3-8B layers (q, k, v, o: 4096
and 1024 x 4096; gate, up: 14336 x 4096; down: 4096 x 14336) as distinct weight buffers (3.9 GB at
4.5 bits, 14 GB in BF16), launched back to back and captured in one CUDA graph, as a decode step
would run them. Effective bandwidth = GGUF weight bytes / graph time, against the device-to-device
copy bandwidth measured in the same run.

Configurations: 7 launches per layer (one per projection) or 4 (Q/K/V grouped in one launch, gate
and up fused with the SwiGLU product), each without programmatic dependent launch (PDL), with PDL
triggered at kernel entry and with PDL triggered after the main loop; batch 1, 2, 4, 8; the default
options. Then kernel variants at batch 1 (grid in waves or balanced over a few blocks per SM, block
shapes), for the whole stream and for each kernel kind alone. The launch floor of empty kernels is
measured first.

Build: cmake --build build --target decode_stream     Run: build/bench/kernels/decode_stream [formats...]
*/
#include "lab.cuh"

#include "backend/cuda/common.cuh"

#include <algorithm>
#include <cstring>
#include <iterator>
#include <string>

namespace nibble::lab {
namespace {

constexpr int kLayers = 32;
constexpr int kHidden = 4096;
constexpr int kKv     = 1024;
constexpr int kFfn    = 14336;

constexpr int kConfigs = 6;  // 7 or 4 launches per layer x PDL off / early / late, default options

// Kernel variants timed at batch 1, 4 fused launches + PDL early: the whole stream and each kernel
// kind alone. R counts gate and up rows in the fused SwiGLU kernel (at least 2).
struct Variant {
    const char *      name;
    cuda::GemvOptions opt;
};
const Variant kVariants[] = {
    { "default (gemv.cu heuristic)", {} },
    { "grid, W8 R2", { .rows_per_warp = 2, .warps_per_block = 8, .blocks_per_sm = 0 } },
    { "balanced 2/SM, W8 R2", { .rows_per_warp = 2, .warps_per_block = 8, .blocks_per_sm = 2 } },
    { "balanced 3/SM (where resident), W8 R2", { .rows_per_warp = 2, .warps_per_block = 8, .blocks_per_sm = 3 } },
    { "balanced 2/SM, W8 R1", { .rows_per_warp = 1, .warps_per_block = 8, .blocks_per_sm = 2 } },
    { "balanced 1/SM, W16 R2", { .rows_per_warp = 2, .warps_per_block = 16, .blocks_per_sm = 1 } },
};
constexpr int kSweep = int(std::size(kVariants));
// Kernel kinds launched together (bit mask of launch_layers' `only`): what the transitions between
// kinds cost beyond each kind alone (H100, 2026-11-22: within +-0.7 us per layer, i.e. the
// per-kind table accounts for the whole stream).
constexpr int kCombos[6] = { 3, 6, 12, 9, 5, 15 };

struct Layer {
    DeviceMatrix q, k, v, o, gate, up, down;
};

struct Outputs {
    DeviceArray<float> q, k, v, o, gate, up, down;
};

void check(cuda::GemvError e) {
    if (e != cuda::GemvError::Ok) {
        std::printf("gemv: %s\n", cuda::gemv_error_string(e));
        std::exit(1);
    }
}

// Launch floor: a chain of empty kernels in one graph, plain or with the PDL attribute (and a
// griddepcontrol.wait, as the GEMV does). What no GEMV launch can go below.
__global__ void empty_kernel(int late) {
    if (!late) {
        cuda::griddep_launch_dependents();
    }
    cuda::griddep_wait();
    if (late) {
        cuda::griddep_launch_dependents();
    }
}

double launch_floor_us(cudaStream_t s, int pdl_mode) {
    constexpr int n = 256;
    return time_graph_ms(s, n, [&](int) {
               cuda::PdlLaunch l(dim3(132), dim3(128), 0, s, pdl_mode != 0);
               CUDA_CHECK(cudaLaunchKernelEx(&l.cfg, empty_kernel, pdl_mode == 2 ? 1 : 0));
           }) * 1e3 / n;
}

// pdl: 0 off, 1 trigger at kernel entry, 2 trigger after the main loop; `base` sets the kernel choice.
void launch_layers(const std::vector<Layer> & layers, const Outputs & out, const DeviceX & xh, const DeviceX & xf,
                   int batch, bool fused, int pdl, cudaStream_t s, cuda::GemvOptions opt = {}, int only = 15) {
    opt.pdl              = pdl != 0;
    opt.pdl_trigger_late = pdl == 2;
    const auto              F16 = cuda::ActType::F16;
    for (const Layer & l : layers) {
        if (fused) {  // `only` picks kernels for the per-kernel breakdown: 1 QKV, 2 o, 4 gate/up, 8 down
            const cuda::GemvWeights w[3] = { l.q.weights(), l.k.weights(), l.v.weights() };
            const cuda::GemvOutput  y[3] = { { out.q.get(), kHidden }, { out.k.get(), kKv }, { out.v.get(), kKv } };
            if (only & 1) {
                check(cuda::gemv_grouped(w, y, xh.dev.get(), F16, batch, xh.ldx, s, opt));
            }
            if (only & 2) {
                check(cuda::gemv(l.o.weights(), xh.dev.get(), F16, batch, xh.ldx, { out.o.get(), kHidden }, s, opt));
            }
            if (only & 4) {
                check(cuda::gemv_gate_up_silu(l.gate.weights(), l.up.weights(), xh.dev.get(), F16, batch, xh.ldx,
                                              { out.gate.get(), kFfn }, s, opt));
            }
            if (only & 8) {
                check(cuda::gemv(l.down.weights(), xf.dev.get(), F16, batch, xf.ldx, { out.down.get(), kHidden }, s,
                                 opt));
            }
            continue;
        } else {
            check(cuda::gemv(l.q.weights(), xh.dev.get(), F16, batch, xh.ldx, { out.q.get(), kHidden }, s, opt));
            check(cuda::gemv(l.k.weights(), xh.dev.get(), F16, batch, xh.ldx, { out.k.get(), kKv }, s, opt));
            check(cuda::gemv(l.v.weights(), xh.dev.get(), F16, batch, xh.ldx, { out.v.get(), kKv }, s, opt));
            check(cuda::gemv(l.o.weights(), xh.dev.get(), F16, batch, xh.ldx, { out.o.get(), kHidden }, s, opt));
            check(cuda::gemv(l.gate.weights(), xh.dev.get(), F16, batch, xh.ldx, { out.gate.get(), kFfn }, s, opt));
            check(cuda::gemv(l.up.weights(), xh.dev.get(), F16, batch, xh.ldx, { out.up.get(), kFfn }, s, opt));
        }
        check(cuda::gemv(l.down.weights(), xf.dev.get(), F16, batch, xf.ldx, { out.down.get(), kHidden }, s, opt));
    }
}

}  // namespace
}  // namespace nibble::lab

int main(int argc, char ** argv) {
    using namespace nibble;
    using namespace nibble::lab;
    std::vector<Format> formats;
    for (int i = 1; i < argc; ++i) {
        const std::optional<Format> f = format_from_name(argv[i]);
        if (!f || !cuda::gemv_supports(*f)) {
            std::printf("unknown or unsupported format %s\n", argv[i]);
            return 1;
        }
        formats.push_back(*f);
    }
    if (formats.empty()) {
        formats = lab_formats();
    }
    cuda::Context ctx;
    cudaStream_t  s    = ctx.stream();
    const CopyBandwidth cb = measure_copy(s, ctx.num_sms());
    const double        copy = cb.best();
    const double  read = measure_read_gbps(s, ctx.num_sms());
    std::printf("device: %s, %d SMs; copy %.0f GB/s (read+write; cudaMemcpy %.0f, copy kernel %.0f),\n"
                "read-only stream %.0f GB/s\n\n",
                ctx.name().c_str(), ctx.num_sms(), copy, cb.memcpy_gbps, cb.kernel_gbps, read);

    std::printf("launch floor (empty kernels, one graph): %.2f us plain, %.2f us PDL early, %.2f us PDL late\n\n",
                launch_floor_us(s, 0), launch_floor_us(s, 1), launch_floor_us(s, 2));

    const DeviceX xh = make_x(8, kHidden, 3);
    const DeviceX xf = make_x(8, kFfn, 4);
    Outputs       out{ device_alloc<float>(8 * kHidden), device_alloc<float>(8 * kKv), device_alloc<float>(8 * kKv),
                       device_alloc<float>(8 * kHidden), device_alloc<float>(8 * kFfn), device_alloc<float>(8 * kFfn),
                       device_alloc<float>(8 * kHidden) };

    struct Row {
        Format f;
        double gb;
        double ms[kConfigs][4];  // [config, see cfgs][batch 1, 2, 4, 8]
        double sweep[kSweep];    // batch 1, 4 fused + PDL early, per variant (kVariants)
        double part[kSweep][4];  // the same, one kernel kind alone: [variant][QKV, o, gate/up, down]
        double part_gb[4];
        double combo[6];  // default variant, batch 1: kernel kinds launched together (kCombos)
    };
    std::vector<Row> rows;
    const int        batches[4] = { 1, 2, 4, 8 };
    for (Format f : formats) {
        const Template     th = make_template(f, 256, kHidden, 21);
        const Template     tf = make_template(f, 256, kFfn, 22);
        std::vector<Layer> layers;
        double             bytes = 0.0;
        for (int i = 0; i < kLayers; ++i) {
            Layer l{ tile_matrix(th, kHidden, s), tile_matrix(th, kKv, s),     tile_matrix(th, kKv, s),
                     tile_matrix(th, kHidden, s), tile_matrix(th, kFfn, s),    tile_matrix(th, kFfn, s),
                     tile_matrix(tf, kHidden, s) };
            for (const DeviceMatrix * m : { &l.q, &l.k, &l.v, &l.o, &l.gate, &l.up, &l.down }) {
                bytes += double(m->gguf_bytes);
            }
            layers.push_back(std::move(l));
        }
        CUDA_CHECK(cudaStreamSynchronize(s));

        // Validate the last layer's outputs (every layer repeats the same template rows), both kernels.
        bool valid = true;
        for (int vi = 0; vi < kSweep; ++vi) {
            for (int batch : { 1, 8 }) {
                if (batch > 1 && kVariants[vi].opt.warps_per_block == 16) {
                    continue;  // 16-warp blocks exist for batch 1 only
                }
                launch_layers(layers, out, xh, xf, batch, false, 2, s, kVariants[vi].opt);
                CUDA_CHECK(cudaStreamSynchronize(s));
                const double e1 = nmse_vs_template(th, xh, batch, out.q.get(), 256, kHidden);
                const double e2 = nmse_vs_template(tf, xf, batch, out.down.get(), 256, kHidden);
                if (!(e1 < 1e-3) || !(e2 < 1e-3)) {  // report and go on with the other formats
                    std::printf("%s: FAILED validation (%s, batch %d), nmse %.3g %.3g\n", fmt_name(f),
                                kVariants[vi].name, batch, e1, e2);
                    valid = false;
                }
            }
        }
        if (!valid) {
            continue;
        }

        Row row{ f, bytes / 1e9, {}, {}, {}, {}, {} };
        for (int cfg = 0; cfg < kConfigs; ++cfg) {
            for (int bi = 0; bi < 4; ++bi) {
                const bool fused = cfg >= 3;
                const int  pdl   = cfg % 3;
                row.ms[cfg][bi]  = time_graph_ms(
                    s, 1, [&](int) { launch_layers(layers, out, xh, xf, batches[bi], fused, pdl, s); }, 5);
            }
        }
        for (int kind = 0; kind < 4; ++kind) {
            const Layer & l0 = layers[0];
            const DeviceMatrix * ms[4][3] = { { &l0.q, &l0.k, &l0.v }, { &l0.o }, { &l0.gate, &l0.up }, { &l0.down } };
            row.part_gb[kind] = 0.0;
            for (const DeviceMatrix * m : ms[kind]) {
                row.part_gb[kind] += m != nullptr ? double(m->gguf_bytes) * kLayers / 1e9 : 0.0;
            }
            for (int i = 0; i < kSweep; ++i) {
                row.part[i][kind] = time_graph_ms(
                    s, 1, [&](int) { launch_layers(layers, out, xh, xf, 1, true, 1, s, kVariants[i].opt, 1 << kind); },
                    5);
            }
        }
        for (int i = 0; i < 6; ++i) {
            row.combo[i] = time_graph_ms(
                s, 1, [&](int) { launch_layers(layers, out, xh, xf, 1, true, 1, s, {}, kCombos[i]); }, 5);
        }
        for (int i = 0; i < kSweep; ++i) {
            row.sweep[i] = time_graph_ms(
                s, 1, [&](int) { launch_layers(layers, out, xh, xf, 1, true, 1, s, kVariants[i].opt); }, 5);
        }
        rows.push_back(row);
        std::printf("%s: %.2f GB, batch 1: %.3f ms (4 fused) %.0f GB/s\n", fmt_name(f), row.gb, row.ms[3][0],
                    bytes / (row.ms[3][0] * 1e6));
        std::fflush(stdout);
    }

    const char * cfgs[kConfigs] = { "7 launches", "7 + PDL early",       "7 + PDL late",
                                    "4 fused",    "4 fused + PDL early", "4 fused + PDL late" };
    std::printf("\n### Decode stream, batch 1: effective GB/s (%% of copy %.0f GB/s)\n\n", copy);
    std::printf("| format | bpw | GB |");
    for (const char * c : cfgs) {
        std::printf(" %s |", c);
    }
    std::printf("\n|---|---|---|---|---|---|---|---|---|\n");
    for (const Row & r : rows) {
        std::printf("| %s | %.3g | %.2f |", fmt_name(r.f), bits_per_weight(r.f), r.gb);
        for (int cfg = 0; cfg < kConfigs; ++cfg) {
            const double gbps = r.gb * 1e3 / r.ms[cfg][0];
            std::printf(" %.0f (%.1f%%) |", gbps, 100.0 * gbps / copy);
        }
        std::printf("\n");
    }
    std::printf("\n### Kernel variants, batch 1, 4 fused + PDL early: whole stream, and each kernel kind alone "
                "(32 launches; us per launch, %% of copy)\n\n");
    std::printf("| format | variant | stream | QKV | o | gate/up | down |\n|---|---|---|---|---|---|---|\n");
    for (const Row & r : rows) {
        for (int i = 0; i < kSweep; ++i) {
            std::printf("| %s | %s | %.1f%% |", fmt_name(r.f), kVariants[i].name,
                        100.0 * r.gb * 1e3 / r.sweep[i] / copy);
            for (int kind = 0; kind < 4; ++kind) {
                const double ms = r.part[i][kind];
                std::printf(" %.1f (%.0f%%) |", ms * 1e3 / kLayers, 100.0 * r.part_gb[kind] * 1e3 / ms / copy);
            }
            std::printf("\n");
        }
    }
    std::printf("\n### Kinds together, default variant, batch 1, PDL early: us per layer, and the excess over "
                "the sum of each kind alone\n\n| format |");
    for (int m : kCombos) {
        std::printf(" %s%s%s%s |", m & 1 ? "QKV " : "", m & 2 ? "o " : "", m & 4 ? "gu " : "", m & 8 ? "down" : "");
    }
    std::printf("\n|---|---|---|---|---|---|---|\n");
    for (const Row & r : rows) {
        std::printf("| %s |", fmt_name(r.f));
        for (int i = 0; i < 6; ++i) {
            double alone = 0.0;
            for (int kind = 0; kind < 4; ++kind) {
                alone += (kCombos[i] >> kind & 1) ? r.part[0][kind] : 0.0;
            }
            std::printf(" %.1f (%+.1f) |", r.combo[i] * 1e3 / kLayers, (r.combo[i] - alone) * 1e3 / kLayers);
        }
        std::printf("\n");
    }
    // Per batch: the faster of PDL off / late for each of the 7-launch and fused streams.
    auto best = [](const Row & r, int first, int bi) {
        return std::min({ r.ms[first][bi], r.ms[first + 1][bi], r.ms[first + 2][bi] });
    };
    std::printf("\n### Decode stream, batch 1..8: ms per pass (best of PDL off / early / late), growth over batch 1\n\n");
    std::printf("| format | 7: b1 | b2 | b4 | b8 | b8/b1 | fused: b1 | b2 | b4 | b8 | b8/b1 |\n");
    std::printf("|---|---|---|---|---|---|---|---|---|---|---|\n");
    for (const Row & r : rows) {
        std::printf("| %s |", fmt_name(r.f));
        for (int first : { 0, 3 }) {
            for (int bi = 0; bi < 4; ++bi) {
                std::printf(" %.3f |", best(r, first, bi));
            }
            std::printf(" %.2f |", best(r, first, 3) / best(r, first, 0));
        }
        std::printf("\n");
    }
    return 0;
}
