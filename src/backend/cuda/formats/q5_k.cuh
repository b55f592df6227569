// Q5_K on the GPU: as Q4_K with a fifth bit: qh[l] bit 2g (low nibble, group 2g) and bit 2g+1
// (high nibble, group 2g+1) for element l of 64-group g.
// Planes: qs (128 B/superblock), qh (32 B), header (d, dmin, scales[12]: 16 B).
#pragma once

#include "backend/cuda/formats/q4_k.cuh"
#include "formats/q5_k.h"

namespace nibble::cuda::gemv_detail {

template <> struct GemvFormat<Format::Q5_K> : FormatBase {
    static constexpr Format kFormat     = Format::Q5_K;
    static constexpr bool   kIntDot     = true;
    static constexpr int    kBlockK     = kQK_K;
    static constexpr int    kBlockBytes = sizeof(BlockQ5_K);
    static constexpr int    kChunkBytes = 32;
    static constexpr int    kChunkK     = 64;
    static constexpr int    kNumPlanes  = 3;
    static constexpr PlaneField kPlanes[kNumPlanes] = {
        { int(offsetof(BlockQ5_K, qs)), 128, 128 },
        { int(offsetof(BlockQ5_K, qh)), 32, 32 },
        { int(offsetof(BlockQ5_K, d)), 16, 16 },  // d, dmin, scales[12]
    };

#ifdef __CUDACC__
    struct Frag {
        uint4 q0, q1;
        uint4 qh0, qh1;
        uint4 h;
    };

    __device__ __forceinline__ static Frag load(const RowPtr & row, int c) {
        const uint4 * qh = reinterpret_cast<const uint4 *>(row.p[1]) + 2 * (c >> 2);
        return { ld_stream(row.p[0] + 32 * c), ld_stream(row.p[0] + 32 * c + 16), __ldg(qh), __ldg(qh + 1),
                 __ldg(reinterpret_cast<const uint4 *>(row.p[2]) + (c >> 2)) };
    }

    template <int B, int R, class XT>
    __device__ __forceinline__ static void dot(const Frag (&f)[R], int c, const XView & x, float (&acc)[R][B]) {
        const int k  = 64 * c;
        const int g  = c & 3;
        int       lo[R][8], hi[R][8];
        float     dsc[R][2], mm[R][2];
#pragma unroll
        for (int r = 0; r < R; ++r) {
            const uint32_t q[8]  = { f[r].q0.x, f[r].q0.y, f[r].q0.z, f[r].q0.w,
                                     f[r].q1.x, f[r].q1.y, f[r].q1.z, f[r].q1.w };
            const uint32_t qh[8] = { f[r].qh0.x, f[r].qh0.y, f[r].qh0.z, f[r].qh0.w,
                                     f[r].qh1.x, f[r].qh1.y, f[r].qh1.z, f[r].qh1.w };
#pragma unroll
            for (int j = 0; j < 8; ++j) {
                const uint32_t h = qh[j] >> (2 * g);
                lo[r][j]         = int((q[j] & 0x0F0F0F0Fu) | ((h << 4) & 0x10101010u));
                hi[r][j]         = int(((q[j] >> 4) & 0x0F0F0F0Fu) | ((h << 3) & 0x10101010u));
            }
            const uint2 sm   = kquant_scale_min_pair(f[r].h.y, f[r].h.z, f[r].h.w, g);
            const float d    = half_bits_to_float(f[r].h.x & 0xffffu);
            const float dmin = half_bits_to_float(f[r].h.x >> 16);
            dsc[r][0]        = d * float(sm.x & 0xffu);
            dsc[r][1]        = d * float((sm.x >> 8) & 0xffu);
            mm[r][0]         = dmin * float(sm.y & 0xffu);
            mm[r][1]         = dmin * float((sm.y >> 8) & 0xffu);
        }
#pragma unroll
        for (int b = 0; b < B; ++b) {
            const int4   x0  = x.q16(b, k);
            const int4   x1  = x.q16(b, k + 16);
            const int4   x2  = x.q16(b, k + 32);
            const int4   x3  = x.q16(b, k + 48);
            const float2 ds0 = x.ds32(b, k);
            const float2 ds1 = x.ds32(b, k + 32);
#pragma unroll
            for (int r = 0; r < R; ++r) {
                int s0 = dot16(lo[r][0], lo[r][1], lo[r][2], lo[r][3], x0, 0);
                s0     = dot16(lo[r][4], lo[r][5], lo[r][6], lo[r][7], x1, s0);
                int s1 = dot16(hi[r][0], hi[r][1], hi[r][2], hi[r][3], x2, 0);
                s1     = dot16(hi[r][4], hi[r][5], hi[r][6], hi[r][7], x3, s1);
                acc[r][b] += dsc[r][0] * ds0.x * float(s0) + dsc[r][1] * ds1.x * float(s1) - mm[r][0] * ds0.y -
                             mm[r][1] * ds1.y;
            }
        }
    }
#endif
};

}  // namespace nibble::cuda::gemv_detail
