// Hardened GGUF v3 reader (FORMATS.md §2). The whole header is validated at open: counts are bounded
// by the bytes that remain, every tensor lies inside the file, is aligned, does not overlap another and
// matches its type's block size. After that every GgufTensor and GgufValue is a zero-copy view into the
// mapping that callers can trust. The writer lives in gguf_writer.h.
#pragma once

#include "core/mmap_file.h"
#include "core/status.h"
#include "formats/format.h"

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <vector>

namespace nibble {

// GGUF metadata value types (FORMATS.md §2.2); the numbers are the on-disk ids.
enum class GgufType : uint32_t {
    UINT8   = 0,
    INT8    = 1,
    UINT16  = 2,
    INT16   = 3,
    UINT32  = 4,
    INT32   = 5,
    FLOAT32 = 6,
    BOOL    = 7,
    STRING  = 8,
    ARRAY   = 9,
    UINT64  = 10,
    INT64   = 11,
    FLOAT64 = 12,
};
inline constexpr uint32_t kGgufTypeCount = 13;

const char * gguf_type_name(GgufType t); // "UINT32", ...; "?" for ids outside the enum
size_t       gguf_type_size(GgufType t); // bytes of one scalar; 0 for STRING and ARRAY

// The GgufType a C++ scalar maps to. Only the eleven fixed-size types have one.
template <class T> constexpr GgufType gguf_type_of() {
    if constexpr (std::is_same_v<T, uint8_t>) {
        return GgufType::UINT8;
    } else if constexpr (std::is_same_v<T, int8_t>) {
        return GgufType::INT8;
    } else if constexpr (std::is_same_v<T, uint16_t>) {
        return GgufType::UINT16;
    } else if constexpr (std::is_same_v<T, int16_t>) {
        return GgufType::INT16;
    } else if constexpr (std::is_same_v<T, uint32_t>) {
        return GgufType::UINT32;
    } else if constexpr (std::is_same_v<T, int32_t>) {
        return GgufType::INT32;
    } else if constexpr (std::is_same_v<T, float>) {
        return GgufType::FLOAT32;
    } else if constexpr (std::is_same_v<T, bool>) {
        return GgufType::BOOL;
    } else if constexpr (std::is_same_v<T, uint64_t>) {
        return GgufType::UINT64;
    } else if constexpr (std::is_same_v<T, int64_t>) {
        return GgufType::INT64;
    } else {
        static_assert(std::is_same_v<T, double>, "no GGUF scalar type for T");
        return GgufType::FLOAT64;
    }
}

// Limits. ggml has none on nesting because it rejects nested arrays outright; we parse them, so the
// depth is capped to keep recursion off the stack limit, and the total number of inner arrays is
// capped because each costs a GgufValue (~100 bytes) for as little as 12 file bytes. The alignment
// cap matches ggml's (1 MiB): a 2^31 alignment would make the writer pad gigabytes. The count caps
// are far above real files (DeepSeek-V3 has ~1.1k tensors, ~50 KVs) and keep a hostile header from
// costing gigabytes of bookkeeping even when the file is big enough to "hold" the counts.
inline constexpr int      kGgufMaxArrayDepth  = 8;
inline constexpr uint64_t kGgufMaxInnerArrays = 1ull << 16;
inline constexpr uint32_t kGgufMaxAlignment   = 1u << 20;
inline constexpr uint32_t kGgufDefaultAlign   = 32;
inline constexpr size_t   kGgufMaxNameBytes   = 63; // GGML_MAX_NAME = 64 including the NUL
inline constexpr int      kGgufMaxDims        = 4;
inline constexpr uint64_t kGgufMaxTensors     = 1ull << 20;
inline constexpr uint64_t kGgufMaxKVs         = 1ull << 16;
inline constexpr uint32_t kGgufVersion        = 3;
inline constexpr char     kGgufAlignmentKey[] = "general.alignment";

// Every ggml_type a GGUF may carry (FORMATS.md §2.5), including those nibble has no codec for
// (IQ2_XXS, I32, ...): such files can still be inspected and copied.
struct GgmlTypeInfo {
    uint32_t     id;
    const char * name; // ggml_type_name spelling
    int          block_size;
    int          type_size;
};
const GgmlTypeInfo *          ggml_type_info(uint32_t id); // nullptr for removed or unknown ids
std::span<const GgmlTypeInfo> ggml_types();

// Rules shared by keys and tensor names (reader and writer): valid UTF-8 and no NUL byte, because
// ggml keeps names as C strings and "a\0x" and "a\0y" would both become "a" there. Returns the
// broken rule ("contains a NUL byte", ...) or nullptr when the name is fine.
const char * gguf_name_problem(std::string_view name);

// A metadata value: a view of its encoded bytes in the file, which keeps the exact type (an INT32
// stays INT32, a bool byte of 7 stays 7) so that copying a file reproduces it bit for bit.
class GgufValue {
  public:
    GgufType type() const { return type_; }
    bool     is_array() const { return type_ == GgufType::ARRAY; }
    GgufType elem_type() const { return elem_type_; } // arrays only
    uint64_t size() const { return count_; }          // array element count; 1 for scalars and strings

