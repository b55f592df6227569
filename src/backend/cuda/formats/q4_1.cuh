// Q4_1 on the GPU: x = d * q + m. Planes: qs (16 B/block, GGUF nibble order), (d, m) (2 x fp16).
// sum (d q + m) x = d * dx * sum q * xq + m * sum x.
#pragma once

#include "backend/cuda/gemv_common.cuh"
#include "formats/q4_1.h"

#include <cstddef>

namespace nibble::cuda::gemv_detail {

template <> struct GemvFormat<Format::Q4_1> : FormatBase {
    static constexpr Format kFormat     = Format::Q4_1;
    static constexpr bool   kIntDot     = true;
    static constexpr int    kBlockK     = kQK4_1;
    static constexpr int    kBlockBytes = sizeof(BlockQ4_1);
    static constexpr int    kChunkBytes = 16;
    static constexpr int    kChunkK     = 32;
    static constexpr int    kNumPlanes  = 2;
    static constexpr PlaneField kPlanes[kNumPlanes] = {
        { int(offsetof(BlockQ4_1, qs)), 16, 16 },
        { int(offsetof(BlockQ4_1, d)), 4, 4 },  // d then m
    };

#ifdef __CUDACC__
    struct Frag {
        uint4    q;
        uint32_t dm;
    };

    __device__ __forceinline__ static Frag load(const RowPtr & row, int c) {
        return { ld_stream(row.p[0] + 16 * c), __ldg(reinterpret_cast<const uint32_t *>(row.p[1]) + c) };
    }

    template <int B, int R, class XT>
    __device__ __forceinline__ static void dot(const Frag (&f)[R], int c, const XView & x, float (&acc)[R][B]) {
        const int k = 32 * c;
        int       lo[R][4], hi[R][4];
        float     d[R], m[R];
#pragma unroll
        for (int r = 0; r < R; ++r) {
            const uint32_t q[4] = { f[r].q.x, f[r].q.y, f[r].q.z, f[r].q.w };
#pragma unroll
            for (int j = 0; j < 4; ++j) {
                lo[r][j] = int(q[j] & 0x0F0F0F0Fu);
                hi[r][j] = int((q[j] >> 4) & 0x0F0F0F0Fu);
            }
            d[r] = half_bits_to_float(f[r].dm & 0xffffu);
            m[r] = half_bits_to_float(f[r].dm >> 16);
        }
#pragma unroll
        for (int b = 0; b < B; ++b) {
            const int4   xa = x.q16(b, k);
            const int4   xb = x.q16(b, k + 16);
            const float2 ds = x.ds32(b, k);
#pragma unroll
            for (int r = 0; r < R; ++r) {
                int s = dot16(lo[r][0], lo[r][1], lo[r][2], lo[r][3], xa, 0);
                s     = dot16(hi[r][0], hi[r][1], hi[r][2], hi[r][3], xb, s);
                acc[r][b] += d[r] * ds.x * float(s) + m[r] * ds.y;
            }
        }
    }
#endif
};

}  // namespace nibble::cuda::gemv_detail
