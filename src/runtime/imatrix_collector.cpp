#include "runtime/imatrix_collector.h"

#include <algorithm>
#include <cmath>

namespace nibble {

bool ImatrixCollector::wants(std::string_view weight, int64_t n_rows) const {
    if (n_rows < opt_.min_rows) {
        return false;
    }
    return weight.substr(0, 4) == "blk." || (opt_.process_output && weight == "output.weight");
}

void ImatrixCollector::on_matmul(std::string_view weight, const float * x, int64_t n_rows, int64_t n_cols) {
    if (error_ || !wants(weight, n_rows) || n_cols <= 0) {
        return;
    }
    auto it = entries_.find(weight);
    if (it == entries_.end()) {
        it = entries_.emplace(std::string(weight), Entry{}).first;
    }
    Entry & e = it->second;
    if (e.sum2.empty()) {
        e.sum2.assign(size_t(n_cols), 0.0f);
    } else if (e.sum2.size() != size_t(n_cols)) {
        error_ = "inconsistent size for " + std::string(weight) + " (" + std::to_string(e.sum2.size()) + " vs " +
                 std::to_string(n_cols) + ")";
        return;
    }
    // Row by row in the order given, summing in float: the same additions, in the same order, as
    // llama-imatrix makes for every column.
    float * s = e.sum2.data();
    for (int64_t r = 0; r < n_rows; ++r) {
        const float * row = x + r * n_cols;
        for (int64_t j = 0; j < n_cols; ++j) {
            s[j] += row[j] * row[j];
        }
    }
    e.count += n_rows;
    for (int64_t j = 0; j < n_cols; ++j) {
        if (!std::isfinite(s[j])) {
            error_ = std::to_string(s[j]) + " detected in " + std::string(weight) + " column " + std::to_string(j);
            return;
        }
    }
}

Result<bool> ImatrixCollector::merge(const std::string & name, const std::vector<float> & in_sum2, int64_t count) {
    Entry & e = entries_[name];
    if (e.sum2.empty()) {
        e.sum2.assign(in_sum2.size(), 0.0f);
    } else if (e.sum2.size() != in_sum2.size()) {
        return Error{ "", 0,
                      "mismatched sums size for " + name + ": " + std::to_string(in_sum2.size()) +
                          " != " + std::to_string(e.sum2.size()) };
    }
    for (size_t j = 0; j < in_sum2.size(); ++j) {
        e.sum2[j] += in_sum2[j];
    }
    e.count += count;
    return true;
}

std::vector<ImatrixStats> ImatrixCollector::stats() const {
    std::vector<ImatrixStats> out;
    out.reserve(entries_.size());
    for (const auto & [name, e] : entries_) { // std::map: sorted by name
        if (e.sum2.empty()) {
            continue;
        }
        out.push_back({ name, e.sum2, { float(e.count) } });
    }
    return out;
}

uint32_t ImatrixCollector::chunk_count(int64_t chunk_size) const {
    int64_t max_count = 0;
    for (const auto & kv : entries_) {
        max_count = std::max(max_count, kv.second.count);
    }
    return chunk_size > 0 ? uint32_t(max_count / chunk_size) : 0;
}

} // namespace nibble
