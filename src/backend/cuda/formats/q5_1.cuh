// Q5_1 on the GPU: x = d * q + m, q = low nibble | high bit << 4.
// Planes: qs (16 B/block), qh (4 B, transposed as for Q5_0, see q5_0.cuh), (d, m) (2 x fp16).
#pragma once

#include "backend/cuda/formats/q5_0.cuh"
#include "formats/q5_1.h"

namespace nibble::cuda::gemv_detail {

template <> struct GemvFormat<Format::Q5_1> : Q5FormatBase {
    static constexpr Format kFormat     = Format::Q5_1;
    static constexpr bool   kIntDot     = true;
    static constexpr int    kBlockK     = kQK5_1;
    static constexpr int    kBlockBytes = sizeof(BlockQ5_1);
    static constexpr int    kChunkBytes = 16;
    static constexpr int    kChunkK     = 32;
    static constexpr int    kNumPlanes  = 3;
    static constexpr PlaneField kPlanes[kNumPlanes] = {
        { int(offsetof(BlockQ5_1, qs)), 16, 16 },
        { int(offsetof(BlockQ5_1, qh)), 4, 4 },
        { int(offsetof(BlockQ5_1, d)), 4, 4 },  // d then m
    };

#ifdef __CUDACC__
    struct Frag {
        uint4    q;
        uint32_t qh;
        uint32_t dm;
    };

    __device__ __forceinline__ static Frag load(const RowPtr & row, int c) {
        return { ld_stream(row.p[0] + 16 * c), __ldg(reinterpret_cast<const uint32_t *>(row.p[1]) + c),
                 __ldg(reinterpret_cast<const uint32_t *>(row.p[2]) + c) };
    }

    template <int B, int R, class XT>
    __device__ __forceinline__ static void dot(const Frag (&f)[R], int c, const XView & x, float (&acc)[R][B]) {
        const int k = 32 * c;
        int       v[R][8];
        float     d[R], m[R];
#pragma unroll
        for (int r = 0; r < R; ++r) {
            unpack5(f[r].q, f[r].qh, v[r]);
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
                int s = dot16(v[r][0], v[r][1], v[r][2], v[r][3], xa, 0);
                s     = dot16(v[r][4], v[r][5], v[r][6], v[r][7], xb, s);
                acc[r][b] += d[r] * ds.x * float(s) + m[r] * ds.y;
            }
        }
    }
#endif
};

}  // namespace nibble::cuda::gemv_detail
