// Matrix multiplication of f32 activations with weights in any storage format, read in place from
// the mmapped GGUF (ggml's mul_mat on the CPU backend).
//
// Contract:
//   w      n_out rows of n_in elements in format w.format (GGUF ne = [n_in, n_out]); row r starts at
//          w.data + r * row_size(format, n_in). n_in must be a multiple of the activation block
//          (32 for Q8_0/Q8_1 pairs, 256 for Q8_K pairs); the loader checks this.
//   x      m rows of n_in floats, row-major (row stride n_in).
//   y      m rows; y[t * ldy + r] = W[r] . X[t] for r < n_out.
// Activations are converted once per call to the weight's vec_dot_type (formats/vec_dot.h), then
// every output element is one vec_dot call on (weight row, activation row). Rows of W are split over
// the thread pool in chunks; a chunk walks its weight rows for every activation row, so each weight
// byte is read from memory once per call even for m > 1 (prefill). Results depend neither on the
// thread count nor on m: decode (m = 1) and batched prefill produce bit-identical rows.
#pragma once

#include "backend/cpu/formats/vec_dot.h"
#include "core/thread_pool.h"
#include "formats/format.h"

#include <cstdint>
#include <span>
#include <vector>

namespace nibble::cpu {

struct WeightView {
    Format          format = Format::F32;
    const uint8_t * data   = nullptr;
    int64_t         n_in   = 0; // ne[0]
    int64_t         n_out  = 0; // ne[1]
};

enum class MatmulPath : uint8_t {
    Fast,      // AVX2 kernels where the CPU has them
    Reference, // scalar vec_dot_ref kernels (the oracle)
};

// Reusable buffers for the converted activations (one per distinct activation format of a call).
struct MatmulScratch {
    std::vector<uint8_t> act[3];
};

// One output of a multi-weight matmul: all weights of one call share the input rows x.
struct MatmulOut {
    const WeightView * w   = nullptr;
    float *            y   = nullptr;
    int64_t            ldy = 0;
};

// Several weights with the same input (Q/K/V, gate/up) in one parallel region: the activations are
// converted once per distinct vec_dot_type and all output rows share one work queue.
void matmul_multi(std::span<const MatmulOut> outs, const float * x, int64_t m, ThreadPool * pool,
                  MatmulScratch & scratch, MatmulPath path = MatmulPath::Fast);

inline void matmul(const WeightView & w, const float * x, int64_t m, float * y, int64_t ldy, ThreadPool * pool,
                   MatmulScratch & scratch, MatmulPath path = MatmulPath::Fast) {
    const MatmulOut o{ &w, y, ldy };
    matmul_multi({ &o, 1 }, x, m, pool, scratch, path);
}

} // namespace nibble::cpu
