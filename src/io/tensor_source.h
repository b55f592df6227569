// The input of `nibble quantize`: a model as GGUF metadata plus tensors that are read piece by piece.
// A GGUF file is one (GgufSource: zero-copy views of the mapping); a Hugging Face checkpoint
// converted on the fly is another (model/hf_convert.h: each piece is converted from the SafeTensors
// bytes when asked for, so the whole model is never in memory). The quantizer sees only this
// interface, so both inputs go through exactly the same planning and quantization code.
#pragma once

#include "core/status.h"
#include "formats/format.h"
#include "io/gguf.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace nibble {

// One tensor as the GGUF it belongs to describes it (the converted GGUF, for an HF checkpoint).
struct SourceTensor {
    std::string           name;
    size_t                index     = 0; // position in TensorSource::tensors()
    uint32_t              ggml_type = 0;
    std::optional<Format> format;                  // nullopt: a ggml type nibble has no codec for
    int64_t               ne[4]  = { 1, 1, 1, 1 }; // ggml order
    uint64_t              nbytes = 0;

    int64_t numel() const { return ne[0] * ne[1] * ne[2] * ne[3]; }
};

class TensorSource {
  public:
    virtual ~TensorSource() = default;

    // File or folder the model comes from, for messages and the output-path check.
    virtual const std::string &               path() const     = 0;
    // The metadata KVs (general.*, hyper-parameters, tokenizer) in file order.
    virtual const GgufFile &                  metadata() const = 0;
    // Tensors in file order.
    virtual const std::vector<SourceTensor> & tensors() const  = 0;

    // Bytes [offset, offset + size) of tensor i in its ggml type. The result points either into a
    // mapping or into `scratch` and stays valid until the next read with the same scratch. offset and
    // size must be multiples of the type's block bytes (callers read whole rows or aligned chunks).
    virtual Result<const uint8_t *> read(size_t i, uint64_t offset, uint64_t size,
                                         std::vector<uint8_t> & scratch) const = 0;

    // Read-ahead hint before a tensor is streamed.
    virtual void advise(size_t /*i*/) const {}

    // An error located at byte `offset` of tensor i (in its file as far as the source knows it).
    virtual Error error_at(size_t i, uint64_t offset, std::string what) const = 0;
};

// A GGUF file as a TensorSource. The file must outlive this object.
class GgufSource final : public TensorSource {
  public:
    explicit GgufSource(const GgufFile & f);

    const std::string &               path() const override { return f_.path(); }
    const GgufFile &                  metadata() const override { return f_; }
    const std::vector<SourceTensor> & tensors() const override { return tensors_; }
    Result<const uint8_t *>           read(size_t i, uint64_t offset, uint64_t size,
                                           std::vector<uint8_t> & scratch) const override;
    void                              advise(size_t i) const override { f_.advise_sequential(f_.tensors()[i]); }
    Error                             error_at(size_t i, uint64_t offset, std::string what) const override;

  private:
    const GgufFile &          f_;
    std::vector<SourceTensor> tensors_;
};

} // namespace nibble
