// Mistral: a Llama with its own architecture string (same tensors, normal rope on permuted Q/K).
#include "model/arch_registry.h"

namespace nibble {

const ArchDesc & arch_mistral() {
    static const ArchDesc a{ "mistral", RopeStyle::Normal, llama_tensors() };
    return a;
}

} // namespace nibble
