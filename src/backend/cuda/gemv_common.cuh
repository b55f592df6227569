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

inline constexpr int kWarps       = 4;  // per block; see gemv.cu for the measurement behind it
inline constexpr int kThreads     = kWarps * 32;
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
    int             block_begin;  // first blockIdx.x of this segment
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
    int        nplanes;
    PlaneField planes[kMaxPlanes];
    void (*pack_field)(int plane, const uint8_t * field, int bytes, uint8_t * out);
    void (*unpack_field)(int plane, const uint8_t * in, int bytes, uint8_t * field);
    KernelFn (*kernel)(int batch_slots, int rows_per_warp, bool bf16_x, bool silu);
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
//    per 32 values, and the sums of the dequantized values per 32 (ds.y) and per 16 (s16). The int8 values sit in 16-byte
//    pieces, XOR-swizzled within each 128-byte row so that lanes reading pieces at a stride of 1, 2
//    or 4 hit 32 distinct banks (measured 2x fewer shared wavefronts for the stride-2 Q4_0 pattern).
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

// 16-entry int8 code book lookup for the 8 nibbles of q (byte i: low nibble n_{2i}, high n_{2i+1}).
// Returns .x = values of the four low nibbles, .y = values of the four high nibbles, in byte order.
// prmt selects bytes with 3-bit indices (bit 3 of a selector nibble means "replicate sign"), so the
// low and high halves of the table are looked up separately and merged by a third prmt whose
// selector picks the high half where the index had bit 3 set.
__device__ __forceinline__ int2 lut16(uint32_t q, const uint4 & tab) {
    const uint32_t sel  = q & 0x77777777u;
    const uint32_t hsel = ((q >> 1) & 0x44444444u) | 0x32103210u;
    const uint32_t a0   = __byte_perm(tab.x, tab.y, sel);
    const uint32_t b0   = __byte_perm(tab.z, tab.w, sel);
    const uint32_t r0   = __byte_perm(a0, b0, hsel);  // n0..n3
    const uint32_t a1   = __byte_perm(tab.x, tab.y, sel >> 16);
    const uint32_t b1   = __byte_perm(tab.z, tab.w, sel >> 16);
    const uint32_t r1   = __byte_perm(a1, b1, hsel >> 16);  // n4..n7
    return make_int2(int(__byte_perm(r0, r1, 0x6420)), int(__byte_perm(r0, r1, 0x7531)));
}

#endif  // __CUDACC__

// Packs a 16-entry int8 table into the four words lut16 expects.
constexpr uint4 pack_lut16(const int8_t (&t)[16]) {
    uint32_t w[4] = {};
    for (int i = 0; i < 16; ++i) {
        w[i / 4] |= uint32_t(uint8_t(t[i])) << (8 * (i % 4));
    }
    return uint4{ w[0], w[1], w[2], w[3] };
}

}  // namespace nibble::cuda::gemv_detail
