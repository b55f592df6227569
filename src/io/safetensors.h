// Hardened reader for one SafeTensors file (FORMATS.md §9). The header is validated completely at
// open (sizes, offsets, overlaps, duplicates, nesting), so callers can trust every StTensor they get:
// [begin, end) lies inside the mapping and matches dtype x shape. Sharded checkpoints open each shard
// with this class; the index.json is the loader's business.
#pragma once

#include "core/mmap_file.h"
#include "core/status.h"

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

namespace nibble {

// Limits. The header one matches the reference implementation (huggingface/safetensors rejects
// headers over 100 MB), which keeps a hostile length from driving a 2^64-byte parse.
inline constexpr uint64_t kStMaxHeaderBytes = 100ull << 20;
inline constexpr int      kStMaxJsonDepth   = 64; // real headers nest 3 deep
inline constexpr size_t   kStMaxDims        = 8;

struct StTensor {
    std::string          name;
    std::string          dtype; // "F32","F16","BF16","F8_E4M3","F8_E5M2","F8_E8M0","F64","I64","I32","I16","I8",
                                // "U8","U16","U32","U64","BOOL","F4","F6_E2M3","F6_E3M2"
    std::vector<int64_t> shape; // HF order [out, in]; [] is a scalar
    uint64_t             begin = 0, end = 0; // absolute file offsets, begin <= end <= file size
    const uint8_t *      data = nullptr;     // file bytes at `begin`; no alignment guarantee

    uint64_t nbytes() const { return end - begin; }
    uint64_t numel() const; // product of shape (validated not to overflow at open)
};

// Bits per element of a SafeTensors dtype string, 0 when unknown. Sub-byte floats (F4, F6_*) are
// packed, so byte sizes are numel * bits / 8.
int st_dtype_bits(const std::string & dtype);

class SafeTensorsFile {
  public:
    static Result<SafeTensorsFile> open(const std::string & path);

    // Validates a SafeTensors image already in memory (fuzz harnesses, tests). `data` is not copied
    // and must outlive the returned object; `name` is used in error messages only.
    static Result<SafeTensorsFile> parse(const std::string & name, const uint8_t * data, size_t size);

    // Ordered by data offset (file order), which is the order a streaming quantizer wants.
    const std::vector<StTensor> &              tensors() const { return tensors_; }
    const StTensor *                           find(const std::string & name) const;
    const std::map<std::string, std::string> & metadata() const { return metadata_; }
    const std::string &                        path() const { return name_; }
    uint64_t                                   data_offset() const { return data_offset_; } // 8 + N

    // Read-ahead hint for one tensor's bytes (no-op for parse()d buffers).
    void advise_sequential(const StTensor & t) const { file_.advise_sequential(t.begin, t.nbytes()); }

  private:
    MappedFile                              file_; // empty for parse()
    std::string                             name_;
    uint64_t                                data_offset_ = 0;
    std::vector<StTensor>                   tensors_;
    std::unordered_map<std::string, size_t> index_;
    std::map<std::string, std::string>      metadata_;
};

// Element data as float for F32/F16/BF16/F8_E4M3/F8_E5M2 (exact conversions; reads are unaligned-
// safe). Other dtypes give an Error whose offset is t.begin; Error.file is left empty because a
// StTensor does not know its file; the caller fills it in if it wants.
Result<std::vector<float>> to_f32(const StTensor & t);

} // namespace nibble
