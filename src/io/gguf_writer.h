// Streaming GGUF v3 writer. The caller declares all metadata and tensor infos first, then begin()
// writes the header and the caller streams each tensor's bytes in info order (in as many chunks as
// it likes). Only the header is ever held in memory, never the weights.
//
// The output is ggml-compatible and deterministic: tensors are packed in info order from data
// offset 0, each padded with zeros to the alignment, the data section starts aligned, n_dims is
// written as given (FORMATS.md §2.3: ggml's reader accepts only this sequential layout).
//
// Crash safety: bytes go to "<out>.tmp.<pid>.<n>" in the destination folder; commit() fsyncs and
// renames it over <out>, so <out> is either the old file or the complete new one. A writer destroyed
// (or failing) before commit() removes its temporary file.
#pragma once

#include "core/status.h"
#include "formats/format.h"
#include "io/gguf.h"

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <vector>

namespace nibble {

class GgufWriter {
  public:
    GgufWriter() = default;
    ~GgufWriter();
    GgufWriter(const GgufWriter &)             = delete;
    GgufWriter & operator=(const GgufWriter &) = delete;

    // ---- Metadata, written in the order added. Keys must be non-empty, unique, valid UTF-8.
    // "general.alignment" must be a UINT32 power of two <= kGgufMaxAlignment and sets the alignment.
    // Each returns the KV's index.
    template <class T> Result<size_t> add(std::string key, T value) {
        std::vector<uint8_t> enc(sizeof(T));
        if constexpr (std::is_same_v<T, bool>) {
            enc[0] = value ? 1 : 0;
        } else {
            std::memcpy(enc.data(), &value, sizeof(T));
        }
        return add_encoded(std::move(key), gguf_type_of<T>(), std::move(enc));
    }
    Result<size_t>                    add_string(std::string key, std::string_view value);
    template <class T> Result<size_t> add_array(std::string key, std::span<const T> values) {
        std::vector<uint8_t> enc = array_prefix(gguf_type_of<T>(), values.size());
        for (const T & v : values) {
            const size_t at = enc.size();
            enc.resize(at + sizeof(T));
            if constexpr (std::is_same_v<T, bool>) {
                enc[at] = v ? 1 : 0;
            } else {
                std::memcpy(enc.data() + at, &v, sizeof(T));
            }
        }
        return add_encoded(std::move(key), GgufType::ARRAY, std::move(enc));
    }
    Result<size_t> add_string_array(std::string key, std::span<const std::string> values);
    // Verbatim copy of a value read from a file: exact type, nested arrays and odd bool bytes kept.
    Result<size_t> add_kv(std::string key, const GgufValue & value);
    bool           remove_kv(std::string_view key); // false when absent

    // ---- Tensor infos, written (and later streamed) in the order added. ne has 1..4 positive dims;
    // ne[0] must be a multiple of the type's block. The ggml_type overload admits types nibble has no
    // codec for (copying foreign files). Each returns the tensor's index.
    Result<size_t> add_tensor(std::string name, Format format, std::span<const int64_t> ne);
    Result<size_t> add_tensor(std::string name, uint32_t ggml_type, std::span<const int64_t> ne);

    size_t   n_kv() const { return kvs_.size(); }
    size_t   n_tensors() const { return tensors_.size(); }
    uint64_t tensor_nbytes(size_t i) const { return tensors_[i].nbytes; }
    uint32_t alignment() const { return alignment_; }

    // The bytes begin() writes before the tensor data: header, KVs, tensor infos and the padding to
    // the data offset. With no tensors added it is a complete GGUF image (GgufFile::parse reads it).
    std::vector<uint8_t> header_image() const;

    // ---- Output. begin() creates the temporary file and writes header, KVs, tensor infos and the
    // padding; it returns the data offset. No add_*() after it.
    Result<uint64_t> begin(const std::string & path);
    // Appends `size` bytes of tensor i. Tensors must be completed in info order; a tensor may arrive
    // in several chunks and is padded once its nbytes are in. Returns the bytes written so far.
    Result<uint64_t> write_tensor_data(size_t i, const void * data, uint64_t size);
    // Checks every tensor is complete, fsyncs, renames onto the path and fsyncs the folder. Returns
    // the file size.
    Result<uint64_t> commit();
    // Drops the temporary file (also done by the destructor when commit() did not succeed).
    void             discard();

  private:
    struct KV {
        std::string          key;
        std::vector<uint8_t> enc; // type id + encoded value
    };
    struct TensorInfo {
        std::string name;
        uint32_t    ggml_type = 0;
        uint32_t    n_dims    = 0;
        int64_t     ne[4]     = { 1, 1, 1, 1 };
        uint64_t    nbytes    = 0;
    };

    static std::vector<uint8_t> array_prefix(GgufType elem, uint64_t count);
    Result<size_t>              add_encoded(std::string key, GgufType type, std::vector<uint8_t> payload);
    Error                       err(std::string what) const;
    Result<uint64_t>            write_all(const void * data, uint64_t size);
    Result<uint64_t>            fail(Error e); // discard() then return e

    std::vector<KV>                         kvs_;
    std::unordered_map<std::string, size_t> kv_index_;
    std::vector<TensorInfo>                 tensors_;
    std::unordered_map<std::string, size_t> tensor_index_;
    uint32_t                                alignment_ = kGgufDefaultAlign;

    std::string path_, tmp_path_;
    int         fd_        = -1;
    bool        begun_     = false;
    bool        committed_ = false;
    uint64_t    pos_       = 0; // bytes written to the temporary file
    size_t      cur_       = 0; // tensor being streamed
    uint64_t    cur_done_  = 0; // its bytes written so far
};

// Writes every KV and tensor of `in` unchanged to `out` (for a ggml-written input: the same bytes).
// Returns the size of the new file.
Result<uint64_t> copy_gguf(const GgufFile & in, const std::string & out);

} // namespace nibble
