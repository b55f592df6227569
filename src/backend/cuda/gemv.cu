// GEMV launchers, the packed layout and the host repacker.
//
// ---------------------------------------------------------------------------------------------
// Contract (gemv, gemv_grouped, gemv_gate_up_silu)
//
//   W      rows x cols weight matrix of format f, packed by gemv_repack into gemv_layout(f, rows, cols)
//          on the device (planes 256-byte aligned; cudaMalloc alignment suffices for `data`).
//   x      batch x cols activations, fp16 or bf16, column b at x + b * ldx; 16-byte aligned,
//          ldx % 8 == 0, ldx >= cols. Never written.
//   y      batch x rows fp32, row r of column b at y + b * ldy + r; ldy >= rows. Written, not read.
//   scale, row_scale   y = scale * row_scale[r] * (W x)[r]; row_scale optional (null).
//
//   limitations: 1 <= batch <= 8; cols % gemv_col_multiple(f) == 0 (the GGUF block: 32, 64 or 256;
//   8 for F16/BF16, 16 for E4M3); rows, cols < 2^31; at most 3 matrices per grouped launch, all of
//   one format and one cols; gate and up of the fused SwiGLU agree in format, rows and cols.
//   Anything else returns a GemvError and launches nothing.
//
//   numerics: integer formats quantize x to int8 per 32 values (one fp32 scale, as llama.cpp's q8_1)
//   and accumulate exact int32 dot products per 16-32 weights, then fp32: normalised MSE against an
//   fp64 reference ~2e-5, independent of the weight format (tests/backend/test_gemv_cuda.cpp).
//   Float formats (F16, BF16, E4M3) accumulate x * w in fp32 (nmse ~1e-12). Deterministic: the same
//   inputs give the same bits (fixed reduction order, no atomics).
//
//   batch 3, 5, 6, 7 run the kernel of the next power of two; the extra columns re-read column
//   batch-1 and their outputs are dropped.
// ---------------------------------------------------------------------------------------------
#include "backend/cuda/gemv.h"
#include "backend/cuda/gemv_kernel.cuh"

#include <algorithm>
#include <climits>
#include <cstring>
#include <mutex>
#include <vector>

