// llama-imatrix's IMatrixCollector::collect_imatrix (FORMATS.md §5.1) for dense weights, as a
// MatmulObserver: per weight, the float sum of x_j² over every activation row x entering the matmul,
// and the number of rows. Output goes through write_imatrix_gguf (src/io/imatrix.h).
#pragma once

#include "core/status.h"
#include "io/imatrix.h"
#include "runtime/session.h"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace nibble {

struct ImatrixCollectorOptions {
    bool    process_output = false; // also collect "output.weight" (llama-imatrix --process-output)
    int64_t min_rows       = 16;    // llama-imatrix ignores matmuls with fewer activation rows
};

class ImatrixCollector final : public MatmulObserver {
  public:
    explicit ImatrixCollector(ImatrixCollectorOptions o = {}) : opt_(o) {}

    // Whether a matmul on `weight` with n_rows activation rows is collected: names starting with
    // "blk." (and output.weight with process_output), at least min_rows rows.
    bool wants(std::string_view weight, int64_t n_rows) const;

    void on_matmul(std::string_view weight, const float * x, int64_t n_rows, int64_t n_cols) override;

    // Adds a previously collected entry (llama-imatrix --in-file with a GGUF imatrix: raw sums and counts).
    // Dense only (one count); the sizes must agree with what is already collected.
    Result<bool> merge(const std::string & name, const std::vector<float> & in_sum2, int64_t count);

    // First problem seen (non-finite sum, a weight seen with two different column counts); collection
    // of the offending matmul stops there, like llama-imatrix which exits.
    const std::optional<std::string> & error() const { return error_; }

    size_t                    n_entries() const { return entries_.size(); }
    std::vector<ImatrixStats> stats() const; // sorted by name; counts as float like the GGUF file
    // llama-imatrix's chunk_count (m_last_chunk): the largest count divided by the chunk size.
    uint32_t                  chunk_count(int64_t chunk_size) const;

  private:
    struct Entry {
        std::vector<float> sum2;
        int64_t            count = 0;
    };
    ImatrixCollectorOptions                   opt_;
    std::map<std::string, Entry, std::less<>> entries_;
    std::optional<std::string>                error_;
};

} // namespace nibble
