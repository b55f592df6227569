// What a loaded Model holds (session.h): the mapped GGUF, hyper-parameters, and one ModelTensor per
// (layer, role) of the architecture's tensor list. Shared by model.cpp (loading) and session.cpp.
#pragma once

#include "backend/cpu/matmul.h"
#include "io/gguf.h"
#include "model/arch_registry.h"
#include "model/hparams.h"
#include "runtime/session.h"

#include <array>
#include <string>
#include <vector>

namespace nibble {

struct ModelTensor {
    const GgufTensor * t = nullptr;  // nullptr: absent (optional role)
    cpu::WeightView    w;            // matrices: read in place from the mapping
    std::vector<float> f;            // vectors (norms, biases, rope_freqs): converted to f32 at load
    float              scale = 1.0f; // NVFP4 `<name>.scale` side-car (FORMATS.md §2.9), applied after the matmul

    bool                present() const { return t != nullptr; }
    const std::string & name() const { return t->name; }
};

using RoleTensors = std::array<ModelTensor, kRoleCount>;

struct Model::Impl {
    GgufFile                 file;
    ModelInfo                info;
    HParams                  hp;
    const ArchDesc *         arch = nullptr;
    RoleTensors              global; // global roles only
    std::vector<RoleTensors> layers; // per-layer roles only

    const ModelTensor & get(TensorRole r) const { return global[size_t(r)]; }
    // The output projection: output.weight, or token_embd.weight when the embeddings are tied.
    const ModelTensor & output() const {
        return get(TensorRole::Output).present() ? get(TensorRole::Output) : get(TensorRole::TokEmbd);
    }
};

} // namespace nibble
