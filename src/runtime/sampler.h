// Token sampling for `nibble run`: greedy (temperature 0), or temperature + top-k + top-p with a seeded
// std::mt19937_64, so a run is reproducible from its seed.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

namespace nibble {

struct SamplerParams {
    float    temperature = 0.0f;  // <= 0: greedy (argmax, lowest id on ties)
    int      top_k       = 40;    // <= 0: no limit
    float    top_p       = 0.95f; // >= 1: no limit
    uint64_t seed        = 0;
};

class Sampler {
  public:
    explicit Sampler(const SamplerParams & p) : p_(p), rng_(p.seed) {}

    // Picks a token from n_vocab logits.
    int32_t sample(const float * logits, int64_t n_vocab);

  private:
    SamplerParams                          p_;
    std::mt19937_64                        rng_;
    std::vector<std::pair<float, int32_t>> cand_;
};

} // namespace nibble
