#include "io/gguf.h"

#include <algorithm>
#include <bit>
#include <charconv>
#include <cstdio>
#include <numeric>
#include <utility>

namespace nibble {

// GGUF is little-endian (FORMATS.md §2.4); fields are memcpy'd straight into host integers.
static_assert(std::endian::native == std::endian::little, "GGUF reader assumes a little-endian host");

namespace {

constexpr uint32_t kGgufMagic = 0x46554747; // "GGUF" read as a little-endian uint32

// FORMATS.md §2.5. Ids 4, 5, 31-33 and 36-38 were removed from ggml and are rejected as unknown.
constexpr GgmlTypeInfo kGgmlTypes[] = {
    { 0, "f32", 1, 4 },         { 1, "f16", 1, 2 },         { 2, "q4_0", 32, 18 },      { 3, "q4_1", 32, 20 },
    { 6, "q5_0", 32, 22 },      { 7, "q5_1", 32, 24 },      { 8, "q8_0", 32, 34 },      { 9, "q8_1", 32, 36 },
    { 10, "q2_K", 256, 84 },    { 11, "q3_K", 256, 110 },   { 12, "q4_K", 256, 144 },   { 13, "q5_K", 256, 176 },
    { 14, "q6_K", 256, 210 },   { 15, "q8_K", 256, 292 },   { 16, "iq2_xxs", 256, 66 }, { 17, "iq2_xs", 256, 74 },
    { 18, "iq3_xxs", 256, 98 }, { 19, "iq1_s", 256, 50 },   { 20, "iq4_nl", 32, 18 },   { 21, "iq3_s", 256, 110 },
    { 22, "iq2_s", 256, 82 },   { 23, "iq4_xs", 256, 136 }, { 24, "i8", 1, 1 },         { 25, "i16", 1, 2 },
    { 26, "i32", 1, 4 },        { 27, "i64", 1, 8 },        { 28, "f64", 1, 8 },        { 29, "iq1_m", 256, 56 },
    { 30, "bf16", 1, 2 },       { 34, "tq1_0", 256, 54 },   { 35, "tq2_0", 256, 66 },   { 39, "mxfp4", 32, 17 },
    { 40, "nvfp4", 64, 36 },    { 41, "q1_0", 128, 18 },    { 42, "q2_0", 64, 18 },
};

constexpr const char * kGgufTypeNames[kGgufTypeCount] = {
    "UINT8", "INT8",   "UINT16", "INT16",  "UINT32", "INT32",   "FLOAT32",
    "BOOL",  "STRING", "ARRAY",  "UINT64", "INT64",  "FLOAT64",
};
constexpr size_t kGgufTypeSizes[kGgufTypeCount] = { 1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8 };

// Smallest encodings, used to bound counts by the bytes left before anything is allocated.
constexpr uint64_t kMinKVBytes         = 8 + 1 + 4 + 1;         // key length, 1-byte key, type, 1-byte value
constexpr uint64_t kMinTensorInfoBytes = 8 + 1 + 4 + 8 + 4 + 8; // name, n_dims, ne[0], type, offset
constexpr uint64_t kMinArrayBytes      = 4 + 8;                 // element type + count
constexpr uint64_t kReserveCap         = 1u << 20;              // elements reserved ahead of parsing

bool valid_utf8(std::string_view s);

// Names go into messages; cap them so a hostile 1 GB key does not become a 1 GB message, and escape
// control bytes (and every non-ASCII byte of invalid UTF-8) so the message stays printable.
std::string quote(std::string_view s) {
    constexpr size_t kMax    = 80;
    const bool       escape8 = !valid_utf8(s);
    std::string      out     = "'";
    for (char c : s.substr(0, kMax)) {
        const unsigned char u = static_cast<unsigned char>(c);
        if (u < 0x20 || u == 0x7f || (escape8 && u >= 0x80)) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02x", u);
            out += buf;
        } else {
            out += c;
        }
    }
    out += s.size() > kMax ? "'..." : "'";
    return out;
}

// Strict UTF-8 (no overlongs, no surrogates, <= U+10FFFF). Used for keys and tensor names only:
// string *values* (token texts) are passed through untouched, as ggml does.
bool valid_utf8(std::string_view s) {
    const auto * p = reinterpret_cast<const unsigned char *>(s.data());
    const size_t n = s.size();
    for (size_t i = 0; i < n;) {
        const unsigned char c = p[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        int      len;
        uint32_t cp;
        if (c >= 0xc2 && c <= 0xdf) {
            len = 2;
            cp  = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            len = 3;
            cp  = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            len = 4;
            cp  = c & 0x07;
        } else {
            return false; // stray continuation byte, overlong 2-byte lead, or > U+10FFFF
        }
        if (n - i < size_t(len)) {
            return false;
        }
        for (int k = 1; k < len; k++) {
            if ((p[i + k] & 0xc0) != 0x80) {
                return false;
            }
            cp = (cp << 6) | (p[i + k] & 0x3f);
        }
        if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
            (len == 4 && (cp < 0x10000 || cp > 0x10ffff))) {
            return false;
        }
        i += size_t(len);
    }
    return true;
}

} // namespace

