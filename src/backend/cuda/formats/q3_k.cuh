// Q3_K on the GPU: x = (d * sc) * q, q = low2 - 4 * !hbit in [-4, 3], sc 6-bit signed per 16.
// Planes: qs (64 B/superblock), hmask (32 B), (scales[12], d) padded to 16 B (+2 B/superblock, 1.8%).
// A 16-byte chunk is qs[32h + 16i .. +15] (64 weights, as Q2_K); its high bits are hmask[16i ..
// 16i + 15] bit 4h + s. The kernel uses v = low2 | hbit << 2 in [0, 7] and folds the -4 into the
// per-16 sums of x.
#pragma once

#include "backend/cuda/gemv_common.cuh"
#include "formats/q3_k.h"

#include <cstddef>

namespace nibble::cuda::gemv_detail {

template <> struct GemvFormat<Format::Q3_K> : FormatBase {
    static constexpr Format kFormat     = Format::Q3_K;
    static constexpr bool   kIntDot     = true;
    static constexpr int    kBlockK     = kQK_K;
    static constexpr int    kBlockBytes = sizeof(BlockQ3_K);
    static constexpr int    kChunkBytes = 16;
    static constexpr int    kChunkK     = 64;
    static constexpr int    kNumPlanes  = 3;
    static constexpr PlaneField kPlanes[kNumPlanes] = {
        { int(offsetof(BlockQ3_K, qs)), 64, 64 },
        { int(offsetof(BlockQ3_K, hmask)), 32, 32 },
        { int(offsetof(BlockQ3_K, scales)), 14, 16 },  // scales[12], d
    };

#ifdef __CUDACC__
    struct Frag {
        uint4 q;
        uint4 hm;
        uint4 sd;
    };

    __device__ __forceinline__ static Frag load(const RowPtr & row, int c) {
        const int sb = c >> 2;
        const int i  = c & 1;
        return { ld_stream(row.p[0] + 16 * c), __ldg(reinterpret_cast<const uint4 *>(row.p[1]) + 2 * sb + i),
                 __ldg(reinterpret_cast<const uint4 *>(row.p[2]) + sb) };
    }

    template <int B, int R, class XT>
    __device__ __forceinline__ static void dot(const Frag (&f)[R], int c, const XView & x, float (&acc)[R][B]) {
        const int sb = c >> 2;
        const int h  = (c >> 1) & 1;
        const int i  = c & 1;
        const int kb = 256 * sb + 128 * h + 16 * i;  // group s starts at kb + 32 s
        int       v[R][4][4];
        float     dsc[R][4];
#pragma unroll
        for (int r = 0; r < R; ++r) {
            const uint32_t q[4]  = { f[r].q.x, f[r].q.y, f[r].q.z, f[r].q.w };
            const uint32_t hm[4] = { f[r].hm.x >> (4 * h), f[r].hm.y >> (4 * h), f[r].hm.z >> (4 * h),
                                     f[r].hm.w >> (4 * h) };
#pragma unroll
            for (int s = 0; s < 4; ++s) {
#pragma unroll
                for (int j = 0; j < 4; ++j) {
                    const uint32_t hb = (s <= 2 ? hm[j] << (2 - s) : hm[j] >> (s - 2)) & 0x04040404u;
                    v[r][s][j]        = int(((q[j] >> (2 * s)) & 0x03030303u) | hb);
                }
            }
            // 6-bit scale of group g = 8h + 2s + i: low 4 bits in scales[2s + i] (nibble h), high 2
            // bits in scales[8 + 2(s % 2) + i] at bit 2 * (2h + s / 2).
            const float d  = half_bits_to_float(f[r].sd.w & 0xffffu);
            const int   sh = 8 * i + 4 * h;
#pragma unroll
            for (int s = 0; s < 4; ++s) {
                const uint32_t lw   = s < 2 ? f[r].sd.x : f[r].sd.y;
                const uint32_t low4 = (lw >> (sh + 16 * (s % 2))) & 15u;
                const uint32_t hi2  = (f[r].sd.z >> (sh + 16 * (s % 2) + 2 * (s / 2))) & 3u;
                dsc[r][s]           = d * float(int(low4 | (hi2 << 4)) - 32);
            }
        }
#pragma unroll
        for (int b = 0; b < B; ++b) {
            int4  xs[4];
            float dx[4], sx[4];
#pragma unroll
            for (int s = 0; s < 4; ++s) {
                xs[s] = x.q16(b, kb + 32 * s);
                dx[s] = x.ds32(b, kb + 32 * s).x;
                sx[s] = 4.0f * x.sum16(b, kb + 32 * s);
            }
#pragma unroll
            for (int r = 0; r < R; ++r) {
                float t = 0.0f;
#pragma unroll
                for (int s = 0; s < 4; ++s) {
                    const int is = dot16(v[r][s][0], v[r][s][1], v[r][s][2], v[r][s][3], xs[s], 0);
                    t += dsc[r][s] * (dx[s] * float(is) - sx[s]);
                }
                acc[r][b] += t;
            }
        }
    }
#endif
};

}  // namespace nibble::cuda::gemv_detail
