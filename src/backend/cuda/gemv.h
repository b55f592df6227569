// Decode matrix-vector products on the GPU: y = W·x for W in every weight format, batch 1..8.
//
// Weights are repacked once at load (gemv_repack) from GGUF block bytes into a planar layout the
// kernels stream with 16-byte loads; the GGUF bytes on disk stay standard. See gemv.cu for the
// kernel contract and docs/performance.md for the measured bandwidth.
#pragma once

#include "formats/format.h"

#include <cuda_runtime.h>

#include <cstdint>
#include <span>

namespace nibble::cuda {

enum class ActType : uint8_t { F16, BF16 };

// Planar layout of a rows x cols weight matrix (gemv_layout). A GGUF block of the format is split
// into up to four fields ("planes"); plane p stores field p of every block of row r contiguously at
//     packed + plane_offset[p] + r * plane_row_bytes[p]
// so plane 0 (the quants) is one dense, 16-byte aligned stream per row and the scales sit apart.
// Which bytes of a block go to which plane is declared per format in backend/cuda/formats/<fmt>.cuh
// (kPlanes); a field may be bit-transposed on the way (Q5_0/Q5_1 high bits, documented there).
struct PackedLayout {
    Format  format          = Format::Count;
    int64_t rows            = 0;
    int64_t cols            = 0;
    int     nplanes         = 0;
    int64_t plane_offset[4] = {};  // bytes, 256-aligned
    int64_t plane_row_bytes[4] = {};
    int64_t bytes           = 0;  // total size of the packed buffer
};

// Formats with a GEMV kernel: NVFP4, MXFP4, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K..Q6_K, IQ4_NL,
// IQ4_XS, E4M3 (FP8, with per-tensor and/or per-row scale), BF16, F16.
bool gemv_supports(Format f);

// cols must be a multiple of this (the GGUF block, or 8/16 for the 2/1-byte float formats so a
// 16-byte load never straddles a row).
int64_t gemv_col_multiple(Format f);

// Layout of a packed rows x cols matrix. Precondition: gemv_supports(f), cols % gemv_col_multiple(f) == 0.
PackedLayout gemv_layout(Format f, int64_t rows, int64_t cols);

// Host repack: `gguf` holds rows * row_size(f, cols) bytes (GGUF/ggml block order); `packed`
// receives layout.bytes bytes (padding zeroed). gemv_unpack is the exact inverse.
void gemv_repack(const PackedLayout & layout, const void * gguf, void * packed);
void gemv_unpack(const PackedLayout & layout, const void * packed, void * gguf);

// A packed weight matrix on the device plus its optional output scales:
//     y[b][r] = scale * row_scale[r] * sum_k W[r][k] x[b][k]
// scale: per-tensor factor (FP8 per-tensor scale, NVFP4 `.scale` side-car); row_scale: device array
// of `rows` floats (FP8 per-output-channel scale) or null.
struct GemvWeights {
    PackedLayout    layout;
    const uint8_t * data      = nullptr;
    float           scale     = 1.0f;
    const float *   row_scale = nullptr;
};

struct GemvOutput {
    float * y   = nullptr;  // device, y[b * ldy + r], fp32
    int64_t ldy = 0;        // >= rows
};

enum class GemvError : uint8_t {
    Ok,
    UnsupportedFormat,  // no kernel for this format
    BadShape,           // cols not a multiple of gemv_col_multiple, rows/cols <= 0 or > INT32_MAX, ld too small
    BadBatch,           // batch outside 1..8
    BadAlignment,       // x not 16-byte aligned, or ldx not a multiple of 8 elements
    Mismatch,           // grouped / fused operands disagree in format or cols, or too many groups
    BadOption,          // rows_per_warp not in {0, 1, 2, 4}, warps_per_block not in {0, 4, 8}, blocks_per_sm not in -1..32
};
const char * gemv_error_string(GemvError e);

struct GemvOptions {
    // Rows of W per warp: 1, 2 or 4, or 0 for the measured heuristic in gemv.cu. Tests and the
    // kernel lab sweep it; production code leaves it at 0.
    int rows_per_warp = 0;
    // Warps per block: 4, 8 or 16 (16: batch 1 with 2 rows per warp only, else BadOption), or 0 for
    // the heuristic. Same purpose as rows_per_warp.
    int warps_per_block = 0;
    // Launch with programmatic dependent launch: the kernel starts streaming its weights while the
    // previous kernel in the stream drains, and waits (griddepcontrol.wait) before it reads x.
    bool pdl = true;
    // When PDL is on, let the *next* kernel launch as soon as every block of this one has started
    // (false, measured best in the decode stream) or once every block has finished its main loop
    // (true). See docs/performance.md.
    bool pdl_trigger_late = false;
    // Grid: 0 = one block per warps x rows_per_warp rows (the matrix in waves); N > 0 = N blocks per
    // SM whose warps take equal contiguous shares of the rows, one after another (balanced; needs
    // x in one slice: cols <= 16384 / batch slots, else waves); -1 = the measured heuristic.
    int blocks_per_sm = -1;
};

// y = W·x for `batch` activation columns x[b * ldx + k] (fp16 or bf16, 16-byte aligned, ldx % 8 == 0).
GemvError gemv(const GemvWeights & w, const void * x, ActType xt, int batch, int64_t ldx, const GemvOutput & y,
               cudaStream_t stream, const GemvOptions & opt = {});

// Up to three matrices of one format and one cols sharing x (Q, K and V): one launch.
GemvError gemv_grouped(std::span<const GemvWeights> w, std::span<const GemvOutput> y, const void * x, ActType xt,
                       int batch, int64_t ldx, cudaStream_t stream, const GemvOptions & opt = {});

// y[b][r] = silu(gate_r · x_b) * (up_r · x_b): the SwiGLU input of the FFN down projection in one
// launch. gate and up must agree in format, rows and cols.
GemvError gemv_gate_up_silu(const GemvWeights & gate, const GemvWeights & up, const void * x, ActType xt, int batch,
                            int64_t ldx, const GemvOutput & y, cudaStream_t stream, const GemvOptions & opt = {});

}  // namespace nibble::cuda
