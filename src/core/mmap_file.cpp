#include "core/mmap_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <system_error>
#include <utility>

namespace nibble {

namespace {

// std::generic_category().message is thread-safe, unlike strerror.
std::string errno_text(int err) {
    return std::error_code(err, std::generic_category()).message();
}

Error os_error(const std::string & path, const char * call, int err) {
    return Error{ path, 0, std::string(call) + " failed: " + errno_text(err) };
}

} // namespace

Result<MappedFile> MappedFile::open(const std::string & path) {
    int fd;
    do {
        fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        return os_error(path, "open", errno);
    }

    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        const int err = errno;
        ::close(fd);
        return os_error(path, "fstat", err);
    }
    // Directories open fine with O_RDONLY and FIFOs/devices report no useful size: refuse them here
    // with a clear message instead of a confusing mmap error (or a hang) later.
    if (!S_ISREG(st.st_mode)) {
        ::close(fd);
        return Error{ path, 0, "not a regular file" };
    }
    if (st.st_size < 0 || uint64_t(st.st_size) > uint64_t(SIZE_MAX)) {
        ::close(fd);
        return Error{ path, 0, "file size " + std::to_string(st.st_size) + " cannot be mapped" };
    }

    MappedFile f;
    f.path_ = path;
    f.size_ = size_t(st.st_size);
    if (f.size_ > 0) {
        void * p = ::mmap(nullptr, f.size_, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            const int err = errno;
            ::close(fd);
            return os_error(path, "mmap", err);
        }
        f.data_ = static_cast<const uint8_t *>(p);
    }
    ::close(fd);
    return f;
}

MappedFile::~MappedFile() {
    reset();
}

MappedFile::MappedFile(MappedFile && other) noexcept
    : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)), path_(std::move(other.path_)) {}

MappedFile & MappedFile::operator=(MappedFile && other) noexcept {
    if (this != &other) {
        reset();
        data_ = std::exchange(other.data_, nullptr);
        size_ = std::exchange(other.size_, 0);
        path_ = std::move(other.path_);
    }
    return *this;
}

void MappedFile::reset() {
    if (data_ != nullptr) {
        ::munmap(const_cast<uint8_t *>(data_), size_);
    }
    data_ = nullptr;
    size_ = 0;
}

void MappedFile::advise_sequential(size_t offset, size_t len) const {
    if (data_ == nullptr || offset >= size_) {
        return;
    }
    if (len > size_ - offset) {
        len = size_ - offset;
    }
    // madvise wants a page-aligned start; round down (the extra bytes are in our own mapping).
    const long page = ::sysconf(_SC_PAGESIZE);
    if (page <= 0) {
        return;
    }
    const size_t start = offset - offset % size_t(page);
    ::madvise(const_cast<uint8_t *>(data_) + start, len + (offset - start), MADV_SEQUENTIAL);
}

} // namespace nibble
