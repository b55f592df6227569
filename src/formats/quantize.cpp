#include "formats/quantize.h"

#include "formats/format_table.h"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace nibble {

void quantize_matrix(Format f, const float * src, void * dst, int64_t nrows, int64_t n_per_row, const QuantParams & p,
                     ThreadPool * pool) {
    const FormatInfo & info = format_info(f);
    if (n_per_row <= 0 || n_per_row % info.block_size != 0) {
        throw std::invalid_argument("quantize " + std::string(info.name) + ": row length " + std::to_string(n_per_row) +
                                    " is not a positive multiple of the block size " +
                                    std::to_string(info.block_size));
    }
    const int64_t rs = row_size(f, n_per_row);
    auto          run = [&](int64_t r0, int64_t r1) {
        info.quantize_rows(src + r0 * n_per_row, static_cast<uint8_t *>(dst) + r0 * rs, r1 - r0, n_per_row, p);
    };
    // ~64K weights per chunk: large enough to amortise the hand-off, small enough to balance
    // the tail across threads on the narrow matrices of small models.
    const int64_t grain = std::max<int64_t>(1, 65536 / n_per_row);
    if (pool) {
        pool->parallel_for(nrows, grain, run);
    } else {
        run(0, nrows);
    }
}

}  // namespace nibble
