// FP8 E4M3 weights on the GPU: Hopper converts two E4M3 to two fp16 in one instruction
// (cvt.rn.f16x2.e4m3x2; exact, NaN stays NaN), then fp32 dot products. The per-tensor scale and
// the per-output-channel scale of FP8 checkpoints are GemvWeights::scale / row_scale.
// 16 weights per 16-byte chunk, so cols % 16 == 0.
#pragma once

#include "backend/cuda/formats/bf16.cuh"

namespace nibble::cuda::gemv_detail {

template <> struct GemvFormat<Format::E4M3> : FormatBase {
    static constexpr Format kFormat     = Format::E4M3;
    static constexpr bool   kIntDot     = false;
    static constexpr int    kBlockK     = 1;
    static constexpr int    kBlockBytes = 1;
    static constexpr int    kChunkBytes = 16;
    static constexpr int    kChunkK     = 16;
    static constexpr int    kNumPlanes  = 1;
    static constexpr PlaneField kPlanes[kNumPlanes] = { { 0, 1, 1 } };

#ifdef __CUDACC__
    struct Frag {
        uint4 q;
    };

    __device__ __forceinline__ static Frag load(const RowPtr & row, int c) { return { ld_stream(row.p[0] + 16 * c) }; }

    __device__ __forceinline__ static float2 e4m3x2_to_float2(uint32_t two) {
        const __half2_raw h = __nv_cvt_fp8x2_to_halfraw2(__nv_fp8x2_storage_t(two), __NV_E4M3);
        return __half22float2(*reinterpret_cast<const __half2 *>(&h));
    }

    template <int B, int R, class XT>
    __device__ __forceinline__ static void dot(const Frag (&f)[R], int c, const XView & x, float (&acc)[R][B]) {
        float w0[R][8], w1[R][8];
#pragma unroll
        for (int r = 0; r < R; ++r) {
            const uint32_t q[4] = { f[r].q.x, f[r].q.y, f[r].q.z, f[r].q.w };
#pragma unroll
            for (int j = 0; j < 2; ++j) {
                const float2 a = e4m3x2_to_float2(q[j] & 0xffffu);
                const float2 b = e4m3x2_to_float2(q[j] >> 16);
                const float2 e = e4m3x2_to_float2(q[j + 2] & 0xffffu);
                const float2 g = e4m3x2_to_float2(q[j + 2] >> 16);
                w0[r][4 * j]     = a.x;
                w0[r][4 * j + 1] = a.y;
                w0[r][4 * j + 2] = b.x;
                w0[r][4 * j + 3] = b.y;
                w1[r][4 * j]     = e.x;
                w1[r][4 * j + 1] = e.y;
                w1[r][4 * j + 2] = g.x;
                w1[r][4 * j + 3] = g.y;
            }
        }
        float_dot8<B, R, XT>(w0, 16 * c, x, acc);
        float_dot8<B, R, XT>(w1, 16 * c + 8, x, acc);
    }
#endif
};

}  // namespace nibble::cuda::gemv_detail
