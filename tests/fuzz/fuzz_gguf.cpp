// libFuzzer harness for the GGUF reader (GgufFile::parse over the fuzzer's buffer). libFuzzer hands us
// a heap copy of exactly `size` bytes, so ASan flags any read past the image. Beyond "no crash", the
// harness checks the reader's promises: an error names the file and an offset inside it; a file that
// parses only hands out views inside the buffer, and every accessor a caller may use works on it.
#include "io/gguf.h"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

using namespace nibble;

constexpr const char * kName = "fuzz.gguf";

[[noreturn]] void fail(const char * what, const std::string & detail) {
    std::fprintf(stderr, "fuzz_gguf: broken promise: %s: %s\n", what, detail.c_str());
    std::abort();
}

struct Span {
    const uint8_t * begin;
    const uint8_t * end;

    bool holds(const void * p, uint64_t n) const {
        const auto * q = static_cast<const uint8_t *>(p);
        return q >= begin && q <= end && n <= uint64_t(end - q);
    }
};

// Reads every element of a (possibly nested) value through the public accessors, so a view that
// points outside the buffer shows up as an ASan report here rather than in some later caller.
uint64_t walk(const GgufValue & v, const Span & buf, int depth) {
    if (depth > kGgufMaxArrayDepth + 1) {
        fail("array nesting", "deeper than kGgufMaxArrayDepth survived validation");
    }
    const std::span<const uint8_t> enc = v.encoded();
    if (!buf.holds(enc.data(), enc.size())) {
        fail("value bytes", "encoded() lies outside the image");
    }
    uint64_t sum = 0;
    if (!v.is_array()) {
        if (v.type() == GgufType::STRING) {
            const std::optional<std::string_view> s = v.get_string();
            if (!s || !buf.holds(s->data(), s->size())) {
                fail("string value", "get_string() outside the image");
            }
            sum += s->size();
        }
        return sum + v.to_string().size();
    }
    // Long arrays (token lists) are only sampled: the goal is bounds, not O(n) work per input.
    const uint64_t n    = v.size();
    const uint64_t step = n > 64 ? n / 64 : 1;
    for (uint64_t i = 0; i < n; i += step) {
        switch (v.elem_type()) {
            case GgufType::UINT8: sum += v.at<uint8_t>(i); break;
            case GgufType::INT8: sum += uint64_t(v.at<int8_t>(i)); break;
            case GgufType::UINT16: sum += v.at<uint16_t>(i); break;
            case GgufType::INT16: sum += uint64_t(v.at<int16_t>(i)); break;
            case GgufType::UINT32: sum += v.at<uint32_t>(i); break;
            case GgufType::INT32: sum += uint64_t(v.at<int32_t>(i)); break;
            case GgufType::UINT64: sum += v.at<uint64_t>(i); break;
            case GgufType::INT64: sum += uint64_t(v.at<int64_t>(i)); break;
            case GgufType::FLOAT32: sum += v.at<float>(i) > 0.0f; break;
            case GgufType::FLOAT64: sum += v.at<double>(i) > 0.0; break;
            case GgufType::BOOL: sum += v.at<bool>(i); break;
            case GgufType::STRING: {
                const std::string_view s = v.string_at(i);
                if (!buf.holds(s.data(), s.size())) {
                    fail("string array", "string_at() outside the image");
                }
                sum += s.size();
                break;
            }
            case GgufType::ARRAY: sum += walk(v.array_at(i), buf, depth + 1); break;
            default: fail("array element type", "unknown element type survived validation");
        }
    }
    return sum + v.to_string().size();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t * data, size_t size) {
    Result<GgufFile> r = GgufFile::parse(kName, data, size);
    if (!r) {
        const Error & e = r.error();
        if (e.file != kName || e.what.empty() || e.offset > size) {
            fail("error", e.message() + " (image is " + std::to_string(size) + " bytes)");
        }
        return 0;
    }
    const GgufFile & f = *r;
    const Span       buf{ data, data + size };
    // A file without tensors may end before its (aligned) data offset: nothing is read there.
    if ((!f.tensors().empty() && f.data_offset() > size) || f.alignment() == 0 ||
        (f.alignment() & (f.alignment() - 1)) != 0) {
        fail("header", "data offset past the image or alignment not a power of two");
    }
    volatile uint64_t sink = 0; // keeps the walks from being optimized away
    for (const GgufKV & kv : f.metadata()) {
        if (f.find(kv.key) == nullptr || kv.offset >= size) {
            fail("kv", "find() misses a listed key, or its offset is past the image");
        }
        sink = sink + walk(kv.value, buf, 0);
    }
    const uint8_t * tensor_base = data + f.data_offset();
    for (const GgufTensor & t : f.tensors()) {
        if (f.find_tensor(t.name) != &t || t.n_dims < 1 || t.n_dims > uint32_t(kGgufMaxDims)) {
            fail("tensor", t.name);
        }
        if (!buf.holds(t.data, t.nbytes) || t.data != tensor_base + t.offset || t.offset % f.alignment() != 0) {
            fail("tensor data", t.name + " is outside the image or misaligned");
        }
        if (t.numel() <= 0) {
            fail("tensor shape", t.name);
        }
        if (t.nbytes > 0) {
            sink = sink + t.data[0] + t.data[t.nbytes - 1]; // ASan checks both ends
        }
    }
    // The typed getters callers use first; errors are fine, crashes are not.
    if (Result<std::string_view> a = f.get_string("general.architecture")) {
        sink = sink + a->size();
    }
    if (Result<uint32_t> al = f.get_u32(kGgufAlignmentKey)) {
        sink = sink + *al;
    }
    (void) f.get_f32("general.missing");
    return 0;
}
