// The quantize driver: GGUF (or a Hugging Face checkpoint converted on the fly, model/hf_convert.h)
// in, GGUF out, tensor by tensor, byte-identical with llama-quantize for the
// same input, file type, options and importance matrix (FORMATS.md §4.6; proven by
// tests/golden/test_quantize_golden.cpp against ../shared/golden/llama-quantize).
//
// The type of every tensor comes from plan/quant_policy.h; this file only reads tensors, converts them
// to f32 (exactly: F32/F16/BF16, or dequantized with --allow-requantize), quantizes rows over a thread
// pool (deterministic for any thread count), and streams the result through the atomic GgufWriter, so
// memory stays at a few row chunks whatever the model size and a failure or cancellation leaves no file.
#pragma once

#include "core/status.h"
#include "formats/nvfp4.h"
#include "io/gguf.h"
#include "io/imatrix.h"
#include "io/tensor_source.h"
#include "plan/file_type.h"
#include "plan/quant_policy.h"

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace nibble {

struct QuantizeProgress {
    size_t           tensor    = 0; // index of the tensor in output order
    size_t           n_tensors = 0;
    std::string_view name;
    bool             tensor_done = false; // false: a chunk of rows of `tensor` is done
    uint64_t         bytes_done  = 0;     // input tensor bytes processed so far
    uint64_t         bytes_total = 0;     // input tensor bytes of the whole model
};

struct QuantizeConfig {
    // User choices (--pure, --tensor-type, ...). The model facts (arch, n_layer, n_head, n_head_kv,
    // n_expert) are read from the GGUF where left at their defaults; has_imatrix is set from imatrix.
    QuantOptions                                  policy;
    // NVFP4 scale search half-width (QuantParams::nvfp4_search); 0 = ggml's round-to-nearest.
    int                                           nvfp4_search       = kNvfp4DefaultSearch;
    // NVFP4 per-tensor second-level scale (`<name>.scale`, FORMATS.md §2.9): candidates per octave
    // for nvfp4_tensor_scale_candidates; 0 = off (ggml's layout only, as llama-quantize writes).
    int                                           nvfp4_tensor_scale = 0;
    int                                           n_threads          = 0; // <= 0: all hardware threads
    // Importance matrix (load_imatrix); nullptr or no entries: none.
    const Imatrix *                               imatrix            = nullptr;
    // Value of `quantize.imatrix.file`; empty: imatrix->path. llama-quantize stores the path as typed.
    std::string                                   imatrix_label;
    // Called after every row chunk and every tensor, on the calling thread.
    std::function<void(const QuantizeProgress &)> on_progress;
    // Polled between tensors and row chunks; when it turns true the run stops, the temporary output
    // file is removed and quantize_gguf returns the error "cancelled".
    const std::atomic<bool> *                     cancel = nullptr;
};

// The per-tensor plan for one input, in output order, with the sizes it implies.
struct GgufQuantPlan {
    QuantPlan                         plan;          // policy decisions; plan.errors include ours below
    std::vector<SourceTensor>         source;        // input tensor of each decision (index: in the source)
    std::vector<uint32_t>             out_ggml_type; // ggml type written (the input's when not converted)
    std::vector<uint64_t>             out_nbytes;
    std::vector<const ImatrixEntry *> imatrix;      // per tensor: the entry used, or nullptr
    std::vector<uint8_t>              tensor_scale; // per tensor: 1 = NVFP4 with a `.scale` side-car after it
    int                               n_tensor_scales = 0;
    uint64_t                          bytes_in        = 0; // Σ input tensor bytes (llama-quantize "model size")
    uint64_t                          bytes_out       = 0; // Σ output tensor bytes ("quant size")
    int64_t                           n_elements      = 0;
    QuantOptions                      options; // the policy options as completed from the metadata
};

struct QuantizeSummary {
    FileType                   file_type = FileType::F16;
    std::map<std::string, int> tensors_per_type; // ggml type name -> tensors written with it
    int                        n_tensors   = 0;
    int                        n_quantized = 0; // converted (quantized, or F16/BF16 from another type)
    int                        n_fallback  = 0; // took the shape fallback (FORMATS.md §4.4)
    uint64_t                   bytes_in    = 0;
    uint64_t                   bytes_out   = 0;
    int64_t                    n_elements  = 0;
    uint64_t                   file_size   = 0; // 0 for a dry run
    double                     seconds     = 0;

    double bpw_in() const { return n_elements > 0 ? 8.0 * double(bytes_in) / double(n_elements) : 0.0; }
    double bpw_out() const { return n_elements > 0 ? 8.0 * double(bytes_out) / double(n_elements) : 0.0; }
};

// Builds the plan without touching tensor data. Metadata problems (a split file, unreadable
// hyper-parameters) are an Error; per-tensor problems (no shape fallback, requantizing without
// permission, an imatrix of the wrong size, ...) are collected in plan.errors so a dry run can show
// all of them.
Result<GgufQuantPlan> plan_quantization(const TensorSource & in, FileType ftype, const QuantizeConfig & cfg);
Result<GgufQuantPlan> plan_gguf_quantization(const GgufFile & in, FileType ftype, const QuantizeConfig & cfg);

// Sizes and counts of a plan, as the summary of a dry run.
QuantizeSummary summarize(const GgufQuantPlan & p);

// One line per tensor: name, input -> output type, shape, sizes, reason; then "# error:" lines.
std::string format_gguf_plan(const GgufQuantPlan & p);

// Refuses an output path that names the input file (same device and inode when it exists, same
// canonical path otherwise). nullopt when the output may be written.
std::optional<Error> check_output_path(const std::string & in_path, const std::string & out_path);

// Quantizes `in` into `out_path`, atomically: a temporary file in the destination folder is renamed
// over out_path at the end, and removed on any failure or cancellation (the Error then says
// "cancelled"). Fails without writing anything when the plan has errors.
Result<QuantizeSummary> quantize_model(const TensorSource & in, const std::string & out_path, FileType ftype,
                                       const QuantizeConfig & cfg);
Result<QuantizeSummary> quantize_gguf(const GgufFile & in, const std::string & out_path, FileType ftype,
                                      const QuantizeConfig & cfg);

} // namespace nibble
