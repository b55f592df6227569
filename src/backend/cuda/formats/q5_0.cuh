// Q5_0 on the GPU: x = d * (q - 16), q = low nibble | high bit << 4.
// Planes: qs (16 B/block, GGUF nibble order), qh (4 B, bit-transposed, below), d (fp16).
//
// qh transposition: GGUF keeps the high bit of element e at bit e. The kernel wants the four high
// bits of the activation word W (elements 4W..4W+3) one per byte, so the repacker stores the bit
// of element e = 4W + i at bit 8i + W. Then (qh >> W) & 0x01010101 are that word's high bits: two
// instructions per 4 weights instead of a multiply-and-mask spread.
#pragma once

#include "backend/cuda/gemv_common.cuh"
#include "formats/q5_0.h"

#include <cstddef>

namespace nibble::cuda::gemv_detail {

constexpr uint32_t q5_qh_to_kernel(uint32_t qh) {
    uint32_t t = 0;
    for (int e = 0; e < 32; ++e) {
        t |= ((qh >> e) & 1u) << (8 * (e % 4) + e / 4);
    }
    return t;
}

constexpr uint32_t q5_qh_from_kernel(uint32_t t) {
    uint32_t qh = 0;
    for (int e = 0; e < 32; ++e) {
        qh |= ((t >> (8 * (e % 4) + e / 4)) & 1u) << e;
    }
    return qh;
}

static_assert(q5_qh_from_kernel(q5_qh_to_kernel(0x8421f00du)) == 0x8421f00du, "qh transposition must be a bijection");

// Repack hooks shared by Q5_0 and Q5_1: plane 1 holds the (transposed) high bits.
struct Q5FormatBase {
    static void pack_field(int plane, const uint8_t * field, int bytes, uint8_t * out) {
        if (plane == 1) {
            uint32_t qh;
            std::memcpy(&qh, field, 4);
            qh = q5_qh_to_kernel(qh);
            std::memcpy(out, &qh, 4);
        } else {
            std::memcpy(out, field, size_t(bytes));
        }
    }
    static void unpack_field(int plane, const uint8_t * in, int bytes, uint8_t * field) {
        if (plane == 1) {
            uint32_t t;
            std::memcpy(&t, in, 4);
            t = q5_qh_from_kernel(t);
            std::memcpy(field, &t, 4);
        } else {
            std::memcpy(field, in, size_t(bytes));
        }
    }

#ifdef __CUDACC__
    // The 8 activation words of a 32-block: q = low nibbles | transposed high bits at bit 4.
    __device__ __forceinline__ static void unpack5(const uint4 & qs, uint32_t t, int (&v)[8]) {
        const uint32_t q[4] = { qs.x, qs.y, qs.z, qs.w };
#pragma unroll
        for (int w = 0; w < 8; ++w) {
            const uint32_t hb  = (w <= 4 ? t << (4 - w) : t >> (w - 4)) & 0x10101010u;
            const uint32_t nib = w < 4 ? q[w] : q[w - 4] >> 4;
            v[w]               = int((nib & 0x0F0F0F0Fu) | hb);
        }
    }
#endif
};

template <> struct GemvFormat<Format::Q5_0> : Q5FormatBase {
    static constexpr Format kFormat     = Format::Q5_0;
    static constexpr bool   kIntDot     = true;
    static constexpr int    kBlockK     = kQK5_0;
    static constexpr int    kBlockBytes = sizeof(BlockQ5_0);
    static constexpr int    kChunkBytes = 16;
    static constexpr int    kChunkK     = 32;
    static constexpr int    kNumPlanes  = 3;
    static constexpr PlaneField kPlanes[kNumPlanes] = {
        { int(offsetof(BlockQ5_0, qs)), 16, 16 },
        { int(offsetof(BlockQ5_0, qh)), 4, 4 },
        { int(offsetof(BlockQ5_0, d)), 2, 2 },
    };

#ifdef __CUDACC__
    struct Frag {
        uint4    q;
        uint32_t qh;
        uint32_t d;
    };

    __device__ __forceinline__ static Frag load(const RowPtr & row, int c) {
        return { ld_stream(row.p[0] + 16 * c), __ldg(reinterpret_cast<const uint32_t *>(row.p[1]) + c),
                 __ldg(reinterpret_cast<const unsigned short *>(row.p[2]) + c) };
    }

    template <int B, int R, class XT>
    __device__ __forceinline__ static void dot(const Frag (&f)[R], int c, const XView & x, float (&acc)[R][B]) {
        const int k = 32 * c;
        int       v[R][8];
        float     d[R];
#pragma unroll
        for (int r = 0; r < R; ++r) {
            unpack5(f[r].q, f[r].qh, v[r]);
            d[r] = half_bits_to_float(f[r].d);
        }
#pragma unroll
        for (int b = 0; b < B; ++b) {
            const int4   xa = x.q16(b, k);
            const int4   xb = x.q16(b, k + 16);
            const float2 ds = x.ds32(b, k);
#pragma unroll
            for (int r = 0; r < R; ++r) {
                int s = dot16(v[r][0], v[r][1], v[r][2], v[r][3], xa, 0);
                s     = dot16(v[r][4], v[r][5], v[r][6], v[r][7], xb, s);
                acc[r][b] += d[r] * (ds.x * float(s) - 16.0f * ds.y);
            }
        }
    }
#endif
};

}  // namespace nibble::cuda::gemv_detail
