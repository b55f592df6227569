// CPU fast paths for block dequantization (x86-64 AVX2 + FMA + F16C), picked at run time.
//
// Contract of every DequantFn here: same as the scalar `format_info(f).dequantize_row`
// (src/formats/format_table.h): x points at n / block_size consecutive blocks, n % block_size == 0,
// y receives n floats. The output is bit-identical to the scalar path whenever the scale fields are
// finite (FORMATS.md §3.16: every product is exact in fp32, so the only rounding is the final add of
// Q4_1/Q5_1/Q2_K/Q4_K/Q5_K, which an FMA rounds the same way); with NaN/Inf scales the outputs are
// NaN in the same places but NaN payloads may differ. Neither pointer needs
// more than its natural alignment (blocks are 2-byte, MXFP4/NVFP4 1-byte aligned), and no byte
// outside [x, x + row bytes) is read.
//
// Performance: give y 32-byte (better 64-byte) alignment. With a misaligned y every other 32-byte
// store splits a cache line; measured ~1.8x slower on a Xeon (L2-resident rows, 2026-11), ~10% on EPYC.
#pragma once

#include "formats/format.h"

#include <cstdint>

namespace nibble::cpu {

using DequantFn = void (*)(const void * x, float * y, int64_t n);

// True when the CPU (and OS) supports AVX2, FMA and F16C: the set the *_avx2 kernels are built with.
bool cpu_has_avx2();

// The fastest dequantizer this CPU can run for f, or nullptr when there is none (then the caller
// uses the scalar `format_info(f).dequantize_row`).
DequantFn fast_dequantizer(Format f);

// The AVX2 kernels themselves (only callable when cpu_has_avx2()); exposed for tests and benches.
void dequantize_row_f16_avx2(const void * x, float * y, int64_t n);
void dequantize_row_bf16_avx2(const void * x, float * y, int64_t n);
void dequantize_row_q4_0_avx2(const void * x, float * y, int64_t n);
void dequantize_row_q4_1_avx2(const void * x, float * y, int64_t n);
void dequantize_row_q5_0_avx2(const void * x, float * y, int64_t n);
void dequantize_row_q5_1_avx2(const void * x, float * y, int64_t n);
void dequantize_row_q8_0_avx2(const void * x, float * y, int64_t n);
void dequantize_row_iq4_nl_avx2(const void * x, float * y, int64_t n);
void dequantize_row_mxfp4_avx2(const void * x, float * y, int64_t n);
void dequantize_row_nvfp4_avx2(const void * x, float * y, int64_t n);
void dequantize_row_q2_k_avx2(const void * x, float * y, int64_t n);
void dequantize_row_q3_k_avx2(const void * x, float * y, int64_t n);
void dequantize_row_q4_k_avx2(const void * x, float * y, int64_t n);
void dequantize_row_q5_k_avx2(const void * x, float * y, int64_t n);
void dequantize_row_q6_k_avx2(const void * x, float * y, int64_t n);
void dequantize_row_q8_k_avx2(const void * x, float * y, int64_t n);
void dequantize_row_iq4_xs_avx2(const void * x, float * y, int64_t n);

}  // namespace nibble::cpu
