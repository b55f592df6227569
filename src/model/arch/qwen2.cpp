// Qwen2 / Qwen2.5: Llama blocks with Q/K/V biases and NeoX rope (Q/K rows are not permuted).
#include "model/arch_registry.h"

namespace nibble {

const ArchDesc & arch_qwen2() {
    static const ArchDesc a = [] {
        ArchDesc d{ "qwen2", RopeStyle::NeoX, llama_tensors() };
        require(d.tensors, TensorRole::Bq);
        require(d.tensors, TensorRole::Bk);
        require(d.tensors, TensorRole::Bv);
        return d;
    }();
    return a;
}

} // namespace nibble
