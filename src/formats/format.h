// The one enum of storage formats and the signatures every format implements.
// The table itself (kFormats) lives in format_table.h; everything generic iterates it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace nibble {

// Super-block size of the K-quants and IQ4_XS.
inline constexpr int kQK_K = 256;

enum class Format : uint8_t {
    F32,
    F16,
    BF16,
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q8_0,
    Q2_K,
    Q3_K,
    Q4_K,
    Q5_K,
    Q6_K,
    Q8_K, // internal (activations); never written as a weight by llama-quantize
    IQ4_NL,
    IQ4_XS,
    MXFP4,
    NVFP4,
    E4M3, // FP8 E4M3 (OCP "FN"), SafeTensors F8_E4M3; not a GGUF tensor type
    E5M2, // FP8 E5M2, SafeTensors F8_E5M2; not a GGUF tensor type
    Count
};

// Knobs of the quantizers. Defaults reproduce ggml's llama-quantize path exactly.
struct QuantParams {
    // Per-column importance (mean squared activation), length n_per_row, or nullptr.
    const float * imatrix            = nullptr;
    // NVFP4 only: half-width of the UE4M3 scale-code search window around amax/6.
    // 0 = ggml's round-to-nearest (byte-identical); the quantizer tool defaults to 12.
    int           nvfp4_search       = 0;
    // NVFP4 only: the per-tensor second-level scale (llama.cpp's `<name>.scale` side-car, FORMATS.md
    // §2.9). Rows are quantized as x / scale so that the model value is scale * dequant(block).
    // 1 = none (ggml's layout on its own).
    float         nvfp4_tensor_scale = 1.0f;
};

// ggml's quantize_row_<fmt>_ref: deterministic reference, no importance matrix. n % block == 0.
using QuantizeRowRefFn = void (*)(const float * x, void * y, int64_t n);
// ggml's quantize_<fmt>(src, dst, nrow, n_per_row, quant_weights): what llama-quantize calls.
// Rows are independent; returns nothing, writes nrows * row_size bytes.
using QuantizeRowsFn   = void (*)(const float * x, void * y, int64_t nrows, int64_t n_per_row, const QuantParams & p);
// ggml's dequantize_row_<fmt> (to_float). n % block == 0.
using DequantizeRowFn  = void (*)(const void * x, float * y, int64_t n);

struct FormatInfo {
    Format           format;
    const char *     name;       // ggml_type_name spelling ("q4_K", "nvfp4", ...)
    int              ggml_type;  // GGUF tensor type id, -1 when GGUF has none
    int              block_size; // elements per block
    int              type_size;  // bytes per block
    bool             quantized;  // block-quantized (needs a quantizer, not a cast)
    QuantizeRowRefFn quantize_row_ref;
    QuantizeRowsFn   quantize_rows;
    DequantizeRowFn  dequantize_row;

    constexpr double bits_per_weight() const { return 8.0 * type_size / block_size; }
};

const FormatInfo &    format_info(Format f);
std::optional<Format> format_from_name(std::string_view name); // case-insensitive
std::optional<Format> format_from_ggml_type(int ggml_type);
const char *          format_name(Format f);

// Bytes of one row of n elements (n must be a multiple of the block size).
int64_t row_size(Format f, int64_t n);

} // namespace nibble
