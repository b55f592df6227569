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
    using Split = Fp4Split;

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
    __device__ __forceinline__ static void dot(const Frag (&f)[R], int c, const XView & x, float (&acc)[R][B]) {
        uint4 q[R];
        float d[R];
#pragma unroll
        for (int r = 0; r < R; ++r) {
            q[r] = f[r].q;
            d[r] = e8m0_half(f[r].e);
        }
        lut_block32_dot<Fp4Lut, Fp4Split, false, B, R>(q, d, 32 * c, x, acc);
    }
#endif
};

}  // namespace nibble::cuda::gemv_detail
