#include "io/safetensors.h"

#include "core/half.h"
#include "formats/minifloat.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <exception>
#include <nlohmann/json.hpp>
#include <set>
#include <utility>

namespace nibble {

// SafeTensors is little-endian; element reads below memcpy raw bytes into host integers.
static_assert(std::endian::native == std::endian::little, "SafeTensors reader assumes a little-endian host");

namespace {

using json = nlohmann::json;

struct DtypeInfo {
    const char * name;
    int          bits;
};

// FORMATS.md §9 plus the sub-byte floats of newer safetensors releases.
constexpr DtypeInfo kDtypes[] = {
    { "BOOL", 8 }, { "U8", 8 },   { "I8", 8 },    { "F8_E4M3", 8 }, { "F8_E5M2", 8 }, { "F8_E8M0", 8 }, { "I16", 16 },
    { "U16", 16 }, { "F16", 16 }, { "BF16", 16 }, { "I32", 32 },    { "U32", 32 },    { "F32", 32 },    { "I64", 64 },
    { "U64", 64 }, { "F64", 64 }, { "F4", 4 },    { "F6_E2M3", 6 }, { "F6_E3M2", 6 },
};

// ---------------------------------------------------------------------------------------------
// Pre-scan of the raw header text, before nlohmann sees it:
//  * rejects nesting deeper than kStMaxJsonDepth (a header of 10000 '[' would otherwise build a
//    10000-deep DOM whose recursive destructor is a stack-overflow hazard);
//  * records the byte position of every object key in document order. nlohmann's parser callback
//    reports keys in the same order but without positions, so the k-th key event maps to
//    key_pos[k]. In valid JSON a key is exactly a string followed (after whitespace) by ':'.
struct PreScan {
    std::vector<uint32_t> key_pos; // header-relative; the header is <= 100 MiB so 32 bits suffice
    bool                  too_deep = false;
    size_t                deep_pos = 0;
};

bool is_json_ws(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

PreScan prescan(const char * s, size_t n) {
    PreScan r;
    int     depth = 0;
    for (size_t i = 0; i < n; i++) {
        const char c = s[i];
        if (c == '"') {
            const size_t start = i;
            for (i++; i < n && s[i] != '"'; i++) {
                if (s[i] == '\\') {
                    i++; // skip the escaped character, which may be '"'
                }
            }
            if (i >= n) {
                break; // unterminated string: the parser reports it with a position
            }
            size_t j = i + 1;
            while (j < n && is_json_ws(s[j])) {
                j++;
            }
            if (j < n && s[j] == ':') {
                r.key_pos.push_back(uint32_t(start));
            }
        } else if (c == '{' || c == '[') {
            if (++depth > kStMaxJsonDepth) {
                r.too_deep = true;
                r.deep_pos = i;
                return r;
            }
        } else if (c == '}' || c == ']') {
            depth--; // unbalanced input is the parser's to report
        }
    }
    return r;
}

// Parser-callback state: one key set per open object, to reject duplicate keys (nlohmann keeps the
// last value silently, which would let a file show different tensors to different readers).
struct KeyTracker {
    const PreScan *                    scan;
    std::vector<std::set<std::string>> open;
    size_t                             key_index = 0;
    bool                               dup       = false;
    std::string                        dup_key;
    size_t                             dup_pos = 0;
    std::map<std::string, size_t>      top_pos; // top-level key -> header-relative position

    size_t pos_of(size_t k) const { return k < scan->key_pos.size() ? scan->key_pos[k] : 0; }

    bool on_event(json::parse_event_t ev, const json & parsed) {
        if (ev == json::parse_event_t::object_start) {
            open.emplace_back();
        } else if (ev == json::parse_event_t::object_end) {
            if (!open.empty()) {
                open.pop_back();
            }
        } else if (ev == json::parse_event_t::key && !open.empty()) {
            const size_t        k   = key_index++;
            const std::string & key = parsed.get_ref<const std::string &>();
            if (!open.back().insert(key).second && !dup) {
                dup     = true;
                dup_key = key;
                dup_pos = pos_of(k);
            }
            if (open.size() == 1) {
                top_pos.emplace(key, pos_of(k));
            }
        }
        return true;
    }
};

// Everything open() and parse() learn from a header, before they are moved into a SafeTensorsFile.
struct Parsed {
    uint64_t                           data_offset = 0;
    std::vector<StTensor>              tensors;
    std::map<std::string, std::string> metadata;
};

class HeaderParser {
  public:
    HeaderParser(const std::string & file, const uint8_t * data, size_t size) : file_(file), data_(data), size_(size) {}

    Result<Parsed> run();

  private:
    Error err(uint64_t offset, std::string what) const { return Error{ file_, offset, std::move(what) }; }

    Result<StTensor> tensor_entry(const std::string & name, const json & v, uint64_t key_off) const;

    const std::string & file_;
    const uint8_t *     data_;
    size_t              size_;
    uint64_t            data_start_ = 0; // 8 + N
    uint64_t            data_size_  = 0; // file size - (8 + N)
};

std::string quote_name(const std::string & s) {
    // Names go into messages; keep them short so a 50 MB key does not become a 50 MB message.
    constexpr size_t kMax = 200;
    return s.size() <= kMax ? "\"" + s + "\"" : "\"" + s.substr(0, kMax) + "...\"";
}

Result<Parsed> HeaderParser::run() {
    if (size_ < 8) {
        return err(0, "file is " + std::to_string(size_) + " bytes, too small for the 8-byte header length");
    }
    uint64_t n;
    std::memcpy(&n, data_, 8);
    if (n > kStMaxHeaderBytes) {
        return err(0, "header length " + std::to_string(n) +
                          " exceeds the limit kStMaxHeaderBytes = " + std::to_string(kStMaxHeaderBytes));
    }
    if (n > uint64_t(size_) - 8) { // 8 + n <= size, written so it cannot overflow
        return err(0, "header length " + std::to_string(n) + " runs past end of file (file size " +
                          std::to_string(size_) + ")");
    }
    data_start_ = 8 + n;
    data_size_  = uint64_t(size_) - data_start_;

    const char * hdr = reinterpret_cast<const char *>(data_ + 8);
    const size_t hn  = size_t(n);

    const PreScan scan = prescan(hdr, hn);
    if (scan.too_deep) {
        return err(8 + scan.deep_pos,
                   "JSON header nests deeper than kStMaxJsonDepth = " + std::to_string(kStMaxJsonDepth));
    }

    KeyTracker keys{ &scan, {}, 0, false, {}, 0, {} };
    json       root;
    try {
        root = json::parse(
            hdr, hdr + hn, [&keys](int, json::parse_event_t ev, json & parsed) { return keys.on_event(ev, parsed); },
            /*allow_exceptions=*/true, /*ignore_comments=*/false);
    } catch (const json::parse_error & e) {
        // e.byte counts characters read, so the offending one is at byte - 1.
        const uint64_t pos = e.byte > 0 ? std::min<uint64_t>(e.byte - 1, hn) : 0;
        return err(8 + pos, std::string("invalid JSON header: ") + e.what());
    } catch (const std::exception & e) {
        return err(8, std::string("invalid JSON header: ") + e.what());
    }
    if (keys.dup) {
        return err(8 + keys.dup_pos, "duplicate key " + quote_name(keys.dup_key) + " in JSON header");
    }
    if (!root.is_object()) {
        return err(8, std::string("JSON header must be an object, got ") + root.type_name());
    }

    Parsed out;
    out.data_offset = data_start_;
    out.tensors.reserve(root.size()); // bounded by what the parser actually built
    for (const auto & [name, v] : root.items()) {
        const auto     it      = keys.top_pos.find(name);
        const uint64_t key_off = 8 + (it != keys.top_pos.end() ? it->second : 0);
        if (name == "__metadata__") {
            if (!v.is_object()) {
                return err(key_off, std::string("__metadata__ must be an object, got ") + v.type_name());
            }
            for (const auto & [mk, mv] : v.items()) {
                if (!mv.is_string()) {
                    return err(key_off,
                               "__metadata__ value for " + quote_name(mk) + " must be a string, got " + mv.type_name());
                }
                out.metadata.emplace(mk, mv.get<std::string>());
            }
            continue;
        }
        Result<StTensor> t = tensor_entry(name, v, key_off);
        if (!t) {
            return t.error();
        }
        out.tensors.push_back(std::move(t.value()));
    }

    // Overlap check in file order. Zero-byte tensors occupy nothing and may sit anywhere (even on
    // another tensor's first byte), so only non-empty ones advance the high-water mark.
    std::stable_sort(out.tensors.begin(), out.tensors.end(), [](const StTensor & a, const StTensor & b) {
        return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
    });
    const StTensor * prev = nullptr;
    for (const StTensor & t : out.tensors) {
        if (t.begin == t.end) {
            continue;
        }
        if (prev != nullptr && t.begin < prev->end) {
            return err(t.begin, "tensor " + quote_name(t.name) + " data [" + std::to_string(t.begin) + ", " +
                                    std::to_string(t.end) + ") overlaps tensor " + quote_name(prev->name) + " [" +
                                    std::to_string(prev->begin) + ", " + std::to_string(prev->end) + ")");
        }
        prev = &t;
    }
    for (StTensor & t : out.tensors) {
        t.data = data_ + t.begin; // in bounds: begin <= size, checked in tensor_entry
    }
    return out;
}

Result<StTensor> HeaderParser::tensor_entry(const std::string & name, const json & v, uint64_t key_off) const {
    const std::string tn = "tensor " + quote_name(name);
    if (!v.is_object()) {
        return err(key_off, tn + ": entry must be an object, got " + v.type_name());
    }
    // Unknown extra fields are ignored (forward compatibility); the three below are required.
    const auto dt = v.find("dtype");
    const auto sh = v.find("shape");
    const auto of = v.find("data_offsets");
    if (dt == v.end() || sh == v.end() || of == v.end()) {
        return err(key_off, tn + ": entry needs \"dtype\", \"shape\" and \"data_offsets\"");
    }

    StTensor t;
    t.name = name;
    if (!dt->is_string()) {
        return err(key_off, tn + ": dtype must be a string, got " + dt->type_name());
    }
    t.dtype        = dt->get<std::string>();
    const int bits = st_dtype_bits(t.dtype);
    if (bits == 0) {
        return err(key_off, tn + ": unknown dtype " + quote_name(t.dtype));
    }

    if (!sh->is_array()) {
        return err(key_off, tn + ": shape must be an array, got " + sh->type_name());
    }
    if (sh->size() > kStMaxDims) {
        return err(key_off, tn + ": shape has " + std::to_string(sh->size()) +
                                " dims, more than kStMaxDims = " + std::to_string(kStMaxDims));
    }
    t.shape.reserve(sh->size()); // <= kStMaxDims, checked above
    uint64_t numel = 1;
    for (const json & d : *sh) {
        // nlohmann stores non-negative integer literals as unsigned and negative ones as signed.
        if (d.is_number_integer() && !d.is_number_unsigned()) {
            return err(key_off, tn + ": shape has negative dimension " + std::to_string(d.get<int64_t>()));
        }
        if (!d.is_number_unsigned()) {
            return err(key_off, tn + ": shape entries must be non-negative integers, got " + d.dump());
        }
        const uint64_t u = d.get<uint64_t>();
        if (u > uint64_t(INT64_MAX)) {
            return err(key_off, tn + ": shape dimension " + std::to_string(u) + " does not fit int64");
        }
        if (__builtin_mul_overflow(numel, u, &numel)) {
            return err(key_off, tn + ": shape " + sh->dump() + " element count overflows 64 bits");
        }
        t.shape.push_back(int64_t(u));
    }
    uint64_t nbits;
    if (__builtin_mul_overflow(numel, uint64_t(bits), &nbits) || nbits / 8 > uint64_t(INT64_MAX)) {
        return err(key_off, tn + ": shape " + sh->dump() + " byte size overflows");
    }
    if (nbits % 8 != 0) {
        return err(key_off, tn + ": " + std::to_string(numel) + " elements of " + t.dtype + " are not a whole byte");
    }
    const uint64_t nbytes = nbits / 8;

    if (!of->is_array() || of->size() != 2 || !(*of)[0].is_number_unsigned() || !(*of)[1].is_number_unsigned()) {
        return err(key_off, tn + ": data_offsets must be [begin, end] of non-negative integers, got " + of->dump());
    }
    const uint64_t b   = (*of)[0].get<uint64_t>();
    const uint64_t e   = (*of)[1].get<uint64_t>();
    // Report data-offset problems at the absolute file offset when it is representable, otherwise at
    // the header entry.
    const auto abs_off = [&](uint64_t rel) { return rel <= UINT64_MAX - data_start_ ? data_start_ + rel : key_off; };
    if (b > e) {
        return err(abs_off(b), tn + ": data_offsets begin " + std::to_string(b) + " > end " + std::to_string(e));
    }
    if (e > data_size_) {
        return err(abs_off(b), tn + ": data_offsets end " + std::to_string(e) + " runs past end of data (" +
                                   std::to_string(data_size_) + " bytes after the header)");
    }
    if (e - b != nbytes) {
        return err(abs_off(b), tn + ": data_offsets span " + std::to_string(e - b) + " bytes but " + t.dtype +
                                   " shape " + sh->dump() + " needs " + std::to_string(nbytes));
    }
    t.begin = data_start_ + b;
    t.end   = data_start_ + e;
    return t;
}

} // namespace

// ---------------------------------------------------------------------------------------------

int st_dtype_bits(const std::string & dtype) {
    for (const DtypeInfo & d : kDtypes) {
        if (dtype == d.name) {
            return d.bits;
        }
    }
    return 0;
}

uint64_t StTensor::numel() const {
    uint64_t n = 1;
    for (int64_t d : shape) {
        n *= uint64_t(d);
    }
    return n;
}

Result<SafeTensorsFile> SafeTensorsFile::parse(const std::string & name, const uint8_t * data, size_t size) {
    Result<Parsed> p = HeaderParser(name, data, size).run();
    if (!p) {
        return p.error();
    }
    SafeTensorsFile f;
    f.name_        = name;
    f.data_offset_ = p->data_offset;
    f.tensors_     = std::move(p->tensors);
    f.metadata_    = std::move(p->metadata);
    f.index_.reserve(f.tensors_.size());
    for (size_t i = 0; i < f.tensors_.size(); i++) {
        f.index_.emplace(f.tensors_[i].name, i);
    }
    return f;
}

Result<SafeTensorsFile> SafeTensorsFile::open(const std::string & path) {
    Result<MappedFile> m = MappedFile::open(path);
    if (!m) {
        return m.error();
    }
    Result<SafeTensorsFile> f = parse(path, m->data(), m->size());
    if (f) {
        // Moving the mapping keeps its address, so the StTensor::data pointers stay valid.
        f->file_ = std::move(m.value());
    }
    return f;
}

const StTensor * SafeTensorsFile::find(const std::string & name) const {
    const auto it = index_.find(name);
    return it == index_.end() ? nullptr : &tensors_[it->second];
}

// ---------------------------------------------------------------------------------------------

namespace {

template <class Bits, class Fn> void convert(const uint8_t * src, float * dst, size_t n, Fn fn) {
    for (size_t i = 0; i < n; i++) {
        Bits b;
        std::memcpy(&b, src + i * sizeof(Bits), sizeof(Bits)); // tensors carry no alignment guarantee
        dst[i] = fn(b);
    }
}

} // namespace

Result<std::vector<float>> to_f32(const StTensor & t) {
    const std::string tn   = "tensor " + quote_name(t.name);
    const int         bits = st_dtype_bits(t.dtype);
    const bool        ok =
        t.dtype == "F32" || t.dtype == "F16" || t.dtype == "BF16" || t.dtype == "F8_E4M3" || t.dtype == "F8_E5M2";
    if (!ok) {
        return Error{ {}, t.begin, tn + ": no float conversion for dtype " + quote_name(t.dtype) };
    }
    // Re-check the byte span against the shape: a StTensor may have been built by hand rather than
    // by SafeTensorsFile, and the allocation below must not trust it blindly.
    const uint64_t isz = uint64_t(bits / 8);
    uint64_t       n   = 1;
    for (int64_t d : t.shape) {
        if (d < 0 || __builtin_mul_overflow(n, uint64_t(d), &n)) {
            return Error{ {}, t.begin, tn + ": invalid shape" };
        }
    }
    if (t.end < t.begin || (t.end - t.begin) / isz != n || (t.end - t.begin) % isz != 0 ||
        (n > 0 && t.data == nullptr)) {
        return Error{ {}, t.begin, tn + ": byte span does not match dtype and shape" };
    }

    std::vector<float> out(static_cast<size_t>(n));
    const uint8_t *    src = t.data;
    if (t.dtype == "F32") {
        if (n > 0) {
            std::memcpy(out.data(), src, size_t(n) * 4);
        }
    } else if (t.dtype == "F16") {
        convert<uint16_t>(src, out.data(), size_t(n), [](uint16_t h) { return fp16_to_fp32(h); });
    } else if (t.dtype == "BF16") {
        convert<uint16_t>(src, out.data(), size_t(n), [](uint16_t h) { return bf16_to_fp32(h); });
    } else if (t.dtype == "F8_E4M3") {
        convert<uint8_t>(src, out.data(), size_t(n), [](uint8_t b) { return e4m3_to_fp32(b); });
    } else {
        convert<uint8_t>(src, out.data(), size_t(n), [](uint8_t b) { return e5m2_to_fp32(b); });
    }
    return out;
}

} // namespace nibble
