// Q4_K on the GPU: x = (d * sc_j) * q - dmin * m_j per 32-group j of a 256-superblock.
// Planes: qs (128 B/superblock, GGUF order), header (d, dmin, 12 scale bytes: 16 B).
// A 32-byte chunk is one 64-group pair: low nibbles are group 2g (x[64g + l]), high nibbles group
// 2g+1 (x[64g + 32 + l]), so the 6-bit scales are decoded once per 64 weights.
#pragma once

#include "backend/cuda/gemv_common.cuh"
#include "formats/q4_k.h"

#include <cstddef>

namespace nibble::cuda::gemv_detail {

#ifdef __CUDACC__
// get_scale_min_k4 for groups 2g and 2g+1 (g = 0..3) of the packed scales s[0..11] = words w1..w3.
// Returns the two scales in bytes 0/1 of .x and the two mins in bytes 0/1 of .y.
__device__ __forceinline__ uint2 kquant_scale_min_pair(uint32_t w1, uint32_t w2, uint32_t w3, int g) {
    const int      sh = 16 * (g & 1);
    const uint32_t a  = w1 >> sh;  // s[j]     (j = n or n - 4 for the upper groups)
    const uint32_t b  = w2 >> sh;  // s[j + 4]
    const uint32_t c  = w3 >> sh;  // s[j + 8]
    const uint32_t sc = g < 2 ? a & 0x3f3fu : (c & 0x0f0fu) | ((a >> 2) & 0x3030u);
    const uint32_t m  = g < 2 ? b & 0x3f3fu : ((c >> 4) & 0x0f0fu) | ((b >> 2) & 0x3030u);
    return make_uint2(sc, m);
}
#endif

template <> struct GemvFormat<Format::Q4_K> : FormatBase {
    static constexpr Format kFormat     = Format::Q4_K;
    static constexpr bool   kIntDot     = true;
    static constexpr int    kBlockK     = kQK_K;
    static constexpr int    kBlockBytes = sizeof(BlockQ4_K);
    static constexpr int    kChunkBytes = 32;
    static constexpr int    kChunkK     = 64;
    static constexpr int    kNumPlanes  = 2;
    static constexpr PlaneField kPlanes[kNumPlanes] = {
        { int(offsetof(BlockQ4_K, qs)), 128, 128 },
        { int(offsetof(BlockQ4_K, d)), 16, 16 },  // d, dmin, scales[12]
    };

#ifdef __CUDACC__
    struct Frag {
        uint4 q0, q1;
        uint4 h;
    };

    __device__ __forceinline__ static Frag load(const RowPtr & row, int c) {
        return { ld_stream(row.p[0] + 32 * c), ld_stream(row.p[0] + 32 * c + 16),
                 __ldg(reinterpret_cast<const uint4 *>(row.p[1]) + (c >> 2)) };
    }

    template <int B, int R, class XT>
    __device__ __forceinline__ static void dot(const Frag (&f)[R], int c, const XView & x, float (&acc)[R][B]) {
        const int k = 64 * c;
        int       lo[R][8], hi[R][8];
        float     dsc[R][2], mm[R][2];
#pragma unroll
        for (int r = 0; r < R; ++r) {
            const uint32_t q[8] = { f[r].q0.x, f[r].q0.y, f[r].q0.z, f[r].q0.w,
                                    f[r].q1.x, f[r].q1.y, f[r].q1.z, f[r].q1.w };
#pragma unroll
            for (int j = 0; j < 8; ++j) {
                lo[r][j] = int(q[j] & 0x0F0F0F0Fu);
                hi[r][j] = int((q[j] >> 4) & 0x0F0F0F0Fu);
            }
            const uint2 sm   = kquant_scale_min_pair(f[r].h.y, f[r].h.z, f[r].h.w, c & 3);
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
