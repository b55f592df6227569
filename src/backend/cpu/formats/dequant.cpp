// CPU backend format table and run-time dispatch. Built without -mavx2 on purpose: this TU runs on
// every x86-64 CPU and must only call into the AVX2 TUs after cpu_has_avx2() said yes.
#include "backend/cpu/formats/dequant.h"

#include <cstddef>
#include <iterator>

#if defined(__x86_64__) || defined(__i386__)
#define NIBBLE_CPU_X86 1
#include <cpuid.h>
#else
#define NIBBLE_CPU_X86 0
#endif

namespace nibble::cpu {

namespace {

// One row per Format, in enum order (STYLE.md Do #2: backend facts live in a per-backend table).
struct CpuFormatTraits {
    Format    format;
    DequantFn dequant_avx2;  // nullptr: no AVX2 kernel, the scalar path is used
};

#if NIBBLE_CPU_X86
#define NIBBLE_AVX2(fn) dequantize_row_##fn##_avx2
#else
#define NIBBLE_AVX2(fn) nullptr
#endif

constexpr CpuFormatTraits kCpuFormats[] = {
    {Format::F32, nullptr},  // already f32: callers read it in place or memcpy
    {Format::F16, NIBBLE_AVX2(f16)},
    {Format::BF16, NIBBLE_AVX2(bf16)},
    {Format::Q4_0, NIBBLE_AVX2(q4_0)},
    {Format::Q4_1, NIBBLE_AVX2(q4_1)},
    {Format::Q5_0, NIBBLE_AVX2(q5_0)},
    {Format::Q5_1, NIBBLE_AVX2(q5_1)},
    {Format::Q8_0, NIBBLE_AVX2(q8_0)},
    {Format::Q2_K, NIBBLE_AVX2(q2_k)},
    {Format::Q3_K, NIBBLE_AVX2(q3_k)},
    {Format::Q4_K, NIBBLE_AVX2(q4_k)},
    {Format::Q5_K, NIBBLE_AVX2(q5_k)},
    {Format::Q6_K, NIBBLE_AVX2(q6_k)},
    {Format::Q8_K, NIBBLE_AVX2(q8_k)},
    {Format::IQ4_NL, NIBBLE_AVX2(iq4_nl)},
    {Format::IQ4_XS, NIBBLE_AVX2(iq4_xs)},
    {Format::MXFP4, NIBBLE_AVX2(mxfp4)},
    {Format::NVFP4, NIBBLE_AVX2(nvfp4)},
    {Format::E4M3, nullptr},  // FP8 rows are converted once at load; not on a hot path yet
    {Format::E5M2, nullptr},
};

#undef NIBBLE_AVX2

static_assert(std::size(kCpuFormats) == size_t(Format::Count), "kCpuFormats must have one row per Format");

constexpr bool cpu_formats_in_enum_order() {
    for (size_t i = 0; i < std::size(kCpuFormats); ++i) {
        if (size_t(kCpuFormats[i].format) != i) {
            return false;
        }
    }
    return true;
}
static_assert(cpu_formats_in_enum_order(), "kCpuFormats rows must follow enum class Format");

bool detect_avx2() {
#if NIBBLE_CPU_X86 && (defined(__GNUC__) || defined(__clang__))
    // The runtime's cpu model also checks XCR0, so "avx2" is false when the OS does not save YMM
    // state. F16C is read from CPUID leaf 1 (ECX bit 29) because clang's builtin has no "f16c".
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) {
        return false;
    }
    unsigned eax = 0;
    unsigned ebx = 0;
    unsigned ecx = 0;
    unsigned edx = 0;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) {
        return false;
    }
    return (ecx & (1u << 29)) != 0;
#else
    return false;
#endif
}

}  // namespace

bool cpu_has_avx2() {
    static const bool has = detect_avx2();
    return has;
}

DequantFn fast_dequantizer(Format f) {
    if (size_t(f) >= std::size(kCpuFormats) || !cpu_has_avx2()) {
        return nullptr;
    }
    return kCpuFormats[size_t(f)].dequant_avx2;
}

}  // namespace nibble::cpu
