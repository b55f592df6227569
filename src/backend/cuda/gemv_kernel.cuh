// The GEMV kernel template, instantiated once per format by the generated translation units
// (cmake: gemv_instance.cu.in). Format-specific decoding lives in formats/<fmt>.cuh.
//
// Work split: a block of W warps (4 or 8, launcher's choice) owns W * R rows (R per warp, or R/2
// output rows of gate and up each for the fused SwiGLU variant). Every lane of a warp streams the row's plane-0 chunks
// c = lane, lane + 32, ... (one warp instruction reads 32 consecutive 16- or 32-byte chunks: fully
// coalesced), U chunks per row at a time, and keeps R x B fp32 partial sums that a warp shuffle
// reduces at the end. No shared-memory reduction, no atomics: the result is deterministic.
//
// Grid: either one block per W * R rows (the matrix in waves), or "balanced": a few blocks per SM
// whose warps each take an equal contiguous share of the row groups, one group after another, with
// the next group's first loads issued before the current group's reduction. Balanced mode has no
// last partial wave and stages x once per block; it needs x in one slice (see gemv.cu).
//
// Integer formats multiply int8 weights with int8 activations (dp4a): the block first quantizes
// its slice of x to int8 with one scale per 32 values (llama.cpp's q8_1 activations) into shared
// memory. Float formats (F16, BF16, E4M3) read x from global memory and accumulate in fp32.
#pragma once

#include "backend/cuda/gemv_common.cuh"

