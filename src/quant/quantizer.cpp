#include "quant/quantizer.h"

#include "backend/cpu/formats/dequant.h"
#include "core/thread_pool.h"
#include "formats/format_table.h"
#include "formats/quantize.h"
#include "io/gguf_writer.h"

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <regex>
#include <stdexcept>
#include <system_error>
#include <unordered_map>
#include <utility>

namespace nibble {

namespace {

// GGML_QNT_VERSION: the block layouts of the quantized types; llama.cpp refuses other values.
constexpr uint32_t kQuantizationVersion = 2;
// llama_model_kv_override strings hold 127 bytes plus the NUL; llama-quantize truncates to that.
constexpr size_t   kMaxOverrideString   = 127;
// f32 elements converted and quantized per step: bounds memory (2 x 64 MiB) and sets how often
// progress is reported and cancellation is polled inside a big tensor.
constexpr int64_t  kChunkElements       = int64_t(1) << 24;
// Copied tensors are written in pieces of this size, for the same reasons.
constexpr uint64_t kCopyChunkBytes      = uint64_t(64) << 20;

constexpr const char * kSplitKeys[] = { "split.no", "split.count", "split.tensors.count" };

std::string mib(uint64_t bytes) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2f MiB", double(bytes) / (1024.0 * 1024.0));
    return buf;
}

std::string ggml_name(uint32_t ggml_type) {
    const GgmlTypeInfo * ti = ggml_type_info(ggml_type);
    return ti != nullptr ? ti->name : "type" + std::to_string(ggml_type);
}

// ggml_n_dims: trailing dimensions of 1 are not written (a [4096, 1] tensor is 1-D), at least one.
int ggml_n_dims(const int64_t (&ne)[4]) {
    for (int d = 3; d >= 1; --d) {
        if (ne[d] > 1) {
            return d + 1;
        }
    }
    return 1;
}

// A hyper-parameter: any integer scalar, or element 0 of a per-layer integer array (llama.cpp's
// hparams.n_head() is the value of layer 0).
std::optional<int64_t> int_value(const GgufValue & v) {
    GgufType   t      = v.type();
    const bool is_arr = v.is_array();
    if (is_arr) {
        if (v.size() == 0) {
            return std::nullopt;
        }
        t = v.elem_type();
    }
    auto get = [&](auto tag) -> std::optional<int64_t> {
        using T = decltype(tag);
        if (is_arr) {
            return int64_t(v.at<T>(0));
        }
        return int64_t(*v.get<T>());
    };
    switch (t) {
        case GgufType::UINT8:
            return get(uint8_t{});
        case GgufType::INT8:
            return get(int8_t{});
        case GgufType::UINT16:
            return get(uint16_t{});
        case GgufType::INT16:
            return get(int16_t{});
        case GgufType::UINT32:
            return get(uint32_t{});
        case GgufType::INT32:
            return get(int32_t{});
        case GgufType::UINT64: {
            const std::optional<int64_t> x = get(uint64_t{});
            return x && *x >= 0 ? x : std::nullopt;
        }
        case GgufType::INT64:
            return get(int64_t{});
        default:
            return std::nullopt;
    }
}

Result<int> hparam(const GgufFile & in, const std::string & key, int current) {
    if (current > 0) {
        return current; // set by the caller
    }
    const GgufKV * kv = in.find(key);
    if (kv == nullptr) {
        return 0;
    }
    const std::optional<int64_t> v = int_value(kv->value);
    if (!v || *v < 0 || *v > std::numeric_limits<int>::max()) {
        return Error{ in.path(), kv->offset, "key " + key + " is not a usable integer: " + kv->value.to_string() };
    }
    return int(*v);
}

Result<QuantOptions> complete_options(const GgufFile & in, const QuantizeConfig & cfg) {
    QuantOptions o = cfg.policy;
    if (const GgufKV * kv = in.find("general.architecture")) {
        const std::optional<std::string_view> arch = kv->value.get_string();
        if (!arch) {
            return Error{ in.path(), kv->offset, "general.architecture is not a STRING" };
        }
        o.arch = std::string(*arch);
    }
    const std::string p = o.arch + ".";
    for (auto [key, field] :
         { std::pair{ "block_count", &o.n_layer }, std::pair{ "attention.head_count", &o.n_head },
           std::pair{ "attention.head_count_kv", &o.n_head_kv }, std::pair{ "expert_count", &o.n_expert } }) {
        Result<int> v = hparam(in, p + key, *field);
        if (!v) {
            return v.error();
        }
        *field = *v;
    }
    o.has_imatrix = cfg.imatrix != nullptr && !cfg.imatrix->entries.empty();
    return o;
}

std::string join_errors(const std::vector<std::string> & errors) {
    std::string s = std::to_string(errors.size()) + (errors.size() == 1 ? " tensor" : " tensors") +
                    " cannot be quantized as planned:";
    for (const std::string & e : errors) {
        s += "\n  " + e;
    }
    return s;
}

// The weights whose `<base>.scale` llama.cpp's loader looks for (FORMATS.md §2.9); a side-car on any
// other tensor would be an unused tensor, which llama.cpp refuses to load.
bool reads_nvfp4_scale(const std::string & name) {
    static const std::regex re(
        R"(blk\.\d+\.(attn_q|attn_k|attn_v|attn_output|attn_qkv|attn_gate|ffn_gate|ffn_up|ffn_down)\.weight|output\.weight)");
    return std::regex_match(name, re);
}

std::string scale_name(const std::string & weight) {
    const std::string suffix = ".weight";
    const bool        ends =
        weight.size() > suffix.size() && weight.compare(weight.size() - suffix.size(), suffix.size(), suffix) == 0;
    return (ends ? weight.substr(0, weight.size() - suffix.size()) : weight) + ".scale";
}

bool cancelled(const QuantizeConfig & cfg) {
    return cfg.cancel != nullptr && cfg.cancel->load(std::memory_order_relaxed);
}

// Atomically lowers `slot` to `v` (first bad element in row-major order, whatever thread finds it).
void store_min(std::atomic<int64_t> & slot, int64_t v) {
    int64_t cur = slot.load(std::memory_order_relaxed);
    while (v < cur && !slot.compare_exchange_weak(cur, v, std::memory_order_relaxed)) {
    }
}

} // namespace

