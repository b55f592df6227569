// Table-driven matrix quantization: rows in parallel over a thread pool, byte-identical output
// for any thread count (every row is quantized independently, exactly as ggml_quantize_chunk).
#pragma once

#include "core/thread_pool.h"
#include "formats/format.h"

#include <cstdint>

namespace nibble {

// Quantizes nrows x n_per_row f32 values (row-major) into dst, which must hold
// nrows * row_size(f, n_per_row) bytes. p.imatrix, when set, has n_per_row entries.
// Throws std::invalid_argument when n_per_row is not a multiple of the format's block size.
// pool may be null (single-threaded).
void quantize_matrix(Format f, const float * src, void * dst, int64_t nrows, int64_t n_per_row, const QuantParams & p,
                     ThreadPool * pool);

}  // namespace nibble
