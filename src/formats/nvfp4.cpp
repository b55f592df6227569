#include "formats/nvfp4.h"

#include "formats/minifloat.h"
#include "formats/quant_common.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

namespace nibble {

namespace {

constexpr int kSubBlocks = kQKNvfp4 / kQKNvfp4Sub; // 4 scales per block
constexpr int kHalfSub   = kQKNvfp4Sub / 2;        // element j shares a byte with element j + 8
constexpr int kMinCode   = 0x01;                   // smallest non-zero UE4M3 scale (2^-9)
constexpr int kMaxCode   = 0x7E;                   // 448; 0x7F is E4M3's NaN and ggml decodes it as 0

float sub_block_amax(const float * xb) {
    float amax = 0.0f;
    for (int j = 0; j < kQKNvfp4Sub; ++j) {
        // NaNs never win this comparison, as in ggml.
        if (amax < std::fabs(xb[j])) {
            amax = std::fabs(xb[j]);
        }
    }
    return amax;
}

// The scale ggml picks: amax / 6 maps the largest E2M1 magnitude (6) onto amax.
uint8_t base_code(float amax) {
    return fp32_to_ue4m3_ggml(amax / 6.0f);
}

void pack_sub_block(const uint8_t * q, uint8_t * qs) {
    for (int j = 0; j < kHalfSub; ++j) {
        qs[j] = uint8_t(q[j] | (q[j + kHalfSub] << 4));
    }
}

// ---------------------------------------------------------------------------------------------
// Fast E2M1 index, equal to best_index_fp4_ggml(x, dd) for every x.
//
// Precondition: dd > 0 has at most 4 significant bits and lies in [2^-100, 2^100]; every
// decoded UE4M3 scale except code 0 qualifies (normal codes 1.mmm·2^e, subnormal m·2^-10).
// Then the magnitudes v_i = k_i·dd, k = {0, 1, 2, 3, 4, 6, 8, 12}, and the midpoints
// (k_i + k_{i+1})·dd/2 are exact in fp32 (<= 9 significant bits, no over/underflow).
//
// Proof sketch. Let a = |x|. For x >= 0 every negative candidate has error fl(v + a) >= a = the
// error of code 0, which is scanned first, so with strict '<' it never wins; for x < 0 the same
// holds for the positive candidates, and the negative ones see exactly the errors that a sees
// against the positive ones (RNE is symmetric). So the answer is the E2M1 magnitude index of a,
// plus 8 for x < 0 when it is non-zero. Over i = 0..7 the errors e_i = |fl(v_i - a)| are
// non-increasing while v_i <= a and non-decreasing after (fl is monotone), and a strict-'<' scan
// returns the first index of the minimum.
//  * a <= 12·dd: let v_lo <= a < v_hi be the neighbours. If lo >= 1, or lo = 0 and a >= dd/2,
//    both differences are exact (Sterbenz: consecutive magnitudes differ by at most a factor 2),
//    so hi wins iff a - v_lo > v_hi - a, i.e. iff a > mid (ties stay on lo, the smaller
//    magnitude). If lo = 0 and a < dd/2, fl(dd - a) >= dd/2 > a and lo wins, again a <= mid.
//    Errors are exact and distinct on the decreasing side, so no earlier index ties the minimum.
//    Hence index = number of midpoints below a.
//  * a > 12·dd: all errors are on the decreasing side; 7 is the first minimum unless rounding
//    made fl(a - 8·dd) == fl(a - 12·dd) (possible only for a >= 2^21·dd). That case, and
//    a = inf, fall back to the scan. NaN fails every comparison and gets 0, as in the scan.
// Verified against the scan on >= 10^7 random pairs incl. exact midpoints and all 126 codes.

constexpr int kNumMagnitudes = 8;

// Below this ratio amax / dd no element can hit the absorption case above (ulp(a) < dd/4, while
// a - 8·dd and a - 12·dd are 4·dd apart), so whole sub-blocks may skip the per-element check.
constexpr float kAbsorptionRatio = 0x1p21f;

struct Fp4Grid {
    float dd;
    float mid[kNumMagnitudes - 1]; // decision thresholds between consecutive magnitudes
    float v6;                      // 8·dd
    float v7;                      // 12·dd
};

Fp4Grid make_grid(float dd) {
    Fp4Grid g;
    g.dd = dd;
    for (int i = 0; i < kNumMagnitudes - 1; ++i) {
        g.mid[i] = float(kValuesFp4[i] + kValuesFp4[i + 1]) * dd * 0.5f;
    }
    g.v6 = float(kValuesFp4[6]) * dd;
    g.v7 = float(kValuesFp4[7]) * dd;
    return g;
}

bool grid_is_exact(float dd) {
    return dd >= 0x1p-100f && dd <= 0x1p100f && (f32_bits(dd) & 0x000FFFFFu) == 0;
}

inline uint8_t with_sign(int index, float x) {
    return uint8_t(index == 0 ? 0 : index | (std::signbit(x) ? 8 : 0));
}

inline uint8_t fp4_index(float x, const Fp4Grid & g) {
    const float a     = std::fabs(x);
    int         index = 0;
    for (int i = 0; i < kNumMagnitudes - 1; ++i) {
        index += a > g.mid[i] ? 1 : 0;
    }
    if (a > g.v7 && !(a - g.v7 < a - g.v6)) {
        return best_index_fp4_ggml(x, g.dd);
    }
    return with_sign(index, x);
}

// ---------------------------------------------------------------------------------------------
// ggml's reference: base code, then per element the E2M1 code that ggml's scan picks (through the
// equivalent fast index).

void quantize_sub_block_ref(const float * xb, uint8_t & code, uint8_t * qs) {
    const float amax = sub_block_amax(xb);
    code             = base_code(amax);
    const float dd   = ue4m3_to_fp32_half(code);
    uint8_t     q[kQKNvfp4Sub];
    if (code == 0) {
        // dd = 0: every candidate's error is |x|, so the scan keeps code 0 (NaN included).
        std::memset(q, 0, sizeof(q));
    } else if (amax < kAbsorptionRatio * dd) {
        const Fp4Grid g              = make_grid(dd);
        int32_t       n[kQKNvfp4Sub] = {};
        for (int i = 0; i < kNumMagnitudes - 1; ++i) {
            for (int j = 0; j < kQKNvfp4Sub; ++j) {
                n[j] += int32_t(std::fabs(xb[j]) > g.mid[i]);
            }
        }
        for (int j = 0; j < kQKNvfp4Sub; ++j) {
            q[j] = with_sign(n[j], xb[j]);
        }
    } else {
        const Fp4Grid g = make_grid(dd);
        for (int j = 0; j < kQKNvfp4Sub; ++j) {
            q[j] = fp4_index(xb[j], g);
        }
    }
    pack_sub_block(q, qs);
}

// ---------------------------------------------------------------------------------------------
// Scale search
//
// All candidate codes of a sub-block are scored before one is chosen, kLanes consecutive codes at
// a time, each lane summing its own error sequentially over the 16 elements. The magnitude
// indices of every scored code are cached, so the winner is never re-quantized.

constexpr int kLanes      = 8;
constexpr int kTableCodes = kMaxCode + 1 + kLanes; // the last chunk of lanes may run past 0x7E

// Per-code decision thresholds, laid out code-minor so that kLanes consecutive codes are one
// contiguous load. Codes past 0x7E never win (thresholds +inf); their lanes are scored and dropped.
struct CodeTables {
    float dd[kTableCodes];
    float mid[kNumMagnitudes - 1][kTableCodes];
};

const CodeTables & code_tables() {
    static const CodeTables tables = [] {
        CodeTables t{};
        for (int c = 0; c < kTableCodes; ++c) {
            const bool    valid = c <= kMaxCode;
            const float   dd    = valid ? ue4m3_to_fp32_half(uint8_t(c)) : 0.0f;
            const Fp4Grid g     = make_grid(dd);
            t.dd[c]             = dd;
            for (int i = 0; i < kNumMagnitudes - 1; ++i) {
                t.mid[i][c] = valid ? g.mid[i] : INFINITY;
            }
        }
        return t;
    }();
    return tables;
}

// Magnitude-index cache of one sub-block: index[j][c] for element j under code c.
using IndexCache = int32_t[kQKNvfp4Sub][kTableCodes];

// Eight candidate codes side by side (GCC/Clang vector extension: two SSE2 halves on baseline
// x86-64, one AVX2 register in the NIBBLE_HOT clone of search_sub_block, NEON pairs on arm64).
// Every operation is lane-wise IEEE fp32 (no contraction under -ffp-contract=off), so each lane
// computes exactly the scalar formula and both clones give the same bytes. Explicit vectors because
// the auto-vectorized version swung between 50 and 170 MB/s with -O2/-O3 and the lane count (GCC
// 12, EPYC, 2026-08).
// The helpers below pass 32-byte vectors by value; they are internal and always inlined, so the
// baseline-vs-AVX calling convention GCC warns about (-Wpsabi) never applies.
#if defined(__GNUC__) // GCC and clang both name it -Wpsabi
#pragma GCC diagnostic ignored "-Wpsabi"
#endif
using Float4       = float __attribute__((vector_size(32)));
using Int4         = int32_t __attribute__((vector_size(32)));
constexpr int kVec = 8;
static_assert(kLanes % kVec == 0, "lanes come in whole vectors");

__attribute__((always_inline)) inline Float4 load4(const float * p) {
    Float4 v;
    std::memcpy(&v, p, sizeof(v));
    return v;
}

__attribute__((always_inline)) inline Float4 splat(float v) {
    return Float4{ v, v, v, v, v, v, v, v };
}

// Scores codes c0 .. c0 + kLanes - 1: err[c] = Σ_j w_j·(|x_j| - k·dd)² in sequential fp32
// (|x - (±v)| = ||x| - v| under RNE, so the magnitude gives the scan's error). Needs
// amax < kAbsorptionRatio·dd(c0): then the index is the number of midpoints below |x|.
__attribute__((always_inline)) inline void score_lanes(const float * xb, const float * wb, int c0, float * err,
                                                       IndexCache & index) {
    constexpr int      kGroups = kLanes / kVec;
    const CodeTables & t       = code_tables();
    Float4             e[kGroups];
    for (int g = 0; g < kGroups; ++g) {
        e[g] = Float4{};
    }
    for (int j = 0; j < kQKNvfp4Sub; ++j) {
        const Float4 a = splat(std::fabs(xb[j]));
        const Float4 w = splat(wb[j]);
        for (int g = 0; g < kGroups; ++g) {
            const int c = c0 + kVec * g;
            // Comparisons give -1 per true lane: n = number of midpoints below |x|.
            Int4      n = Int4{};
            for (int i = 0; i < kNumMagnitudes - 1; ++i) {
                n -= a > load4(t.mid[i] + c);
            }
            // Magnitude k = {0, 1, 2, 3, 4, 6, 8, 12}[n] = n + max(n - 4, 0) + 2·max(n - 6, 0)
            // without a gather; k·dd is exact.
            const Int4   over4 = n - 4;
            const Int4   over6 = n - 6;
            const Int4   k     = n + (over4 & (over4 > 0)) + 2 * (over6 & (over6 > 0));
            const Float4 diff  = a - __builtin_convertvector(k, Float4) * load4(t.dd + c);
            e[g] += w * diff * diff;
            std::memcpy(&index[j][c], &n, sizeof(n));
        }
    }
    for (int g = 0; g < kGroups; ++g) {
        std::memcpy(err + c0 + kVec * g, &e[g], sizeof(e[g]));
    }
}

// Same contract as score_lanes for one code, through the checked fast index (sub-blocks whose
// amax is huge relative to the candidate scale, or infinite).
void score_code_checked(const float * xb, const float * wb, int c, float * err, IndexCache & index) {
    const Fp4Grid g = make_grid(code_tables().dd[c]);
    float         e = 0.0f;
    for (int j = 0; j < kQKNvfp4Sub; ++j) {
        const int   n    = fp4_index(xb[j], g) & 7;
        const float diff = std::fabs(xb[j]) - float(kValuesFp4[n]) * g.dd;
        e += wb[j] * diff * diff;
        index[j][c] = n;
    }
    err[c] = e;
}

constexpr float kUnitWeights[kQKNvfp4Sub] = { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1 };

// Candidate order: base, base-1, base+1, base-2, base+2, ... within [kMinCode, kMaxCode]; a
// candidate must be strictly better than the best so far. base is always the first candidate,
// even when it is 0 (a sub-block too small for any non-zero code), so the result is never worse
// than the reference and ties keep the reference's choice.
NIBBLE_HOT void search_sub_block(const float * xb, const float * wb, int window, uint8_t & code, uint8_t * qs) {
    const float amax = sub_block_amax(xb);
    if (amax == 0.0f) {
        quantize_sub_block_ref(xb, code, qs);
        return;
    }
    const CodeTables & t    = code_tables();
    const int          base = base_code(amax);
    const int          lo   = std::max(base - window, kMinCode);
    const int          hi   = std::min(base + window, kMaxCode);

    float      err[kTableCodes];
    IndexCache index;
    if (amax < kAbsorptionRatio * t.dd[lo]) {
        for (int c0 = lo; c0 <= hi; c0 += kLanes) {
            score_lanes(xb, wb, c0, err, index);
        }
    } else {
        for (int c = lo; c <= hi; ++c) {
            score_code_checked(xb, wb, c, err, index);
        }
    }

    float best_err = 0.0f;
    if (base == 0) {
        // dd = 0: the scan sends every element to code 0.
        for (int j = 0; j < kQKNvfp4Sub; ++j) {
            best_err += wb[j] * xb[j] * xb[j];
            index[j][0] = 0;
        }
    } else {
        best_err = err[base];
    }
    int best_code = base;
    for (int k = 1; k <= window; ++k) {
        for (const int c : { base - k, base + k }) {
            if (c >= lo && c <= hi && err[c] < best_err) {
                best_err  = err[c];
                best_code = c;
            }
        }
    }

    code = uint8_t(best_code);
    uint8_t q[kQKNvfp4Sub];
    for (int j = 0; j < kQKNvfp4Sub; ++j) {
        q[j] = with_sign(index[j][best_code], xb[j]);
    }
    pack_sub_block(q, qs);
}

} // namespace

uint8_t nvfp4_fp4_index_fast(float x, float dd) {
    if (!grid_is_exact(dd)) {
        return best_index_fp4_ggml(x, dd);
    }
    return fp4_index(x, make_grid(dd));
}

void quantize_row_nvfp4_ref(const float * x, void * y, int64_t n) {
    BlockNVFP4 * blocks = static_cast<BlockNVFP4 *>(y);
    for (int64_t ib = 0; ib < n / kQKNvfp4; ++ib) {
        for (int s = 0; s < kSubBlocks; ++s) {
            quantize_sub_block_ref(x + ib * kQKNvfp4 + s * kQKNvfp4Sub, blocks[ib].d[s], blocks[ib].qs + s * kHalfSub);
        }
    }
}

void quantize_row_nvfp4_search(const float * x, void * y, int64_t n, const float * weights, int window) {
    if (window <= 0) {
        quantize_row_nvfp4_ref(x, y, n);
        return;
    }
    BlockNVFP4 * blocks = static_cast<BlockNVFP4 *>(y);
    for (int64_t ib = 0; ib < n / kQKNvfp4; ++ib) {
        for (int s = 0; s < kSubBlocks; ++s) {
            const int64_t offset = ib * kQKNvfp4 + s * kQKNvfp4Sub;
            const float * wb     = weights ? weights + offset : kUnitWeights;
            search_sub_block(x + offset, wb, window, blocks[ib].d[s], blocks[ib].qs + s * kHalfSub);
        }
    }
}

void quantize_nvfp4(const float * x, void * y, int64_t nrows, int64_t n_per_row, const QuantParams & p) {
    // Search 0 is ggml's quantize_nvfp4: the reference per row, importance matrix ignored.
    const int64_t      row_bytes = n_per_row / kQKNvfp4 * int64_t(sizeof(BlockNVFP4));
    std::vector<float> scaled;
    if (p.nvfp4_tensor_scale != 1.0f) {
        scaled.resize(size_t(n_per_row));
    }
    for (int64_t row = 0; row < nrows; ++row) {
        char *        yr = static_cast<char *>(y) + row * row_bytes;
        const float * xr = x + row * n_per_row;
        if (!scaled.empty()) {
            // Division, not multiplication by the reciprocal: x / s is what a reader of the
            // FORMATS.md §2.9 contract (y = s * dequant) would compute as the target.
            for (int64_t j = 0; j < n_per_row; ++j) {
                scaled[size_t(j)] = xr[j] / p.nvfp4_tensor_scale;
            }
            xr = scaled.data();
        }
        quantize_row_nvfp4_search(xr, yr, n_per_row, p.imatrix, p.nvfp4_search);
    }
}

float nvfp4_tensor_scale_for(float amax, float target) {
    if (!(amax > 0.0f) || !std::isfinite(amax) || !(target > 0.0f)) {
        return 1.0f;
    }
    return amax / (6.0f * target);
}

void dequantize_row_nvfp4(const void * x, float * y, int64_t n) {
    const BlockNVFP4 * blocks = static_cast<const BlockNVFP4 *>(x);
    for (int64_t ib = 0; ib < n / kQKNvfp4; ++ib) {
        for (int s = 0; s < kSubBlocks; ++s) {
            const float     dd = ue4m3_to_fp32_half(blocks[ib].d[s]);
            const uint8_t * qs = blocks[ib].qs + s * kHalfSub;
            float *         yb = y + ib * kQKNvfp4 + s * kQKNvfp4Sub;
            for (int j = 0; j < kHalfSub; ++j) {
                yb[j]            = float(kValuesFp4[qs[j] & 0xF]) * dd;
                yb[j + kHalfSub] = float(kValuesFp4[qs[j] >> 4]) * dd;
            }
        }
    }
}

double nvfp4_weighted_sq_error(const float * x, const void * y, int64_t n, const float * weights) {
    const BlockNVFP4 * blocks = static_cast<const BlockNVFP4 *>(y);
    double             err    = 0.0;
    float              deq[kQKNvfp4];
    for (int64_t ib = 0; ib < n / kQKNvfp4; ++ib) {
        dequantize_row_nvfp4(blocks + ib, deq, kQKNvfp4);
        for (int j = 0; j < kQKNvfp4; ++j) {
            const int64_t i    = ib * kQKNvfp4 + j;
            const double  diff = double(x[i]) - double(deq[j]);
            err += (weights ? double(weights[i]) : 1.0) * diff * diff;
        }
    }
    return err;
}

} // namespace nibble

