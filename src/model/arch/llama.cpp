// Llama (and everything converted as LlamaForCausalLM: SmolLM2, TinyStories, Llama 2/3): pre-norm
// decoder blocks, RMSNorm, GQA attention, SwiGLU FFN. Rope is "normal" (adjacent pairs) because the
// converter permuted the Q/K rows (FORMATS.md §2.8). Optional Q/K/V biases and rope_freqs (llama3)
// are used when present; no output.weight means tied embeddings.
#include "model/arch_registry.h"

namespace nibble {

const ArchDesc & arch_llama() {
    static const ArchDesc a{ "llama", RopeStyle::Normal, llama_tensors() };
    return a;
}

} // namespace nibble
