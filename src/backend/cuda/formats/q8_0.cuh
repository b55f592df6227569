// Q8_0 on the GPU: x = d * q, q int8. Planes: qs (32 B/block), d (fp16). The 34-byte GGUF blocks
// are only 2-byte aligned; split into planes every block's quants are one aligned 32-byte chunk.
#pragma once

#include "backend/cuda/gemv_common.cuh"
#include "formats/q8_0.h"

#include <cstddef>

namespace nibble::cuda::gemv_detail {

template <> struct GemvFormat<Format::Q8_0> : FormatBase {
    static constexpr Format kFormat     = Format::Q8_0;
    static constexpr bool   kIntDot     = true;
    static constexpr int    kBlockK     = kQK8_0;
    static constexpr int    kBlockBytes = sizeof(BlockQ8_0);
    static constexpr int    kChunkBytes = 32;
    static constexpr int    kChunkK     = 32;
    static constexpr int    kNumPlanes  = 2;
    static constexpr PlaneField kPlanes[kNumPlanes] = {
        { int(offsetof(BlockQ8_0, qs)), 32, 32 },
        { int(offsetof(BlockQ8_0, d)), 2, 2 },
    };

#ifdef __CUDACC__
    struct Frag {
        uint4    q0, q1;
        uint32_t d;
    };

    __device__ __forceinline__ static Frag load(const RowPtr & row, int c) {
        return { ld_stream(row.p[0] + 32 * c), ld_stream(row.p[0] + 32 * c + 16),
                 __ldg(reinterpret_cast<const unsigned short *>(row.p[1]) + c) };
    }

    template <int B, int R, class XT>
    __device__ __forceinline__ static void dot(const Frag (&f)[R], int c, const XView & x, float (&acc)[R][B]) {
        const int k = 32 * c;
        float     d[R];
#pragma unroll
        for (int r = 0; r < R; ++r) {
            d[r] = half_bits_to_float(f[r].d);
        }
#pragma unroll
        for (int b = 0; b < B; ++b) {
            const int4  xa = x.q16(b, k);
            const int4  xb = x.q16(b, k + 16);
            const float dx = x.ds32(b, k).x;
#pragma unroll
            for (int r = 0; r < R; ++r) {
                int s = dot16(int(f[r].q0.x), int(f[r].q0.y), int(f[r].q0.z), int(f[r].q0.w), xa, 0);
                s     = dot16(int(f[r].q1.x), int(f[r].q1.y), int(f[r].q1.z), int(f[r].q1.w), xb, s);
                acc[r][b] += d[r] * dx * float(s);
            }
        }
    }
#endif
};

}  // namespace nibble::cuda::gemv_detail