// ---------------------------------------------------------------------------------------------
// Planning

Result<GgufQuantPlan> plan_quantization(const TensorSource & src, FileType ftype, const QuantizeConfig & cfg) {
    const GgufFile & in = src.metadata();
    if (const GgufKV * kv = in.find("split.count")) {
        const std::optional<int64_t> n = int_value(kv->value);
        if (!n || *n > 1) {
            return Error{ in.path(), kv->offset,
                          "split GGUF (split.count = " + kv->value.to_string() +
                              ") is not supported: merge the parts with llama-gguf-split --merge first" };
        }
    }
    Result<QuantOptions> opt = complete_options(in, cfg);
    if (!opt) {
        return opt.error();
    }

    std::vector<TensorDesc>                 descs;
    std::unordered_map<std::string, size_t> by_name;
    descs.reserve(src.tensors().size());
    for (const SourceTensor & t : src.tensors()) {
        by_name.emplace(t.name, t.index);
        TensorDesc d;
        d.name   = t.name;
        d.ne     = { t.ne[0], t.ne[1], t.ne[2], t.ne[3] };
        d.n_dims = ggml_n_dims(t.ne);
        // A type nibble has no codec for (IQ2_XXS, I32, ...) can only be copied; the placeholder
        // keeps the policy's counters right and the check below catches any conversion.
        d.format = t.format.value_or(Format::F32);
        descs.push_back(std::move(d));
    }
    sort_in_llama_order(descs);

    GgufQuantPlan p;
    p.options              = std::move(*opt);
    p.plan                 = plan_quantization(descs, ftype, p.options);
    const bool has_imatrix = p.options.has_imatrix;

    const size_t n = p.plan.tensors.size();
    p.source.resize(n);
    p.out_ggml_type.resize(n);
    p.out_nbytes.resize(n);
    p.imatrix.resize(n, nullptr);
    p.tensor_scale.resize(n, 0);
    for (size_t i = 0; i < n; ++i) {
        TensorPlan & tp        = p.plan.tensors[i];
        p.source[i]            = src.tensors()[by_name.at(tp.name)];
        const SourceTensor * t = &p.source[i];
        p.bytes_in += t->nbytes;
        p.n_elements += t->numel();

        const uint32_t target_id = uint32_t(format_info(tp.target).ggml_type);
        const bool     quantize  = tp.allows_quantization && (t->format ? tp.converts() : target_id != t->ggml_type);
        if (!quantize) {
            p.out_ggml_type[i] = t->ggml_type;
            p.out_nbytes[i]    = t->nbytes;
            p.bytes_out += t->nbytes;
            continue;
        }
        p.out_ggml_type[i] = target_id;
        p.out_nbytes[i]    = uint64_t(row_size(tp.target, t->ne[0]) * t->ne[1] * t->ne[2] * t->ne[3]);
        p.bytes_out += p.out_nbytes[i];
        if (tp.target == Format::NVFP4 && cfg.nvfp4_tensor_scale > 0 && t->ne[2] * t->ne[3] == 1 &&
            reads_nvfp4_scale(tp.name)) {
            p.tensor_scale[i] = 1;
            ++p.n_tensor_scales;
            p.bytes_out += sizeof(float);
        }
        if (!tp.error.empty()) {
            continue; // already reported by the policy
        }
        auto fail = [&](std::string what) {
            tp.error = std::move(what);
            p.plan.errors.push_back(tp.name + ": " + tp.error);
        };
        if (!t->format) {
            fail("its type " + ggml_name(t->ggml_type) + " cannot be decoded by nibble, so it cannot become " +
                 format_name(tp.target));
            continue;
        }
        // llama-quantize: the vector must cover ne[0] columns of every expert (ne[2]); token_embd never
        // has activations collected, so a mismatch there is ignored instead of fatal.
        const ImatrixEntry * e = has_imatrix ? cfg.imatrix->find(tp.name) : nullptr;
        if (e != nullptr) {
            const uint64_t want = uint64_t(t->ne[0] * t->ne[2]);
            if (e->mean.size() == want) {
                p.imatrix[i] = e;
            } else if (tp.name != "token_embd.weight") {
                fail("imatrix size " + std::to_string(e->mean.size()) + " is different from tensor size " +
                     std::to_string(want));
                continue;
            }
        }
        if (tp.requires_imatrix && p.imatrix[i] == nullptr && has_imatrix) {
            fail(std::string("needs importance-matrix data (") + format_name(tp.target) + "), the imatrix has none");
        }
    }
    return p;
}