const char * gguf_name_problem(std::string_view s) {
    if (s.find('\0') != std::string_view::npos) {
        return "contains a NUL byte";
    }
    if (!valid_utf8(s)) {
        return "is not valid UTF-8";
    }
    return nullptr;
}

const char * gguf_type_name(GgufType t) {
    return uint32_t(t) < kGgufTypeCount ? kGgufTypeNames[uint32_t(t)] : "?";
}

size_t gguf_type_size(GgufType t) {
    return uint32_t(t) < kGgufTypeCount ? kGgufTypeSizes[uint32_t(t)] : 0;
}

const GgmlTypeInfo * ggml_type_info(uint32_t id) {
    for (const GgmlTypeInfo & t : kGgmlTypes) {
        if (t.id == id) {
            return &t;
        }
    }
    return nullptr;
}

std::span<const GgmlTypeInfo> ggml_types() {
    return kGgmlTypes;
}

// ---------------------------------------------------------------------------------------------
// GgufValue

std::optional<std::string_view> GgufValue::get_string() const {
    if (type_ != GgufType::STRING) {
        return std::nullopt;
    }
    return std::string_view(reinterpret_cast<const char *>(enc_) + 8, enc_size_ - 8);
}

std::string_view GgufValue::string_at(uint64_t i) const {
    const uint8_t * p = enc_ + str_pos_[i];
    uint64_t        n;
    std::memcpy(&n, p, 8);
    return std::string_view(reinterpret_cast<const char *>(p) + 8, size_t(n));
}

