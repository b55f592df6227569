// Qwen3 (dense): Llama blocks without biases, plus a per-head RMSNorm of Q and K over head_dim
// (attn_q_norm / attn_k_norm) applied before the NeoX rope. head_dim comes from attention.key_length
// (128 even where n_embd / n_head is 64).
#include "model/arch_registry.h"

namespace nibble {

const ArchDesc & arch_qwen3() {
    static const ArchDesc a = [] {
        ArchDesc d{ "qwen3", RopeStyle::NeoX, llama_tensors() };
        d.tensors.push_back({ TensorRole::QNorm, "blk.%d.attn_q_norm.weight", Dim::HeadDim, Dim::One, true, false });
        d.tensors.push_back({ TensorRole::KNorm, "blk.%d.attn_k_norm.weight", Dim::HeadDim, Dim::One, true, false });
        return d;
    }();
    return a;
}

} // namespace nibble
