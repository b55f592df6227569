// GGUF load speed: how fast GgufFile::open (mmap + full header validation, no copy) gets a multi-GB
// model ready, from page cache. Issue 3 asks for >= 2 GB/s; since open copies nothing, the honest
// companions are also printed: touching every page of tensor data (page-fault cost of first use) and
// reading every byte (memory bandwidth).
//
//   nibble_bench_gguf_load [PATH] [--gib N] [--runs N] [--keep]
//
// Writes a synthetic llama-shaped model with our own GgufWriter (Q8_0 blocks, F16 embeddings, F32
// norms, a 32k-token vocabulary in the metadata) to PATH (default /tmp/nibble_bench_load.gguf),
// times it, and deletes it unless --keep.
#include "io/gguf.h"
#include "io/gguf_writer.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

using namespace nibble;

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
    return std::chrono::duration<double>(Clock::now() - t0).count();
}

[[noreturn]] void die(const Error & e) {
    std::fprintf(stderr, "bench_gguf_load: %s\n", e.message().c_str());
    std::exit(1);
}

// A TinyLlama-like layer stack (n_embd 2048, n_ff 5632, 4 KV heads of 64) with as many layers as it
// takes to reach the requested size: ~47 MB of Q8_0 per layer.
Result<uint64_t> write_model(const std::string & path, double gib) {
    constexpr int64_t kEmbd = 2048, kFF = 5632, kKV = 256, kVocab = 32000;
    constexpr double  kLayerBytes = 1.0625 * double(2 * kEmbd * kEmbd + 2 * kEmbd * kKV + 3 * kEmbd * kFF); // Q8_0
    const int         n_layer     = std::max(1, int(gib * double(1ull << 30) / kLayerBytes));

    GgufWriter w;
    w.add_string("general.architecture", "llama");
    w.add_string("general.name", "nibble-bench-load");
    w.add<uint32_t>("general.file_type", 7);
    w.add<uint32_t>("general.quantization_version", 2);
    w.add<uint32_t>("llama.block_count", uint32_t(n_layer));
    w.add<uint32_t>("llama.embedding_length", uint32_t(kEmbd));
    w.add<uint32_t>("llama.feed_forward_length", uint32_t(kFF));
    w.add<uint32_t>("llama.attention.head_count", 32);
    w.add<uint32_t>("llama.attention.head_count_kv", 4);
    w.add<float>("llama.attention.layer_norm_rms_epsilon", 1e-5f);
    std::vector<std::string> tokens(kVocab);
    std::vector<float>       scores(kVocab);
    std::vector<int32_t>     types(kVocab, 1);
    for (int64_t i = 0; i < kVocab; i++) {
        tokens[size_t(i)] = "tok" + std::to_string(i * 7919 % 100003);
        scores[size_t(i)] = -float(i);
    }
    w.add_string("tokenizer.ggml.model", "llama");
    w.add_string_array("tokenizer.ggml.tokens", tokens);
    w.add_array<float>("tokenizer.ggml.scores", scores);
    w.add_array<int32_t>("tokenizer.ggml.token_type", types);

    auto tensor = [&w](const std::string & name, Format f, std::initializer_list<int64_t> ne) {
        if (Result<size_t> r = w.add_tensor(name, f, std::span<const int64_t>(ne.begin(), ne.size())); !r) {
            die(r.error());
        }
    };
    tensor("token_embd.weight", Format::F16, { kEmbd, kVocab });
    for (int l = 0; l < n_layer; l++) {
        const std::string b = "blk." + std::to_string(l) + ".";
        tensor(b + "attn_norm.weight", Format::F32, { kEmbd });
        tensor(b + "attn_q.weight", Format::Q8_0, { kEmbd, kEmbd });
        tensor(b + "attn_k.weight", Format::Q8_0, { kEmbd, kKV });
        tensor(b + "attn_v.weight", Format::Q8_0, { kEmbd, kKV });
        tensor(b + "attn_output.weight", Format::Q8_0, { kEmbd, kEmbd });
        tensor(b + "ffn_norm.weight", Format::F32, { kEmbd });
        tensor(b + "ffn_gate.weight", Format::Q8_0, { kEmbd, kFF });
        tensor(b + "ffn_up.weight", Format::Q8_0, { kEmbd, kFF });
        tensor(b + "ffn_down.weight", Format::Q8_0, { kFF, kEmbd });
    }
    tensor("output_norm.weight", Format::F32, { kEmbd });
    tensor("output.weight", Format::Q8_0, { kEmbd, kVocab });

    if (Result<uint64_t> r = w.begin(path); !r) {
        return r;
    }
    // One 16 MiB pattern streamed over and over: the writer never sees more than a chunk at a time.
    std::vector<uint8_t> chunk(16u << 20);
    uint32_t             x = 0x9e3779b9u;
    for (uint8_t & c : chunk) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        c = uint8_t(x);
    }
    for (size_t i = 0; i < w.n_tensors(); i++) {
        for (uint64_t left = w.tensor_nbytes(i); left > 0;) {
            const uint64_t n = std::min<uint64_t>(left, chunk.size());
            if (Result<uint64_t> r = w.write_tensor_data(i, chunk.data(), n); !r) {
                return r;
            }
            left -= n;
        }
    }
    return w.commit();
}

