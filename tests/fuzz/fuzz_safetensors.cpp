// libFuzzer harness for the SafeTensors header parser (SafeTensorsFile::parse over the fuzzer's
// buffer, which libFuzzer allocates at exactly `size` bytes so ASan sees any over-read). Besides "no
// crash" it checks what callers rely on: errors name the file; every tensor of a parsed file lies in
// the buffer, matches dtype x shape and does not overlap another; find() and to_f32() work on it.
#include "io/safetensors.h"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

using namespace nibble;

constexpr const char * kName = "fuzz.safetensors";

[[noreturn]] void fail(const char * what, const std::string & detail) {
    std::fprintf(stderr, "fuzz_safetensors: broken promise: %s: %s\n", what, detail.c_str());
    std::abort();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t * data, size_t size) {
    Result<SafeTensorsFile> r = SafeTensorsFile::parse(kName, data, size);
    if (!r) {
        // Offsets may point past the end when the file itself claims such an offset (a data_offsets
        // entry beyond the data); only the file name and the rule are unconditional.
        if (r.error().file != kName || r.error().what.empty()) {
            fail("error", r.error().message());
        }
        return 0;
    }
    const SafeTensorsFile & f = *r;
    if (f.data_offset() < 8 || f.data_offset() > size) {
        fail("header", "data offset outside the image");
    }
    volatile uint64_t sink     = 0;
    uint64_t          prev_end = 0;
    for (const StTensor & t : f.tensors()) {
        if (f.find(t.name) != &t) {
            fail("find", t.name);
        }
        if (t.begin < f.data_offset() || t.begin > t.end || t.end > size || t.data != data + t.begin) {
            fail("tensor bytes", t.name + " outside the data section");
        }
        // tensors() is in file order and non-empty tensors do not overlap.
        if (t.nbytes() > 0) {
            if (t.begin < prev_end) {
                fail("overlap", t.name);
            }
            prev_end = t.end;
            sink     = sink + t.data[0] + t.data[t.nbytes() - 1];
        }
        const int bits = st_dtype_bits(t.dtype);
        if (bits == 0 || t.shape.size() > kStMaxDims || t.numel() * uint64_t(bits) != t.nbytes() * 8) {
            fail("dtype x shape", t.name + " " + t.dtype);
        }
        // The conversion allocates numel floats; numel is bounded by the bytes the file really has.
        if (t.nbytes() <= (1u << 20)) {
            Result<std::vector<float>> v = to_f32(t);
            if (v && v->size() != t.numel()) {
                fail("to_f32", t.name);
            }
            sink = sink + (v ? v->size() : 0);
        }
    }
    for (const auto & [k, v] : f.metadata()) {
        sink = sink + k.size() + v.size();
    }
    return 0;
}
