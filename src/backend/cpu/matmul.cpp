// Threaded matmul over any weight format (matmul.h).
#include "backend/cpu/matmul.h"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace nibble::cpu {

namespace {

// Output rows per work item. 16 rows of a 576-wide Q4_1 matrix are ~6 KB: they stay in L1 while
// every activation row passes by, and 2 threads still get >= 12 items on the smallest matrix of
// SmolLM2-135M (192 rows).
constexpr int64_t kRowsPerChunk    = 16;
// Activation rows per conversion work item.
constexpr int64_t kActRowsPerChunk = 8;

struct Segment {
    const MatmulOut * out;
    VecDotFn          dot;
    const uint8_t *   act; // converted activations
    int64_t           act_row_bytes;
    int64_t           w_row_bytes;
    int64_t           first; // first global row index of this weight
};

} // namespace

void matmul_multi(std::span<const MatmulOut> outs, const float * x, int64_t m, ThreadPool * pool,
                  MatmulScratch & scratch, MatmulPath path) {
    if (outs.empty() || m <= 0) {
        return;
    }
    const int64_t n_in = outs[0].w->n_in;

    // Convert the activations once per distinct vec_dot_type.
    ActFormat            converted[3];
    int                  n_converted = 0;
    std::vector<Segment> segs;
    segs.reserve(outs.size());
    int64_t total_rows = 0;
    for (const MatmulOut & o : outs) {
        const WeightView & w = *o.w;
        ActFormat          act;
        if (w.n_in != n_in || !vec_dot_type(w.format, &act)) {
            throw std::invalid_argument(std::string("matmul: unsupported weight format or shape: ") +
                                        format_name(w.format));
        }
        if (n_in % act_block_size(act) != 0 || n_in % format_info(w.format).block_size != 0) {
            throw std::invalid_argument("matmul: row length is not a multiple of the block size");
        }
        int slot = 0;
        while (slot < n_converted && converted[slot] != act) {
            ++slot;
        }
        const int64_t act_row_bytes = act_row_size(act, n_in);
        if (slot == n_converted) {
            if (n_converted == 3) {
                throw std::invalid_argument("matmul: more than 3 activation formats in one call");
            }
            converted[n_converted++]   = act;
            std::vector<uint8_t> & buf = scratch.act[slot];
            buf.resize(size_t(act_row_bytes * m));
            const auto convert = [&](int64_t t0, int64_t t1) {
                for (int64_t t = t0; t < t1; ++t) {
                    quantize_act_row(act, x + t * n_in, buf.data() + t * act_row_bytes, n_in);
                }
            };
            if (pool != nullptr && m > kActRowsPerChunk) {
                pool->parallel_for(m, kActRowsPerChunk, convert);
            } else {
                convert(0, m);
            }
        }
        const VecDotFn dot = path == MatmulPath::Fast ? vec_dot_fast(w.format) : vec_dot_ref(w.format);
        segs.push_back({ &o, dot, scratch.act[slot].data(), act_row_bytes, row_size(w.format, n_in), total_rows });
        total_rows += w.n_out;
    }

    // Work items never straddle two weights, so a chunk is (segment, row range).
    struct Item {
        int     seg;
        int64_t r0, r1;
    };
    std::vector<Item> items;
    for (size_t s = 0; s < segs.size(); ++s) {
        const int64_t n_out = segs[s].out->w->n_out;
        for (int64_t r = 0; r < n_out; r += kRowsPerChunk) {
            items.push_back({ int(s), r, std::min(n_out, r + kRowsPerChunk) });
        }
    }
    const auto run = [&](int64_t i0, int64_t i1) {
        for (int64_t i = i0; i < i1; ++i) {
            const Item &       it = items[size_t(i)];
            const Segment &    sg = segs[size_t(it.seg)];
            const WeightView & w  = *sg.out->w;
            for (int64_t t = 0; t < m; ++t) {
                const uint8_t * a = sg.act + t * sg.act_row_bytes;
                float *         y = sg.out->y + t * sg.out->ldy;
                for (int64_t r = it.r0; r < it.r1; ++r) {
                    y[r] = sg.dot(n_in, w.data + r * sg.w_row_bytes, a);
                }
            }
        }
    };
    if (pool != nullptr) {
        pool->parallel_for(int64_t(items.size()), 1, run);
    } else {
        run(0, int64_t(items.size()));
    }
}

} // namespace nibble::cpu
