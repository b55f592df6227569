// Scalar dot products of every weight format with its activation format (vec_dot.h): the oracle
// the AVX2 kernels are tested against. Each block's integer sum is exact; blocks are summed in fp32
// (float formats in double, which only makes the oracle more accurate).
#include "backend/cpu/formats/vec_dot.h"
#include "formats/iq4_nl.h"
#include "formats/iq4_xs.h"
#include "formats/minifloat.h"
#include "formats/mxfp4.h"
#include "formats/nvfp4.h"
#include "formats/q2_k.h"
#include "formats/q3_k.h"
#include "formats/q4_0.h"
#include "formats/q4_1.h"
#include "formats/q4_k.h"
#include "formats/q5_0.h"
#include "formats/q5_1.h"
#include "formats/q5_k.h"
#include "formats/q6_k.h"
#include "formats/q8_0.h"
#include "formats/q8_k.h"
#include "formats/quant_common.h"

#include <cstring>

namespace nibble::cpu {

namespace {

inline float h2f(half_bits h) {
    return fp16_to_fp32(h);
}

inline uint32_t load_u32(const uint8_t * p) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
}

// Σ w[i] * a[i] over one 32-element block, w given as int codes.
inline int dot32(const int8_t * w, const int8_t * a) {
    int s = 0;
    for (int i = 0; i < 32; ++i) {
        s += int(w[i]) * int(a[i]);
    }
    return s;
}

// Low nibbles are elements 0..15, high nibbles 16..31 (Q4_0, Q4_1, IQ4_NL, MXFP4 order).
inline void unpack_nibbles(const uint8_t * qs, int8_t * q, const int8_t * table, int offset) {
    for (int j = 0; j < 16; ++j) {
        q[j]      = table ? table[qs[j] & 0xF] : int8_t((qs[j] & 0xF) - offset);
        q[j + 16] = table ? table[qs[j] >> 4] : int8_t((qs[j] >> 4) - offset);
    }
}

// 5-bit codes of Q5_0/Q5_1: low nibble plus bit e of qh, minus offset.
inline void unpack_q5(const uint8_t * qs, const uint8_t * qh_bytes, int8_t * q, int offset) {
    const uint32_t qh = load_u32(qh_bytes);
    for (int j = 0; j < 16; ++j) {
        q[j]      = int8_t(((qs[j] & 0xF) | (((qh >> j) & 1) << 4)) - offset);
        q[j + 16] = int8_t(((qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4)) - offset);
    }
}

// Σ_g scale_g * Σ_{e in group g} q_e * a_e over a 256-element super-block with groups of gsize.
inline int superblock_sum(const int8_t * q, const int8_t * a, const int * scales, int gsize) {
    int total = 0;
    for (int g = 0; g < kQK_K / gsize; ++g) {
        int s = 0;
        for (int e = g * gsize; e < (g + 1) * gsize; ++e) {
            s += int(q[e]) * int(a[e]);
        }
        total += scales[g] * s;
    }
    return total;
}

// What Q4_K and Q5_K share once their 256 quants are unpacked into q: eight 6-bit (scale, min)
// pairs, the integer dot with the Q8_K activations and the min correction from its group sums.
template <class Block> float scale_min_superblock(const Block & x, const int8_t * q, const BlockQ8_K & y) {
    int sc[8];
    int summ = 0;
    for (int g = 0; g < 8; ++g) {
        uint8_t s, m;
        get_scale_min_k4(g, x.scales, s, m);
        sc[g] = s;
        summ += m * (y.bsums[2 * g] + y.bsums[2 * g + 1]);
    }
    const int isum = superblock_sum(q, y.qs, sc, 32);
    return y.d * h2f(x.d) * float(isum) - y.d * h2f(x.dmin) * float(summ);
}

} // namespace

float vec_dot_f32_ref(int64_t n, const void * w, const void * a) {
    const float * x = static_cast<const float *>(w);
    const float * y = static_cast<const float *>(a);
    double        s = 0;
    for (int64_t i = 0; i < n; ++i) {
        s += double(x[i] * y[i]);
    }
    return float(s);
}

