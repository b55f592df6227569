#include "model/hf_convert.h"

#include "core/half.h"
#include "formats/format_table.h"
#include "io/gguf_writer.h"
#include "model/hf_vocab.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <regex>
#include <set>
#include <utility>

namespace nibble {

using json = nlohmann::json;

namespace {

constexpr uint32_t kQuantizationVersion = 2; // GGML_QUANT_VERSION

bool is_lower_word(const std::string & w) { // Python str.islower()
    bool cased = false;
    for (const char c : w) {
        if (c >= 'A' && c <= 'Z') {
            return false;
        }
        cased = cased || (c >= 'a' && c <= 'z');
    }
    return cased;
}

std::string title_word(std::string w) { // Python str.title() for ASCII letters
    bool prev_cased = false;
    for (char & c : w) {
        const bool cased = std::isalpha(static_cast<unsigned char>(c)) != 0;
        if (cased) {
            c = char(prev_cased ? std::tolower(static_cast<unsigned char>(c))
                                : std::toupper(static_cast<unsigned char>(c)));
        }
        prev_cased = cased;
    }
    return w;
}

// gguf-py Metadata.id_to_title.
std::string id_to_title(const std::string & s) {
    static const std::regex keep(R"(^(v\d+(?:\.\d+)*|\d.*)$)");
    std::string             spaced = s;
    std::replace(spaced.begin(), spaced.end(), '-', ' ');
    std::string out;
    size_t      a = 0;
    while ((a = spaced.find_first_not_of(" \t\n\r\f\v", a)) != std::string::npos) {
        const size_t b = std::min(spaced.find_first_of(" \t\n\r\f\v", a), spaced.size());
        std::string  w = spaced.substr(a, b - a);
        if (!out.empty()) {
            out.push_back(' ');
        }
        out.append(is_lower_word(w) && !std::regex_search(w, keep) ? title_word(w) : w);
        a = b;
    }
    return out;
}

std::optional<double> strict_float(const std::string & s) {
    if (s.empty()) {
        return std::nullopt;
    }
    char *       end = nullptr;
    const double v   = std::strtod(s.c_str(), &end);
    return end == s.c_str() + s.size() ? std::optional<double>(v) : std::nullopt;
}

// Converts n elements between F32 (0), F16 (1) and BF16 (2) as the converter does: widen to f32 exactly,
// then round to nearest even (numpy astype(float16), gguf-py's BF16 quantizer).
void convert_run(const uint8_t * src, int src_kind, uint8_t * dst, int dst_kind, uint64_t n) {
    for (uint64_t q = 0; q < n; ++q) {
        float f;
        if (src_kind == 0) {
            std::memcpy(&f, src + q * 4, 4);
        } else {
            uint16_t b;
            std::memcpy(&b, src + q * 2, 2);
            f = src_kind == 1 ? fp16_to_fp32(b) : bf16_to_fp32(b);
        }
        if (dst_kind == 0) {
            std::memcpy(dst + q * 4, &f, 4);
        } else {
            const uint16_t o = dst_kind == 1 ? fp32_to_fp16(f) : fp32_to_bf16(f);
            std::memcpy(dst + q * 2, &o, 2);
        }
    }
}

enum : unsigned { kBasename = 1, kSize = 2, kFinetune = 4, kVersion = 8, kType = 16 };

const char * file_type_key_after(const std::string & arch) {
    return arch == "llama" ? "llama.vocab_size" : nullptr;
}

} // namespace

std::optional<Format> hf_outtype_for(FileType target) {
    switch (target) {
        case FileType::F32:
            return Format::F32;
        case FileType::F16:
            return Format::F16;
        case FileType::BF16:
            return Format::BF16;
        default:
            return std::nullopt;
    }
}

std::string hf_size_label(int64_t total) {
    const double n = double(total < 0 ? -total : total);
    double       scaled;
    char         suffix;
    if (n > 1e12) {
        scaled = n * 1e-12, suffix = 'T';
    } else if (n > 1e9) {
        scaled = n * 1e-9, suffix = 'B';
    } else if (n > 1e6) {
        scaled = n * 1e-6, suffix = 'M';
    } else {
        scaled = n * 1e-3, suffix = 'K';
    }
    std::string r   = std::to_string(int64_t(std::nearbyint(scaled))); // Python round(): half to even
    const auto  nz  = r.find_first_not_of('0');
    const int   len = nz == std::string::npos ? 0 : int(r.size() - nz);
    char        buf[64];
    std::snprintf(buf, sizeof buf, "%.*f%c", std::max(2 - len, 0), scaled, suffix);
    return buf;
}

// gguf-py Metadata.get_model_id_components.
HfModelIdParts hf_model_id_parts(const std::string & model_id, int64_t total) {
    HfModelIdParts r;
    if (model_id.empty()) {
        return r;
    }
    if (model_id.find(' ') != std::string::npos) {
        r.name = model_id;
        return r;
    }
    std::string full = model_id;
    if (const size_t slash = model_id.find('/'); slash != std::string::npos) {
        r.organization = model_id.substr(0, slash);
        full           = model_id.substr(slash + 1);
        if (!r.organization.empty() && r.organization[0] == '.') {
            r.organization.clear();
        }
    }
    r.name = full;
    std::vector<std::string> parts;
    for (size_t a = 0; a <= full.size();) {
        const size_t b = std::min(full.find('-', a), full.size());
        if (b > a) {
            parts.push_back(full.substr(a, b - a));
        }
        a = b + 1;
    }
    using std::regex_constants::icase;
    static const std::regex version(R"((v|iter)?\d+([.]\d+)*)", icase);
    static const std::regex qtype(R"(i?q\d(_\w)*|b?fp?(16|32))", icase);
    static const std::regex size(R"((([A]|\d+[x])?\d+([._]\d+)?[KMBT][\d]?|small|mini|medium|large|x?xl))", icase);
    static const std::regex finetune(R"(chat|instruct|vision|lora)", icase);
    std::vector<unsigned>   t(parts.size(), 0);
    for (size_t i = 0; i < parts.size(); ++i) {
        std::string & p = parts[i];
        if (std::regex_match(p, version)) {
            t[i] |= kVersion;
        } else if (std::regex_match(p, qtype)) {
            t[i] |= kType;
            std::transform(p.begin(), p.end(), p.begin(), [](char c) { return char(std::toupper(c)); });
        } else if (i > 0 && std::regex_match(p, size)) {
            std::replace(p.begin(), p.end(), '_', '.');
            if (std::isdigit(static_cast<unsigned char>(p.back())) && p.size() >= 2) {
                p = p.substr(0, p.size() - 2) + "." + p.back() + p[p.size() - 2];
            }
            if (p.size() > 1 && std::isdigit(static_cast<unsigned char>(p[p.size() - 2])) &&
                std::string_view("kmbt").find(p.back()) != std::string_view::npos) {
                p.back() = char(std::toupper(p.back()));
            }
            const std::optional<double> mant = strict_float(p.substr(0, p.size() - 1));
            if (total != 0 && mant) {
                const double label = *mant * std::pow(1000.0, double(std::string_view(" KMBT").find(p.back())));
                if ((total < 0 && label < double(-total / 8)) ||
                    (total > 0 && std::fabs(label - double(total)) > double(7 * total / 8))) {
                    t[i] |= kFinetune;
                    p.back() = char(std::tolower(p.back()));
                }
            }
            if (t[i] == 0) {
                t[i] |= kSize;
            }
        } else if (i > 0 && std::regex_match(p, finetune)) {
            t[i] |= (total < 0 && (p == "lora" || p == "LoRA" || p == "LORA")) ? kType : kFinetune;
        }
    }
    auto has_digit    = [](const std::string & s) { return std::any_of(s.begin(), s.end(), ::isdigit); };
    auto all_alpha    = [](const std::string & s) { return std::all_of(s.begin(), s.end(), ::isalpha); };
    bool numeric_size = false;
    for (size_t i = 0; i < parts.size(); ++i) {
        numeric_size = numeric_size || ((t[i] & kSize) && has_digit(parts[i]));
    }
    for (size_t i = 0; numeric_size && i < parts.size(); ++i) {
        if ((t[i] & kSize) && all_alpha(parts[i])) {
            t[i] &= ~unsigned(kSize);
        }
    }
    bool at_start = true;
    for (size_t i = 0; i < parts.size(); ++i) {
        if (at_start && ((t[i] == 0 && std::isalpha(static_cast<unsigned char>(parts[i][0]))) || (t[i] & kVersion))) {
            t[i] |= kBasename;
        } else {
            at_start = false;
            if (t[i] == 0) {
                t[i] |= kFinetune;
            }
        }
    }
    for (size_t i = parts.size(); i-- > 0;) {
        if ((t[i] & kBasename) && t[i] != kBasename) {
            t[i] &= ~unsigned(kBasename);
        } else {
            break;
        }
    }
    auto join = [&](unsigned flag, unsigned without, bool dedup) {
        std::string              s;
        std::vector<std::string> seen;
        for (size_t i = 0; i < parts.size(); ++i) {
            if ((t[i] & flag) && !(t[i] & without)) {
                if (dedup && std::find(seen.begin(), seen.end(), parts[i]) != seen.end()) {
                    continue;
                }
                seen.push_back(parts[i]);
                s += (s.empty() ? "" : "-") + parts[i];
            }
        }
        return s;
    };
    r.basename   = join(kBasename, 0, false);
    r.size_label = join(kSize, 0, true);
    r.finetune   = join(kFinetune, 0, false);
    r.version    = join(kVersion, kBasename, false);
    if (r.size_label.empty() && r.finetune.empty() && r.version.empty()) {
        r.basename.clear();
    }
    r.name = id_to_title(r.name);
    if (!r.organization.empty()) {
        r.organization = id_to_title(r.organization);
    }
    return r;
}

// ---------------------------------------------------------------------------------------------

Result<std::unique_ptr<HfSource>> HfSource::open(const std::string & path, const HfConvertOptions & opt) {
    std::unique_ptr<HfSource> s(new HfSource());
    s->path_                = path;
    Result<HfCheckpoint> ck = HfCheckpoint::open(path);
    if (!ck) {
        return ck.error();
    }
    s->ck_ = std::move(*ck);
    if (auto e = s->build(opt)) {
        return *e;
    }
    return s;
}

std::optional<Error> HfSource::build(const HfConvertOptions & opt) {
    if (opt.outtype && *opt.outtype != Format::F32 && *opt.outtype != Format::F16 && *opt.outtype != Format::BF16) {
        return Error{ path_, 0, "the conversion type must be F32, F16 or BF16" };
    }
    Result<GgufModelDesc> d = describe_gguf(ck_);
    if (!d) {
        return d.error();
    }
    desc_           = std::move(*d);
    notes_          = desc_.skipped;
    // The converter's order: shard files sorted by name, tensors by name within each (generated first).
    auto shard_name = [&](const GgufTensorDesc & t) -> std::string {
        const HfTensor * h = t.hf_names.empty() ? nullptr : ck_.find(t.hf_names[0]);
        return h == nullptr ? std::string() : std::filesystem::path(ck_.shards()[h->shard].path()).filename().string();
    };
    std::stable_sort(desc_.tensors.begin(), desc_.tensors.end(), [&](const auto & a, const auto & b) {
        return a.hf_names.empty() != b.hf_names.empty() ? a.hf_names.empty() : shard_name(a) < shard_name(b);
    });
    for (const GgufTensorDesc & t : desc_.tensors) {
        const HfTensor * h = t.hf_names.empty() ? nullptr : ck_.find(t.hf_names[0]);
        if (t.quant != HfLayerQuant::Plain || t.invert || t.hf_names.size() > 1) {
            return Error{ h != nullptr ? ck_.shards()[h->shard].path() : ck_.dir(), h != nullptr ? h->st->begin : 0,
                          "tensor " + t.hf_names[0] + " is prequantized (" + hf_layer_quant_name(t.quant) +
                              "): quantizing prequantized Hugging Face checkpoints is not supported yet; "
                              "use the original BF16/F16 checkpoint" };
        }
        if (h != nullptr && h->dtype() != "F32" && h->dtype() != "F16" && h->dtype() != "BF16") {
            return Error{ ck_.shards()[h->shard].path(), h->st->begin,
                          "tensor " + h->name + " has dtype " + h->dtype() +
                              ": only F32, F16 and BF16 checkpoints can be converted (prequantized or integer "
                              "weights are not supported)" };
        }
    }
    if (opt.outtype) {
        outtype_ = *opt.outtype;
    } else { // the converter's "auto": the first 2-D tensor stored as BF16 or F16 decides
        outtype_ = Format::F16;
        for (const GgufTensorDesc & t : desc_.tensors) {
            if (t.ne.size() >= 2 && (t.src_dtype == "BF16" || t.src_dtype == "F16")) {
                outtype_ = t.src_dtype == "BF16" ? Format::BF16 : Format::F16;
                break;
            }
        }
    }
    for (const GgufTensorDesc & t : desc_.tensors) {
        SourceTensor s;
        s.name         = t.gguf_name;
        s.index        = tensors_.size();
        const bool f32 = t.ne.size() <= 1 || t.gguf_name.ends_with("_norm.weight") || !t.gguf_name.ends_with(".weight");
        s.format       = f32 ? Format::F32 : outtype_;
        s.ggml_type    = uint32_t(format_info(*s.format).ggml_type);
        if (t.ne.empty() || t.ne.size() > 4) {
            return Error{ ck_.dir(), 0,
                          "tensor " + t.gguf_name + " has " + std::to_string(t.ne.size()) + " dimensions" };
        }
        for (size_t k = 0; k < t.ne.size(); ++k) {
            s.ne[k] = t.ne[k];
        }
        s.nbytes = uint64_t(s.numel()) * (*s.format == Format::F32 ? 4u : 2u);
        tensors_.push_back(std::move(s));
        hf_.push_back(t.hf_names.empty() ? nullptr : ck_.find(t.hf_names[0]));
    }
    return build_metadata();
}

std::optional<Error> HfSource::build_metadata() {
    const HfModelParams & p = desc_.params;
    KvList                kv;
    kv.set("general.architecture", p.arch);
    kv.set("general.type", std::string("model"));
    // Sampling defaults from generation_config.json (gguf-py Metadata.load).
    if (const JsonDoc * g = ck_.generation_config(); g != nullptr && g->root.is_object()) {
        const json & r = g->root;
        if (r.contains("sequence") && r["sequence"].is_string()) {
            kv.set("general.sampling.sequence", r["sequence"].get<std::string>());
        }
        for (auto [key, gguf, integer] :
             { std::tuple{ "top_k", "top_k", true }, std::tuple{ "top_p", "top_p", false },
               std::tuple{ "min_p", "min_p", false }, std::tuple{ "xtc_probability", "xtc_probability", false },
               std::tuple{ "xtc_threshold", "xtc_threshold", false }, std::tuple{ "temperature", "temp", false },
               std::tuple{ "penalty_last_n", "penalty_last_n", true },
               std::tuple{ "penalty_repeat", "penalty_repeat", false }, std::tuple{ "mirostat", "mirostat", true },
               std::tuple{ "mirostat_tau", "mirostat_tau", false },
               std::tuple{ "mirostat_eta", "mirostat_eta", false } }) {
            const auto it = r.find(key);
            if (it == r.end() || !it->is_number()) {
                continue;
            }
            const std::string k = std::string("general.sampling.") + gguf;
            if (integer) {
                kv.set(k, int32_t(it->get<int64_t>()));
            } else {
                kv.set(k, float(it->get<double>()));
            }
        }
    }
    // Names: config.json _name_or_path when it is a model id, then the folder name.
    int64_t total = 0;
    for (const SourceTensor & t : tensors_) {
        total += t.numel();
    }
    HfModelIdParts m;
    if (const json & cfg = ck_.config()->root; cfg.contains("_name_or_path") && cfg["_name_or_path"].is_string()) {
        const std::string id = cfg["_name_or_path"].get<std::string>();
        if (std::count(id.begin(), id.end(), '/') <= 1) {
            m = hf_model_id_parts(id, total);
        }
    }
    std::error_code       ec;
    std::filesystem::path dir = std::filesystem::weakly_canonical(std::filesystem::absolute(ck_.dir(), ec), ec);
    const HfModelIdParts  fb  = hf_model_id_parts(dir.filename().string(), total);
    for (auto [field, fallback] :
         { std::pair{ &m.name, &fb.name }, std::pair{ &m.organization, &fb.organization },
           std::pair{ &m.basename, &fb.basename }, std::pair{ &m.finetune, &fb.finetune },
           std::pair{ &m.version, &fb.version }, std::pair{ &m.size_label, &fb.size_label } }) {
        if (field->empty()) {
            *field = *fallback;
        }
    }
    if (m.size_label.empty() && total > 0) {
        m.size_label = hf_size_label(total);
    }
    kv.set("general.name", m.name);
    kv.set("general.version", m.version);
    kv.set("general.organization", m.organization);
    kv.set("general.finetune", m.finetune);
    kv.set("general.basename", m.basename);
    kv.set("general.size_label", m.size_label);
    notes_.push_back("general.* naming uses config.json _name_or_path and the folder name; README.md model-card "
                     "fields (license, tags, base models, ...) are not read");

    // Hyper-parameters (TextModel + arch set_gguf_parameters); general.file_type sits after the common
    // ones, before the llama-only vocab_size / rope.dimension_count.
    const uint32_t file_type = outtype_ == Format::F32 ? 0u : outtype_ == Format::BF16 ? 32u : 1u;
    const char *   after     = file_type_key_after(p.arch);
    bool           put_ft    = false;
    for (const GgufKvDesc & d : desc_.kvs) {
        if (d.key == "general.architecture") {
            continue;
        }
        if (after != nullptr && d.key == after) {
            kv.set("general.file_type", file_type);
            put_ft = true;
        }
        std::visit([&](const auto & v) { kv.set(d.key, v); }, d.value);
    }
    if (!put_ft) {
        kv.set("general.file_type", file_type);
    }
    kv.set("general.quantization_version", kQuantizationVersion);
    if (auto e = add_hf_tokenizer_kvs(ck_, p.arch, p.n_vocab, kv, notes_)) {
        return e;
    }
    GgufWriter w;
    if (auto e = kv.write(w)) {
        return e;
    }
    meta_image_             = w.header_image();
    Result<GgufFile> parsed = GgufFile::parse(ck_.dir() + " (converted)", meta_image_.data(), meta_image_.size());
    if (!parsed) {
        return parsed.error();
    }
    meta_.emplace(std::move(*parsed));
    return std::nullopt;
}

void HfSource::advise(size_t i) const {
    if (const HfTensor * h = hf_[i]) {
        ck_.shards()[h->shard].advise_sequential(*h->st);
    }
}

Error HfSource::error_at(size_t i, uint64_t offset, std::string what) const {
    const HfTensor *     h = hf_[i];
    const SourceTensor & t = tensors_[i];
    if (h == nullptr) {
        return Error{ ck_.dir(), 0, "tensor " + t.name + " (generated): " + what };
    }
    // Element `offset / out element size` in GGUF order; the HF element is in the same row up to the
    // Q/K row permutation, so point at the start of the stored tensor plus the same element index.
    const uint64_t elem = offset / (t.format == Format::F32 ? 4u : 2u);
    return Error{ ck_.shards()[h->shard].path(), h->st->begin + elem * uint64_t(st_dtype_bits(h->dtype()) / 8),
                  "tensor " + t.name + " (" + h->name + "): " + what };
}

Result<const uint8_t *> HfSource::read(size_t i, uint64_t offset, uint64_t size, std::vector<uint8_t> & scratch) const {
    const SourceTensor &   t   = tensors_[i];
    const GgufTensorDesc & d   = desc_.tensors[i];
    const uint64_t         oes = t.format == Format::F32 ? 4 : 2;
    if (offset % oes != 0 || size % oes != 0 || offset > t.nbytes || size > t.nbytes - offset) {
        return error_at(i, offset,
                        "read of " + std::to_string(size) + " bytes at " + std::to_string(offset) +
                            " is outside the tensor or not element-aligned");
    }
    const HfTensor * h = hf_[i];
    if (h == nullptr) { // generated (rope_freqs): F32 values
        return reinterpret_cast<const uint8_t *>(d.values.data()) + offset;
    }
    const std::string & dt   = h->dtype();
    const uint64_t      ies  = dt == "F32" ? 4 : 2;
    const bool          same = (dt == "F32" && *t.format == Format::F32) || (dt == "F16" && *t.format == Format::F16) ||
                      (dt == "BF16" && *t.format == Format::BF16);
    if (same && !d.permute) {
        return h->st->data + offset; // stored bytes are the GGUF bytes
    }
    // Rows of the GGUF tensor; for a permuted 1-D bias every element is a row.
    const int64_t row        = d.permute && t.ne[1] == 1 && t.ne[2] == 1 ? 1 : t.ne[0];
    const int64_t rows_total = t.numel() / row;
    const int64_t hd         = d.permute ? rows_total / d.n_head : 0;
    scratch.resize(size_t(size));
    const int      src_kind = dt == "F32" ? 0 : dt == "F16" ? 1 : 2;
    const int      dst_kind = *t.format == Format::F32 ? 0 : *t.format == Format::F16 ? 1 : 2;
    const uint64_t e0 = offset / oes, n = size / oes;
    for (uint64_t k = 0; k < n;) {
        const int64_t  r       = int64_t((e0 + k) / uint64_t(row));
        const int64_t  c       = int64_t((e0 + k) % uint64_t(row));
        const uint64_t len     = std::min<uint64_t>(uint64_t(row - c), n - k);
        int64_t        src_row = r;
        if (d.permute) { // GGUF row h*hd + 2j + i <- HF row h*hd + i*(hd/2) + j (FORMATS.md §2.8)
            const int64_t head = r / hd, w = r % hd;
            src_row = head * hd + (w % 2) * (hd / 2) + w / 2;
        }
        const uint8_t * src = h->st->data + uint64_t(src_row * row + c) * ies;
        uint8_t *       dst = scratch.data() + k * oes;
        if (same) {
            std::memcpy(dst, src, len * oes);
        } else {
            convert_run(src, src_kind, dst, dst_kind, len);
        }
        k += len;
    }
    return scratch.data();
}

} // namespace nibble
