// IQ4_XS on the GPU: x = (d * (ls - 32)) * kValuesIq4nl[q] per 32-group, ls 6-bit.
// Planes: qs (128 B/superblock: 16 B per group, element r low / r + 16 high, words reordered as
// lut_order_word), (d, scales_h,
// scales_l[4]) (8 B). A 32-byte chunk is groups 2p and 2p + 1 of a superblock.
#pragma once

#include "backend/cuda/formats/iq4_nl.cuh"
#include "formats/iq4_xs.h"

namespace nibble::cuda::gemv_detail {

template <> struct GemvFormat<Format::IQ4_XS> : LutFormatBase {
    using Split = Iq4Split;

    static constexpr Format kFormat     = Format::IQ4_XS;
    static constexpr bool   kIntDot     = true;
    static constexpr int    kBlockK     = kQK_K;
    static constexpr int    kBlockBytes = sizeof(BlockIQ4_XS);
    static constexpr int    kChunkBytes = 32;
    static constexpr int    kChunkK     = 64;
    static constexpr int    kNumPlanes  = 2;
    static constexpr PlaneField kPlanes[kNumPlanes] = {
        { int(offsetof(BlockIQ4_XS, qs)), 128, 128 },
        { int(offsetof(BlockIQ4_XS, d)), 8, 8 },  // d, scales_h, scales_l[4]
    };

#ifdef __CUDACC__
    struct Frag {
        uint4 q0, q1;
        uint2 side;
    };

    __device__ __forceinline__ static Frag load(const RowPtr & row, int c) {
        return { ld_stream(row.p[0] + 32 * c), ld_stream(row.p[0] + 32 * c + 16),
                 __ldg(reinterpret_cast<const uint2 *>(row.p[1]) + (c >> 2)) };
    }

    template <int B, int R, class XT>
    __device__ __forceinline__ static void dot_table(const Frag (&f)[R], int c, const XView & x, float (&acc)[R][B]) {
        const uint4 tab = make_uint4(Iq4Lut::kW0, Iq4Lut::kW1, Iq4Lut::kW2, Iq4Lut::kW3);
        const int   k   = 64 * c;
        const int   p   = c & 3;
        int2        v[R][8];
        float       dl[R][2];
#pragma unroll
        for (int r = 0; r < R; ++r) {
            const uint32_t q[8] = { f[r].q0.x, f[r].q0.y, f[r].q0.z, f[r].q0.w,
                                    f[r].q1.x, f[r].q1.y, f[r].q1.z, f[r].q1.w };
#pragma unroll
            for (int j = 0; j < 8; ++j) {
                v[r][j] = lut16_ordered(q[j], tab);
            }
            const float    d  = half_bits_to_float(f[r].side.x & 0xffffu);
            const uint32_t sh = (f[r].side.x >> 16) >> (4 * p);
            const uint32_t sl = (f[r].side.y >> (8 * p)) & 0xffu;
            dl[r][0]          = d * float(int((sl & 15u) | ((sh & 3u) << 4)) - 32);
            dl[r][1]          = d * float(int((sl >> 4) | (((sh >> 2) & 3u) << 4)) - 32);
        }
#pragma unroll
        for (int b = 0; b < B; ++b) {
            const int4  x0  = x.q16(b, k);
            const int4  x1  = x.q16(b, k + 16);
            const int4  x2  = x.q16(b, k + 32);
            const int4  x3  = x.q16(b, k + 48);
            const float dx0 = x.ds32(b, k).x;
            const float dx1 = x.ds32(b, k + 32).x;
#pragma unroll
            for (int r = 0; r < R; ++r) {
                int s0 = dot16(v[r][0].x, v[r][1].x, v[r][2].x, v[r][3].x, x0, 0);
                s0     = dot16(v[r][0].y, v[r][1].y, v[r][2].y, v[r][3].y, x1, s0);
                int s1 = dot16(v[r][4].x, v[r][5].x, v[r][6].x, v[r][7].x, x2, 0);
                s1     = dot16(v[r][4].y, v[r][5].y, v[r][6].y, v[r][7].y, x3, s1);
                acc[r][b] += dl[r][0] * dx0 * float(s0) + dl[r][1] * dx1 * float(s1);
            }
        }
    }

    template <int B, int R, class XT>
    __device__ __forceinline__ static void dot_split(const Frag (&f)[R], int c, const XView & x, float (&acc)[R][B]) {
        const int   k   = 64 * c;
        const int   p   = c & 3;
        Split4    lo[R][8], hi[R][8];
        float       dl[R][2];
#pragma unroll
        for (int r = 0; r < R; ++r) {
            const uint32_t q[8] = { f[r].q0.x, f[r].q0.y, f[r].q0.z, f[r].q0.w,
                                    f[r].q1.x, f[r].q1.y, f[r].q1.z, f[r].q1.w };
#pragma unroll
            for (int j = 0; j < 8; ++j) {
                lut16_split<Iq4Split>(q[j], lo[r][j], hi[r][j], x.lut_a0, x.lut_b0);
            }
            const float    d  = half_bits_to_float(f[r].side.x & 0xffffu);
            const uint32_t sh = (f[r].side.x >> 16) >> (4 * p);
            const uint32_t sl = (f[r].side.y >> (8 * p)) & 0xffu;
            dl[r][0]          = d * float(int((sl & 15u) | ((sh & 3u) << 4)) - 32);
            dl[r][1]          = d * float(int((sl >> 4) | (((sh >> 2) & 3u) << 4)) - 32);
        }
#pragma unroll
        for (int b = 0; b < B; ++b) {
            const int4  x0  = x.q16(b, k);
            const int4  x1  = x.q16(b, k + 16);
            const int4  x2  = x.q16(b, k + 32);
            const int4  x3  = x.q16(b, k + 48);
            const float dx0 = x.ds32(b, k).x;
            const float dx1 = x.ds32(b, k + 32).x;
#pragma unroll
            for (int r = 0; r < R; ++r) {
                int s0a = 0, s0b = 0, s1a = 0, s1b = 0;
                dot16_split(lo[r][0], lo[r][1], lo[r][2], lo[r][3], x0, s0a, s0b);
                dot16_split(hi[r][0], hi[r][1], hi[r][2], hi[r][3], x1, s0a, s0b);
                dot16_split(lo[r][4], lo[r][5], lo[r][6], lo[r][7], x2, s1a, s1b);
                dot16_split(hi[r][4], hi[r][5], hi[r][6], hi[r][7], x3, s1a, s1b);
                const int s0 = s0b - s0a;
                const int s1 = s1b - s1a;
                acc[r][b] += dl[r][0] * dx0 * float(s0) + dl[r][1] * dx1 * float(s1);
            }
        }
    }

    // Batch >= 4 shares each look-up over more columns, where the single-table look-up's fewer
    // dp4a win (decode stream, H100: NVFP4 fused b8 9.08 ms split vs 8.48 ms table); below 4 the
    // split look-up's fewer integer ops win (batch 1: 76.8 % vs 66.4 % of copy).
    template <int B, int R, class XT>
    __device__ __forceinline__ static void dot(const Frag (&f)[R], int c, const XView & x, float (&acc)[R][B]) {
        if constexpr (B >= 4) {
            dot_table<B, R, XT>(f, c, x, acc);
        } else {
            dot_split<B, R, XT>(f, c, x, acc);
        }
    }
#endif
};

}  // namespace nibble::cuda::gemv_detail
