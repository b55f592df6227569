// NVFP4 (ggml layout) on the GPU: x = E2M1(q) * UE4M3(d[s]), 4 sub-blocks of 16 per 64-block.
// Planes: qs (32 B/block: one 32-byte chunk, words reordered as lut_order_word), d (4 UE4M3 codes).
// In sub-block s, byte j holds elements 16s+j (low) and 16s+j+8 (high); so the low nibbles of its
// two words pair with x[16s..16s+7] and the high nibbles with x[16s+8..16s+15]: one 16-byte piece
// of staged activations per sub-block, no nibble shuffling. The per-tensor `.scale` side-car is the
// GemvWeights::scale factor.
#pragma once

#include "backend/cuda/formats/e4m3.cuh"
#include "backend/cuda/formats/mxfp4.cuh"
#include "formats/nvfp4.h"

namespace nibble::cuda::gemv_detail {

template <> struct GemvFormat<Format::NVFP4> : LutFormatBase {
    static constexpr Format kFormat     = Format::NVFP4;
    static constexpr bool   kIntDot     = true;
    static constexpr int    kBlockK     = kQKNvfp4;
    static constexpr int    kBlockBytes = sizeof(BlockNVFP4);
    static constexpr int    kChunkBytes = 32;
    static constexpr int    kChunkK     = 64;
    static constexpr int    kNumPlanes  = 2;
    static constexpr PlaneField kPlanes[kNumPlanes] = {
        { int(offsetof(BlockNVFP4, qs)), 32, 32 },
        { int(offsetof(BlockNVFP4, d)), 4, 4 },
    };

#ifdef __CUDACC__
    struct Frag {
        uint4    q0, q1;
        uint32_t d;
    };

    __device__ __forceinline__ static Frag load(const RowPtr & row, int c) {
        return { ld_stream(row.p[0] + 32 * c), ld_stream(row.p[0] + 32 * c + 16),
                 __ldg(reinterpret_cast<const uint32_t *>(row.p[1]) + c) };
    }

    // The four UE4M3 scales as fp32, *twice* ggml's ue4m3_to_fp32 (the 0.5 is applied once per
    // chunk): bit 7 ignored and 0x7F -> 0 as ggml does, then Hopper's cvt.rn.f16x2.e4m3x2 decodes two
    // codes per instruction, exactly (every E4M3 value is an fp16). ~10 instructions for 4 scales
    // instead of ~32 with the bit-assembled decode.
    __device__ __forceinline__ static void scales_x2(uint32_t codes, float (&sc)[4]) {
        uint32_t       d    = codes & 0x7f7f7f7fu;
        const uint32_t is7f = ((d + 0x01010101u) & 0x80808080u) >> 7;  // 1 in each byte that was 0x7F
        d &= ~(is7f * 0xffu);
        const float2 a = GemvFormat<Format::E4M3>::e4m3x2_to_float2(d & 0xffffu);
        const float2 b = GemvFormat<Format::E4M3>::e4m3x2_to_float2(d >> 16);
        sc[0]          = a.x;
        sc[1]          = a.y;
        sc[2]          = b.x;
        sc[3]          = b.y;
    }

    template <int B, int R, class XT>
    __device__ __forceinline__ static void dot_table(const Frag (&f)[R], int c, const XView & x, float (&acc)[R][B]) {
        const uint4 tab = make_uint4(Fp4Lut::kW0, Fp4Lut::kW1, Fp4Lut::kW2, Fp4Lut::kW3);
        const int   k   = 64 * c;
        int2        v[R][8];  // per word: (low-nibble values, high-nibble values)
        float       sc[R][4];
#pragma unroll
        for (int r = 0; r < R; ++r) {
            const uint32_t q[8] = { f[r].q0.x, f[r].q0.y, f[r].q0.z, f[r].q0.w,
                                    f[r].q1.x, f[r].q1.y, f[r].q1.z, f[r].q1.w };
#pragma unroll
            for (int j = 0; j < 8; ++j) {
                v[r][j] = lut16_ordered(q[j], tab);
            }
            scales_x2(f[r].d, sc[r]);
        }
#pragma unroll
        for (int b = 0; b < B; ++b) {
            const float dx0 = 0.5f * x.ds32(b, k).x;  // the 0.5 of ggml's half-value scale decode
            const float dx1 = 0.5f * x.ds32(b, k + 32).x;
            int4        xs[4];
#pragma unroll
            for (int s = 0; s < 4; ++s) {
                xs[s] = x.q16(b, k + 16 * s);
            }
#pragma unroll
            for (int r = 0; r < R; ++r) {
                float t[2] = { 0.0f, 0.0f };
#pragma unroll
                for (int s = 0; s < 4; ++s) {
                    const int i = dot16(v[r][2 * s].x, v[r][2 * s + 1].x, v[r][2 * s].y, v[r][2 * s + 1].y, xs[s], 0);
                    t[s / 2] += sc[r][s] * float(i);
                }
                acc[r][b] += dx0 * t[0] + dx1 * t[1];
            }
        }
    }

    template <int B, int R, class XT>
    __device__ __forceinline__ static void dot_split(const Frag (&f)[R], int c, const XView & x, float (&acc)[R][B]) {
        const int   k   = 64 * c;
        Split4    lo[R][8], hi[R][8]; // per word: low-half and high-half nibbles
        float       sc[R][4];
#pragma unroll
        for (int r = 0; r < R; ++r) {
            const uint32_t q[8] = { f[r].q0.x, f[r].q0.y, f[r].q0.z, f[r].q0.w,
                                    f[r].q1.x, f[r].q1.y, f[r].q1.z, f[r].q1.w };
#pragma unroll
            for (int j = 0; j < 8; ++j) {
                lut16_split<Fp4Split>(q[j], lo[r][j], hi[r][j]);
            }
            scales_x2(f[r].d, sc[r]);
        }
#pragma unroll
        for (int b = 0; b < B; ++b) {
            const float dx0 = 0.5f * x.ds32(b, k).x;  // the 0.5 of ggml's half-value scale decode
            const float dx1 = 0.5f * x.ds32(b, k + 32).x;
            int4        xs[4];
#pragma unroll
            for (int s = 0; s < 4; ++s) {
                xs[s] = x.q16(b, k + 16 * s);
            }
#pragma unroll
            for (int r = 0; r < R; ++r) {
                float t[2] = { 0.0f, 0.0f };
#pragma unroll
                for (int s = 0; s < 4; ++s) {
                    int sa = 0, sb = 0;
                    dot16_split(lo[r][2 * s], lo[r][2 * s + 1], hi[r][2 * s], hi[r][2 * s + 1], xs[s], sa, sb);
                    t[s / 2] += sc[r][s] * float(sa - sb);
                }
                acc[r][b] += dx0 * t[0] + dx1 * t[1];
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
