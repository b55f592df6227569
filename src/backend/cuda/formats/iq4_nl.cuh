// IQ4_NL on the GPU: x = d * kValuesIq4nl[q]. Planes: qs (16 B/block, GGUF nibble order), d (fp16).
// The non-linear code book is looked up four nibbles at a time with prmt (lut16).
#pragma once

#include "backend/cuda/gemv_common.cuh"
#include "formats/iq4_nl.h"
#include "formats/quant_common.h"

#include <cstddef>

namespace nibble::cuda::gemv_detail {

constexpr uint32_t lut16_word(const int8_t (&t)[16], int i) {
    return uint32_t(uint8_t(t[4 * i])) | uint32_t(uint8_t(t[4 * i + 1])) << 8 | uint32_t(uint8_t(t[4 * i + 2])) << 16 |
           uint32_t(uint8_t(t[4 * i + 3])) << 24;
}

struct Iq4Lut {
    static constexpr uint32_t kW0 = lut16_word(kValuesIq4nl, 0);
    static constexpr uint32_t kW1 = lut16_word(kValuesIq4nl, 1);
    static constexpr uint32_t kW2 = lut16_word(kValuesIq4nl, 2);
    static constexpr uint32_t kW3 = lut16_word(kValuesIq4nl, 3);
};

template <> struct GemvFormat<Format::IQ4_NL> : FormatBase {
    static constexpr Format kFormat     = Format::IQ4_NL;
    static constexpr bool   kIntDot     = true;
    static constexpr int    kBlockK     = kQK4_NL;
    static constexpr int    kBlockBytes = sizeof(BlockIQ4_NL);
    static constexpr int    kChunkBytes = 16;
    static constexpr int    kChunkK     = 32;
    static constexpr int    kNumPlanes  = 2;
    static constexpr PlaneField kPlanes[kNumPlanes] = {
        { int(offsetof(BlockIQ4_NL, qs)), 16, 16 },
        { int(offsetof(BlockIQ4_NL, d)), 2, 2 },
    };

#ifdef __CUDACC__
    struct Frag {
        uint4    q;
        uint32_t d;
    };

    __device__ __forceinline__ static Frag load(const RowPtr & row, int c) {
        return { ld_stream(row.p[0] + 16 * c), __ldg(reinterpret_cast<const unsigned short *>(row.p[1]) + c) };
    }

    template <int B, int R, class XT>
    __device__ __forceinline__ static void dot(const Frag (&f)[R], int c, const XView & x, float (&acc)[R][B]) {
        const uint4 tab = make_uint4(Iq4Lut::kW0, Iq4Lut::kW1, Iq4Lut::kW2, Iq4Lut::kW3);
        const int   k   = 32 * c;
        int         lo[R][4], hi[R][4];
        float       d[R];
#pragma unroll
        for (int r = 0; r < R; ++r) {
            const uint32_t q[4] = { f[r].q.x, f[r].q.y, f[r].q.z, f[r].q.w };
#pragma unroll
            for (int j = 0; j < 4; ++j) {
                const int2 v = lut16(q[j], tab);
                lo[r][j]     = v.x;
                hi[r][j]     = v.y;
            }
            d[r] = half_bits_to_float(f[r].d);
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
#endif
};

}  // namespace nibble::cuda::gemv_detail
