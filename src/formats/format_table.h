// The single source of truth for formats (STYLE.md Do #2). Add a format: one file pair, one row
// here, one CPU fast path (backend/cpu/formats), tests pick it up from the table.
#pragma once

#include "formats/float_rows.h"
#include "formats/format.h"
#include "formats/fp8.h"
#include "formats/iq4_nl.h"
#include "formats/iq4_xs.h"
#include "formats/mxfp4.h"
#include "formats/nvfp4.h"
#include "formats/q2_k.h"
#include "formats/q3_k.h"
#include "formats/q4_0.h"
#include "formats/q4_1.h"
#include "formats/q4_k.h"
#include "formats/q5_0.h"
#include "formats/q5_1.h"
#include "formats/q5_k.h"
#include "formats/q6_k.h"
#include "formats/q8_0.h"
#include "formats/q8_k.h"

#include <iterator>

namespace nibble {

#define NIBBLE_FORMAT_ROW(F, NAME, GGML, BLCK, TSIZE, QUANT, FN) \
    FormatInfo { Format::F, NAME, GGML, BLCK, TSIZE, QUANT, quantize_row_##FN##_ref, quantize_##FN, dequantize_row_##FN }

// Order must follow enum class Format (checked below).
inline constexpr FormatInfo kFormats[] = {
    NIBBLE_FORMAT_ROW(F32, "f32", 0, 1, 4, false, f32),
    NIBBLE_FORMAT_ROW(F16, "f16", 1, 1, 2, false, f16),
    NIBBLE_FORMAT_ROW(BF16, "bf16", 30, 1, 2, false, bf16),
    NIBBLE_FORMAT_ROW(Q4_0, "q4_0", 2, kQK4_0, sizeof(BlockQ4_0), true, q4_0),
    NIBBLE_FORMAT_ROW(Q4_1, "q4_1", 3, kQK4_1, sizeof(BlockQ4_1), true, q4_1),
    NIBBLE_FORMAT_ROW(Q5_0, "q5_0", 6, kQK5_0, sizeof(BlockQ5_0), true, q5_0),
    NIBBLE_FORMAT_ROW(Q5_1, "q5_1", 7, kQK5_1, sizeof(BlockQ5_1), true, q5_1),
    NIBBLE_FORMAT_ROW(Q8_0, "q8_0", 8, kQK8_0, sizeof(BlockQ8_0), true, q8_0),
    NIBBLE_FORMAT_ROW(Q2_K, "q2_K", 10, kQK_K, sizeof(BlockQ2_K), true, q2_k),
    NIBBLE_FORMAT_ROW(Q3_K, "q3_K", 11, kQK_K, sizeof(BlockQ3_K), true, q3_k),
    NIBBLE_FORMAT_ROW(Q4_K, "q4_K", 12, kQK_K, sizeof(BlockQ4_K), true, q4_k),
    NIBBLE_FORMAT_ROW(Q5_K, "q5_K", 13, kQK_K, sizeof(BlockQ5_K), true, q5_k),
    NIBBLE_FORMAT_ROW(Q6_K, "q6_K", 14, kQK_K, sizeof(BlockQ6_K), true, q6_k),
    NIBBLE_FORMAT_ROW(Q8_K, "q8_K", 15, kQK_K, sizeof(BlockQ8_K), true, q8_k),
    NIBBLE_FORMAT_ROW(IQ4_NL, "iq4_nl", 20, kQK4_NL, sizeof(BlockIQ4_NL), true, iq4_nl),
    NIBBLE_FORMAT_ROW(IQ4_XS, "iq4_xs", 23, kQK_K, sizeof(BlockIQ4_XS), true, iq4_xs),
    NIBBLE_FORMAT_ROW(MXFP4, "mxfp4", 39, kQKMxfp4, sizeof(BlockMXFP4), true, mxfp4),
    NIBBLE_FORMAT_ROW(NVFP4, "nvfp4", 40, kQKNvfp4, sizeof(BlockNVFP4), true, nvfp4),
    NIBBLE_FORMAT_ROW(E4M3, "f8_e4m3", -1, 1, 1, false, e4m3),
    NIBBLE_FORMAT_ROW(E5M2, "f8_e5m2", -1, 1, 1, false, e5m2),
};

#undef NIBBLE_FORMAT_ROW

static_assert(std::size(kFormats) == size_t(Format::Count), "kFormats must have one row per Format");

constexpr bool formats_in_enum_order() {
    for (size_t i = 0; i < std::size(kFormats); ++i) {
        if (size_t(kFormats[i].format) != i) {
            return false;
        }
    }
    return true;
}
static_assert(formats_in_enum_order(), "kFormats rows must follow enum class Format");

}  // namespace nibble