namespace nibble::cuda::gemv_detail {

// Quantize x[:, k0 : k0 + len) to int8 per 32 values into shared memory (see XView). Each thread
// takes 8 consecutive values; the four threads of a 32-group are adjacent lanes and combine their
// max and sums with two xor-shuffles. len % 32 == 0. The loads of kStageRound items per thread are
// issued together: a K = 14336 slice is 14 items per thread, and one L2 round trip per item was a
// ~7 us dependent chain in front of the first dot product (H200, 2026-11-22, down projection at
// 23 us for 33 MB while the same bytes as 14336 x 4096 took 12 us).
template <int B>
__device__ __forceinline__ void stage_x(const Params & p, int k0, int len, const XView & xv) {
    constexpr int kStageRound = 4;
    const int     per_col     = len / 8;
    const int     items       = B * per_col;
    const int     nthreads    = int(blockDim.x);
    for (int base = 0; base < items; base += nthreads * kStageRound) {  // uniform trip count
        uint4 raw[kStageRound];
#pragma unroll
        for (int j = 0; j < kStageRound; ++j) {
            const int it = min(base + j * nthreads + int(threadIdx.x), items - 1);
            const int b  = it / per_col;
            const int kk = (it - b * per_col) * 8;
            const int bb = b < p.batch ? b : p.batch - 1;
            raw[j] = __ldg(reinterpret_cast<const uint4 *>(static_cast<const uint16_t *>(p.x) + bb * p.ldx + k0 + kk));
        }
#pragma unroll
        for (int j = 0; j < kStageRound; ++j) {
            const int  it     = base + j * nthreads + int(threadIdx.x);
            const bool active = it < items;
            const int  b      = active ? it / per_col : 0;
            const int  kk     = active ? (it - b * per_col) * 8 : 0;
            float      v[8];
            if (p.x_bf16) {  // uniform branch: fp16 and bf16 x share one kernel per integer format
                raw_to_float8<__nv_bfloat16>(raw[j], v);
            } else {
                raw_to_float8<__half>(raw[j], v);
            }
            float amax = 0.0f;
#pragma unroll
            for (int i = 0; i < 8; ++i) {
                amax = fmaxf(amax, fabsf(v[i]));
            }
            amax           = fmaxf(amax, __shfl_xor_sync(kFullMask, amax, 1));
            amax           = fmaxf(amax, __shfl_xor_sync(kFullMask, amax, 2));
            const float id = amax > 0.0f ? __fdividef(127.0f, amax) : 0.0f;  // |v * id| <= 127 + ulps
            const float dx = amax * (1.0f / 127.0f);
            // Round to nearest even by adding 1.5 * 2^23 in the FMA: the low byte of the result's bits
            // is then the int8 code (two's complement), so three prmt pack four codes and a dp4a with
            // ones sums them. ~6 instructions per value instead of ~11 with cvt.rni + shifts.
            uint32_t qb[8];
#pragma unroll
            for (int i = 0; i < 8; ++i) {
                qb[i] = __float_as_uint(fmaf(v[i], id, 12582912.0f));
            }
            uint32_t packed[2];
#pragma unroll
            for (int h = 0; h < 2; ++h) {
                const uint32_t lo = __byte_perm(qb[4 * h], qb[4 * h + 1], 0x0040);
                const uint32_t hi = __byte_perm(qb[4 * h + 2], qb[4 * h + 3], 0x0040);
                packed[h]         = __byte_perm(lo, hi, 0x5410);
            }
            const int isum = __dp4a(int(packed[0]), 0x01010101, __dp4a(int(packed[1]), 0x01010101, 0));
            // Offsets and mins multiply the sum of the *quantized* x: the decoders then compute
            // exactly dequant(w) . dequant(x), so x's rounding error is weighted by w, not by the raw
            // codes (with the exact sum, Q4_0's codes 0..15 would amplify it ~5x).
            const int isum16 = isum + __shfl_xor_sync(kFullMask, isum, 1);
            const int isum32 = isum16 + __shfl_xor_sync(kFullMask, isum16, 2);
            if (active) {
                uint8_t * dst = xv.q + b * xv.qstride + XView::swizzle(kk >> 4) * 16 + (kk & 8);
                *reinterpret_cast<uint2 *>(dst) = make_uint2(packed[0], packed[1]);
                if ((it & 1) == 0) {
                    xv.s16[b * xv.sstride + (kk >> 4)] = dx * float(isum16);
                }
                if ((it & 3) == 0) {
                    xv.ds[b * xv.gstride + (kk >> 5)] = make_float2(dx, dx * float(isum32));
                }
            }
        }
    }
}

template <class F, int R, int U>
__device__ __forceinline__ void load_frags(typename F::Frag (&f)[U][R], const RowPtr (&rows)[R], int c, int ce) {
#pragma unroll
    for (int u = 0; u < U; ++u) {
        if (c + 32 * u < ce) {
#pragma unroll
            for (int r = 0; r < R; ++r) {
                f[u][r] = F::load(rows[r], c + 32 * u);
            }
        }
    }
}

template <class F, int B, int R, int U, class XT>
__device__ __forceinline__ void dot_frags(const typename F::Frag (&f)[U][R], int c, int ce, const XView & xv,
                                          float (&acc)[R][B]) {
#pragma unroll
    for (int u = 0; u < U; ++u) {
        if (c + 32 * u < ce) {
            F::template dot<B, R, XT>(f[u], c + 32 * u, xv, acc);
        }
    }
}

// Loads per thread per iteration: R * U = 4 chunks of 16 bytes (2 of 32 bytes).
template <class F, int R> __host__ __device__ constexpr int unroll_for() {
    constexpr int u = (4 * 16 / F::kChunkBytes) / R;
    return u < 1 ? 1 : u;
}

// Batch 1 with 4 rows per warp (the grouped QKV launch, lm_head) and light 16-byte chunks: 8 chunks
// in flight per warp instead of 4 (one buffer either way: a 16-byte chunk's fragment is 32 bytes
// with its alignment), so the QKV launch issues nearly all its weight loads before it waits for x.
// QKV alone, us per launch, 8 vs 4 chunks (H100, 2026-11-22, two builds side by side): Q4_0 6.8 /
// 7.4, MXFP4 7.5 / 7.7; with 32-byte chunks the heavier decoders lost (NVFP4 8.9 / 7.9, Q4_K 9.8 /
// 7.2, IQ4_XS 8.9 / 7.9), hence the chunk-size and fragment limits.
template <class F, int B, int R> __host__ __device__ constexpr bool deep_unroll() {
#ifdef __CUDACC__
    return F::kIntDot && B == 1 && R == 4 && F::kChunkBytes == 16 && sizeof(typename F::Frag) <= 32;
#else
    return false;
#endif
}

// Formats decoded through a split code-book look-up (lut16_split): NVFP4, MXFP4, IQ4_NL, IQ4_XS.
template <class F> concept CodeBookFormat = requires { F::Split::a0; };

// Batch-1 kernels of the code-book formats keep their look-up tables in registers (table_reg),
// except IQ4_XS (32-byte chunks) at 4 rows per warp, where the 4 x 4 QKV grid wants <= 128 registers
// and the tables cost 308 bytes of spills. Instructions per main-loop iteration with the copies /
// without: NVFP4 fused gate/up 362 / 315, QKV 634 / 551. At batch 2-8 the register bound below
// spilled 72-252 bytes, so those kernels keep the constants.
template <class F, int B, int R> __host__ __device__ constexpr bool table_regs() {
    return CodeBookFormat<F> && B == 1 && (R <= 2 || F::kChunkBytes == 16);
}

// Register bounds (minimum resident blocks of kMaxThreads) for the kernels with table registers:
// unbounded, ptxas gave them 82-86 registers where 80 keeps the batch-1 fused gate/up at 3 blocks
// per SM (gemv.cu), and 144 where 128 keeps QKV's 4 x 4 grid at 4 blocks of 4 warps. 0 = no bound:
// an explicit 1 is not the same to ptxas (Q4_0's fused gate/up kernel then took 85 registers, not 80).
template <class F, int B, int R, bool kSilu, int kThreads> __host__ __device__ constexpr int min_blocks() {
    if constexpr (!table_regs<F, B, R>() || kThreads != kMaxThreads) {
        return 0;  // 16 warps: <= 128 registers anyway
    } else {
        return kSilu && R == 2 && F::kChunkBytes == 16 ? 3 : 2;
    }
}

template <class F, int B, int R, class XT, bool kSilu, int kThreads = kMaxThreads>
__global__ void __launch_bounds__(kThreads, min_blocks<F, B, R, kSilu, kThreads>()) gemv_kernel(const Params p) {
    constexpr int  U             = deep_unroll<F, B, R>() ? 2 * unroll_for<F, R>() : unroll_for<F, R>();
    constexpr int  Rout          = kSilu ? R / 2 : R;
    // The 16-warp kernel (one block per SM, <= 128 registers) double-buffers up to 128 bytes of
    // fragments: 16-byte-chunk formats at 2 rows x 2 chunks (32-byte fragments) then keep 8 chunks
    // in flight in the down projection instead of 4.
    constexpr bool kDoubleBuffer = sizeof(typename F::Frag) * U * R <= (kThreads > kMaxThreads ? 128 : 96) && R * B <= 16;
    static_assert(!kSilu || R % 2 == 0, "the fused SwiGLU kernel pairs gate and up rows");
    static_assert(Rout * B <= 32, "one lane writes each output");

    if (!p.pdl_trigger_late) {
        griddep_launch_dependents();
    }
    const int lane  = int(threadIdx.x) & 31;
    const int warp  = int(threadIdx.x) >> 5;
    const int warps = int(blockDim.x) >> 5;  // 4, 8 or 16, chosen by the launcher

    // Which output rows this warp computes. Grid mode (p.ngroups == 0): one group of Rout rows, block
    // b covering rows b * warps * Rout.. of its segment (Segment::block_begin in blocks). Balanced
    // mode (p.ngroups > 0, a grid of a few blocks per SM): warp gw of tw takes the groups
    // [gw * G / tw, (gw + 1) * G / tw) (block_begin in groups), one after another, x staged once.
    const bool balanced = p.ngroups > 0;
    int        g        = 0;
    int        g_end    = 1;
    if (balanced) {
        const int64_t tw = int64_t(gridDim.x) * warps;
        const int64_t gw = int64_t(blockIdx.x) * warps + warp;
        g                = int(gw * p.ngroups / tw);
        g_end            = int((gw + 1) * p.ngroups / tw);
    }

    extern __shared__ __align__(16) uint8_t smem[];
    XView xv;
    xv.qstride    = p.xstride;
    xv.gstride    = p.xstride / 32;
    xv.sstride    = p.xstride / 16;
    xv.q          = smem;
    xv.ds         = reinterpret_cast<float2 *>(smem + B * p.xstride);
    xv.s16        = reinterpret_cast<float *>(smem + B * p.xstride + B * p.xstride / 4);
    xv.raw        = static_cast<const uint8_t *>(p.x);
    xv.raw_stride = p.ldx * int64_t(sizeof(XT));
    xv.batch_last = p.batch - 1;
    if constexpr (table_regs<F, B, R>()) {
        xv.lut_a0 = table_reg(F::Split::a0, p.zero);
        xv.lut_b0 = table_reg(F::Split::b0, p.zero);
    } else if constexpr (CodeBookFormat<F>) {
        xv.lut_a0 = F::Split::a0;
        xv.lut_b0 = F::Split::b0;
    }

    // Segment, first output row and row pointers of group g (grid mode: of this warp in block b).
    auto locate = [&](int gg, int & s, int & row0, RowPtr (&rows)[R]) {
        const int unit = balanced ? gg : int(blockIdx.x);
        s              = 0;
#pragma unroll
        for (int i = 1; i < kMaxSegments; ++i) {
            if (i < p.nseg && unit >= p.seg[i].block_begin) {
                s = i;
            }
        }
        row0 = balanced ? (gg - p.seg[s].block_begin) * Rout
                        : (unit - p.seg[s].block_begin) * (warps * Rout) + warp * Rout;
#pragma unroll
        for (int r = 0; r < R; ++r) {
            const Segment & sg  = p.seg[kSilu ? r / Rout : s];
            const int       row = min(row0 + (kSilu ? r % Rout : r), sg.rows - 1);  // tail rows re-read the last row
#pragma unroll
            for (int pl = 0; pl < kMaxPlanes; ++pl) {
                rows[r].p[pl] = sg.plane[pl] + row * sg.stride[pl];
            }
        }
    };

    // Two register buffers of U chunks per row: while one is multiplied the other is in flight, so
    // a warp never waits a full memory latency per iteration. The first pair is issued before the
    // griddepcontrol.wait and the activation staging (weights never depend on the previous kernel),
    // and in balanced mode the next group's first pair before this group's reduction and stores.
    // Kernels whose fragments would not fit twice (big K-quant fragments at R = 4, or R * B > 16
    // accumulators) keep one buffer.
    typename F::Frag f0[U][R];
    typename F::Frag f1[kDoubleBuffer ? U : 1][kDoubleBuffer ? R : 1];
    int              s    = 0;
    int              row0 = 0;
    RowPtr           rows[R];
    locate(g, s, row0, rows);
    bool       first      = true;
    bool       prefetched = false;
    const int  kslice     = F::kIntDot ? p.kslice : p.K;
    for (;;) {  // at least once: a warp without groups still takes part in staging x (outputs dropped)
        float acc[R][B];
#pragma unroll
        for (int r = 0; r < R; ++r) {
#pragma unroll
            for (int b = 0; b < B; ++b) {
                acc[r][b] = 0.0f;
            }
        }
        for (int k0 = 0; k0 < p.K; k0 += kslice) {
            const int len = min(kslice, p.K - k0);
            const int cb  = k0 / F::kChunkK;
            const int ce  = (k0 + len) / F::kChunkK;
            const int c0  = cb + lane;
            xv.k0         = k0;
            if (!prefetched || k0 != 0) {
                load_frags<F, R, U>(f0, rows, c0, ce);
                if constexpr (kDoubleBuffer) {
                    load_frags<F, R, U>(f1, rows, c0 + 32 * U, ce);
                }
            }
            if (first && k0 == 0) {
                griddep_wait();  // x may come from the previous kernel in the stream
            }
            if constexpr (F::kIntDot) {
                if (first || kslice < p.K) {  // balanced mode has one slice: staged once per block
                    __syncthreads();          // the previous slice's readers are done
                    stage_x<B>(p, k0, len, xv);
                    __syncthreads();
                }
            }
            if constexpr (kDoubleBuffer) {
                for (int c = c0; c < ce; c += 64 * U) {
                    dot_frags<F, B, R, U, XT>(f0, c, ce, xv, acc);
                    load_frags<F, R, U>(f0, rows, c + 64 * U, ce);
                    dot_frags<F, B, R, U, XT>(f1, c + 32 * U, ce, xv, acc);
                    load_frags<F, R, U>(f1, rows, c + 96 * U, ce);
                }
            } else {
                for (int c = c0; c < ce; c += 32 * U) {
                    if (c != c0) {
                        load_frags<F, R, U>(f0, rows, c, ce);
                    }
                    dot_frags<F, B, R, U, XT>(f0, c, ce, xv, acc);
                }
            }
        }
        first = false;

        const int  gs    = s;
        const int  grow0 = row0;
        const bool valid = g < g_end;
        const bool more  = g + 1 < g_end;
        if (more) {  // single slice (balanced mode): start the next group's loads now
            locate(g + 1, s, row0, rows);
            const int ce = p.K / F::kChunkK;
            load_frags<F, R, U>(f0, rows, lane, ce);
            if constexpr (kDoubleBuffer) {
                load_frags<F, R, U>(f1, rows, lane + 32 * U, ce);
            }
            prefetched = true;
        }

#pragma unroll
        for (int r = 0; r < R; ++r) {
#pragma unroll
            for (int b = 0; b < B; ++b) {
                acc[r][b] = warp_sum(acc[r][b]);
            }
        }
#pragma unroll
        for (int r = 0; r < Rout; ++r) {
#pragma unroll
            for (int b = 0; b < B; ++b) {
                if (lane == r * B + b && b < p.batch && valid) {
                    const Segment & sg  = p.seg[kSilu ? 0 : gs];
                    const int       row = grow0 + r;
                    if (row < sg.rows) {
                        float v = acc[r][b] * sg.scale * (sg.row_scale ? sg.row_scale[row] : 1.0f);
                        if constexpr (kSilu) {
                            const Segment & su = p.seg[1];
                            const float u = acc[Rout + r][b] * su.scale * (su.row_scale ? su.row_scale[row] : 1.0f);
                            v             = v / (1.0f + __expf(-v)) * u;
                        }
                        sg.y[b * sg.ldy + row] = v;
                    }
                }
            }
        }
        if (!more) {
            break;
        }
        ++g;
    }
    if (p.pdl_trigger_late) {
        griddep_launch_dependents();
    }
}

// Shared-memory bytes of one launch: int8 values, a float2 per 32 and a float per 16, per column.
constexpr int smem_bytes(bool int_dot, int batch_slots, int xstride) {
    return int_dot ? batch_slots * (xstride + xstride / 4 + xstride / 4) : 0;
}

template <class F, int B, class XT> KernelFn pick_rows(int R, bool silu, int warps) {
    if (warps == kWideWarps) {
        if constexpr (B == 1) {
            if (R == 2) {
                return silu ? gemv_kernel<F, 1, 2, XT, true, 32 * kWideWarps> : gemv_kernel<F, 1, 2, XT, false, 32 * kWideWarps>;
            }
        }
        return nullptr;
    }
    if (silu) {
        return R == 2 ? gemv_kernel<F, B, 2, XT, true> : R == 4 ? gemv_kernel<F, B, 4, XT, true> : nullptr;
    }
    switch (R) {
        case 1: return gemv_kernel<F, B, 1, XT, false>;
        case 2: return gemv_kernel<F, B, 2, XT, false>;
        case 4: return gemv_kernel<F, B, 4, XT, false>;
        default: return nullptr;
    }
}

template <class F, class XT> KernelFn pick_batch(int slots, int R, bool silu, int warps) {
    switch (slots) {
        case 1: return pick_rows<F, 1, XT>(R, silu, warps);
        case 2: return pick_rows<F, 2, XT>(R, silu, warps);
        case 4: return pick_rows<F, 4, XT>(R, silu, warps);
        case 8: return pick_rows<F, 8, XT>(R, silu, warps);
        default: return nullptr;
    }
}

// Every kernel of one format: batch slots {1, 2, 4, 8} x rows per warp {1, 2, 4}, the fused SwiGLU
// kernels with 2 or 4 rows (gate + up) per warp, and the two 16-warp batch-1 kernels (plain and
// SwiGLU, 2 rows per warp): 22 kernels. The float formats read x in the inner loop and get one set
// per activation type (44); the integer formats convert x once while
// staging it, where a run-time flag costs nothing measurable, so they share one set (compile time).
template <class F> KernelFn select_kernel(int slots, int R, bool bf16, bool silu, int warps) {
    if constexpr (F::kIntDot) {
        return pick_batch<F, __half>(slots, R, silu, warps);
    } else {
        return bf16 ? pick_batch<F, __nv_bfloat16>(slots, R, silu, warps) : pick_batch<F, __half>(slots, R, silu, warps);
    }
}

template <class F> const FormatOps & make_format_ops() {
    static_assert(F::kChunkBytes == 16 || F::kChunkBytes == 32, "chunks are one or two 16-byte loads");
    static_assert(F::kNumPlanes <= kMaxPlanes, "too many planes");
    static const FormatOps ops = [] {
        FormatOps o{};
        o.format      = F::kFormat;
        o.int_dot     = F::kIntDot;
        o.block_k     = F::kBlockK;
        o.block_bytes = F::kBlockBytes;
        o.chunk_k     = F::kChunkK;
        o.frag_bytes  = int(sizeof(typename F::Frag));
        o.nplanes     = F::kNumPlanes;
        for (int i = 0; i < F::kNumPlanes; ++i) {
            o.planes[i] = F::kPlanes[i];
        }
        o.pack_field   = &F::pack_field;
        o.unpack_field = &F::unpack_field;
        o.kernel       = &select_kernel<F>;
        return o;
    }();
    return ops;
}

}  // namespace nibble::cuda::gemv_detail