QuantizeSummary summarize(const GgufQuantPlan & p) {
    QuantizeSummary s;
    s.file_type  = p.plan.file_type;
    s.n_tensors  = int(p.source.size());
    s.n_fallback = p.plan.n_fallback;
    s.bytes_in   = p.bytes_in;
    s.bytes_out  = p.bytes_out;
    s.n_elements = p.n_elements;
    for (size_t i = 0; i < p.source.size(); ++i) {
        ++s.tensors_per_type[ggml_name(p.out_ggml_type[i])];
        s.n_quantized += p.out_ggml_type[i] != p.source[i].ggml_type ? 1 : 0;
    }
    if (p.n_tensor_scales > 0) {
        s.tensors_per_type["f32 (.scale)"] += p.n_tensor_scales;
        s.n_tensors += p.n_tensor_scales;
    }
    return s;
}

std::string format_gguf_plan(const GgufQuantPlan & p) {
    size_t width = 0;
    for (const TensorPlan & tp : p.plan.tensors) {
        width = std::max(width, tp.name.size());
    }
    std::string out;
    for (size_t i = 0; i < p.plan.tensors.size(); ++i) {
        const TensorPlan &   tp = p.plan.tensors[i];
        const SourceTensor & t  = p.source[i];
        std::string          shape;
        for (int d = 0; d < ggml_n_dims(t.ne); ++d) {
            shape += (d > 0 ? " x " : "") + std::to_string(t.ne[d]);
        }
        char line[512];
        std::snprintf(line, sizeof line, "%-*s %7s -> %-7s [%s] %s -> %s  %s\n", int(width), tp.name.c_str(),
                      ggml_name(t.ggml_type).c_str(), ggml_name(p.out_ggml_type[i]).c_str(), shape.c_str(),
                      mib(t.nbytes).c_str(), mib(p.out_nbytes[i]).c_str(), tp.reason.c_str());
        out += line;
        if (!p.tensor_scale.empty() && p.tensor_scale[i] != 0) {
            std::snprintf(line, sizeof line, "%-*s %7s -> %-7s [1] second-level scale of the NVFP4 tensor above\n",
                          int(width), scale_name(tp.name).c_str(), "", "f32");
            out += line;
        }
    }
    for (const std::string & e : p.plan.errors) {
        out += "# error: " + e + "\n";
    }
    return out;
}

