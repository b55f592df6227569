// Importance matrices (FORMATS.md §5): the GGUF format llama-imatrix writes by default and the legacy
// .dat format. load_imatrix returns, per weight, the vector llama-quantize hands to the quantizers
// (the mean of x_j² over the calibration tokens, per expert), computed exactly as its load_imatrix
// does (§5.4), so that quantizing with it is byte-identical to llama-quantize.
#pragma once

#include "core/status.h"

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace nibble {

struct ImatrixEntry {
    // n_mat * n_per_mat means: column j of expert e at e*n_per_mat + j. What the quantizer uses.
    std::vector<float> mean;
    int64_t            n_mat = 1;
    // GGUF input only: the raw Σx² ([n_per_mat, n_mat]) and token counts ([n_mat]) as stored, so that
    // a loaded file can be merged or written back unchanged. Empty for legacy files.
    std::vector<float> in_sum2;
    std::vector<float> counts;

    int64_t n_per_mat() const { return n_mat > 0 ? int64_t(mean.size()) / n_mat : 0; }
};

struct Imatrix {
    std::string                                      path;
    bool                                             legacy = false;
    // Ordered by name (llama-quantize iterates a std::map too).
    std::map<std::string, ImatrixEntry, std::less<>> entries;
    std::vector<std::string>                         datasets;        // imatrix.datasets / legacy trailer
    uint32_t                                         chunk_count = 0; // llama-quantize's m_last_call
    uint32_t                                         chunk_size  = 0; // GGUF only

    const ImatrixEntry * find(std::string_view name) const {
        const auto it = entries.find(name);
        return it == entries.end() ? nullptr : &it->second;
    }
};

// Reads a GGUF imatrix (file starts with "GGUF") or else a legacy .dat file. Validates everything
// (sizes, types, required keys, finite non-negative values) and names file and byte offset on error.
Result<Imatrix> load_imatrix(const std::string & path);

// llama-quantize's --include-weights / --exclude-weights: keep entries whose name contains one of
// `include` (when non-empty), then drop those containing one of `exclude`.
void filter_imatrix(Imatrix & m, const std::vector<std::string> & include, const std::vector<std::string> & exclude);

// One weight's statistics for writing: Σx² per column and expert, and the tokens each expert saw.
struct ImatrixStats {
    std::string        name;
    std::vector<float> in_sum2; // n_mat * n_per_mat
    std::vector<float> counts;  // n_mat
};

// Writes the GGUF imatrix format exactly as llama-imatrix does (general.type, imatrix.datasets,
// imatrix.chunk_count, imatrix.chunk_size, then `<name>.in_sum2` [K, n_mat] and `<name>.counts`
// [1, n_mat] per weight, sorted by name). Atomic like every GGUF write. Returns the file size.
Result<uint64_t> write_imatrix_gguf(const std::string & path, std::vector<ImatrixStats> stats,
                                    const std::vector<std::string> & datasets, uint32_t chunk_count,
                                    uint32_t chunk_size);

} // namespace nibble