float vec_dot_f16_ref(int64_t n, const void * w, const void * a) {
    const half_bits * x = static_cast<const half_bits *>(w);
    const half_bits * y = static_cast<const half_bits *>(a);
    double            s = 0;
    for (int64_t i = 0; i < n; ++i) {
        s += double(h2f(x[i]) * h2f(y[i])); // fp16 x fp16 is exact in fp32
    }
    return float(s);
}

float vec_dot_bf16_ref(int64_t n, const void * w, const void * a) {
    const bf16_bits * x = static_cast<const bf16_bits *>(w);
    const bf16_bits * y = static_cast<const bf16_bits *>(a);
    double            s = 0;
    for (int64_t i = 0; i < n; ++i) {
        s += double(bf16_to_fp32(x[i]) * bf16_to_fp32(y[i]));
    }
    return float(s);
}

float vec_dot_q4_0_ref(int64_t n, const void * w, const void * a) {
    const BlockQ4_0 * x    = static_cast<const BlockQ4_0 *>(w);
    const BlockQ8_0 * y    = static_cast<const BlockQ8_0 *>(a);
    float             sumf = 0;
    for (int64_t i = 0; i < n / kQK4_0; ++i) {
        int8_t q[32];
        unpack_nibbles(x[i].qs, q, nullptr, 8);
        sumf += float(dot32(q, y[i].qs)) * (h2f(x[i].d) * h2f(y[i].d));
    }
    return sumf;
}

float vec_dot_q4_1_ref(int64_t n, const void * w, const void * a) {
    const BlockQ4_1 * x    = static_cast<const BlockQ4_1 *>(w);
    const BlockQ8_1 * y    = static_cast<const BlockQ8_1 *>(a);
    float             sumf = 0;
    for (int64_t i = 0; i < n / kQK4_1; ++i) {
        int8_t q[32];
        unpack_nibbles(x[i].qs, q, nullptr, 0);
        sumf += float(dot32(q, y[i].qs)) * (h2f(x[i].d) * h2f(y[i].d)) + h2f(x[i].m) * h2f(y[i].s);
    }
    return sumf;
}

float vec_dot_q5_0_ref(int64_t n, const void * w, const void * a) {
    const BlockQ5_0 * x    = static_cast<const BlockQ5_0 *>(w);
    const BlockQ8_0 * y    = static_cast<const BlockQ8_0 *>(a);
    float             sumf = 0;
    for (int64_t i = 0; i < n / kQK5_0; ++i) {
        int8_t q[32];
        unpack_q5(x[i].qs, x[i].qh, q, 16);
        sumf += float(dot32(q, y[i].qs)) * (h2f(x[i].d) * h2f(y[i].d));
    }
    return sumf;
}

float vec_dot_q5_1_ref(int64_t n, const void * w, const void * a) {
    const BlockQ5_1 * x    = static_cast<const BlockQ5_1 *>(w);
    const BlockQ8_1 * y    = static_cast<const BlockQ8_1 *>(a);
    float             sumf = 0;
    for (int64_t i = 0; i < n / kQK5_1; ++i) {
        int8_t q[32];
        unpack_q5(x[i].qs, x[i].qh, q, 0);
        sumf += float(dot32(q, y[i].qs)) * (h2f(x[i].d) * h2f(y[i].d)) + h2f(x[i].m) * h2f(y[i].s);
    }
    return sumf;
}

float vec_dot_q8_0_ref(int64_t n, const void * w, const void * a) {
    const BlockQ8_0 * x    = static_cast<const BlockQ8_0 *>(w);
    const BlockQ8_0 * y    = static_cast<const BlockQ8_0 *>(a);
    float             sumf = 0;
    for (int64_t i = 0; i < n / kQK8_0; ++i) {
        sumf += float(dot32(x[i].qs, y[i].qs)) * (h2f(x[i].d) * h2f(y[i].d));
    }
    return sumf;
}

