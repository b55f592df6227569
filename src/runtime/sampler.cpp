#include "runtime/sampler.h"

#include <algorithm>
#include <cmath>
#include <cstddef>

namespace nibble {

int32_t Sampler::sample(const float * logits, int64_t n_vocab) {
    if (p_.temperature <= 0.0f) {
        return int32_t(std::max_element(logits, logits + n_vocab) - logits);
    }
    cand_.resize(size_t(n_vocab));
    for (int64_t i = 0; i < n_vocab; ++i) {
        cand_[size_t(i)] = { logits[i] / p_.temperature, int32_t(i) };
    }
    // Highest logit first; ties by id so the order is fully determined.
    const auto better = [](const auto & a, const auto & b) {
        return a.first > b.first || (a.first == b.first && a.second < b.second);
    };
    size_t k = cand_.size();
    if (p_.top_k > 0 && size_t(p_.top_k) < k) {
        k = size_t(p_.top_k);
        std::partial_sort(cand_.begin(), cand_.begin() + std::ptrdiff_t(k), cand_.end(), better);
    } else {
        std::sort(cand_.begin(), cand_.end(), better);
    }
    // Softmax over the kept candidates, then the smallest prefix with mass >= top_p.
    const float         max = cand_[0].first;
    std::vector<double> p(k);
    double              sum = 0;
    for (size_t i = 0; i < k; ++i) {
        p[i] = std::exp(double(cand_[i].first - max));
        sum += p[i];
    }
    size_t keep = k;
    if (p_.top_p < 1.0f) {
        double acc = 0;
        for (size_t i = 0; i < k; ++i) {
            acc += p[i] / sum;
            if (acc >= double(p_.top_p)) {
                keep = i + 1;
                break;
            }
        }
    }
    double kept = 0;
    for (size_t i = 0; i < keep; ++i) {
        kept += p[i];
    }
    // One uniform draw in [0, kept): deterministic for a given seed on every platform (no
    // std::discrete_distribution, whose algorithm is implementation-defined).
    const double u   = double(rng_() >> 11) * (1.0 / 9007199254740992.0) * kept;
    double       acc = 0;
    for (size_t i = 0; i < keep; ++i) {
        acc += p[i];
        if (u < acc) {
            return cand_[i].second;
        }
    }
    return cand_[keep - 1].second;
}

} // namespace nibble