std::string GgufValue::to_string(size_t max_elems) const {
    auto scalar = [](GgufType t, const uint8_t * p) -> std::string {
        char buf[64];
        switch (t) {
            case GgufType::UINT8:
                return std::to_string(load<uint8_t>(p));
            case GgufType::INT8:
                return std::to_string(load<int8_t>(p));
            case GgufType::UINT16:
                return std::to_string(load<uint16_t>(p));
            case GgufType::INT16:
                return std::to_string(load<int16_t>(p));
            case GgufType::UINT32:
                return std::to_string(load<uint32_t>(p));
            case GgufType::INT32:
                return std::to_string(load<int32_t>(p));
            case GgufType::UINT64:
                return std::to_string(load<uint64_t>(p));
            case GgufType::INT64:
                return std::to_string(load<int64_t>(p));
            case GgufType::BOOL:
                return load<bool>(p) ? "true" : "false";
            // Shortest text that reads back to the same value: 1e-05, not 9.99999975e-06.
            case GgufType::FLOAT32:
                return std::string(buf, std::to_chars(buf, buf + sizeof buf, load<float>(p)).ptr);
            case GgufType::FLOAT64:
                return std::string(buf, std::to_chars(buf, buf + sizeof buf, load<double>(p)).ptr);
            default:
                return "?";
        }
    };
    auto str = [](std::string_view s) {
        constexpr size_t kMax = 120;
        std::string      out  = "\"";
        out.append(s.substr(0, kMax));
        out.append(s.size() > kMax ? "\"..." : "\"");
        return out;
    };
    if (type_ == GgufType::STRING) {
        return str(*get_string());
    }
    if (type_ != GgufType::ARRAY) {
        return scalar(type_, enc_);
    }
    std::string out = "[";
    for (uint64_t i = 0; i < count_ && i < max_elems; i++) {
        if (i > 0) {
            out += ", ";
        }
        if (elem_type_ == GgufType::STRING) {
            out += str(string_at(i));
        } else if (elem_type_ == GgufType::ARRAY) {
            out += children_[i].to_string(max_elems);
        } else {
            out += scalar(elem_type_, enc_ + 12 + i * gguf_type_size(elem_type_));
        }
    }
    if (count_ > max_elems) {
        out += ", ... (" + std::to_string(count_) + " " + gguf_type_name(elem_type_) + ")";
    }
    return out + "]";
}

// ---------------------------------------------------------------------------------------------
// Parser. Reads forward through the image with a cursor; every read checks the bytes left first, and
// every count is compared with the bytes left (times the smallest element) before it drives a loop.

class GgufParser {
  public:
    GgufParser(const std::string & file, const uint8_t * data, size_t size) : file_(file), data_(data), size_(size) {}

    bool run(GgufFile & f);

    Error error;

  private:
    bool fail(uint64_t at, const std::string & what) {
        error = Error{ file_, at, ctx_.empty() ? what : ctx_ + ": " + what };
        return false;
    }
    uint64_t left() const { return size_ - pos_; }

    bool need(uint64_t n, const char * what) {
        if (left() < n) {
            return fail(pos_, std::string("truncated: ") + what + " needs " + std::to_string(n) + " bytes, " +
                                  std::to_string(left()) + " left in the file");
        }
        return true;
    }

    template <class T> bool read(T & v, const char * what) {
        if (!need(sizeof(T), what)) {
            return false;
        }
        std::memcpy(&v, data_ + pos_, sizeof(T));
        pos_ += sizeof(T);
        return true;
    }

    bool read_string(std::string_view & s, const char * what);
    bool parse_value(GgufType type, GgufValue & v, int depth);
    bool parse_header(GgufFile & f, uint64_t & n_tensors, uint64_t & n_kv);
    bool parse_kvs(GgufFile & f, uint64_t n_kv);
    bool parse_alignment(GgufFile & f);
    bool parse_tensor_info(GgufFile & f, uint64_t index);
    bool check_layout(GgufFile & f);

    const std::string & file_;
    const uint8_t *     data_;
    uint64_t            size_;
    uint64_t            pos_ = 0;
    std::string         ctx_;              // "KV 3 'key'" / "tensor 7 'name'": prefixes messages
    uint64_t            inner_arrays_ = 0; // arrays inside arrays so far, file-wide
};

bool GgufParser::read_string(std::string_view & s, const char * what) {
    const uint64_t at = pos_;
    uint64_t       n;
    if (!read(n, what)) {
        return false;
    }
    if (n > left()) {
        return fail(at, std::string(what) + " length " + std::to_string(n) + " runs past end of file (" +
                            std::to_string(left()) + " bytes left)");
    }
    s = std::string_view(reinterpret_cast<const char *>(data_ + pos_), size_t(n));
    pos_ += n;
    return true;
}

