// Q2_K on the GPU: x = (d * sc) * q - dmin * m per 16-group, q 2-bit, (sc, m) 4-bit each.
// Planes: qs (64 B/superblock), scales (16 B), (d, dmin) (2 x fp16).
// A 16-byte chunk is qs[32h + 16i .. +15]; shift 2s of its bytes gives elements
// 128h + 32s + 16i + l (l = 0..15): 4 groups of 16, scale bytes 8h + i + 2s.
#pragma once

#include "backend/cuda/gemv_common.cuh"
#include "formats/q2_k.h"

#include <cstddef>

namespace nibble::cuda::gemv_detail {

template <> struct GemvFormat<Format::Q2_K> : FormatBase {
    static constexpr Format kFormat     = Format::Q2_K;
    static constexpr bool   kIntDot     = true;
    static constexpr int    kBlockK     = kQK_K;
    static constexpr int    kBlockBytes = sizeof(BlockQ2_K);
    static constexpr int    kChunkBytes = 16;
    static constexpr int    kChunkK     = 64;
    static constexpr int    kNumPlanes  = 3;
    static constexpr PlaneField kPlanes[kNumPlanes] = {
        { int(offsetof(BlockQ2_K, qs)), 64, 64 },
        { int(offsetof(BlockQ2_K, scales)), 16, 16 },
        { int(offsetof(BlockQ2_K, d)), 4, 4 },  // d, dmin
    };

#ifdef __CUDACC__
    struct Frag {
        uint4    q;
        uint2    sc;  // scales[8h .. 8h + 7]
        uint32_t dm;
    };

    __device__ __forceinline__ static Frag load(const RowPtr & row, int c) {
        const int sb = c >> 2;
        const int h  = (c >> 1) & 1;
        return { ld_stream(row.p[0] + 16 * c), __ldg(reinterpret_cast<const uint2 *>(row.p[1]) + 2 * sb + h),
                 __ldg(reinterpret_cast<const uint32_t *>(row.p[2]) + sb) };
    }

    template <int B, int R, class XT>
    __device__ __forceinline__ static void dot(const Frag (&f)[R], int c, const XView & x, float (&acc)[R][B]) {
        const int sb = c >> 2;
        const int h  = (c >> 1) & 1;
        const int i  = c & 1;
        const int kb = 256 * sb + 128 * h + 16 * i;  // group s starts at kb + 32 s
        int       v[R][4][4];
        float     dsc[R][4], dmm[R][4];
#pragma unroll
        for (int r = 0; r < R; ++r) {
            const uint32_t q[4] = { f[r].q.x, f[r].q.y, f[r].q.z, f[r].q.w };
#pragma unroll
            for (int s = 0; s < 4; ++s) {
#pragma unroll
                for (int j = 0; j < 4; ++j) {
                    v[r][s][j] = int((q[j] >> (2 * s)) & 0x03030303u);
                }
            }
            // bytes i, i + 2, i + 4, i + 6 of scales[8h..]: groups s = 0..3
            const uint32_t sb4  = __byte_perm(f[r].sc.x, f[r].sc.y, i ? 0x7531 : 0x6420);
            const float    d    = half_bits_to_float(f[r].dm & 0xffffu);
            const float    dmin = half_bits_to_float(f[r].dm >> 16);
#pragma unroll
            for (int s = 0; s < 4; ++s) {
                const uint32_t byte = (sb4 >> (8 * s)) & 0xffu;
                dsc[r][s]           = d * float(byte & 15u);
                dmm[r][s]           = dmin * float(byte >> 4);
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
                sx[s] = x.sum16(b, kb + 32 * s);
            }
#pragma unroll
            for (int r = 0; r < R; ++r) {
                float t = 0.0f;
#pragma unroll
                for (int s = 0; s < 4; ++s) {
                    const int is = dot16(v[r][s][0], v[r][s][1], v[r][s][2], v[r][s][3], xs[s], 0);
                    t += dsc[r][s] * dx[s] * float(is) - dmm[r][s] * sx[s];
                }
                acc[r][b] += t;
            }
        }
    }
#endif
};

}  // namespace nibble::cuda::gemv_detail
