// The engine (src/runtime/session.h) as the evaluator of the perplexity / imatrix protocol. A header
// of its own: were it visible in perplexity.cpp, the compiler could devirtualize calls into Session
// there, and the protocol library (and its engine-free unit tests) would need the engine to link.
#pragma once

#include "runtime/perplexity.h"
#include "runtime/session.h"

namespace nibble {

class SessionEvaluator final : public LogitsEvaluator {
  public:
    SessionEvaluator(Session & s, int64_t n_vocab) : s_(s), n_vocab_(n_vocab) {}
    int64_t      n_vocab() const override { return n_vocab_; }
    void         clear() override { s_.clear(); }
    Result<bool> eval(std::span<const int32_t> tokens, float * logits, int64_t first_logit_row) override {
        return s_.eval(tokens, logits, first_logit_row);
    }

  private:
    Session & s_;
    int64_t   n_vocab_;
};

} // namespace nibble