struct Stats {
    double best = 1e30, median = 0;
};

template <class Fn> Stats time_runs(int runs, Fn fn) {
    std::vector<double> t;
    for (int i = 0; i < runs; i++) {
        const auto t0 = Clock::now();
        fn();
        t.push_back(seconds_since(t0));
    }
    std::sort(t.begin(), t.end());
    return Stats{ t.front(), t[t.size() / 2] };
}

} // namespace

int main(int argc, char ** argv) {
    std::string path = "/tmp/nibble_bench_load.gguf";
    double      gib  = 2.5;
    int         runs = 20;
    bool        keep = false;
    for (int i = 1; i < argc; i++) {
        const std::string a = argv[i];
        if (a == "--gib" && i + 1 < argc) {
            gib = std::atof(argv[++i]);
        } else if (a == "--runs" && i + 1 < argc) {
            runs = std::max(1, std::atoi(argv[++i]));
        } else if (a == "--keep") {
            keep = true;
        } else {
            path = a;
        }
    }

    auto                   t0   = Clock::now();
    const Result<uint64_t> size = write_model(path, gib);
    if (!size) {
        die(size.error());
    }
    const double gb = double(*size) / 1e9;
    std::printf("wrote %s: %.3f GB in %.2f s (%.2f GB/s incl. fsync)\n", path.c_str(), gb, seconds_since(t0),
                gb / seconds_since(t0));

    // Warm the page cache (and check the file) with one full read.
    volatile uint64_t sink = 0;
    auto              open = [&path]() {
        Result<GgufFile> f = GgufFile::open(path);
        if (!f) {
            die(f.error());
        }
        return std::move(f.value());
    };
    {
        GgufFile f = open();
        uint64_t s = 0;
        for (const GgufTensor & t : f.tensors()) {
            for (uint64_t i = 0; i < t.nbytes; i += 4096) {
                s += t.data[i];
            }
        }
        sink = sink + s;
        std::printf("%zu tensors, %zu KVs, data offset %llu\n", f.tensors().size(), f.metadata().size(),
                    static_cast<unsigned long long>(f.data_offset()));
    }

    const Stats st_open  = time_runs(runs, [&] {
        GgufFile f = open();
        sink       = sink + f.tensors().size();
    });
    const Stats st_touch = time_runs(std::max(1, runs / 4), [&] {
        GgufFile f = open();
        uint64_t s = 0;
        for (const GgufTensor & t : f.tensors()) {
            for (uint64_t i = 0; i < t.nbytes; i += 4096) {
                s += t.data[i]; // one byte per 4 KiB page: the page-fault cost of first use
            }
        }
        sink = sink + s;
    });
    const Stats st_read  = time_runs(std::max(1, runs / 4), [&] {
        GgufFile f = open();
        uint64_t s = 0;
        for (const GgufTensor & t : f.tensors()) {
            const uint64_t n = t.nbytes / 8;
            for (uint64_t i = 0; i < n; i++) {
                uint64_t v;
                std::memcpy(&v, t.data + 8 * i, 8);
                s += v;
            }
        }
        sink = sink + s;
    });

    std::printf("\n%-34s %12s %12s %12s\n", "variant (page cache, file size / t)", "best ms", "median ms", "GB/s");
    auto row = [gb](const char * name, const Stats & s) {
        std::printf("%-34s %12.3f %12.3f %12.1f\n", name, 1e3 * s.best, 1e3 * s.median, gb / s.median);
    };
    row("open: mmap + validate (no copy)", st_open);
    row("open + touch every 4 KiB page", st_touch);
    row("open + read every byte", st_read);
    std::printf("(sink %llu)\n", static_cast<unsigned long long>(sink));

    if (!keep) {
        std::filesystem::remove(path);
    }
    return 0;
}
