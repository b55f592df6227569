// MXFP4 on the GPU: x = E2M1(q) * 2^(e-127). Planes: qs (16 B/block; GGUF keeps element j low and
// j+16 high, the repack reorders each word as lut_order_word), e (E8M0, 1 B). The doubled integer code book
// (kValuesFp4) goes through dp4a and the halved E8M0 scale (e8m0_to_fp32_half) undoes the doubling, as on the CPU.
#pragma once

#include "backend/cuda/formats/iq4_nl.cuh"
#include "formats/minifloat.h"
#include "formats/mxfp4.h"

namespace nibble::cuda::gemv_detail {

struct Fp4Lut {
    static constexpr uint32_t kW0 = lut16_word(kValuesFp4, 0);
    static constexpr uint32_t kW1 = lut16_word(kValuesFp4, 1);
    static constexpr uint32_t kW2 = lut16_word(kValuesFp4, 2);
    static constexpr uint32_t kW3 = lut16_word(kValuesFp4, 3);
};

// The doubled E2M1 code book: codes 0-7 non-negative, 8-15 non-positive (value = a - b).
using Fp4Split = SplitLut<kValuesFp4>;
static_assert(kValuesFp4[7] > 0 && kValuesFp4[15] < 0, "E2M1 code book signs");

template <> struct GemvFormat<Format::MXFP4> : LutFormatBase {
    static constexpr Format kFormat     = Format::MXFP4;
    static constexpr bool   kIntDot     = true;
    static constexpr int    kBlockK     = kQKMxfp4;
    static constexpr int    kBlockBytes = sizeof(BlockMXFP4);
    static constexpr int    kChunkBytes = 16;
    static constexpr int    kChunkK     = 32;
    static constexpr int    kNumPlanes  = 2;
    static constexpr PlaneField kPlanes[kNumPlanes] = {
        { int(offsetof(BlockMXFP4, qs)), 16, 16 },
        { int(offsetof(BlockMXFP4, e)), 1, 1 },
    };

#ifdef __CUDACC__
    struct Frag {
        uint4    q;
        uint32_t e;
    };

    __device__ __forceinline__ static Frag load(const RowPtr & row, int c) {
        return { ld_stream(row.p[0] + 16 * c), __ldg(row.p[1] + c) };
    }

    // ggml's e8m0_to_fp32_half: 2^(e-128), with e = 0 and 1 as fp32 subnormals.
    __device__ __forceinline__ static float e8m0_half(uint32_t e) {
        return __uint_as_float(e < 2 ? 0x00200000u << e : (e - 1) << 23);
    }

    template <int B, int R, class XT>
    __device__ __forceinline__ static void dot_table(const Frag (&f)[R], int c, const XView & x, float (&acc)[R][B]) {
        const uint4 tab = make_uint4(Fp4Lut::kW0, Fp4Lut::kW1, Fp4Lut::kW2, Fp4Lut::kW3);
        const int   k   = 32 * c;
        int         lo[R][4], hi[R][4];
        float       d[R];
#pragma unroll
        for (int r = 0; r < R; ++r) {
            const uint32_t q[4] = { f[r].q.x, f[r].q.y, f[r].q.z, f[r].q.w };
#pragma unroll
            for (int j = 0; j < 4; ++j) {
                const int2 v = lut16_ordered(q[j], tab);
                lo[r][j]     = v.x;
                hi[r][j]     = v.y;
            }
            d[r] = e8m0_half(f[r].e);
        }
#pragma unroll
        for (int b = 0; b < B; ++b) {
            const int4  xa = x.q16(b, k);
            const int4  xb = x.q16(b, k + 16);
            const float dx = x.ds32(b, k).x;
#pragma unroll
            for (int r = 0; r < R; ++r) {
                int s = dot16(lo[r][0], lo[r][1], lo[r][2], lo[r][3], xa, 0);
                s     = dot16(hi[r][0], hi[r][1], hi[r][2], hi[r][3], xb, s);
                acc[r][b] += d[r] * dx * float(s);
            }
        }
    }

    template <int B, int R, class XT>
    __device__ __forceinline__ static void dot_split(const Frag (&f)[R], int c, const XView & x, float (&acc)[R][B]) {
        const int   k   = 32 * c;
        Split4    lo[R][4], hi[R][4];
        float       d[R];
#pragma unroll
        for (int r = 0; r < R; ++r) {
            const uint32_t q[4] = { f[r].q.x, f[r].q.y, f[r].q.z, f[r].q.w };
#pragma unroll
            for (int j = 0; j < 4; ++j) {
                lut16_split<Fp4Split>(q[j], lo[r][j], hi[r][j]);
            }
            d[r] = e8m0_half(f[r].e);
        }
#pragma unroll
        for (int b = 0; b < B; ++b) {
            const int4  xa = x.q16(b, k);
            const int4  xb = x.q16(b, k + 16);
            const float dx = x.ds32(b, k).x;
#pragma unroll
            for (int r = 0; r < R; ++r) {
                int sa = 0, sb = 0;
                dot16_split(lo[r][0], lo[r][1], lo[r][2], lo[r][3], xa, sa, sb);
                dot16_split(hi[r][0], hi[r][1], hi[r][2], hi[r][3], xb, sa, sb);
                acc[r][b] += d[r] * dx * float(sa - sb);
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
