// CPU inference surface shared by `nibble perplexity`, `nibble imatrix` and `nibble run`.
// A Model is the loaded, validated weights of one Llama-family GGUF (mmapped, zero-copy); a Session
// owns a KV cache and evaluates token batches against it. The CPU backend is the oracle: results do
// not depend on the thread count, and logits for a batch equal token-by-token logits within fp32
// rounding (tests/unit/test_cpu_forward.cpp).
#pragma once

#include "core/status.h"

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace nibble {

class GgufFile;

// Called for every matrix multiplication with the activations that enter it (imatrix collection,
// FORMATS.md §5.1): `weight` is the GGUF tensor name (e.g. "blk.0.attn_q.weight"), x holds n_rows
// rows of n_cols floats (n_cols == the weight's ne[0]), row-major. Called from the evaluating thread
// only, in a fixed order, so observers need no locking and results are deterministic.
class MatmulObserver {
  public:
    virtual ~MatmulObserver()                                                            = default;
    virtual void on_matmul(std::string_view weight, const float * x, int64_t n_rows, int64_t n_cols) = 0;
};

struct ModelInfo {
    std::string arch;       // general.architecture
    std::string name;       // general.name or the file name
    int64_t     n_vocab = 0;
    int64_t     n_embd = 0;
    int64_t     n_layer = 0;
    int64_t     n_ctx_train = 0;
    int64_t     n_params = 0; // weight elements
    uint64_t    weight_bytes = 0;
};

class Model {
  public:
    // Loads and validates every tensor the architecture needs (names, shapes, formats); errors name
    // the file and the tensor.
    static Result<Model> load(const std::string & gguf_path);

    const ModelInfo & info() const;
    const GgufFile &  gguf() const; // for the tokenizer and metadata

    struct Impl;
    std::shared_ptr<const Impl> impl_;
};

class Session {
  public:
    // n_ctx: KV cache length in tokens. n_threads <= 0: all hardware threads.
    Session(const Model & model, int64_t n_ctx, int n_threads);
    ~Session();
    Session(Session &&) noexcept;
    Session & operator=(Session &&) noexcept;

    // Forget the KV cache (positions restart at 0).
    void clear();
    int64_t n_past() const;

    // Evaluates tokens at positions n_past() .. n_past()+n-1, appending them to the KV cache.
    // Logits (n_vocab floats per row) are written for rows [first_logit_row, n) into `logits`
    // (which must hold (n - first_logit_row) * n_vocab floats); pass first_logit_row = n to skip.
    // Errors (token id out of range, context full) leave the cache unchanged.
    Result<bool> eval(std::span<const int32_t> tokens, float * logits, int64_t first_logit_row);

    void set_observer(MatmulObserver * obs); // nullptr to remove

    struct Impl;

  private:
    std::unique_ptr<Impl> impl_;
};

} // namespace nibble
