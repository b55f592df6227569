// F16 weights on the GPU: fp32 dot products, x read from global memory. 8 weights per chunk.
#pragma once

#include "backend/cuda/formats/bf16.cuh"

namespace nibble::cuda::gemv_detail {

template <> struct GemvFormat<Format::F16> : FormatBase {
    static constexpr Format kFormat     = Format::F16;
    static constexpr bool   kIntDot     = false;
    static constexpr int    kBlockK     = 1;
    static constexpr int    kBlockBytes = 2;
    static constexpr int    kChunkBytes = 16;
    static constexpr int    kChunkK     = 8;
    static constexpr int    kNumPlanes  = 1;
    static constexpr PlaneField kPlanes[kNumPlanes] = { { 0, 2, 2 } };

#ifdef __CUDACC__
    struct Frag {
        uint4 q;
    };

    __device__ __forceinline__ static Frag load(const RowPtr & row, int c) { return { ld_stream(row.p[0] + 16 * c) }; }

    template <int B, int R, class XT>
    __device__ __forceinline__ static void dot(const Frag (&f)[R], int c, const XView & x, float (&acc)[R][B]) {
        float w[R][8];
#pragma unroll
        for (int r = 0; r < R; ++r) {
            raw_to_float8<__half>(f[r].q, w[r]);
        }
        float_dot8<B, R, XT>(w, 8 * c, x, acc);
    }
#endif
};

}  // namespace nibble::cuda::gemv_detail