namespace nibble::cuda {

namespace gemv_detail {

const FormatOps * find_format_ops(Format f) {
    switch (f) {
#define NIBBLE_GEMV_FORMAT(F) \
    case Format::F: return &format_ops<Format::F>();
#include "gemv_formats.inc"
#undef NIBBLE_GEMV_FORMAT
        default: return nullptr;
    }
}

namespace {

int64_t align_up(int64_t v, int64_t a) { return (v + a - 1) / a * a; }

int col_multiple(const FormatOps & ops) { return std::max(ops.block_k, ops.chunk_k); }

int device_sms() {
    int dev = 0;
    int n   = 0;
    CUDA_CHECK(cudaGetDevice(&dev));
    CUDA_CHECK(cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, dev));
    return n;
}

// Block shape when the caller leaves it to us: W warps per block, R rows per warp. For batch 2..8
// (batch 1: see below) single-shape measurements decide:
//  * Integer formats stage x once per block: the staging cost per SM is (blocks per SM) x cols x ~6
//    instructions, so wider blocks pay, as long as every SM keeps enough warps with loads in flight.
//    Measured on an H200 (2026-11-22, batch 1, bench/kernels/gemv_formats block-shape sweep, us for
//    W4R1 / W4R4 / W8R1 / W8R2 / W8R4): 14336 x 4096 Q4_0 16.9 / 12.1 / 15.9 / 12.0 / 12.1, NVFP4
//    28.1 / 19.8 / 29.3 / 21.5 / 26.8; 4096 x 4096 Q4_K 7.4 / 5.8 / 7.2 / 5.3 / 6.1, NVFP4 8.7 / 8.1 /
//    9.0 / 7.1 / 7.8, Q8_0 8.3 / 8.1 / 8.4 / 6.7 / 8.2; 1024 x 4096 Q4_0 5.0 / 4.9 / 4.7 / 6.0 / 4.7.
//    Hence 16 rows per block as 4 x 4 for >= 8448 rows (>= 4 blocks per SM), as 8 x 2 from 2048
//    rows, and 8 x 1 below.
//  * Float formats (no staging) want resident warps: R = 2 only once the grid covers the GPU six
//    times over (BF16 4096 x 4096: R=1 11.2 us, R=2 10.4, R=4 11.4; 1024 x 4096: R=1 5.8, R=4 9.4).
struct BlockShape {
    int warps;
    int rows_per_warp;
    int blocks_per_sm;  // 0: grid in waves; N: balanced grid of N blocks per SM (gemv_kernel.cuh)
};

// Batch 1 (decode): 8 warps of 2 rows; integer formats on a balanced grid of 2 blocks per SM, float
// formats in waves. Decode stream on an H100 (2026-11-22, 4 fused launches + PDL, same binary, side
// by side, % of copy; bench/kernels/decode_stream "Kernel variants"), balanced W8 R2 2/SM vs the
// batch-2..8 heuristic above (the batch-1 default before): Q4_0 80.9 / 79.4, NVFP4 76.2 / 74.0, Q4_K 80.6 / 77.6, IQ4_XS 76.2 /
// 70.7, Q8_0 93.4 / 93.4 (one run), and in a second run Q4_0 81.0 / 79.7, NVFP4 76.3 / 65.4, MXFP4
// 75.1 / 70.0; float formats in waves W8 R2 vs heuristic: E4M3 98.5 / 87.6, BF16 105.4 / 94.4 —
// balanced did not help them (E4M3 92.9, BF16 100.4). The gain is the gate/up tail (2.3 waves of
// blocks before) and the smaller QKV grid; the per-kernel table shows where the rest goes.
// Gate/up takes 3 blocks per SM where they fit (launch() caps at what is resident: 16-byte-chunk
// formats, ~80 registers): us per layer 2/SM vs 3/SM, MXFP4 29.3 / 25.1, IQ4_NL 29.1 / 25.8, Q4_1
// 28.8 / 26.8, Q4_0 25.8 / 24.8; QKV, o and down were slower at 3/SM (Q4_0 QKV 7.9 / 9.1 us).
// From 6144 rows (QKV grouped, lm_head) the waves of 4 x 4 won in two runs: us per QKV launch vs
// balanced W8 R2, Q4_0 7.4 / 7.9, Q4_K 7.5 / 8.4, NVFP4 8.0 / 9.1, MXFP4 7.8 / 8.3, IQ4_XS 7.8 /
// 8.4; 128256 x 4096 NVFP4 alone 102.9 / 105.0 us. The o projection (4096 rows) lost (5.3 / 6.2),
// and so did Q5_K and Q6_K, whose 80-byte fragments x 4 rows crowd the registers (QKV 11.6 vs 9.3
// and 12.2 vs 10.2 us), hence the 48-byte limit (Q4_K's fragment size; Q4_K gained).
// Long rows (the down projection, 14336 columns): one block of 16 warps per SM instead of two of 8,
// so each SM stages and quantizes x once, not twice (28 KB of fp16 per block at K = 14336 from L2).
// Down projection alone, us per launch, W16 1/SM vs W8 2/SM (H100, 2026-11-22, same binary): Q4_0
// 14.1 / 15.1, NVFP4 14.2 / 15.0, MXFP4 14.4 / 15.1, Q4_K 14.0 / 14.7, IQ4_XS 13.9 / 14.6, Q8_0
// 22.9 / 23.9. At 4096 columns it lost (o: Q4_0 5.6 / 5.3, NVFP4 7.1 / 6.5; gate/up 25.5 / 24.8):
// the threshold sits between the two measured widths.
constexpr int64_t kWideMinCols = 8192;

BlockShape pick_block_shape(int64_t rows, int64_t cols, int sms, bool silu, bool int_dot, int slots,
                            int frag_bytes) {
    BlockShape b;
    if (slots == 1 && int_dot && !silu && cols > kWideMinCols) {
        b = BlockShape{ kWideWarps, 2, 1 };
    } else if (slots == 1 && int_dot && !silu && rows >= 6144 && frag_bytes <= 48) {
        b = BlockShape{ 4, 4, 0 };
    } else if (slots == 1) {
        b = BlockShape{ 8, 2, int_dot ? (silu ? 3 : 2) : 0 };
    } else if (int_dot) {
        b = rows >= 8448 ? BlockShape{ 4, 4, 0 } : rows >= 2048 ? BlockShape{ 8, 2, 0 } : BlockShape{ 8, 1, 0 };
    } else {
        b = (rows + 7) / 8 >= 6 * int64_t(sms) ? BlockShape{ 4, 2, 0 } : BlockShape{ 4, 1, 0 };
    }
    if (silu) {  // R counts gate and up rows: each warp needs at least one of each
        b.rows_per_warp = std::max(2, b.rows_per_warp);
    }
    return b;
}

Segment make_segment(const GemvWeights & w, const GemvOutput & y) {
    Segment s{};
    for (int p = 0; p < kMaxPlanes; ++p) {
        const bool used = p < w.layout.nplanes;
        s.plane[p]      = w.data + (used ? w.layout.plane_offset[p] : 0);
        s.stride[p]     = used ? w.layout.plane_row_bytes[p] : 0;
    }
    s.y         = y.y;
    s.ldy       = y.ldy;
    s.row_scale = w.row_scale;
    s.scale     = w.scale;
    s.rows      = int(w.layout.rows);
    return s;
}

GemvError check_common(const FormatOps * ops, std::span<const GemvWeights> w, std::span<const GemvOutput> y,
                       const void * x, int batch, int64_t ldx, const GemvOptions & opt) {
    if (ops == nullptr) {
        return GemvError::UnsupportedFormat;
    }
    if (batch < 1 || batch > kMaxBatch) {
        return GemvError::BadBatch;
    }
    if (opt.rows_per_warp != 0 && opt.rows_per_warp != 1 && opt.rows_per_warp != 2 && opt.rows_per_warp != 4) {
        return GemvError::BadOption;
    }
    if (opt.warps_per_block != 0 && opt.warps_per_block != 4 && opt.warps_per_block != 8 &&
        opt.warps_per_block != kWideWarps) {
        return GemvError::BadOption;
    }
    if (opt.blocks_per_sm < -1 || opt.blocks_per_sm > 32) {
        return GemvError::BadOption;
    }
    if (w.empty() || w.size() != y.size() || w.size() > size_t(kMaxSegments)) {
        return GemvError::Mismatch;
    }
    const int64_t cols = w[0].layout.cols;
    for (size_t i = 0; i < w.size(); ++i) {
        const PackedLayout & l = w[i].layout;
        if (l.format != w[0].layout.format || l.cols != cols) {
            return GemvError::Mismatch;
        }
        if (l.rows <= 0 || l.rows >= INT32_MAX || y[i].ldy < l.rows || y[i].y == nullptr || w[i].data == nullptr) {
            return GemvError::BadShape;
        }
    }
    if (cols <= 0 || cols >= INT32_MAX || cols % col_multiple(*ops) != 0 || ldx < cols) {
        return GemvError::BadShape;
    }
    if (x == nullptr || reinterpret_cast<uintptr_t>(x) % 16 != 0 || ldx % 8 != 0) {
        return GemvError::BadAlignment;
    }
    return GemvError::Ok;
}

// Blocks of `fn` that fit on one SM (registers, shared memory), cached per kernel and size.
int resident_blocks(KernelFn fn, int threads, int smem) {
    struct Entry {
        KernelFn fn;
        int      threads, smem, blocks;
    };
    static std::mutex         mu;
    static std::vector<Entry> cache;
    const std::lock_guard     lock(mu);
    for (const Entry & e : cache) {
        if (e.fn == fn && e.threads == threads && e.smem == smem) {
            return e.blocks;
        }
    }
    int n = 0;
    CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&n, fn, threads, size_t(smem)));
    n = std::max(1, n);
    cache.push_back({ fn, threads, smem, n });
    return n;
}

