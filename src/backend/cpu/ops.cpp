// Run-time choice of the attention kernel (built without -mavx2).
#include "backend/cpu/ops.h"

#include "backend/cpu/formats/dequant.h"

namespace nibble::cpu {

AttentionHeadFn attention_head_fast() {
#if defined(__x86_64__)
    if (cpu_has_avx2()) {
        return attention_head_avx2;
    }
#endif
    return attention_head_ref;
}

} // namespace nibble::cpu