float vec_dot_iq4_nl_ref(int64_t n, const void * w, const void * a) {
    const BlockIQ4_NL * x    = static_cast<const BlockIQ4_NL *>(w);
    const BlockQ8_0 *   y    = static_cast<const BlockQ8_0 *>(a);
    float               sumf = 0;
    for (int64_t i = 0; i < n / kQK4_NL; ++i) {
        int8_t q[32];
        unpack_nibbles(x[i].qs, q, kValuesIq4nl, 0);
        sumf += float(dot32(q, y[i].qs)) * (h2f(x[i].d) * h2f(y[i].d));
    }
    return sumf;
}

float vec_dot_mxfp4_ref(int64_t n, const void * w, const void * a) {
    const BlockMXFP4 * x    = static_cast<const BlockMXFP4 *>(w);
    const BlockQ8_0 *  y    = static_cast<const BlockQ8_0 *>(a);
    float              sumf = 0;
    for (int64_t i = 0; i < n / kQKMxfp4; ++i) {
        int8_t q[32];
        unpack_nibbles(x[i].qs, q, kValuesFp4, 0);
        sumf += (h2f(y[i].d) * e8m0_to_fp32_half(x[i].e)) * float(dot32(q, y[i].qs));
    }
    return sumf;
}

// NVFP4: a 64-element block is 4 sub-blocks of 16 with their own UE4M3 scale, and two Q8_0 blocks.
float vec_dot_nvfp4_ref(int64_t n, const void * w, const void * a) {
    const BlockNVFP4 * x    = static_cast<const BlockNVFP4 *>(w);
    const BlockQ8_0 *  y    = static_cast<const BlockQ8_0 *>(a);
    float              sumf = 0;
    for (int64_t i = 0; i < n / kQKNvfp4; ++i) {
        for (int s = 0; s < 4; ++s) {
            const BlockQ8_0 & yb  = y[2 * i + s / 2];
            const int8_t *    ya  = yb.qs + (s % 2) * kQKNvfp4Sub;
            const uint8_t *   qs  = x[i].qs + s * (kQKNvfp4Sub / 2);
            int               sum = 0;
            for (int j = 0; j < kQKNvfp4Sub / 2; ++j) {
                sum += int(ya[j]) * kValuesFp4[qs[j] & 0xF] + int(ya[j + 8]) * kValuesFp4[qs[j] >> 4];
            }
            sumf += h2f(yb.d) * ue4m3_to_fp32_half(x[i].d[s]) * float(sum);
        }
    }
    return sumf;
}

float vec_dot_q2_k_ref(int64_t n, const void * w, const void * a) {
    const BlockQ2_K * x    = static_cast<const BlockQ2_K *>(w);
    const BlockQ8_K * y    = static_cast<const BlockQ8_K *>(a);
    float             sumf = 0;
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        int8_t q[kQK_K];
        int    sc[16];
        int    summ = 0;
        for (int e = 0; e < kQK_K; ++e) {
            const int h = e / 128, s = (e % 128) / 32, l = e % 32;
            q[e] = int8_t((x[i].qs[32 * h + l] >> (2 * s)) & 3);
        }
        for (int g = 0; g < 16; ++g) {
            sc[g] = x[i].scales[g] & 0xF;
            summ += (x[i].scales[g] >> 4) * y[i].bsums[g];
        }
        const int isum = superblock_sum(q, y[i].qs, sc, 16);
        sumf += y[i].d * h2f(x[i].d) * float(isum) - y[i].d * h2f(x[i].dmin) * float(summ);
    }
    return sumf;
}

float vec_dot_q3_k_ref(int64_t n, const void * w, const void * a) {
    const BlockQ3_K * x    = static_cast<const BlockQ3_K *>(w);
    const BlockQ8_K * y    = static_cast<const BlockQ8_K *>(a);
    float             sumf = 0;
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        int8_t q[kQK_K];
        int    sc[16];
        for (int e = 0; e < kQK_K; ++e) {
            const int  h = e / 128, s = (e % 128) / 32, l = e % 32;
            const int  low  = (x[i].qs[32 * h + l] >> (2 * s)) & 3;
            const bool high = (x[i].hmask[l] >> (4 * h + s)) & 1;
            q[e]            = int8_t(low - (high ? 0 : 4));
        }
        for (int g = 0; g < 16; ++g) {
            const int low  = g < 8 ? x[i].scales[g] & 0xF : x[i].scales[g - 8] >> 4;
            const int high = (x[i].scales[8 + g % 4] >> (2 * (g / 4))) & 3;
            sc[g]          = (low | (high << 4)) - 32;
        }
        sumf += h2f(x[i].d) * y[i].d * float(superblock_sum(q, y[i].qs, sc, 16));
    }
    return sumf;
}

