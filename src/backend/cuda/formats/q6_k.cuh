// Q6_K on the GPU: x = (d * sc) * (q - 32), q 6-bit, sc int8 per 16 weights.
// Planes: ql (128 B/superblock), qh (64 B), scales (16 B), d (fp16).
// A 32-byte chunk is ql[64h + 32u .. +31]: its low nibbles are elements 128h + 32u + l (t = u), its
// high nibbles 128h + 32(u + 2) + l (t = u + 2); the 2 high bits of both sit in qh[32h + l] at bits
// 2t. The -32 offset is folded into the per-16 fp32 sums of x.
#pragma once

#include "backend/cuda/gemv_common.cuh"
#include "formats/q6_k.h"

#include <cstddef>

namespace nibble::cuda::gemv_detail {

template <> struct GemvFormat<Format::Q6_K> : FormatBase {
    static constexpr Format kFormat     = Format::Q6_K;
    static constexpr bool   kIntDot     = true;
    static constexpr int    kBlockK     = kQK_K;
    static constexpr int    kBlockBytes = sizeof(BlockQ6_K);
    static constexpr int    kChunkBytes = 32;
    static constexpr int    kChunkK     = 64;
    static constexpr int    kNumPlanes  = 4;
    static constexpr PlaneField kPlanes[kNumPlanes] = {
        { int(offsetof(BlockQ6_K, ql)), 128, 128 },
        { int(offsetof(BlockQ6_K, qh)), 64, 64 },
        { int(offsetof(BlockQ6_K, scales)), 16, 16 },
        { int(offsetof(BlockQ6_K, d)), 2, 2 },
    };

#ifdef __CUDACC__
    struct Frag {
        uint4    q0, q1;
        uint4    qh0, qh1;
        uint2    sc;  // scales[8h .. 8h + 7]
        uint32_t d;
    };

    __device__ __forceinline__ static Frag load(const RowPtr & row, int c) {
        const int     sb = c >> 2;
        const int     h  = (c >> 1) & 1;
        const uint4 * qh = reinterpret_cast<const uint4 *>(row.p[1]) + 4 * sb + 2 * h;
        return { ld_stream(row.p[0] + 32 * c), ld_stream(row.p[0] + 32 * c + 16), __ldg(qh), __ldg(qh + 1),
                 __ldg(reinterpret_cast<const uint2 *>(row.p[2]) + 2 * sb + h),
                 __ldg(reinterpret_cast<const unsigned short *>(row.p[3]) + sb) };
    }

    template <int B, int R, class XT>
    __device__ __forceinline__ static void dot(const Frag (&f)[R], int c, const XView & x, float (&acc)[R][B]) {
        const int sb = c >> 2;
        const int h  = (c >> 1) & 1;
        const int u  = c & 1;
        const int klo = 256 * sb + 128 * h + 32 * u;  // t = u
        const int khi = klo + 64;                      // t = u + 2
        int       lo[R][8], hi[R][8];
        float     sc[R][4];  // groups klo, klo + 16, khi, khi + 16
#pragma unroll
        for (int r = 0; r < R; ++r) {
            const uint32_t q[8]  = { f[r].q0.x, f[r].q0.y, f[r].q0.z, f[r].q0.w,
                                     f[r].q1.x, f[r].q1.y, f[r].q1.z, f[r].q1.w };
            const uint32_t qh[8] = { f[r].qh0.x, f[r].qh0.y, f[r].qh0.z, f[r].qh0.w,
                                     f[r].qh1.x, f[r].qh1.y, f[r].qh1.z, f[r].qh1.w };
#pragma unroll
            for (int j = 0; j < 8; ++j) {
                const uint32_t hs = qh[j] >> (2 * u);
                lo[r][j]          = int((q[j] & 0x0F0F0F0Fu) | ((hs << 4) & 0x30303030u));
                hi[r][j]          = int(((q[j] >> 4) & 0x0F0F0F0Fu) | (hs & 0x30303030u));
            }
            const float    d  = half_bits_to_float(f[r].d);
            const uint32_t s4 = __byte_perm(f[r].sc.x, f[r].sc.y, u ? 0x7632 : 0x5410);
#pragma unroll
            for (int i = 0; i < 4; ++i) {
                sc[r][i] = d * float(int8_t(uint8_t(s4 >> (8 * i))));
            }
        }
#pragma unroll
        for (int b = 0; b < B; ++b) {
            const int4  x0 = x.q16(b, klo);
            const int4  x1 = x.q16(b, klo + 16);
            const int4  x2 = x.q16(b, khi);
            const int4  x3 = x.q16(b, khi + 16);
            const float d0 = x.ds32(b, klo).x;
            const float d1 = x.ds32(b, khi).x;
            const float m0 = 32.0f * x.sum16(b, klo);
            const float m1 = 32.0f * x.sum16(b, klo + 16);
            const float m2 = 32.0f * x.sum16(b, khi);
            const float m3 = 32.0f * x.sum16(b, khi + 16);
#pragma unroll
            for (int r = 0; r < R; ++r) {
                const int s0 = dot16(lo[r][0], lo[r][1], lo[r][2], lo[r][3], x0, 0);
                const int s1 = dot16(lo[r][4], lo[r][5], lo[r][6], lo[r][7], x1, 0);
                const int s2 = dot16(hi[r][0], hi[r][1], hi[r][2], hi[r][3], x2, 0);
                const int s3 = dot16(hi[r][4], hi[r][5], hi[r][6], hi[r][7], x3, 0);
                acc[r][b] += sc[r][0] * (d0 * float(s0) - m0) + sc[r][1] * (d0 * float(s1) - m1) +
                             sc[r][2] * (d1 * float(s2) - m2) + sc[r][3] * (d1 * float(s3) - m3);
            }
        }
    }
#endif
};

}  // namespace nibble::cuda::gemv_detail
