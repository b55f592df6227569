#include "io/tensor_source.h"

#include <utility>

namespace nibble {

GgufSource::GgufSource(const GgufFile & f) : f_(f) {
    tensors_.reserve(f.tensors().size());
    for (const GgufTensor & t : f.tensors()) {
        SourceTensor s;
        s.name      = t.name;
        s.index     = tensors_.size();
        s.ggml_type = t.ggml_type;
        s.format    = t.format;
        for (int d = 0; d < 4; ++d) {
            s.ne[d] = t.ne[d];
        }
        s.nbytes = t.nbytes;
        tensors_.push_back(std::move(s));
    }
}

Result<const uint8_t *> GgufSource::read(size_t i, uint64_t offset, uint64_t size, std::vector<uint8_t> &) const {
    const GgufTensor & t = f_.tensors()[i];
    if (offset > t.nbytes || size > t.nbytes - offset) {
        return error_at(i, offset, "read of " + std::to_string(size) + " bytes is outside the tensor");
    }
    return t.data + offset;
}

Error GgufSource::error_at(size_t i, uint64_t offset, std::string what) const {
    const GgufTensor & t = f_.tensors()[i];
    return Error{ f_.path(), f_.data_offset() + t.offset + offset, "tensor " + t.name + ": " + std::move(what) };
}

} // namespace nibble