std::optional<Error> check_output_path(const std::string & in_path, const std::string & out_path) {
    namespace fs = std::filesystem;
    struct stat si {};
    struct stat so {};
    if (::stat(out_path.c_str(), &so) == 0) {
        if (::stat(in_path.c_str(), &si) == 0 && si.st_dev == so.st_dev && si.st_ino == so.st_ino) {
            return Error{ out_path, 0, "the output is the input file (" + in_path + "); choose another output path" };
        }
        if (S_ISDIR(so.st_mode)) {
            return Error{ out_path, 0, "the output path is a directory" };
        }
        return std::nullopt;
    }
    std::error_code ec;
    const fs::path  a = fs::weakly_canonical(in_path, ec);
    const fs::path  b = ec ? fs::path() : fs::weakly_canonical(out_path, ec);
    if (!ec && a == b) {
        return Error{ out_path, 0, "the output is the input file (" + in_path + "); choose another output path" };
    }
    return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// Writing

namespace {

class Driver {
  public:
    Driver(const TensorSource & in, const std::string & out, FileType ftype, const QuantizeConfig & cfg,
           const GgufQuantPlan & plan)
        : in_(in), out_(out), ftype_(ftype), cfg_(cfg), p_(plan), pool_(cfg.n_threads) {}

    Result<uint64_t> run();

  private:
    std::optional<Error> add_metadata();
    std::optional<Error> copy_tensor(size_t i);
    std::optional<Error> convert_tensor(size_t i);
    std::optional<Error> load_rows(size_t i, int64_t first, int64_t nr); // dequantized into f32_
    Result<float>        choose_tensor_scale(size_t i, const QuantParams & params);
    std::optional<Error> check_cancel() const {
        if (cancelled(cfg_)) {
            return Error{ out_, 0, "cancelled" };
        }
        return std::nullopt;
    }
    void report(size_t i, bool done) const {
        if (cfg_.on_progress) {
            cfg_.on_progress(
                QuantizeProgress{ i, p_.source.size(), p_.source[i].name, done, bytes_done_, p_.bytes_in });
        }
    }
    // llama-quantize's gguf_set_val_*: an existing key is removed and the new value appended.
    template <class F> std::optional<Error> set(const std::string & key, F && add) {
        w_.remove_kv(key);
        if (Result<size_t> r = add(); !r) {
            return r.error();
        }
        return std::nullopt;
    }

    const TensorSource &   in_;
    const std::string &    out_;
    FileType               ftype_;
    const QuantizeConfig & cfg_;
    const GgufQuantPlan &  p_;
    ThreadPool             pool_;
    GgufWriter             w_;
    uint64_t               bytes_done_ = 0;
    std::vector<float>     f32_;
    std::vector<uint8_t>   q_;
    std::vector<uint8_t>   scratch_;     // converted input bytes, for sources that are not a mapping
    std::vector<size_t>    out_index_;   // writer index of each planned tensor
    std::vector<size_t>    scale_index_; // writer index of its `.scale`, when it has one
};

std::optional<Error> Driver::add_metadata() {
    for (const GgufKV & kv : in_.metadata().metadata()) {
        if (Result<size_t> r = w_.add_kv(kv.key, kv.value); !r) {
            return r.error();
        }
    }
    if (auto e = set("general.quantization_version",
                     [&] { return w_.add<uint32_t>("general.quantization_version", kQuantizationVersion); })) {
        return e;
    }
    if (auto e = set("general.file_type", [&] { return w_.add<uint32_t>("general.file_type", uint32_t(ftype_)); })) {
        return e;
    }
    for (const char * key : kSplitKeys) {
        w_.remove_kv(key);
    }
    if (!p_.options.has_imatrix) {
        return std::nullopt;
    }
    // quantize.cpp passes these as KV overrides, in this order.
    const Imatrix &   m     = *cfg_.imatrix;
    const std::string label = (cfg_.imatrix_label.empty() ? m.path : cfg_.imatrix_label).substr(0, kMaxOverrideString);
    if (auto e = set("quantize.imatrix.file", [&] { return w_.add_string("quantize.imatrix.file", label); })) {
        return e;
    }
    if (!m.datasets.empty()) {
        const std::string ds = m.datasets[0].substr(0, kMaxOverrideString);
        if (auto e = set("quantize.imatrix.dataset", [&] { return w_.add_string("quantize.imatrix.dataset", ds); })) {
            return e;
        }
    }
    const auto entries = uint32_t(m.entries.size());
    if (auto e = set("quantize.imatrix.entries_count",
                     [&] { return w_.add<uint32_t>("quantize.imatrix.entries_count", entries); })) {
        return e;
    }
    if (m.chunk_count > 0) {
        if (auto e = set("quantize.imatrix.chunks_count",
                         [&] { return w_.add<uint32_t>("quantize.imatrix.chunks_count", m.chunk_count); })) {
            return e;
        }
    }
    return std::nullopt;
}

std::optional<Error> Driver::copy_tensor(size_t i) {
    const SourceTensor & t = p_.source[i];
    in_.advise(t.index);
    for (uint64_t done = 0; done < t.nbytes;) {
        if (auto e = check_cancel()) {
            return e;
        }
        const uint64_t                n    = std::min(kCopyChunkBytes, t.nbytes - done);
        const Result<const uint8_t *> data = in_.read(t.index, done, n, scratch_);
        if (!data) {
            return data.error();
        }
        if (Result<uint64_t> r = w_.write_tensor_data(out_index_[i], *data, n); !r) {
            return r.error();
        }
        done += n;
        bytes_done_ += n;
        if (done < t.nbytes) {
            report(i, false);
        }
    }
    return std::nullopt;
}

std::optional<Error> Driver::load_rows(size_t i, int64_t first, int64_t nr) {
    const SourceTensor &          t         = p_.source[i];
    // The AVX2 dequantizers are bit-exact with the scalar ones (tests/unit/test_dequant_avx2.cpp).
    cpu::DequantFn                deq       = cpu::fast_dequantizer(*t.format);
    const DequantizeRowFn         to_f32    = deq != nullptr ? deq : format_info(*t.format).dequantize_row;
    const int64_t                 n_per_row = t.ne[0];
    const int64_t                 src_rs    = row_size(*t.format, n_per_row);
    const int64_t                 grain     = std::max<int64_t>(1, 65536 / n_per_row);
    std::atomic<int64_t>          bad{ std::numeric_limits<int64_t>::max() };
    const Result<const uint8_t *> rows = in_.read(t.index, uint64_t(first * src_rs), uint64_t(nr * src_rs), scratch_);
    if (!rows) {
        return rows.error();
    }
    const uint8_t * data = *rows; // row `first`
    // Exact conversion to f32 (F16/BF16 widen exactly; quantized inputs dequantize as ggml).
    pool_.parallel_for(nr, grain, [&](int64_t a, int64_t b) {
        for (int64_t r = a; r < b; ++r) {
            float * row = f32_.data() + r * n_per_row;
            to_f32(data + r * src_rs, row, n_per_row);
            for (int64_t c = 0; c < n_per_row; ++c) {
                if (!std::isfinite(row[c])) {
                    store_min(bad, (first + r) * n_per_row + c);
                    break;
                }
            }
        }
    });
    if (const int64_t at = bad.load(); at != std::numeric_limits<int64_t>::max()) {
        // llama-quantize would reject the quantized rows (ggml_validate_row_data); say where.
        return in_.error_at(t.index, uint64_t(at / n_per_row * src_rs),
                            "non-finite value at row " + std::to_string(at / n_per_row) + ", column " +
                                std::to_string(at % n_per_row));
    }
    return std::nullopt;
}

// Two read passes over the tensor (amax, then every candidate's error on every row); the caller's
// third pass quantizes with the winner. Costs (1 + candidates) quantizations of the tensor.
Result<float> Driver::choose_tensor_scale(size_t i, const QuantParams & params) {
    const SourceTensor & t         = p_.source[i];
    const int64_t        n_per_row = t.ne[0];
    const int64_t        nrows     = t.ne[1];
    const int64_t        chunk     = std::clamp<int64_t>(kChunkElements / n_per_row, 1, nrows);
    float                amax      = 0;
    for (int64_t r0 = 0; r0 < nrows; r0 += chunk) {
        const int64_t nr = std::min(chunk, nrows - r0);
        if (auto e = load_rows(i, r0, nr)) {
            return *e;
        }
        for (int64_t k = 0; k < nr * n_per_row; ++k) {
            amax = std::max(amax, std::fabs(f32_[size_t(k)]));
        }
    }
    const std::vector<float> cands = nvfp4_tensor_scale_candidates(amax, cfg_.nvfp4_tensor_scale);
    std::vector<double>      err(cands.size(), 0.0);
    for (int64_t r0 = 0; r0 < nrows; r0 += chunk) {
        if (auto e = check_cancel()) {
            return *e;
        }
        const int64_t nr = std::min(chunk, nrows - r0);
        if (auto e = load_rows(i, r0, nr)) {
            return *e;
        }
        nvfp4_add_candidate_errors(f32_.data(), nr, n_per_row, params, cands, err, &pool_);
    }
    return nvfp4_pick_tensor_scale(cands, err);
}

std::optional<Error> Driver::convert_tensor(size_t i) {
    const SourceTensor & t         = p_.source[i];
    const Format         dst       = p_.plan.tensors[i].target;
    const int64_t        n_per_row = t.ne[0];
    const int64_t        nrows     = t.ne[1];           // rows of one matrix (expert)
    const int64_t        n_mats    = t.ne[2] * t.ne[3]; // llama-quantize quantizes per expert slice
    const int64_t        src_rs    = row_size(*t.format, n_per_row);
    const int64_t        dst_rs    = row_size(dst, n_per_row);
    const int64_t        chunk     = std::clamp<int64_t>(kChunkElements / n_per_row, 1, nrows);
    f32_.resize(size_t(chunk * n_per_row));
    q_.resize(size_t(chunk * dst_rs));
    in_.advise(t.index);

    for (int64_t m = 0; m < n_mats; ++m) {
        QuantParams params;
        params.nvfp4_search = cfg_.nvfp4_search;
        if (const ImatrixEntry * e = p_.imatrix[i]) {
            params.imatrix = e->mean.data() + (m % t.ne[2]) * n_per_row;
        }
        if (p_.tensor_scale[i] != 0) { // planned only for single-matrix tensors
            try {
                Result<float> s = choose_tensor_scale(i, params);
                if (!s) {
                    return s.error();
                }
                params.nvfp4_tensor_scale = *s;
            } catch (const std::exception & ex) {
                return in_.error_at(t.index, 0, ex.what());
            }
        }
        for (int64_t r0 = 0; r0 < nrows; r0 += chunk) {
            if (auto e = check_cancel()) {
                return e;
            }
            const int64_t nr    = std::min(chunk, nrows - r0);
            const int64_t first = m * nrows + r0; // global row index
            try {
                if (auto e = load_rows(i, first, nr)) {
                    return e;
                }
                quantize_matrix(dst, f32_.data(), q_.data(), nr, n_per_row, params, &pool_);
            } catch (const std::exception & ex) {
                return in_.error_at(t.index, uint64_t(first * src_rs), ex.what());
            }
            if (Result<uint64_t> r = w_.write_tensor_data(out_index_[i], q_.data(), uint64_t(nr * dst_rs)); !r) {
                return r.error();
            }
            bytes_done_ += uint64_t(nr * src_rs);
            if (m + 1 < n_mats || r0 + nr < nrows) {
                report(i, false);
            }
        }
        if (p_.tensor_scale[i] != 0) {
            const float s = params.nvfp4_tensor_scale;
            if (Result<uint64_t> r = w_.write_tensor_data(scale_index_[i], &s, sizeof s); !r) {
                return r.error();
            }
        }
    }
    return std::nullopt;
}

Result<uint64_t> Driver::run() {
    if (auto e = add_metadata()) {
        return *e;
    }
    out_index_.assign(p_.source.size(), 0);
    scale_index_.assign(p_.source.size(), 0);
    for (size_t i = 0; i < p_.source.size(); ++i) {
        const SourceTensor & t  = p_.source[i];
        const int            nd = ggml_n_dims(t.ne);
        Result<size_t>       r = w_.add_tensor(t.name, p_.out_ggml_type[i], std::span<const int64_t>(t.ne, size_t(nd)));
        if (!r) {
            return r.error();
        }
        out_index_[i] = *r;
        if (p_.tensor_scale[i] != 0) {
            const int64_t  one[1] = { 1 };
            Result<size_t> rs     = w_.add_tensor(scale_name(t.name), Format::F32, std::span<const int64_t>(one, 1));
            if (!rs) {
                return rs.error();
            }
            scale_index_[i] = *rs;
        }
    }
    if (Result<uint64_t> r = w_.begin(out_); !r) {
        return r;
    }
    for (size_t i = 0; i < p_.source.size(); ++i) {
        const bool           convert = p_.out_ggml_type[i] != p_.source[i].ggml_type;
        std::optional<Error> e       = convert ? convert_tensor(i) : copy_tensor(i);
        if (e) {
            w_.discard();
            return *e;
        }
        report(i, true);
    }
    if (auto e = check_cancel()) {
        w_.discard();
        return *e;
    }
    return w_.commit();
}

} // namespace

Result<GgufQuantPlan> plan_gguf_quantization(const GgufFile & in, FileType ftype, const QuantizeConfig & cfg) {
    return plan_quantization(GgufSource(in), ftype, cfg);
}

Result<QuantizeSummary> quantize_model(const TensorSource & in, const std::string & out_path, FileType ftype,
                                       const QuantizeConfig & cfg) {
    const auto t0 = std::chrono::steady_clock::now();
    if (std::optional<Error> e = check_output_path(in.path(), out_path)) {
        return *e;
    }
    Result<GgufQuantPlan> plan = plan_quantization(in, ftype, cfg);
    if (!plan) {
        return plan.error();
    }
    if (!plan->plan.ok()) {
        return Error{ in.path(), 0, join_errors(plan->plan.errors) };
    }
    Driver           d(in, out_path, ftype, cfg, *plan);
    Result<uint64_t> size = d.run();
    if (!size) {
        return size.error();
    }
    QuantizeSummary s = summarize(*plan);
    s.file_size       = *size;
    s.seconds         = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return s;
}

Result<QuantizeSummary> quantize_gguf(const GgufFile & in, const std::string & out_path, FileType ftype,
                                      const QuantizeConfig & cfg) {
    return quantize_model(GgufSource(in), out_path, ftype, cfg);
}

} // namespace nibble