// Parses one value of `type` at the cursor (the type id has been consumed).
bool GgufParser::parse_value(GgufType type, GgufValue & v, int depth) {
    v.type_              = type;
    v.enc_               = data_ + pos_;
    const uint64_t start = pos_;
    if (type == GgufType::STRING) {
        std::string_view s;
        if (!read_string(s, "string value")) {
            return false;
        }
    } else if (type == GgufType::ARRAY) {
        const uint64_t at = pos_;
        if (depth >= kGgufMaxArrayDepth) {
            return fail(at, "arrays nest deeper than kGgufMaxArrayDepth = " + std::to_string(kGgufMaxArrayDepth));
        }
        uint32_t et;
        uint64_t n;
        if (!read(et, "array element type") || !read(n, "array count")) {
            return false;
        }
        if (et >= kGgufTypeCount) {
            return fail(at, "array element type " + std::to_string(et) + " is not a GGUF value type (0..12)");
        }
        v.elem_type_          = GgufType(et);
        v.count_              = n;
        const size_t   esize  = gguf_type_size(v.elem_type_);
        const uint64_t min_el = esize != 0 ? esize : (v.elem_type_ == GgufType::STRING ? 8 : kMinArrayBytes);
        if (n > left() / min_el) {
            return fail(at + 4, "array count " + std::to_string(n) + " of " + gguf_type_name(v.elem_type_) +
                                    " cannot fit in the " + std::to_string(left()) + " bytes left");
        }
        if (esize != 0) {
            pos_ += n * esize; // in bounds: checked just above
        } else if (v.elem_type_ == GgufType::STRING) {
            // Reserve only a bounded head start: a count that merely fits the bytes left could still
            // be a lie, and a 10 GB file must not buy a 10 GB reservation before the first string fails.
            // Past that, growth follows strings actually read (8 bytes of index per >= 8 file bytes).
            v.str_pos_.reserve(size_t(std::min<uint64_t>(n, kReserveCap)));
            for (uint64_t i = 0; i < n; i++) {
                v.str_pos_.push_back(pos_ - start);
                std::string_view s;
                if (!read_string(s, "array string element")) {
                    return false;
                }
            }
        } else {
            if (n > kGgufMaxInnerArrays - inner_arrays_) {
                return fail(at + 4, "nested arrays hold more than kGgufMaxInnerArrays = " +
                                        std::to_string(kGgufMaxInnerArrays) + " arrays in total");
            }
            inner_arrays_ += n;
            v.children_.reserve(size_t(n)); // <= kGgufMaxInnerArrays
            for (uint64_t i = 0; i < n; i++) {
                v.children_.emplace_back();
                if (!parse_value(GgufType::ARRAY, v.children_.back(), depth + 1)) {
                    return false;
                }
            }
        }
    } else {
        if (!need(gguf_type_size(type), "scalar value")) {
            return false;
        }
        pos_ += gguf_type_size(type);
    }
    v.enc_size_ = size_t(pos_ - start);
    return true;
}

bool GgufParser::parse_header(GgufFile & f, uint64_t & n_tensors, uint64_t & n_kv) {
    uint32_t magic;
    if (!read(magic, "magic")) {
        return false;
    }
    if (magic != kGgufMagic) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "bad magic %02x %02x %02x %02x, expected \"GGUF\"", data_[0], data_[1], data_[2],
                      data_[3]);
        return fail(0, buf);
    }
    if (!read(f.version_, "version")) {
        return false;
    }
    if (f.version_ != 0 && (f.version_ & 0xffff) == 0) {
        // A big-endian v3 file reads 0x03000000 here; ggml uses the same test (FORMATS.md §2.1).
        return fail(4, "big-endian GGUF not supported (version field reads " + std::to_string(f.version_) + ")");
    }
    if (f.version_ < 2 || f.version_ > kGgufVersion) {
        return fail(4, "unsupported GGUF version " + std::to_string(f.version_) + " (need 2 or 3)");
    }
    if (!read(n_tensors, "tensor count") || !read(n_kv, "KV count")) {
        return false;
    }
    // Both are int64 in ggml; a "negative" count shows up here as a huge one and fails the same test.
    if (n_kv > kGgufMaxKVs || n_kv > left() / kMinKVBytes) {
        return fail(16, "KV count " + std::to_string(n_kv) + " exceeds what the file can hold (" +
                            std::to_string(left()) + " bytes left, limit " + std::to_string(kGgufMaxKVs) + ")");
    }
    if (n_tensors > kGgufMaxTensors || n_tensors > left() / kMinTensorInfoBytes) {
        return fail(8, "tensor count " + std::to_string(n_tensors) + " exceeds what the file can hold (" +
                           std::to_string(left()) + " bytes left, limit " + std::to_string(kGgufMaxTensors) + ")");
    }
    return true;
}