void launch_kernel(KernelFn fn, const Params & p, int64_t blocks, int warps, int smem, cudaStream_t stream,
                   bool pdl) {
    PdlLaunch l(dim3(unsigned(blocks)), dim3(unsigned(32 * warps)), size_t(smem), stream, pdl);
    CUDA_CHECK(cudaLaunchKernelEx(&l.cfg, fn, p));
}

GemvError launch(std::span<const GemvWeights> w, std::span<const GemvOutput> y, bool silu, const void * x,
                 ActType xt, int batch, int64_t ldx, cudaStream_t stream, const GemvOptions & opt) {
    const FormatOps * ops = w.empty() ? nullptr : find_format_ops(w[0].layout.format);
    if (const GemvError e = check_common(ops, w, y, x, batch, ldx, opt); e != GemvError::Ok) {
        return e;
    }
    const int slots = batch <= 1 ? 1 : batch <= 2 ? 2 : batch <= 4 ? 4 : 8;

    int64_t total_rows = 0;
    for (const GemvWeights & wi : w) {
        total_rows += silu ? 0 : wi.layout.rows;
    }
    if (silu) {
        total_rows = w[0].layout.rows;
    }
    // The fused SwiGLU kernel streams gate and up: twice the rows of its output.
    BlockShape shape = pick_block_shape(silu ? 2 * total_rows : total_rows, w[0].layout.cols, device_sms(), silu,
                                        ops->int_dot, slots,
                                        ops->frag_bytes);
    if (opt.rows_per_warp != 0) {
        shape.rows_per_warp = opt.rows_per_warp;
    }
    if (opt.warps_per_block != 0) {
        shape.warps = opt.warps_per_block;
    }
    if (opt.blocks_per_sm >= 0) {
        shape.blocks_per_sm = opt.blocks_per_sm;
    }
    const int R = silu && shape.rows_per_warp == 1 ? 2 : shape.rows_per_warp;
    const int rows_per_block = shape.warps * (silu ? R / 2 : R);

    Params p{};
    int64_t blocks = 0;
    if (silu) {
        p.seg[0]             = make_segment(w[0], y[0]);
        p.seg[1]             = make_segment(w[1], y[0]);
        p.seg[1].block_begin = INT_MAX;  // every block reads both: the segment search must stay at 0
        p.nseg               = 2;
        blocks               = (total_rows + rows_per_block - 1) / rows_per_block;
    } else {
        for (size_t i = 0; i < w.size(); ++i) {
            p.seg[i]             = make_segment(w[i], y[i]);
            p.seg[i].block_begin = int(blocks);
            blocks += (w[i].layout.rows + rows_per_block - 1) / rows_per_block;
        }
        p.nseg = int(w.size());
    }
    p.x     = x;
    p.ldx   = ldx;
    p.batch = batch;
    p.K     = int(w[0].layout.cols);
    p.pdl_trigger_late = opt.pdl_trigger_late ? 1 : 0;
    p.x_bf16           = xt == ActType::BF16 ? 1 : 0;
    if (ops->int_dot) {
        // x is staged per K slice; 16384 / slots columns keep the staging under 24 KB of shared
        // memory (int8 + 0.5 B/value of scales and sums) so ~9 blocks fit on an SM.
        const int kmax = 16384 / slots;
        p.kslice       = p.K <= kmax ? p.K : kmax;
        p.xstride      = int(align_up(p.kslice, 128));
    } else {
        p.kslice  = p.K;
        p.xstride = 0;
    }
    const KernelFn fn = ops->kernel(slots, R, xt == ActType::BF16, silu, shape.warps);
    if (fn == nullptr) {
        return GemvError::BadOption;
    }
    // Balanced mode: a grid of blocks_per_sm blocks per SM whose warps split the row groups evenly
    // (one activation slice only: x is staged once per block).
    if (shape.blocks_per_sm > 0 && p.kslice == p.K) {
        const int Rout   = silu ? R / 2 : R;
        int64_t   groups = 0;
        if (silu) {
            groups = (w[0].layout.rows + Rout - 1) / Rout;
        } else {
            for (size_t i = 0; i < w.size(); ++i) {
                p.seg[i].block_begin = int(groups);
                groups += (w[i].layout.rows + R - 1) / R;
            }
        }
        // Never more blocks than fit at once: a second partial wave would bring the tail back.
        const int fit = resident_blocks(fn, 32 * shape.warps, smem_bytes(ops->int_dot, slots, p.xstride));
        p.ngroups     = int(groups);
        blocks        = std::min<int64_t>((groups + shape.warps - 1) / shape.warps,
                                          int64_t(std::min(shape.blocks_per_sm, fit)) * device_sms());
    }

    launch_kernel(fn, p, blocks, shape.warps, smem_bytes(ops->int_dot, slots, p.xstride), stream, opt.pdl);
    return GemvError::Ok;
}

}  // namespace
}  // namespace gemv_detail

