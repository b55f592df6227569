/*
Kernel lab: the decode stream. The seven projections of all 32 Llama-3-8B layers (q, k, v, o: 4096
and 1024 x 4096; gate, up: 14336 x 4096; down: 4096 x 14336) as distinct weight buffers (3.9 GB at
4.5 bits, 14 GB in BF16), launched back to back and captured in one CUDA graph, as a decode step
would run them. Effective bandwidth = GGUF weight bytes / graph time, against the device-to-device
copy bandwidth measured in the same run.

Configurations: 7 launches per layer (one per projection) or 4 (Q/K/V grouped in one launch, gate
and up fused with the SwiGLU product), each with and without programmatic dependent launch (PDL);
batch 1, 2, 4, 8.

Build: cmake --build build --target decode_stream     Run: build/bench/kernels/decode_stream [formats...]
*/
#include "lab.cuh"

#include <cstring>
#include <string>

namespace nibble::lab {
namespace {

constexpr int kLayers = 32;
constexpr int kHidden = 4096;
constexpr int kKv     = 1024;
constexpr int kFfn    = 14336;

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

void launch_layers(const std::vector<Layer> & layers, const Outputs & out, const DeviceX & xh, const DeviceX & xf,
                   int batch, bool fused, bool pdl, cudaStream_t s) {
    const cuda::GemvOptions opt{ 0, pdl };
    const auto              F16 = cuda::ActType::F16;
    for (const Layer & l : layers) {
        if (fused) {
            const cuda::GemvWeights w[3] = { l.q.weights(), l.k.weights(), l.v.weights() };
            const cuda::GemvOutput  y[3] = { { out.q.get(), kHidden }, { out.k.get(), kKv }, { out.v.get(), kKv } };
            check(cuda::gemv_grouped(w, y, xh.dev.get(), F16, batch, xh.ldx, s, opt));
            check(cuda::gemv(l.o.weights(), xh.dev.get(), F16, batch, xh.ldx, { out.o.get(), kHidden }, s, opt));
            check(cuda::gemv_gate_up_silu(l.gate.weights(), l.up.weights(), xh.dev.get(), F16, batch, xh.ldx,
                                          { out.gate.get(), kFfn }, s, opt));
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
    const double  copy = measure_copy_gbps(s);
    const double  read = measure_read_gbps(s, ctx.num_sms());
    std::printf("device: %s, %d SMs; copy %.0f GB/s (read+write), read-only stream %.0f GB/s\n\n", ctx.name().c_str(),
                ctx.num_sms(), copy, read);

    const DeviceX xh = make_x(8, kHidden, 3);
    const DeviceX xf = make_x(8, kFfn, 4);
    Outputs       out{ device_alloc<float>(8 * kHidden), device_alloc<float>(8 * kKv), device_alloc<float>(8 * kKv),
                       device_alloc<float>(8 * kHidden), device_alloc<float>(8 * kFfn), device_alloc<float>(8 * kFfn),
                       device_alloc<float>(8 * kHidden) };

    struct Row {
        Format f;
        double gb;
        double ms[4][4];  // [config: 7, 7+PDL, 4 fused, 4 fused+PDL][batch 1, 2, 4, 8]
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

        // Validate the last layer's outputs (every layer repeats the same template rows).
        launch_layers(layers, out, xh, xf, 8, false, true, s);
        CUDA_CHECK(cudaStreamSynchronize(s));
        const double e1 = nmse_vs_template(th, xh, 8, out.q.get(), 256, kHidden);
        const double e2 = nmse_vs_template(tf, xf, 8, out.down.get(), 256, kHidden);
        if (!(e1 < 1e-3) || !(e2 < 1e-3)) {  // report and go on with the other formats
            std::printf("%s: FAILED validation, nmse %.3g %.3g\n", fmt_name(f), e1, e2);
            continue;
        }

        Row row{ f, bytes / 1e9, {} };
        for (int cfg = 0; cfg < 4; ++cfg) {
            for (int bi = 0; bi < 4; ++bi) {
                const bool fused = cfg >= 2, pdl = cfg % 2 == 1;
                row.ms[cfg][bi]  = time_graph_ms(
                    s, 1, [&](int) { launch_layers(layers, out, xh, xf, batches[bi], fused, pdl, s); }, 5);
            }
        }
        rows.push_back(row);
        std::printf("%s: %.2f GB, batch 1: %.3f ms (7 launches + PDL) %.0f GB/s\n", fmt_name(f), row.gb,
                    row.ms[1][0], bytes / (row.ms[1][0] * 1e6));
        std::fflush(stdout);
    }

    const char * cfgs[4] = { "7 launches", "7 + PDL", "4 fused", "4 fused + PDL" };
    std::printf("\n### Decode stream, batch 1: effective GB/s (%% of copy %.0f GB/s)\n\n", copy);
    std::printf("| format | bpw | GB | %s | %s | %s | %s |\n|---|---|---|---|---|---|---|\n", cfgs[0], cfgs[1], cfgs[2],
                cfgs[3]);
    for (const Row & r : rows) {
        std::printf("| %s | %.3g | %.2f |", fmt_name(r.f), bits_per_weight(r.f), r.gb);
        for (int cfg = 0; cfg < 4; ++cfg) {
            const double gbps = r.gb * 1e3 / r.ms[cfg][0];
            std::printf(" %.0f (%.1f%%) |", gbps, 100.0 * gbps / copy);
        }
        std::printf("\n");
    }
    std::printf("\n### Decode stream, batch 1..8: time in ms (7 + PDL | 4 fused + PDL) and growth over batch 1\n\n");
    std::printf("| format | b1 ms | b2 ms | b4 ms | b8 ms | b8/b1 | fused b1 ms | fused b8 ms | fused b8/b1 |\n");
    std::printf("|---|---|---|---|---|---|---|---|---|\n");
    for (const Row & r : rows) {
        std::printf("| %s | %.3f | %.3f | %.3f | %.3f | %.2f | %.3f | %.3f | %.2f |\n", fmt_name(r.f), r.ms[1][0],
                    r.ms[1][1], r.ms[1][2], r.ms[1][3], r.ms[1][3] / r.ms[1][0], r.ms[3][0], r.ms[3][3],
                    r.ms[3][3] / r.ms[3][0]);
    }
    return 0;
}
