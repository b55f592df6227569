// Read-only memory mapping of a whole file. Loaders hand out pointers into the mapping instead of
// copying weights, so a 10 GB checkpoint costs page cache, not heap.
#pragma once

#include "core/status.h"

#include <cstddef>
#include <cstdint>
#include <string>

namespace nibble {

class MappedFile {
  public:
    // Maps `path` PROT_READ / MAP_PRIVATE. Empty files are allowed (data() == nullptr, size() == 0)
    // because mmap rejects length 0. The descriptor is closed right after mapping: the mapping keeps
    // the file alive on its own, and a loader opening hundreds of shards should not hold fds.
    static Result<MappedFile> open(const std::string & path);

    MappedFile() = default;
    ~MappedFile();
    MappedFile(MappedFile && other) noexcept;
    MappedFile & operator=(MappedFile && other) noexcept;
    MappedFile(const MappedFile &)             = delete;
    MappedFile & operator=(const MappedFile &) = delete;

    const uint8_t *     data() const { return data_; }
    size_t              size() const { return size_; }
    const std::string & path() const { return path_; }

    // Hint that [offset, offset+len) is read front to back (quantizing a model streams each tensor
    // once). Purely advisory; ranges are clamped to the mapping and failures are ignored.
    void advise_sequential(size_t offset, size_t len) const;

  private:
    void reset();

    const uint8_t * data_ = nullptr;
    size_t          size_ = 0;
    std::string     path_;
};

} // namespace nibble
