// What the GEMV kernel and the per-format decoders (formats/<fmt>.cuh) share: launch parameters,
// the activation view, the plane description used by the repacker, and small integer helpers.
#pragma once

#include "backend/cuda/common.cuh"
#include "core/half.h"
#include "formats/format.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>

#include <cstdint>
#include <cstring>
#include <type_traits>

namespace nibble::cuda::gemv_detail {

inline constexpr int kMaxWarps    = 8;  // per block (4 or 8, see pick_shape in gemv.cu)
inline constexpr int kMaxThreads  = kMaxWarps * 32;
inline constexpr int kWideWarps   = 16;  // batch 1, 2 rows per warp only: one block of 16 warps per SM
inline constexpr int kMaxPlanes   = 4;
inline constexpr int kMaxSegments = 3;
inline constexpr int kMaxBatch    = 8;

// One weight matrix of a launch (QKV launches carry three).
struct Segment {
    const uint8_t * plane[kMaxPlanes];
    int64_t         stride[kMaxPlanes];  // bytes per row in each plane
    float *         y;
    int64_t         ldy;
    const float *   row_scale;  // may be null
    float           scale;
    int             rows;
    int             block_begin;  // first blockIdx.x of this segment (balanced grid: first row group)
};

struct Params {
    Segment      seg[kMaxSegments];
    int          nseg;
    const void * x;
    int64_t      ldx;  // elements
    int          batch;
    int          K;
    int          kslice;   // integer formats: activations staged per slice of this many columns
    int          xstride;  // shared-memory bytes per staged column: kslice rounded up to 128
    int          pdl_trigger_late;  // launch_dependents after the main loop (1) or at kernel entry (0)
    int          x_bf16;            // integer formats: x is bf16 (1) or fp16 (0); float formats template it
    uint32_t     zero;              // always 0, a value the compilers cannot see (table_reg)

    int ngroups;  // balanced mode (> 0): groups of Rout output rows split evenly over all warps
};

using KernelFn = void (*)(Params);

// Field `offset`..`offset + bytes` of every GGUF block goes to its plane, padded to `padded` bytes.
struct PlaneField {
    int offset;
    int bytes;
    int padded;
};

// Defaults for the host-side repack hooks; formats that transform a field override them.
struct FormatBase {
    static void pack_field(int /*plane*/, const uint8_t * field, int bytes, uint8_t * out) {
        std::memcpy(out, field, size_t(bytes));
    }
    static void unpack_field(int /*plane*/, const uint8_t * in, int bytes, uint8_t * field) {
        std::memcpy(field, in, size_t(bytes));
    }
};

template <Format F> struct GemvFormat;  // specialised in formats/<fmt>.cuh

// What the host side (layout, repack, launcher) needs to know about one format, gathered from its
// GemvFormat<> by make_format_ops (gemv_kernel.cuh) in the format's generated translation unit.
struct FormatOps {
    Format     format;
    bool       int_dot;      // int8 activations + dp4a (block formats) or fp32 (F16, BF16, E4M3)
    int        block_k;      // weights per GGUF block (col granularity)
    int        block_bytes;  // bytes per GGUF block
    int        chunk_k;      // weights per plane-0 chunk
    int        frag_bytes;   // register bytes of one chunk's fragment (decides the batch-1 shape)
    int        nplanes;
    PlaneField planes[kMaxPlanes];
    void (*pack_field)(int plane, const uint8_t * field, int bytes, uint8_t * out);
    void (*unpack_field)(int plane, const uint8_t * in, int bytes, uint8_t * field);
    KernelFn (*kernel)(int batch_slots, int rows_per_warp, bool bf16_x, bool silu, int warps);
};

template <Format F> const FormatOps & format_ops();  // one generated translation unit per format
const FormatOps * find_format_ops(Format f);        // nullptr when the format has no kernel

// The rows a warp works on: per-plane pointers to the start of each row.
struct RowPtr {
    const uint8_t * p[kMaxPlanes];
};

#ifdef __CUDACC__

// Activations as the decoders see them.
//  * Integer formats: x staged in shared memory for the current K slice as int8 with one fp32 scale
//    per 32 values, and the sums of the dequantized values per 32 (ds.y) and per 16 (s16). The int8
//    values sit in 16-byte pieces, XOR-swizzled within each 128-byte row: lanes that read pieces at
//    a stride of 1, 2 or 4 (16-, 32- and 64-weight chunks) then fall on 8 distinct 16-byte columns
//    per 8 lanes, i.e. all 32 banks, instead of 2- or 4-way conflicts without the swizzle.
//  * Float formats: x read straight from global memory (L1-resident after the first warp).
struct XView {
    uint8_t *       q;
    float2 *        ds;
    float *         s16;
    int             qstride;  // bytes per column
    int             gstride;  // float2 per column
    int             sstride;  // floats per column
    int             k0;       // first column of the slice
    const uint8_t * raw;
    int64_t         raw_stride;  // bytes per activation column
    int             batch_last;  // columns >= batch read column batch-1 (their outputs are dropped)
    // Code-book formats: the first prmt operands of their look-up tables (SplitLut a0 / b0), held in
    // per-thread registers, see table_reg().
    uint32_t        lut_a0;
    uint32_t        lut_b0;

