#include "model/arch_registry.h"

#include "model/hparams.h"

namespace nibble {

int64_t resolve_dim(Dim d, const HParams & hp) {
    switch (d) {
        case Dim::One:
            return 1;
        case Dim::Embd:
            return hp.n_embd;
        case Dim::Vocab:
            return hp.n_vocab;
        case Dim::QDim:
            return hp.q_dim();
        case Dim::KVDim:
            return hp.kv_dim();
        case Dim::Ff:
            return hp.n_ff;
        case Dim::HeadDim:
            return hp.head_dim;
        case Dim::RotHalf:
            return hp.n_rot / 2;
    }
    return 0;
}

std::vector<TensorSpec> llama_tensors() {
    using R = TensorRole;
    return {
        { R::TokEmbd, "token_embd.weight", Dim::Embd, Dim::Vocab, true, true },
        { R::OutputNorm, "output_norm.weight", Dim::Embd, Dim::One, true, false },
        { R::Output, "output.weight", Dim::Embd, Dim::Vocab, false, true },
        { R::RopeFreqs, "rope_freqs.weight", Dim::RotHalf, Dim::One, false, false },
        { R::AttnNorm, "blk.%d.attn_norm.weight", Dim::Embd, Dim::One, true, false },
        { R::Wq, "blk.%d.attn_q.weight", Dim::Embd, Dim::QDim, true, true },
        { R::Wk, "blk.%d.attn_k.weight", Dim::Embd, Dim::KVDim, true, true },
        { R::Wv, "blk.%d.attn_v.weight", Dim::Embd, Dim::KVDim, true, true },
        { R::Wo, "blk.%d.attn_output.weight", Dim::QDim, Dim::Embd, true, true },
        { R::Bq, "blk.%d.attn_q.bias", Dim::QDim, Dim::One, false, false },
        { R::Bk, "blk.%d.attn_k.bias", Dim::KVDim, Dim::One, false, false },
        { R::Bv, "blk.%d.attn_v.bias", Dim::KVDim, Dim::One, false, false },
        { R::FfnNorm, "blk.%d.ffn_norm.weight", Dim::Embd, Dim::One, true, false },
        { R::FfnGate, "blk.%d.ffn_gate.weight", Dim::Embd, Dim::Ff, true, true },
        { R::FfnUp, "blk.%d.ffn_up.weight", Dim::Embd, Dim::Ff, true, true },
        { R::FfnDown, "blk.%d.ffn_down.weight", Dim::Ff, Dim::Embd, true, true },
    };
}

void require(std::vector<TensorSpec> & specs, TensorRole role) {
    for (TensorSpec & s : specs) {
        if (s.role == role) {
            s.required = true;
        }
    }
}

namespace {

const ArchDesc * const * registry() {
    static const ArchDesc * const archs[] = { &arch_llama(), &arch_mistral(), &arch_qwen2(), &arch_qwen3(), nullptr };
    return archs;
}

} // namespace

const ArchDesc * find_arch(std::string_view name) {
    for (const ArchDesc * const * a = registry(); *a != nullptr; ++a) {
        if (name == (*a)->name) {
            return *a;
        }
    }
    return nullptr;
}

std::vector<std::string_view> arch_names() {
    std::vector<std::string_view> out;
    for (const ArchDesc * const * a = registry(); *a != nullptr; ++a) {
        out.emplace_back((*a)->name);
    }
    return out;
}

} // namespace nibble
