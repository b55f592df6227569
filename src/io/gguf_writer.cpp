#include "io/gguf_writer.h"

#include "formats/format_table.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <filesystem>
#include <system_error>
#include <utility>

namespace nibble {

namespace {

std::string errno_text(int e) {
    return std::error_code(e, std::generic_category()).message();
}

void put_u32(std::vector<uint8_t> & b, uint32_t v) {
    const size_t at = b.size();
    b.resize(at + 4);
    std::memcpy(b.data() + at, &v, 4);
}

void put_u64(std::vector<uint8_t> & b, uint64_t v) {
    const size_t at = b.size();
    b.resize(at + 8);
    std::memcpy(b.data() + at, &v, 8);
}

void put_str(std::vector<uint8_t> & b, std::string_view s) {
    put_u64(b, s.size());
    b.insert(b.end(), s.begin(), s.end());
}

uint64_t align_up(uint64_t x, uint64_t a) {
    return (x + a - 1) / a * a;
}

// Distinguishes temporary files of several writers in one process aiming at the same folder.
std::atomic<uint64_t> g_tmp_counter{ 0 };

} // namespace

GgufWriter::~GgufWriter() {
    if (!committed_) {
        discard();
    }
}

Error GgufWriter::err(std::string what) const {
    return Error{ path_, pos_, std::move(what) };
}

// ---------------------------------------------------------------------------------------------
// Metadata

std::vector<uint8_t> GgufWriter::array_prefix(GgufType elem, uint64_t count) {
    std::vector<uint8_t> b;
    put_u32(b, uint32_t(elem));
    put_u64(b, count);
    return b;
}

Result<size_t> GgufWriter::add_encoded(std::string key, GgufType type, std::vector<uint8_t> payload) {
    if (begun_) {
        return err("KV " + key + " added after begin()");
    }
    if (key.empty()) {
        return err("empty key");
    }
    if (const char * why = gguf_name_problem(key)) {
        return err("key " + key + " " + why);
    }
    if (kv_index_.count(key) != 0) {
        return err("duplicate key " + key);
    }
    if (key == kGgufAlignmentKey) {
        uint32_t a = 0;
        if (type != GgufType::UINT32) {
            return err(std::string(kGgufAlignmentKey) + " must be UINT32, got " + gguf_type_name(type));
        }
        std::memcpy(&a, payload.data(), 4);
        if (a == 0 || (a & (a - 1)) != 0 || a > kGgufMaxAlignment) {
            return err(std::string(kGgufAlignmentKey) + " = " + std::to_string(a) +
                       " is not a power of two <= " + std::to_string(kGgufMaxAlignment));
        }
        alignment_ = a;
    }
    KV kv;
    kv.key = std::move(key);
    kv.enc.reserve(4 + payload.size());
    put_u32(kv.enc, uint32_t(type));
    kv.enc.insert(kv.enc.end(), payload.begin(), payload.end());
    kv_index_.emplace(kv.key, kvs_.size());
    kvs_.push_back(std::move(kv));
    return kvs_.size() - 1;
}

Result<size_t> GgufWriter::add_string(std::string key, std::string_view value) {
    std::vector<uint8_t> enc;
    put_str(enc, value);
    return add_encoded(std::move(key), GgufType::STRING, std::move(enc));
}

Result<size_t> GgufWriter::add_string_array(std::string key, std::span<const std::string> values) {
    std::vector<uint8_t> enc = array_prefix(GgufType::STRING, values.size());
    for (const std::string & v : values) {
        put_str(enc, v);
    }
    return add_encoded(std::move(key), GgufType::ARRAY, std::move(enc));
}

Result<size_t> GgufWriter::add_kv(std::string key, const GgufValue & value) {
    const std::span<const uint8_t> e = value.encoded();
    return add_encoded(std::move(key), value.type(), std::vector<uint8_t>(e.begin(), e.end()));
}

bool GgufWriter::remove_kv(std::string_view key) {
    const auto it = kv_index_.find(std::string(key));
    if (begun_ || it == kv_index_.end()) {
        return false;
    }
    kvs_.erase(kvs_.begin() + std::ptrdiff_t(it->second));
    kv_index_.clear();
    for (size_t i = 0; i < kvs_.size(); i++) {
        kv_index_.emplace(kvs_[i].key, i);
    }
    if (key == kGgufAlignmentKey) {
        alignment_ = kGgufDefaultAlign;
    }
    return true;
}

// ---------------------------------------------------------------------------------------------
// Tensor infos

Result<size_t> GgufWriter::add_tensor(std::string name, Format format, std::span<const int64_t> ne) {
    const int id = format_info(format).ggml_type;
    if (id < 0) {
        return err("tensor " + name + ": format " + format_name(format) + " has no GGUF tensor type");
    }
    return add_tensor(std::move(name), uint32_t(id), ne);
}

Result<size_t> GgufWriter::add_tensor(std::string name, uint32_t ggml_type, std::span<const int64_t> ne) {
    const std::string tn = "tensor " + name + ": ";
    if (begun_) {
        return err(tn + "added after begin()");
    }
    if (name.empty() || name.size() > kGgufMaxNameBytes) {
        return err(tn + "name must be 1.." + std::to_string(kGgufMaxNameBytes) + " bytes");
    }
    if (const char * why = gguf_name_problem(name)) {
        return err(tn + "name " + why);
    }
    if (tensor_index_.count(name) != 0) {
        return err(tn + "duplicate tensor name");
    }
    if (ne.empty() || ne.size() > size_t(kGgufMaxDims)) {
        return err(tn + "n_dims " + std::to_string(ne.size()) + " outside 1.." + std::to_string(kGgufMaxDims));
    }
    const GgmlTypeInfo * ti = ggml_type_info(ggml_type);
    if (ti == nullptr) {
        return err(tn + "unknown ggml type id " + std::to_string(ggml_type));
    }
    TensorInfo t;
    t.name        = std::move(name);
    t.ggml_type   = ggml_type;
    t.n_dims      = uint32_t(ne.size());
    int64_t numel = 1;
    for (size_t d = 0; d < ne.size(); d++) {
        if (ne[d] <= 0 || __builtin_mul_overflow(numel, ne[d], &numel)) {
            return err(tn + "dimension " + std::to_string(ne[d]) + " is not positive or overflows");
        }
        t.ne[d] = ne[d];
    }
    int64_t nbytes;
    if (t.ne[0] % ti->block_size != 0 ||
        __builtin_mul_overflow(numel / ti->block_size, int64_t(ti->type_size), &nbytes)) {
        return err(tn + "ne[0] = " + std::to_string(t.ne[0]) + " is not a multiple of the " + ti->name +
                   " block size " + std::to_string(ti->block_size) + " or the byte size overflows");
    }
    t.nbytes = uint64_t(nbytes);
    tensor_index_.emplace(t.name, tensors_.size());
    tensors_.push_back(std::move(t));
    return tensors_.size() - 1;
}

// ---------------------------------------------------------------------------------------------
// Output

Result<uint64_t> GgufWriter::fail(Error e) {
    discard();
    return e;
}

Result<uint64_t> GgufWriter::write_all(const void * data, uint64_t size) {
    const auto * p = static_cast<const uint8_t *>(data);
    while (size > 0) {
        // Linux caps one write() at ~2 GiB; chunk so huge tensors go through in a few calls.
        const size_t  n = size_t(std::min<uint64_t>(size, 1ull << 30));
        const ssize_t w = ::write(fd_, p, n);
        if (w < 0) {
            if (errno == EINTR) {
                continue;
            }
            return fail(err("write to " + tmp_path_ + " failed: " + errno_text(errno)));
        }
        p += w;
        size -= uint64_t(w);
        pos_ += uint64_t(w);
    }
    return pos_;
}

std::vector<uint8_t> GgufWriter::header_image() const {
    std::vector<uint8_t> h;
    put_u32(h, 0x46554747); // "GGUF"
    put_u32(h, kGgufVersion);
    put_u64(h, tensors_.size());
    put_u64(h, kvs_.size());
    for (const KV & kv : kvs_) {
        put_str(h, kv.key);
        h.insert(h.end(), kv.enc.begin(), kv.enc.end());
    }
    uint64_t offset = 0;
    for (const TensorInfo & t : tensors_) {
        put_str(h, t.name);
        put_u32(h, t.n_dims);
        for (uint32_t d = 0; d < t.n_dims; d++) {
            put_u64(h, uint64_t(t.ne[d]));
        }
        put_u32(h, t.ggml_type);
        put_u64(h, offset);
        offset += align_up(t.nbytes, alignment_);
    }
    h.resize(align_up(h.size(), alignment_), 0); // ggml pads even when there are no tensors
    return h;
}

Result<uint64_t> GgufWriter::begin(const std::string & path) {
    if (begun_) {
        return err("begin() called twice");
    }
    path_  = path;
    begun_ = true;

    // Header, KVs, infos and padding, built in memory (metadata only: a 150k-token vocabulary is a
    // few MB) and written with one call.
    const std::vector<uint8_t> h           = header_image();
    const uint64_t             data_offset = h.size();

    tmp_path_ = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(g_tmp_counter++);
    do {
        fd_ = ::open(tmp_path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    } while (fd_ < 0 && errno == EINTR);
    if (fd_ < 0) {
        const int e = errno;
        tmp_path_.clear(); // not ours: do not unlink it
        return err("cannot create " + path + ".tmp.*: " + errno_text(e));
    }
    Result<uint64_t> w = write_all(h.data(), h.size());
    if (!w) {
        return w;
    }
    cur_      = 0;
    cur_done_ = 0;
    // Zero-byte tensors cannot exist (dims > 0), so every tensor needs at least one write call.
    return data_offset;
}

Result<uint64_t> GgufWriter::write_tensor_data(size_t i, const void * data, uint64_t size) {
    if (!begun_ || fd_ < 0) {
        return err("write_tensor_data() without a successful begin()");
    }
    if (i != cur_ || i >= tensors_.size()) {
        return fail(err("tensor " + std::to_string(i) + " written out of order (expected tensor " +
                        std::to_string(cur_) + " of " + std::to_string(tensors_.size()) + ")"));
    }
    const TensorInfo & t = tensors_[i];
    if (size > t.nbytes - cur_done_) {
        return fail(err("tensor " + t.name + ": " + std::to_string(cur_done_ + size) + " bytes written, its size is " +
                        std::to_string(t.nbytes)));
    }
    Result<uint64_t> w = write_all(data, size);
    if (!w) {
        return w;
    }
    cur_done_ += size;
    if (cur_done_ == t.nbytes) {
        static constexpr uint8_t kZeros[4096] = {};
        uint64_t                 pad          = align_up(t.nbytes, alignment_) - t.nbytes;
        while (pad > 0) {
            const uint64_t n = std::min<uint64_t>(pad, sizeof kZeros);
            w                = write_all(kZeros, n);
            if (!w) {
                return w;
            }
            pad -= n;
        }
        cur_++;
        cur_done_ = 0;
    }
    return pos_;
}

Result<uint64_t> GgufWriter::commit() {
    if (!begun_ || fd_ < 0) {
        return err("commit() without a successful begin()");
    }
    if (cur_ != tensors_.size()) {
        return fail(err("commit() with tensor " + std::to_string(cur_) + " of " + std::to_string(tensors_.size()) +
                        " incomplete (" + std::to_string(cur_done_) + " bytes written)"));
    }
    if (::fsync(fd_) != 0) {
        return fail(err("fsync of " + tmp_path_ + " failed: " + errno_text(errno)));
    }
    const int fd = fd_;
    fd_          = -1;
    if (::close(fd) != 0) {
        return fail(err("close of " + tmp_path_ + " failed: " + errno_text(errno)));
    }
    if (::rename(tmp_path_.c_str(), path_.c_str()) != 0) {
        return fail(err("rename of " + tmp_path_ + " to " + path_ + " failed: " + errno_text(errno)));
    }
    tmp_path_.clear();
    committed_                = true;
    // Make the rename itself durable. Failure here leaves a complete file, so it is not an error.
    std::filesystem::path dir = std::filesystem::path(path_).parent_path();
    if (dir.empty()) {
        dir = ".";
    }
    const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        ::fsync(dfd);
        ::close(dfd);
    }
    return pos_;
}

void GgufWriter::discard() {
    if (fd_ >= 0) {
        ::close(fd_);
        fd_ = -1;
    }
    if (!tmp_path_.empty()) {
        ::unlink(tmp_path_.c_str());
        tmp_path_.clear();
    }
}

// ---------------------------------------------------------------------------------------------

Result<uint64_t> copy_gguf(const GgufFile & in, const std::string & out) {
    GgufWriter w;
    for (const GgufKV & kv : in.metadata()) {
        if (Result<size_t> r = w.add_kv(kv.key, kv.value); !r) {
            return r.error();
        }
    }
    for (const GgufTensor & t : in.tensors()) {
        if (Result<size_t> r = w.add_tensor(t.name, t.ggml_type, std::span<const int64_t>(t.ne, t.n_dims)); !r) {
            return r.error();
        }
    }
    if (Result<uint64_t> r = w.begin(out); !r) {
        return r;
    }
    for (size_t i = 0; i < in.tensors().size(); i++) {
        const GgufTensor & t = in.tensors()[i];
        in.advise_sequential(t);
        if (Result<uint64_t> r = w.write_tensor_data(i, t.data, t.nbytes); !r) {
            return r;
        }
    }
    return w.commit();
}

} // namespace nibble