using namespace gemv_detail;

bool gemv_supports(Format f) { return find_format_ops(f) != nullptr; }

int64_t gemv_col_multiple(Format f) {
    const FormatOps * ops = find_format_ops(f);
    return ops ? col_multiple(*ops) : 0;
}

PackedLayout gemv_layout(Format f, int64_t rows, int64_t cols) {
    const FormatOps & ops = *find_format_ops(f);
    PackedLayout      l;
    l.format            = f;
    l.rows              = rows;
    l.cols              = cols;
    l.nplanes           = ops.nplanes;
    const int64_t nblk  = cols / ops.block_k;
    int64_t       off   = 0;
    for (int p = 0; p < ops.nplanes; ++p) {
        off                  = align_up(off, 256);
        l.plane_offset[p]    = off;
        l.plane_row_bytes[p] = nblk * ops.planes[p].padded;
        off += rows * l.plane_row_bytes[p];
    }
    l.bytes = align_up(off, 256);
    return l;
}

void gemv_repack(const PackedLayout & l, const void * gguf, void * packed) {
    const FormatOps & ops  = *find_format_ops(l.format);
    const int64_t     nblk = l.cols / ops.block_k;
    const auto *      src  = static_cast<const uint8_t *>(gguf);
    auto *            dst  = static_cast<uint8_t *>(packed);
    std::memset(dst, 0, size_t(l.bytes));
    const bool plain = ops.nplanes == 1 && ops.planes[0].offset == 0 && ops.planes[0].bytes == ops.block_bytes &&
                       ops.planes[0].padded == ops.block_bytes;
    for (int64_t r = 0; r < l.rows; ++r) {
        const uint8_t * row = src + r * nblk * ops.block_bytes;
        if (plain) {
            std::memcpy(dst + l.plane_offset[0] + r * l.plane_row_bytes[0], row, size_t(nblk * ops.block_bytes));
            continue;
        }
        for (int p = 0; p < ops.nplanes; ++p) {
            const PlaneField & pf  = ops.planes[p];
            uint8_t *          out = dst + l.plane_offset[p] + r * l.plane_row_bytes[p];
            for (int64_t i = 0; i < nblk; ++i) {
                ops.pack_field(p, row + i * ops.block_bytes + pf.offset, pf.bytes, out + i * pf.padded);
            }
        }
    }
}