    __device__ __forceinline__ static int swizzle(int piece) { return (piece & ~7) | ((piece ^ (piece >> 3)) & 7); }
    // 16 int8 activations k..k+15 (k % 16 == 0) of column b.
    __device__ __forceinline__ int4 q16(int b, int k) const {
        return *reinterpret_cast<const int4 *>(q + b * qstride + swizzle((k - k0) >> 4) * 16);
    }
    // (scale, sum) of the 32-group holding k.
    __device__ __forceinline__ float2 ds32(int b, int k) const { return ds[b * gstride + ((k - k0) >> 5)]; }
    // Sum of the 16-group holding k.
    __device__ __forceinline__ float sum16(int b, int k) const { return s16[b * sstride + ((k - k0) >> 4)]; }
    // 16 raw activation bytes at element k of column b (float formats).
    template <class XT> __device__ __forceinline__ uint4 raw16(int b, int k) const {
        const int bb = b < batch_last ? b : batch_last;
        return __ldg(reinterpret_cast<const uint4 *>(raw + bb * raw_stride + int64_t(k) * int64_t(sizeof(XT))));
    }
};

// `v` (a compile-time table word) in an ordinary per-thread register. prmt's first operand must be
// such a register: given the constant, ptxas keeps it in a uniform register and copies it out once
// per prmt, one extra instruction per 4 weights (see table_regs in gemv_kernel.cuh for the
// instruction counts). A value that differs per thread and that the compilers
// cannot prove constant stays in one register: v | (zero & tid), `zero` being Params::zero (with
// K >> 31, ptxas and NVVM proved it 0 from the K loop in some kernels and the copies came back).
__device__ __forceinline__ uint32_t table_reg(uint32_t v, uint32_t zero) {
    return v | (zero & threadIdx.x);
}

template <class XT> __device__ __forceinline__ void raw_to_float8(const uint4 & v, float (&o)[8]) {
    const uint32_t w[4] = { v.x, v.y, v.z, v.w };
#pragma unroll
    for (int j = 0; j < 4; ++j) {
        if constexpr (std::is_same_v<XT, __nv_bfloat16>) {
            o[2 * j]     = __uint_as_float(w[j] << 16);
            o[2 * j + 1] = __uint_as_float(w[j] & 0xffff0000u);
        } else {
            const float2 f = __half22float2(*reinterpret_cast<const __half2 *>(&w[j]));
            o[2 * j]       = f.x;
            o[2 * j + 1]   = f.y;
        }
    }
}

// Sum of four dp4a over the int4 pieces (a: weights, b: activations).
__device__ __forceinline__ int dot16(int w0, int w1, int w2, int w3, const int4 & x, int acc) {
    acc = __dp4a(w0, x.x, acc);
    acc = __dp4a(w1, x.y, acc);
    acc = __dp4a(w2, x.z, acc);
    return __dp4a(w3, x.w, acc);
}

__device__ __forceinline__ float half_bits_to_float(uint32_t h) { return __half2float(__ushort_as_half(uint16_t(h))); }

#endif  // __CUDACC__

}  // namespace nibble::cuda::gemv_detail