bool GgufParser::parse_kvs(GgufFile & f, uint64_t n_kv) {
    for (uint64_t i = 0; i < n_kv; i++) {
        const uint64_t at = pos_;
        ctx_              = "KV " + std::to_string(i);
        std::string_view key;
        if (!read_string(key, "key")) {
            return false;
        }
        ctx_ += ' ';
        ctx_ += quote(key);
        if (key.empty()) {
            return fail(at, "key is empty");
        }
        if (const char * why = gguf_name_problem(key)) {
            return fail(at, std::string("key ") + why);
        }
        const auto [it, inserted] = f.kv_index_.emplace(key, f.kvs_.size());
        if (!inserted) {
            return fail(at,
                        "duplicate key (first defined at offset " + std::to_string(f.kvs_[it->second].offset) + ")");
        }
        const uint64_t type_at = pos_;
        uint32_t       type;
        if (!read(type, "value type")) {
            return false;
        }
        if (type >= kGgufTypeCount) {
            return fail(type_at, "value type " + std::to_string(type) + " is not a GGUF value type (0..12)");
        }
        GgufKV & kv = f.kvs_.emplace_back();
        kv.key      = std::string(key);
        kv.offset   = at;
        if (!parse_value(GgufType(type), kv.value, 0)) {
            return false;
        }
    }
    ctx_.clear();
    return true;
}

bool GgufParser::parse_alignment(GgufFile & f) {
    const GgufKV * kv = f.find(kGgufAlignmentKey);
    if (kv == nullptr) {
        f.alignment_ = kGgufDefaultAlign;
        return true;
    }
    ctx_                            = std::string("KV ") + quote(kGgufAlignmentKey);
    const std::optional<uint32_t> a = kv->value.get<uint32_t>();
    if (!a) {
        return fail(kv->offset, std::string("must be UINT32, got ") + gguf_type_name(kv->value.type()));
    }
    if (*a == 0 || (*a & (*a - 1)) != 0) {
        return fail(kv->offset, "alignment " + std::to_string(*a) + " is not a non-zero power of two");
    }
    if (*a > kGgufMaxAlignment) {
        return fail(kv->offset, "alignment " + std::to_string(*a) +
                                    " exceeds kGgufMaxAlignment = " + std::to_string(kGgufMaxAlignment));
    }
    f.alignment_ = *a;
    ctx_.clear();
    return true;
}