namespace nibble {

std::vector<float> nvfp4_tensor_scale_candidates(float amax, int n) {
    std::vector<float> cands{ 1.0f };
    for (int k = 0; k < n; ++k) {
        const float s = nvfp4_tensor_scale_for(amax, 128.0f * std::exp2(float(k) / float(n)));
        if (s != 1.0f) {
            cands.push_back(s);
        }
    }
    return cands;
}

void nvfp4_add_candidate_errors(const float * x, int64_t nrows, int64_t n_per_row, const QuantParams & p,
                                const std::vector<float> & cands, std::vector<double> & err, ThreadPool * pool) {
    const int64_t       row_bytes = n_per_row / kQKNvfp4 * int64_t(sizeof(BlockNVFP4));
    // per_row[c * nrows + i], summed in row order afterwards so the total does not depend on how
    // rows were split between threads.
    std::vector<double> per_row(cands.size() * size_t(nrows));
    auto                work = [&](int64_t i0, int64_t i1) {
        std::vector<float>   scaled(static_cast<size_t>(n_per_row));
        std::vector<uint8_t> q(static_cast<size_t>(row_bytes));
        for (int64_t i = i0; i < i1; ++i) {
            const float * xr = x + i * n_per_row;
            for (size_t c = 0; c < cands.size(); ++c) {
                const float s = cands[c];
                for (int64_t j = 0; j < n_per_row; ++j) {
                    scaled[size_t(j)] = xr[j] / s;
                }
                quantize_row_nvfp4_search(scaled.data(), q.data(), n_per_row, p.imatrix, p.nvfp4_search);
                // Σ w (x/s - q)² · s² = Σ w (x - s q)², up to the rounding of x/s.
                per_row[c * size_t(nrows) + size_t(i)] =
                    nvfp4_weighted_sq_error(scaled.data(), q.data(), n_per_row, p.imatrix) * double(s) * double(s);
            }
        }
    };
    if (pool != nullptr) {
        pool->parallel_for(nrows, 1, work);
    } else {
        work(0, nrows);
    }
    err.resize(cands.size(), 0.0);
    for (size_t c = 0; c < cands.size(); ++c) {
        for (int64_t i = 0; i < nrows; ++i) {
            err[c] += per_row[c * size_t(nrows) + size_t(i)];
        }
    }
}

float nvfp4_pick_tensor_scale(const std::vector<float> & cands, const std::vector<double> & err) {
    size_t best = 0;
    for (size_t c = 1; c < cands.size() && c < err.size(); ++c) {
        if (err[c] < err[best]) {
            best = c;
        }
    }
    return cands.empty() ? 1.0f : cands[best];
}

float nvfp4_choose_tensor_scale(const float * x, int64_t nrows, int64_t n_per_row, const QuantParams & p,
                                int n_candidates, int64_t row_stride, ThreadPool * pool) {
    float amax = 0.0f;
    for (int64_t i = 0; i < nrows * n_per_row; ++i) {
        if (amax < std::fabs(x[i])) {
            amax = std::fabs(x[i]);
        }
    }
    const std::vector<float> cands = nvfp4_tensor_scale_candidates(amax, n_candidates);
    row_stride                     = std::max<int64_t>(1, row_stride);
    std::vector<float> sampled;
    const float *      rows = x;
    int64_t            n    = nrows;
    if (row_stride > 1) {
        n = (nrows + row_stride - 1) / row_stride;
        sampled.resize(size_t(n * n_per_row));
        for (int64_t i = 0; i < n; ++i) {
            std::copy_n(x + i * row_stride * n_per_row, n_per_row, sampled.data() + i * n_per_row);
        }
        rows = sampled.data();
    }
    std::vector<double> err;
    nvfp4_add_candidate_errors(rows, n, n_per_row, p, cands, err, pool);
    return nvfp4_pick_tensor_scale(cands, err);
}

} // namespace nibble