void gemv_unpack(const PackedLayout & l, const void * packed, void * gguf) {
    const FormatOps & ops  = *find_format_ops(l.format);
    const int64_t     nblk = l.cols / ops.block_k;
    const auto *      src  = static_cast<const uint8_t *>(packed);
    auto *            dst  = static_cast<uint8_t *>(gguf);
    for (int64_t r = 0; r < l.rows; ++r) {
        uint8_t * row = dst + r * nblk * ops.block_bytes;
        for (int p = 0; p < ops.nplanes; ++p) {
            const PlaneField & pf = ops.planes[p];
            const uint8_t *    in = src + l.plane_offset[p] + r * l.plane_row_bytes[p];
            if (ops.nplanes == 1 && pf.bytes == ops.block_bytes) {
                std::memcpy(row, in, size_t(nblk * ops.block_bytes));
                continue;
            }
            for (int64_t i = 0; i < nblk; ++i) {
                ops.unpack_field(p, in + i * pf.padded, pf.bytes, row + i * ops.block_bytes + pf.offset);
            }
        }
    }
}

const char * gemv_error_string(GemvError e) {
    switch (e) {
        case GemvError::Ok: return "ok";
        case GemvError::UnsupportedFormat: return "no GEMV kernel for this weight format";
        case GemvError::BadShape: return "bad shape: cols must be a multiple of gemv_col_multiple, ld >= extent";
        case GemvError::BadBatch: return "batch must be 1..8";
        case GemvError::BadAlignment: return "x must be 16-byte aligned with ldx % 8 == 0";
        case GemvError::Mismatch: return "grouped/fused operands differ in format or shape, or more than 3 groups";
        case GemvError::BadOption:
            return "rows_per_warp must be 0, 1, 2 or 4, warps_per_block 0, 4, 8 or 16 (16: batch 1 and 2 rows per warp "
                   "only), blocks_per_sm -1..32";
    }
    return "unknown GemvError";
}

GemvError gemv(const GemvWeights & w, const void * x, ActType xt, int batch, int64_t ldx, const GemvOutput & y,
               cudaStream_t stream, const GemvOptions & opt) {
    return launch(std::span(&w, 1), std::span(&y, 1), false, x, xt, batch, ldx, stream, opt);
}

GemvError gemv_grouped(std::span<const GemvWeights> w, std::span<const GemvOutput> y, const void * x, ActType xt,
                       int batch, int64_t ldx, cudaStream_t stream, const GemvOptions & opt) {
    return launch(w, y, false, x, xt, batch, ldx, stream, opt);
}

GemvError gemv_gate_up_silu(const GemvWeights & gate, const GemvWeights & up, const void * x, ActType xt, int batch,
                            int64_t ldx, const GemvOutput & y, cudaStream_t stream, const GemvOptions & opt) {
    if (gate.layout.format != up.layout.format || gate.layout.rows != up.layout.rows ||
        gate.layout.cols != up.layout.cols) {
        return GemvError::Mismatch;
    }
    const GemvWeights w[2]  = { gate, up };
    const GemvOutput  ys[2] = { y, y };
    return launch(w, ys, true, x, xt, batch, ldx, stream, opt);
}

}  // namespace nibble::cuda