bool GgufParser::parse_tensor_info(GgufFile & f, uint64_t index) {
    const uint64_t at = pos_;
    ctx_              = "tensor " + std::to_string(index);
    std::string_view name;
    if (!read_string(name, "tensor name")) {
        return false;
    }
    ctx_ += ' ';
    ctx_ += quote(name);
    if (name.empty()) {
        return fail(at, "tensor name is empty");
    }
    if (name.size() > kGgufMaxNameBytes) {
        return fail(at, "tensor name is " + std::to_string(name.size()) + " bytes, more than " +
                            std::to_string(kGgufMaxNameBytes) + " (GGML_MAX_NAME)");
    }
    if (const char * why = gguf_name_problem(name)) {
        return fail(at, std::string("tensor name ") + why);
    }
    const auto [it, inserted] = f.tensor_index_.emplace(name, f.tensors_.size());
    if (!inserted) {
        return fail(at, "duplicate tensor name (first defined at offset " +
                            std::to_string(f.tensors_[it->second].info_offset) + ")");
    }
    GgufTensor & t = f.tensors_.emplace_back();
    t.name         = std::string(name);
    t.info_offset  = at;

    const uint64_t dims_at = pos_;
    if (!read(t.n_dims, "n_dims")) {
        return false;
    }
    if (t.n_dims < 1 || t.n_dims > uint32_t(kGgufMaxDims)) {
        return fail(dims_at, "n_dims " + std::to_string(t.n_dims) + " outside 1.." + std::to_string(kGgufMaxDims));
    }
    int64_t numel = 1;
    for (uint32_t d = 0; d < t.n_dims; d++) {
        const uint64_t ne_at = pos_;
        if (!read(t.ne[d], "dimension")) {
            return false;
        }
        if (t.ne[d] <= 0) {
            return fail(ne_at, "ne[" + std::to_string(d) + "] = " + std::to_string(t.ne[d]) + " is not positive");
        }
        if (__builtin_mul_overflow(numel, t.ne[d], &numel)) {
            return fail(ne_at,
                        "element count overflows int64 at ne[" + std::to_string(d) + "] = " + std::to_string(t.ne[d]));
        }
    }

    const uint64_t type_at = pos_;
    if (!read(t.ggml_type, "tensor type")) {
        return false;
    }
    const GgmlTypeInfo * ti = ggml_type_info(t.ggml_type);
    if (ti == nullptr) {
        return fail(type_at, "unknown ggml type id " + std::to_string(t.ggml_type));
    }
    t.format = format_from_ggml_type(int(t.ggml_type));
    if (t.ne[0] % ti->block_size != 0) {
        return fail(type_at, "ne[0] = " + std::to_string(t.ne[0]) + " is not a multiple of the " + ti->name +
                                 " block size " + std::to_string(ti->block_size));
    }
    // (numel / block) * type_size; numel is a multiple of the block since ne[0] is.
    int64_t nbytes;
    if (__builtin_mul_overflow(numel / ti->block_size, int64_t(ti->type_size), &nbytes)) {
        return fail(type_at, "byte size of " + std::to_string(numel) + " " + ti->name + " elements overflows int64");
    }
    t.nbytes = uint64_t(nbytes);

    const uint64_t off_at = pos_;
    if (!read(t.offset, "tensor data offset")) {
        return false;
    }
    if (t.offset % f.alignment_ != 0) {
        return fail(off_at, "data offset " + std::to_string(t.offset) + " is not a multiple of the alignment " +
                                std::to_string(f.alignment_));
    }
    return true;
}

