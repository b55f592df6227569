// A Hugging Face SafeTensors checkpoint (llama, mistral, qwen2, qwen3) seen as the GGUF that llama.cpp's
// convert_hf_to_gguf.py would write for it: the same metadata KVs (general.*, hyper-parameters from
// model/hf_naming.h, tokenizer.* from model/hf_vocab.h), tensor names, shapes, order and types. The
// tensors are never materialised: read() converts the requested piece from the mapped SafeTensors bytes
// (dtype conversion and the llama Q/K row permutation, FORMATS.md §2.8), so memory stays at one chunk.
//
// Tensor types follow the converter: 1-D tensors, *_norm.weight and anything not ending in ".weight"
// are F32; the other weights get the "outtype": F32, F16 or BF16 (`--outtype`). Left unset it is the
// converter's "auto": BF16 when the first 2-D tensor is stored as BF16, F16 otherwise. hf_outtype_for
// picks it for `nibble quantize`: a float target type is converted to directly; a quantized target
// goes through "auto", as `convert_hf_to_gguf.py` + `llama-quantize` would.
//
// Not supported (an Error): prequantized checkpoints (NVFP4, FP8, ...), dtypes other than F32/F16/BF16,
// architectures other than the four above.
#pragma once

#include "core/status.h"
#include "io/hf_checkpoint.h"
#include "io/tensor_source.h"
#include "model/hf_naming.h"
#include "plan/file_type.h"

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace nibble {

struct HfConvertOptions {
    std::optional<Format> outtype; // F32, F16, BF16, or nullopt for "auto"
};

// The outtype `nibble quantize` converts through for a target file type: F32/F16/BF16 for those file
// types, nullopt ("auto") for quantized ones.
std::optional<Format> hf_outtype_for(FileType target);

// general.* naming heuristics of gguf-py's Metadata for a model id such as "org/Model-7B-Instruct-v0.2":
// returns name (title-cased), organization, basename, finetune, version and size_label ("" when none).
struct HfModelIdParts {
    std::string name, organization, basename, finetune, version, size_label;
};
HfModelIdParts hf_model_id_parts(const std::string & model_id, int64_t total_params);
// gguf-py's size_label for a dense model: "656K", "7.2B", ...
std::string    hf_size_label(int64_t total_params);

class HfSource final : public TensorSource {
  public:
    // `path` is a checkpoint folder (or its index.json / single .safetensors file).
    static Result<std::unique_ptr<HfSource>> open(const std::string & path, const HfConvertOptions & opt = {});

    const std::string &               path() const override { return path_; }
    const GgufFile &                  metadata() const override { return *meta_; }
    const std::vector<SourceTensor> & tensors() const override { return tensors_; }
    Result<const uint8_t *>           read(size_t i, uint64_t offset, uint64_t size,
                                           std::vector<uint8_t> & scratch) const override;
    void                              advise(size_t i) const override;
    Error                             error_at(size_t i, uint64_t offset, std::string what) const override;

    const HfCheckpoint &             checkpoint() const { return ck_; }
    const GgufModelDesc &            description() const { return desc_; }
    Format                           outtype() const { return outtype_; }
    // HF tensors not carried over and conversion approximations, one line each.
    const std::vector<std::string> & notes() const { return notes_; }

  private:
    HfSource() = default;
    std::optional<Error> build(const HfConvertOptions & opt);
    std::optional<Error> build_metadata();

    std::string                   path_;
    HfCheckpoint                  ck_;
    GgufModelDesc                 desc_;
    Format                        outtype_ = Format::F16;
    std::vector<SourceTensor>     tensors_; // same order as desc_.tensors
    std::vector<const HfTensor *> hf_;      // source of each tensor; nullptr for generated ones
    std::vector<uint8_t>          meta_image_;
    std::optional<GgufFile>       meta_; // parsed from meta_image_
    std::vector<std::string>      notes_;
};

} // namespace nibble
