// NVFP4 (ggml layout) on the GPU: x = E2M1(q) * UE4M3(d[s]), 4 sub-blocks of 16 per 64-block.
// Planes: qs (32 B/block: two 16-byte chunks, words reordered as lut_order_word), d (4 UE4M3 codes).
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
    using Split = Fp4Split;

    static constexpr Format kFormat     = Format::NVFP4;
    static constexpr bool   kIntDot     = true;
    static constexpr int    kBlockK     = kQKNvfp4;
    static constexpr int    kBlockBytes = sizeof(BlockNVFP4);
    static constexpr int    kChunkBytes = 16;
    static constexpr int    kChunkK     = 32;
    static constexpr int    kNumPlanes  = 2;
    static constexpr PlaneField kPlanes[kNumPlanes] = {
        { int(offsetof(BlockNVFP4, qs)), 32, 32 },
        { int(offsetof(BlockNVFP4, d)), 4, 4 },
    };

#ifdef __CUDACC__
    // A chunk is half a block: 16 bytes of codes (sub-blocks 2h and 2h + 1, h = c & 1) and their two
    // scale codes. Halves of 32 bytes made the fragment as light as Q4_0's (32 bytes with alignment
    // instead of 48), so the kernels take the 16-byte-chunk paths: 3 gate/up blocks per SM and 8
    // chunks in flight for QKV. Decode stream, H100 (2026-11-22): NVFP4 77.4 % of copy with 32-byte
    // chunks, see docs/performance.md for the 16-byte numbers.
    struct Frag {
        uint4    q;
        uint32_t d;  // two UE4M3 codes in the low 16 bits
    };

    __device__ __forceinline__ static Frag load(const RowPtr & row, int c) {
        return { ld_stream(row.p[0] + 16 * c), __ldg(reinterpret_cast<const unsigned short *>(row.p[1]) + c) };
    }

    // The two UE4M3 scales as fp32, *twice* ggml's ue4m3_to_fp32 (the 0.5 is applied with x's
    // scale): bit 7 ignored, then Hopper's cvt.rn.f16x2.e4m3x2 decodes both codes in one instruction,
    // exactly (every E4M3 value is an fp16). 0x7F decodes to NaN, which max(., 0) turns into the 0
    // ggml gives it (max returns the other operand of a NaN); 5 instructions per pair where masking
    // 0x7F codes beforehand took 9.
    __device__ __forceinline__ static float2 scales_x2(uint32_t codes) {
        const __half2_raw h = __nv_cvt_fp8x2_to_halfraw2(__nv_fp8x2_storage_t(codes & 0x7f7fu), __NV_E4M3);
        return __half22float2(__hmax2(*reinterpret_cast<const __half2 *>(&h), __float2half2_rn(0.0f)));
    }

    // Batch >= 4 shares each look-up over more columns, where the single-table look-up's fewer
    // dp4a win (decode stream, H100: NVFP4 fused b8 9.08 ms split vs 8.48 ms table); below 4 the
    // split look-up's fewer integer ops win (batch 1: 76.8 % vs 66.4 % of copy).
    template <int B, int R, class XT>
    __device__ __forceinline__ static void dot(const Frag (&f)[R], int c, const XView & x, float (&acc)[R][B]) {
        const int k = 32 * c;
        float2    sc[R];
#pragma unroll
        for (int r = 0; r < R; ++r) {
            sc[r] = scales_x2(f[r].d);
        }
        if constexpr (B >= 4) {
            const uint4 tab = make_uint4(Fp4Lut::kW0, Fp4Lut::kW1, Fp4Lut::kW2, Fp4Lut::kW3);
            int2        v[R][4];  // per word: (low-nibble values, high-nibble values)
#pragma unroll
            for (int r = 0; r < R; ++r) {
                const uint32_t q[4] = { f[r].q.x, f[r].q.y, f[r].q.z, f[r].q.w };
#pragma unroll
                for (int j = 0; j < 4; ++j) {
                    v[r][j] = lut16_ordered(q[j], tab);
                }
            }
#pragma unroll
            for (int b = 0; b < B; ++b) {
                const float dx = 0.5f * x.ds32(b, k).x;  // the 0.5 of ggml's half-value scale decode
                const int4  x0 = x.q16(b, k);
                const int4  x1 = x.q16(b, k + 16);
#pragma unroll
                for (int r = 0; r < R; ++r) {
                    const int i0 = dot16(v[r][0].x, v[r][1].x, v[r][0].y, v[r][1].y, x0, 0);
                    const int i1 = dot16(v[r][2].x, v[r][3].x, v[r][2].y, v[r][3].y, x1, 0);
                    acc[r][b] += dx * (sc[r].x * float(i0) + sc[r].y * float(i1));
                }
            }
        } else {
            Split4 lo[R][4], hi[R][4];  // per word: low-half and high-half nibbles
#pragma unroll
            for (int r = 0; r < R; ++r) {
                const uint32_t q[4] = { f[r].q.x, f[r].q.y, f[r].q.z, f[r].q.w };
#pragma unroll
                for (int j = 0; j < 4; ++j) {
                    lut16_split<Fp4Split>(q[j], lo[r][j], hi[r][j], x.lut_a0, x.lut_b0);
                }
            }
#pragma unroll
            for (int b = 0; b < B; ++b) {
                const float dx = 0.5f * x.ds32(b, k).x;
                const int4  x0 = x.q16(b, k);
                const int4  x1 = x.q16(b, k + 16);
#pragma unroll
                for (int r = 0; r < R; ++r) {
                    int a0 = 0, b0 = 0, a1 = 0, b1 = 0;
                    dot16_split(lo[r][0], lo[r][1], hi[r][0], hi[r][1], x0, a0, b0);
                    dot16_split(lo[r][2], lo[r][3], hi[r][2], hi[r][3], x1, a1, b1);
                    acc[r][b] += dx * (sc[r].x * float(a0 - b0) + sc[r].y * float(a1 - b1));
                }
            }
        }
    }
#endif
};

}  // namespace nibble::cuda::gemv_detail