// After all infos: the data section start, bounds, overlaps and whether the layout is ggml's.
bool GgufParser::check_layout(GgufFile & f) {
    // pos_ <= size_ and alignment <= 1 MiB, so this cannot overflow.
    f.data_offset_       = (pos_ + f.alignment_ - 1) / f.alignment_ * f.alignment_;
    const uint64_t avail = f.data_offset_ <= size_ ? size_ - f.data_offset_ : 0;

    uint64_t expect = 0; // next offset of a sequential (ggml) layout
    f.sequential_   = true;
    for (GgufTensor & t : f.tensors_) {
        ctx_                  = "tensor " + quote(t.name);
        const uint64_t off_at = t.info_offset + 8 + t.name.size() + 4 + 8 * uint64_t(t.n_dims) + 4;
        if (t.offset > avail || t.nbytes > avail - t.offset) {
            return fail(off_at, "data [" + std::to_string(t.offset) + ", +" + std::to_string(t.nbytes) +
                                    ") relative to the data section at " + std::to_string(f.data_offset_) +
                                    " runs past end of file (file size " + std::to_string(size_) + ")");
        }
        t.data = data_ + f.data_offset_ + t.offset;
        if (t.offset != expect) {
            f.sequential_ = false;
        }
        expect = t.offset + (t.nbytes + f.alignment_ - 1) / f.alignment_ * f.alignment_; // <= size + alignment
    }

    // Overlaps in offset order. Every tensor has at least one byte (dims > 0).
    std::vector<uint32_t> order(f.tensors_.size()); // <= kGgufMaxTensors
    std::iota(order.begin(), order.end(), 0u);
    std::sort(order.begin(), order.end(), [&f](uint32_t a, uint32_t b) {
        return f.tensors_[a].offset != f.tensors_[b].offset ? f.tensors_[a].offset < f.tensors_[b].offset : a < b;
    });
    for (size_t k = 1; k < order.size(); k++) {
        const GgufTensor & p = f.tensors_[order[k - 1]];
        const GgufTensor & t = f.tensors_[order[k]];
        if (t.offset < p.offset + p.nbytes) {
            ctx_                  = "tensor " + quote(t.name);
            const uint64_t off_at = t.info_offset + 8 + t.name.size() + 4 + 8 * uint64_t(t.n_dims) + 4;
            return fail(off_at, "data [" + std::to_string(t.offset) + ", " + std::to_string(t.offset + t.nbytes) +
                                    ") overlaps tensor " + quote(p.name) + " [" + std::to_string(p.offset) + ", " +
                                    std::to_string(p.offset + p.nbytes) + ")");
        }
    }
    ctx_.clear();
    return true;
}

bool GgufParser::run(GgufFile & f) {
    uint64_t n_tensors = 0, n_kv = 0;
    if (!parse_header(f, n_tensors, n_kv) || !parse_kvs(f, n_kv) || !parse_alignment(f)) {
        return false;
    }
    for (uint64_t i = 0; i < n_tensors; i++) {
        if (!parse_tensor_info(f, i)) {
            return false;
        }
    }
    ctx_.clear();
    return check_layout(f);
}

// ---------------------------------------------------------------------------------------------
// GgufFile

Result<GgufFile> GgufFile::parse(std::string name, const uint8_t * data, size_t size) {
    GgufFile f;
    f.name_ = std::move(name);
    f.data_ = data;
    f.size_ = size;
    GgufParser p(f.name_, data, size);
    if (!p.run(f)) {
        return p.error;
    }
    return f;
}

Result<GgufFile> GgufFile::open(const std::string & path) {
    Result<MappedFile> m = MappedFile::open(path);
    if (!m) {
        return m.error();
    }
    Result<GgufFile> f = parse(path, m->data(), m->size());
    if (f) {
        // Moving the mapping keeps its address, so tensor pointers and index keys stay valid.
        f->file_ = std::move(m.value());
    }
    return f;
}

const GgufKV * GgufFile::find(std::string_view key) const {
    const auto it = kv_index_.find(key);
    return it == kv_index_.end() ? nullptr : &kvs_[it->second];
}

const GgufTensor * GgufFile::find_tensor(std::string_view name) const {
    const auto it = tensor_index_.find(name);
    return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

Result<std::string_view> GgufFile::get_string(std::string_view key) const {
    const GgufKV * kv = find(key);
    if (kv == nullptr) {
        return missing_key(key);
    }
    if (std::optional<std::string_view> s = kv->value.get_string()) {
        return *s;
    }
    return wrong_type(*kv, GgufType::STRING);
}

Error GgufFile::missing_key(std::string_view key) const {
    return Error{ name_, 0, "key " + quote(key) + " not found" };
}

Error GgufFile::wrong_type(const GgufKV & kv, GgufType want) const {
    std::string have = gguf_type_name(kv.value.type());
    if (kv.value.is_array()) {
        have += std::string(" of ") + gguf_type_name(kv.value.elem_type());
    }
    return Error{ name_, kv.offset,
                  "key " + quote(kv.key) + " has type " + have + ", expected " + gguf_type_name(want) };
}

} // namespace nibble
