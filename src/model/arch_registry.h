// Architecture descriptions (STYLE.md Do #11): one file per architecture in src/model/arch/ lists its
// tensors (GGUF name, role, expected shape, required or not) and its block recipe (rope style); the
// loader validates against the list and the executor runs one generic pre-norm decoder block that
// only asks which roles are present. Adding a Llama variant is one file plus one registry line.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace nibble {

struct HParams;

// What a tensor is for. Global roles first, then per-layer ones.
enum class TensorRole : uint8_t {
    TokEmbd,
    OutputNorm,
    Output,    // absent: tied to token_embd
    RopeFreqs, // llama3 rope frequency factors
    AttnNorm,
    Wq,
    Wk,
    Wv,
    Wo,
    Bq,
    Bk,
    Bv,
    QNorm, // per-head RMSNorm of Q (Qwen3)
    KNorm,
    FfnNorm,
    FfnGate,
    FfnUp,
    FfnDown,
    Count
};
inline constexpr int kFirstLayerRole = int(TensorRole::AttnNorm);
inline constexpr int kRoleCount      = int(TensorRole::Count);

// Symbolic extents, resolved against HParams.
enum class Dim : uint8_t { One, Embd, Vocab, QDim, KVDim, Ff, HeadDim, RotHalf };
int64_t resolve_dim(Dim d, const HParams & hp);

struct TensorSpec {
    TensorRole   role;
    const char * name; // "token_embd.weight" or, per layer, "blk.%d.attn_q.weight"
    Dim          ne0;
    Dim          ne1;      // Dim::One for vectors
    bool         required; // false: optional (tied output, biases of llama, rope_freqs)
    bool         matmul;   // a weight matrix (any storage format); else converted to f32 at load
};

enum class RopeStyle : uint8_t {
    Normal, // pairs (2i, 2i+1): llama.cpp LLAMA_ROPE_TYPE_NORM; llama GGUFs have Q/K rows permuted for it
    NeoX,   // pairs (i, i + n_rot/2): LLAMA_ROPE_TYPE_NEOX (qwen2, qwen3)
};

struct ArchDesc {
    const char *            name; // general.architecture
    RopeStyle               rope;
    std::vector<TensorSpec> tensors;
};

// The plain Llama tensor list (every variant starts from it).
std::vector<TensorSpec> llama_tensors();
// Marks `role` in `specs` as required (variants that must have e.g. Q/K/V biases).
void                    require(std::vector<TensorSpec> & specs, TensorRole role);

// Registered architectures; nullptr when `name` is not one of them.
const ArchDesc *              find_arch(std::string_view name);
std::vector<std::string_view> arch_names();

// One per file in src/model/arch/.
const ArchDesc & arch_llama();
const ArchDesc & arch_mistral();
const ArchDesc & arch_qwen2();
const ArchDesc & arch_qwen3();

} // namespace nibble
