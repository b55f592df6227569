// IQ4_NL on the GPU: x = d * kValuesIq4nl[q]. Planes: qs (16 B/block, nibbles reordered per word, see
// lut_order_word), d (fp16). The non-linear code book is looked up four nibbles at a time with prmt
// (lut16_split).
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

// Repack transform shared by the code-book formats (IQ4_NL, IQ4_XS, MXFP4, NVFP4): every 32-bit
// word of the quants becomes [its four low nibbles | its four high nibbles], so that each 16-bit
// half is a ready prmt selector for four consecutive activations (lut16_split). GGUF keeps them
// interleaved per byte, which costs two more prmt per 8 weights to untangle.
constexpr uint32_t lut_order_word(uint32_t w) {
    uint32_t o = 0;
    for (int b = 0; b < 4; ++b) {
        o |= ((w >> (8 * b)) & 0xfu) << (4 * b);
        o |= ((w >> (8 * b + 4)) & 0xfu) << (16 + 4 * b);
    }
    return o;
}

constexpr uint32_t lut_unorder_word(uint32_t o) {
    uint32_t w = 0;
    for (int b = 0; b < 4; ++b) {
        w |= ((o >> (4 * b)) & 0xfu) << (8 * b);
        w |= ((o >> (16 + 4 * b)) & 0xfu) << (8 * b + 4);
    }
    return w;
}

static_assert(lut_unorder_word(lut_order_word(0x89abcdefu)) == 0x89abcdefu, "nibble order must be a bijection");

// Repack hooks: plane 0 (the quants) is reordered word by word, other planes are copied.
struct LutFormatBase {
    static void pack_field(int plane, const uint8_t * field, int bytes, uint8_t * out) {
        std::memcpy(out, field, size_t(bytes));
        if (plane == 0) {
            for (int i = 0; i + 4 <= bytes; i += 4) {
                uint32_t w;
                std::memcpy(&w, out + i, 4);
                w = lut_order_word(w);
                std::memcpy(out + i, &w, 4);
            }
        }
    }
    static void unpack_field(int plane, const uint8_t * in, int bytes, uint8_t * field) {
        std::memcpy(field, in, size_t(bytes));
        if (plane == 0) {
            for (int i = 0; i + 4 <= bytes; i += 4) {
                uint32_t w;
                std::memcpy(&w, field + i, 4);
                w = lut_unorder_word(w);
                std::memcpy(field + i, &w, 4);
            }
        }
    }
};

// A 16-entry int8 code book whose codes 0-7 share one sign and codes 8-15 the other (E2M1:
// + then -, IQ4_NL: - then +), as magnitudes < 0x80: a0/a1 for codes 0-7, b0/b1 for 8-15.
constexpr uint32_t lut8_mag_word(const int8_t (&t)[16], int first) {
    uint32_t w = 0;
    for (int i = 0; i < 4; ++i) {
        const int v = t[first + i] < 0 ? -t[first + i] : t[first + i];
        w |= uint32_t(v) << (8 * i);
    }
    return w;
}

template <const int8_t (&kBook)[16]> struct SplitLut {
    static constexpr uint32_t a0 = lut8_mag_word(kBook, 0);
    static constexpr uint32_t a1 = lut8_mag_word(kBook, 4);
    static constexpr uint32_t b0 = lut8_mag_word(kBook, 8);
    static constexpr uint32_t b1 = lut8_mag_word(kBook, 12);
};

#ifdef __CUDACC__
__device__ __forceinline__ uint32_t prmt(uint32_t a, uint32_t b, uint32_t sel) {
    uint32_t r;
    asm("prmt.b32 %0, %1, %2, %3;" : "=r"(r) : "r"(a), "r"(b), "r"(sel));
    return r;
}

// Four weights of a code-book format as two dp4a operands: .a holds |value| where the code is 0-7
// and 0 elsewhere, .b |value| where the code is 8-15 and 0 elsewhere.
struct Split4 {
    int a, b;
};

// Look-up for a word in lut_order_word order (low half: the word's four GGUF low nibbles, high half:
// the four high ones). prmt's selector nibble is the code itself: bits 0-2 pick a byte of the
// 8-entry magnitude table and bit 3 set replicates that byte's sign bit, i.e. yields 0 since every
// magnitude is < 0x80. So prmt(a, q) is the code-0-7 part and prmt(b, q ^ 0x8888) the code-8-15
// part: 7 instructions per 8 weights (the single-table look-up with a merging prmt took 11) for
// twice the dp4a, which run on the other pipe.
// a0 and b0 are T::a0 and T::b0 in registers (XView::lut_a0 / lut_b0).
template <class T>
__device__ __forceinline__ void lut16_split(uint32_t q, Split4 & lo, Split4 & hi, uint32_t a0, uint32_t b0) {
    const uint32_t qx = q ^ 0x88888888u;
    lo                = { int(prmt(a0, T::a1, q)), int(prmt(b0, T::b1, qx)) };
    hi                = { int(prmt(a0, T::a1, q >> 16)), int(prmt(b0, T::b1, qx >> 16)) };
}

