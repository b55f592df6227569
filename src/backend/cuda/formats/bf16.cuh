// BF16 weights on the GPU: fp32 dot products (bf16 -> fp32 is a 16-bit shift), x read from global
// memory. One 16-byte chunk is 8 weights.
#pragma once

#include "backend/cuda/gemv_common.cuh"

namespace nibble::cuda::gemv_detail {

#ifdef __CUDACC__
// acc[r][b] += sum_i w[r][i] * x_b[k + i] over 8 weights per row.
template <int B, int R, class XT>
__device__ __forceinline__ void float_dot8(const float (&w)[R][8], int k, const XView & x, float (&acc)[R][B]) {
#pragma unroll
    for (int b = 0; b < B; ++b) {
        float xf[8];
        raw_to_float8<XT>(x.raw16<XT>(b, k), xf);
#pragma unroll
        for (int r = 0; r < R; ++r) {
#pragma unroll
            for (int i = 0; i < 8; ++i) {
                acc[r][b] = fmaf(w[r][i], xf[i], acc[r][b]);
            }
        }
    }
}
#endif

template <> struct GemvFormat<Format::BF16> : FormatBase {
    static constexpr Format kFormat     = Format::BF16;
    static constexpr bool   kIntDot     = false;
    static constexpr int    kBlockK     = 1;  // element rows; kChunkK = 8 makes cols % 8 == 0
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
            const uint32_t q[4] = { f[r].q.x, f[r].q.y, f[r].q.z, f[r].q.w };
#pragma unroll
            for (int j = 0; j < 4; ++j) {
                w[r][2 * j]     = __uint_as_float(q[j] << 16);
                w[r][2 * j + 1] = __uint_as_float(q[j] & 0xffff0000u);
            }
        }
        float_dot8<B, R, XT>(w, 8 * c, x, acc);
    }
#endif
};

}  // namespace nibble::cuda::gemv_detail