    // Scalar of exactly type T (no conversions: llama.cpp is strictly typed, FORMATS.md §2.2).
    template <class T> std::optional<T> get() const {
        if (type_ != gguf_type_of<T>()) {
            return std::nullopt;
        }
        return load<T>(enc_);
    }
    std::optional<std::string_view> get_string() const;

    // Array elements. Preconditions: is_array(), elem_type() matches, i < size().
    template <class T> T at(uint64_t i) const { return load<T>(enc_ + 12 + i * sizeof(T)); }
    std::string_view     string_at(uint64_t i) const;
    const GgufValue &    array_at(uint64_t i) const { return children_[i]; }

    // The bytes after the 4-byte type id, exactly as stored: the scalar, the length-prefixed string,
    // or element type + count + elements.
    std::span<const uint8_t> encoded() const { return { enc_, enc_size_ }; }

    // Short human-readable rendering; arrays show at most `max_elems` elements.
    std::string to_string(size_t max_elems = 8) const;

  private:
    friend class GgufParser;

    template <class T> static T load(const uint8_t * p) {
        if constexpr (std::is_same_v<T, bool>) {
            return *p != 0; // ggml treats any non-zero byte as true
        } else {
            T v;
            std::memcpy(&v, p, sizeof(T)); // unaligned in the file
            return v;
        }
    }

    GgufType               type_      = GgufType::UINT8;
    GgufType               elem_type_ = GgufType::UINT8;
    uint64_t               count_     = 1;
    const uint8_t *        enc_       = nullptr;
    size_t                 enc_size_  = 0;
    std::vector<uint64_t>  str_pos_;  // STRING arrays: offset of each element's length from enc_
    std::vector<GgufValue> children_; // ARRAY of ARRAY
};

struct GgufKV {
    std::string key;
    GgufValue   value;
    uint64_t    offset = 0; // file offset of the KV (its key length), for messages
};

struct GgufTensor {
    std::string           name;
    uint32_t              ggml_type = 0;
    std::optional<Format> format;          // nullopt: a ggml type nibble has no codec for
    uint32_t              n_dims      = 0; // as stored (1..4); ne[n_dims..3] are 1
    int64_t               ne[4]       = { 1, 1, 1, 1 };
    uint64_t              offset      = 0; // relative to data_offset, as stored
    uint64_t              nbytes      = 0;
    const uint8_t *       data        = nullptr; // file + data_offset + offset
    uint64_t              info_offset = 0;       // file offset of this tensor's info, for messages

    int64_t numel() const { return ne[0] * ne[1] * ne[2] * ne[3]; } // validated not to overflow
};

class GgufFile {
  public:
    static Result<GgufFile> open(const std::string & path);

    // Validates a GGUF image already in memory (fuzz harnesses, tests). `data` is not copied and must
    // outlive the returned object; `name` is used in error messages only.
    static Result<GgufFile> parse(std::string name, const uint8_t * data, size_t size);

    const std::string & path() const { return name_; }
    uint32_t            version() const { return version_; }
    uint64_t            file_size() const { return size_; }
    uint32_t            alignment() const { return alignment_; }
    uint64_t            data_offset() const { return data_offset_; } // absolute; align_up(end of infos)
    // True when tensors are packed in info order with align_up(nbytes) strides from offset 0: the only
    // layout ggml's reader accepts. We read any aligned non-overlapping layout.
    bool                sequential() const { return sequential_; }

    const std::vector<GgufKV> & metadata() const { return kvs_; }
    const GgufKV *              find(std::string_view key) const;

    // Typed getters: an Error names the key, and for a wrong type both types, like llama.cpp's loader.
    template <class T> Result<T> get(std::string_view key) const {
        const GgufKV * kv = find(key);
        if (kv == nullptr) {
            return missing_key(key);
        }
        if (std::optional<T> v = kv->value.get<T>()) {
            return *v;
        }
        return wrong_type(*kv, gguf_type_of<T>());
    }
    Result<std::string_view> get_string(std::string_view key) const;
    Result<uint32_t>         get_u32(std::string_view key) const { return get<uint32_t>(key); }
    Result<float>            get_f32(std::string_view key) const { return get<float>(key); }

    const std::vector<GgufTensor> & tensors() const { return tensors_; }
    const GgufTensor *              find_tensor(std::string_view name) const;

    // Read-ahead hint for one tensor's bytes (no-op for parse()d buffers).
    void advise_sequential(const GgufTensor & t) const {
        file_.advise_sequential(size_t(t.data - data_), size_t(t.nbytes));
    }

  private:
    friend class GgufParser;

    Error missing_key(std::string_view key) const;
    Error wrong_type(const GgufKV & kv, GgufType want) const;

    MappedFile      file_; // empty for parse()
    std::string     name_;
    const uint8_t * data_        = nullptr;
    uint64_t        size_        = 0;
    uint32_t        version_     = 0;
    uint32_t        alignment_   = kGgufDefaultAlign;
    uint64_t        data_offset_ = 0;
    bool            sequential_  = true;

    std::vector<GgufKV>                          kvs_;
    std::vector<GgufTensor>                      tensors_;
    // Keyed by views of the names' bytes in the file, which outlive any reallocation of the vectors.
    std::unordered_map<std::string_view, size_t> kv_index_;
    std::unordered_map<std::string_view, size_t> tensor_index_;
};

} // namespace nibble
