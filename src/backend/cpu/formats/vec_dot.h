// Dot products of one weight row with one activation row, the way ggml-cpu computes them
// (type_traits_cpu in ggml-cpu.c): every weight format pairs with an activation format
// ("vec_dot_type") that the f32 activations are quantized to once per matmul, and the dot runs on
// the pair. Pairing is what makes nibble's logits (and perplexity) match llama.cpp's CPU backend:
//
//   weight                                      activations   per-block math
//   Q4_0 Q5_0 Q8_0 IQ4_NL MXFP4 NVFP4           Q8_0          int dot, * (d_w * d_a)
//   Q4_1 Q5_1                                   Q8_1          int dot * (d_w * d_a) + m_w * s_a
//   Q2_K Q3_K Q4_K Q5_K Q6_K IQ4_XS             Q8_K          int dot per 256, mins via bsums
//   F16 / BF16 / F32                            F16 / BF16 / F32   products in f32
//
// Integer sums inside a block (or super-block) are exact; blocks are accumulated in fp32. The
// scalar functions (vec_dot_ref) are the oracle; the AVX2 ones may only differ by the order of
// the fp32 accumulation across blocks (tests/unit/test_cpu_forward.cpp checks the tolerance).
#pragma once

#include "core/half.h"
#include "formats/format.h"

#include <cstddef>
#include <cstdint>

namespace nibble::cpu {

// Activation formats of the CPU matmul (a backend fact, hence not in enum class Format).
enum class ActFormat : uint8_t { F32, F16, BF16, Q8_0, Q8_1, Q8_K };

// Q8_1: as Q8_0 plus s = d * sum(qs), so weights with a min (Q4_1, Q5_1) fold it in without a pass
// over the activations. 9 bits per value.
inline constexpr int kQK8_1 = 32;
struct BlockQ8_1 {
    half_bits d;
    half_bits s;
    int8_t    qs[kQK8_1];
};
static_assert(sizeof(BlockQ8_1) == 2 * sizeof(half_bits) + kQK8_1, "wrong q8_1 block size/padding");

// The activation format a weight format pairs with; false when f is not a weight format here
// (Q8_K, FP8).
bool vec_dot_type(Format f, ActFormat * act);

int     act_block_size(ActFormat a);
int64_t act_row_size(ActFormat a, int64_t n); // bytes of n values; n % act_block_size == 0

// Converts one row of n floats. Q8_0 / Q8_1 follow ggml-cpu's x86 quantize_row_q8_0/q8_1
// (d = amax / 127, q = round-half-even(x * (127 / amax))); Q8_K is ggml's quantize_row_q8_K_ref.
void quantize_act_row(ActFormat a, const float * x, void * y, int64_t n);

// One weight row (n elements) . one activation row of the paired format.
using VecDotFn = float (*)(int64_t n, const void * w, const void * a);

VecDotFn vec_dot_ref(Format f);  // scalar oracle; nullptr for non-weight formats
VecDotFn vec_dot_fast(Format f); // AVX2 when the CPU has it and one exists, else vec_dot_ref

// Scalar kernels (vec_dot_ref.cpp).
float vec_dot_f32_ref(int64_t n, const void * w, const void * a);
float vec_dot_f16_ref(int64_t n, const void * w, const void * a);
float vec_dot_bf16_ref(int64_t n, const void * w, const void * a);
float vec_dot_q4_0_ref(int64_t n, const void * w, const void * a);
float vec_dot_q4_1_ref(int64_t n, const void * w, const void * a);
float vec_dot_q5_0_ref(int64_t n, const void * w, const void * a);
float vec_dot_q5_1_ref(int64_t n, const void * w, const void * a);
float vec_dot_q8_0_ref(int64_t n, const void * w, const void * a);
float vec_dot_iq4_nl_ref(int64_t n, const void * w, const void * a);
float vec_dot_mxfp4_ref(int64_t n, const void * w, const void * a);
float vec_dot_nvfp4_ref(int64_t n, const void * w, const void * a);
float vec_dot_q2_k_ref(int64_t n, const void * w, const void * a);
float vec_dot_q3_k_ref(int64_t n, const void * w, const void * a);
float vec_dot_q4_k_ref(int64_t n, const void * w, const void * a);
float vec_dot_q5_k_ref(int64_t n, const void * w, const void * a);
float vec_dot_q6_k_ref(int64_t n, const void * w, const void * a);
float vec_dot_iq4_xs_ref(int64_t n, const void * w, const void * a);

// AVX2 kernels (vec_dot_avx2*.cpp); only callable when cpu_has_avx2().
float vec_dot_f16_avx2(int64_t n, const void * w, const void * a);
float vec_dot_q4_0_avx2(int64_t n, const void * w, const void * a);
float vec_dot_q4_1_avx2(int64_t n, const void * w, const void * a);
float vec_dot_q8_0_avx2(int64_t n, const void * w, const void * a);
float vec_dot_nvfp4_avx2(int64_t n, const void * w, const void * a);
float vec_dot_q4_k_avx2(int64_t n, const void * w, const void * a);
float vec_dot_q6_k_avx2(int64_t n, const void * w, const void * a);

} // namespace nibble::cpu