// 16 weights (four Split4 in order) against 16 int8 activations; the a and b parts accumulate
// apart, the caller combines them with the code book's signs.
__device__ __forceinline__ void dot16_split(const Split4 & w0, const Split4 & w1, const Split4 & w2, const Split4 & w3,
                                            const int4 & x, int & sa, int & sb) {
    sa = __dp4a(w0.a, x.x, sa);
    sb = __dp4a(w0.b, x.x, sb);
    sa = __dp4a(w1.a, x.y, sa);
    sb = __dp4a(w1.b, x.y, sb);
    sa = __dp4a(w2.a, x.z, sa);
    sb = __dp4a(w2.b, x.z, sb);
    sa = __dp4a(w3.a, x.w, sa);
    sb = __dp4a(w3.b, x.w, sb);
}
#endif

#ifdef __CUDACC__
// Single-table look-up for a word in lut_order_word order: .x = values of the four low-half nibbles,
// .y = the four high-half ones. 11 instructions per 8 weights, one dp4a per 4 weights (batch >= 4).
__device__ __forceinline__ int2 lut16_ordered(uint32_t q, const uint4 & tab) {
    const uint32_t sel  = q & 0x77777777u;
    const uint32_t hsel = ((q >> 1) & 0x44444444u) | 0x32103210u;
    const uint32_t a0   = __byte_perm(tab.x, tab.y, sel);
    const uint32_t b0   = __byte_perm(tab.z, tab.w, sel);
    const uint32_t a1   = __byte_perm(tab.x, tab.y, sel >> 16);
    const uint32_t b1   = __byte_perm(tab.z, tab.w, sel >> 16);
    return make_int2(int(__byte_perm(a0, b0, hsel)), int(__byte_perm(a1, b1, hsel >> 16)));
}
#endif

struct Iq4Lut {
    static constexpr uint32_t kW0 = lut16_word(kValuesIq4nl, 0);
    static constexpr uint32_t kW1 = lut16_word(kValuesIq4nl, 1);
    static constexpr uint32_t kW2 = lut16_word(kValuesIq4nl, 2);
    static constexpr uint32_t kW3 = lut16_word(kValuesIq4nl, 3);
};

// IQ4_NL's code book: codes 0-7 negative, 8-15 positive (value = b - a).
using Iq4Split = SplitLut<kValuesIq4nl>;
static_assert(kValuesIq4nl[7] < 0 && kValuesIq4nl[8] > 0, "IQ4_NL code book signs");

#ifdef __CUDACC__
// acc += d·dx·Σ value(q)·x over one 32-weight block per row of a code-book format with one scale per
// block (IQ4_NL, MXFP4); words in lut_order_word order. kNegFirst: codes 0-7 are the negative half of
// the book (IQ4_NL), not the positive one (E2M1). Batch >= 4 shares each look-up over more columns,
// where the single-table look-up's fewer dp4a win (decode stream, H100: NVFP4 fused b8 9.08 ms split
// vs 8.48 ms table); below 4 the split look-up's fewer integer ops win (batch 1: 76.8 % vs 66.4 %).
template <class Lut, class Split, bool kNegFirst, int B, int R>
__device__ __forceinline__ void lut_block32_dot(const uint4 (&qv)[R], const float (&d)[R], int k, const XView & x,
                                                float (&acc)[R][B]) {
    if constexpr (B >= 4) {
        const uint4 tab = make_uint4(Lut::kW0, Lut::kW1, Lut::kW2, Lut::kW3);
        int         lo[R][4], hi[R][4];
#pragma unroll
        for (int r = 0; r < R; ++r) {
            const uint32_t q[4] = { qv[r].x, qv[r].y, qv[r].z, qv[r].w };
#pragma unroll
            for (int j = 0; j < 4; ++j) {
                const int2 v = lut16_ordered(q[j], tab);
                lo[r][j]     = v.x;
                hi[r][j]     = v.y;
            }
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
    } else {
        Split4 lo[R][4], hi[R][4];
#pragma unroll
        for (int r = 0; r < R; ++r) {
            const uint32_t q[4] = { qv[r].x, qv[r].y, qv[r].z, qv[r].w };
#pragma unroll
            for (int j = 0; j < 4; ++j) {
                lut16_split<Split>(q[j], lo[r][j], hi[r][j], x.lut_a0, x.lut_b0);
            }
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
                acc[r][b] += d[r] * dx * float(kNegFirst ? sb - sa : sa - sb);
            }
        }
    }
}
#endif

template <> struct GemvFormat<Format::IQ4_NL> : LutFormatBase {
    using Split = Iq4Split;

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
        uint4 q[R];
        float d[R];
#pragma unroll
        for (int r = 0; r < R; ++r) {
            q[r] = f[r].q;
            d[r] = half_bits_to_float(f[r].d);
        }
        lut_block32_dot<Iq4Lut, Iq4Split, true, B, R>(q, d, 32 * c, x, acc);
    }
#endif
};

}  // namespace nibble::cuda::gemv_detail