float vec_dot_q4_k_ref(int64_t n, const void * w, const void * a) {
    const BlockQ4_K * x    = static_cast<const BlockQ4_K *>(w);
    const BlockQ8_K * y    = static_cast<const BlockQ8_K *>(a);
    float             sumf = 0;
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        int8_t q[kQK_K];
        for (int c = 0; c < 4; ++c) {
            for (int l = 0; l < 32; ++l) {
                q[64 * c + l]      = int8_t(x[i].qs[32 * c + l] & 0xF);
                q[64 * c + 32 + l] = int8_t(x[i].qs[32 * c + l] >> 4);
            }
        }
        sumf += scale_min_superblock(x[i], q, y[i]);
    }
    return sumf;
}

float vec_dot_q5_k_ref(int64_t n, const void * w, const void * a) {
    const BlockQ5_K * x    = static_cast<const BlockQ5_K *>(w);
    const BlockQ8_K * y    = static_cast<const BlockQ8_K *>(a);
    float             sumf = 0;
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        int8_t q[kQK_K];
        for (int c = 0; c < 4; ++c) {
            for (int l = 0; l < 32; ++l) {
                const uint8_t ql = x[i].qs[32 * c + l], qh = x[i].qh[l];
                q[64 * c + l]      = int8_t((ql & 0xF) | (((qh >> (2 * c)) & 1) << 4));
                q[64 * c + 32 + l] = int8_t((ql >> 4) | (((qh >> (2 * c + 1)) & 1) << 4));
            }
        }
        sumf += scale_min_superblock(x[i], q, y[i]);
    }
    return sumf;
}

float vec_dot_q6_k_ref(int64_t n, const void * w, const void * a) {
    const BlockQ6_K * x    = static_cast<const BlockQ6_K *>(w);
    const BlockQ8_K * y    = static_cast<const BlockQ8_K *>(a);
    float             sumf = 0;
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        int8_t q[kQK_K];
        int    sc[16];
        // Element 128h + 32k + l: nibble (k >= 2) of ql[64h + 32(k&1) + l], bits 2k.. of qh[32h + l].
        for (int e = 0; e < kQK_K; ++e) {
            const int     h = e / 128, k = (e % 128) / 32, l = e % 32;
            const uint8_t ql = x[i].ql[64 * h + 32 * (k & 1) + l];
            const int     lo = k >= 2 ? ql >> 4 : ql & 0xF;
            const int     hi = (x[i].qh[32 * h + l] >> (2 * k)) & 3;
            q[e]             = int8_t((lo | (hi << 4)) - 32);
        }
        for (int g = 0; g < 16; ++g) {
            sc[g] = x[i].scales[g];
        }
        sumf += h2f(x[i].d) * y[i].d * float(superblock_sum(q, y[i].qs, sc, 16));
    }
    return sumf;
}

float vec_dot_iq4_xs_ref(int64_t n, const void * w, const void * a) {
    const BlockIQ4_XS * x    = static_cast<const BlockIQ4_XS *>(w);
    const BlockQ8_K *   y    = static_cast<const BlockQ8_K *>(a);
    float               sumf = 0;
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        int8_t q[kQK_K];
        int    sc[8];
        for (int g = 0; g < 8; ++g) {
            sc[g] = (((x[i].scales_l[g / 2] >> (4 * (g % 2))) & 0xF) | (((x[i].scales_h >> (2 * g)) & 3) << 4)) - 32;
            unpack_nibbles(x[i].qs + 16 * g, q + 32 * g, kValuesIq4nl, 0);
        }
        sumf += h2f(x[i].d) * y[i].d * float(superblock_sum(q, y[i].qs, sc, 32));
    }
    return sumf;
}

} // namespace nibble::cpu
