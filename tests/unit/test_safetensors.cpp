// SafeTensors reader: a real checkpoint (skipped when the shared model dir is absent) plus hand-made
// broken files, each of which must give a clean Error naming the file and an offset.
#include "core/mmap_file.h"
#include "io/safetensors.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using namespace nibble;

namespace {

// Tests find models through one env var, else ../shared next to the repo root (STYLE.md Avoid #5).
fs::path shared_dir() {
    if (const char * env = std::getenv("NIBBLE_SHARED_DIR"); env != nullptr && *env != '\0') {
        return env;
    }
    for (const char * root : { ".", "..", "../.." }) {
        for (const char * rel : { "shared", "../shared" }) {
            const fs::path p = fs::path(root) / rel;
            if (fs::is_directory(p / "models")) {
                return p;
            }
        }
    }
    return {};
}

std::string le64(uint64_t v) {
    std::string s(8, '\0');
    std::memcpy(s.data(), &v, 8);
    return s;
}

class SafeTensorsTest : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        dir_ = fs::path(::testing::TempDir()) / ("nibble_st_" + std::to_string(::getpid()));
        fs::create_directories(dir_);
    }

    static void TearDownTestSuite() {
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }

    // Writes raw bytes: 8-byte length (the header's own unless overridden), header, data.
    static std::string write_raw(const std::string & name, const std::string & bytes) {
        const fs::path p = dir_ / name;
        std::ofstream  f(p, std::ios::binary | std::ios::trunc);
        f.write(bytes.data(), std::streamsize(bytes.size()));
        return p.string();
    }

    static std::string write_st(const std::string & name, const std::string & header, const std::string & data = "") {
        return write_raw(name, le64(header.size()) + header + data);
    }

    // Opens `path`, expects failure, and checks the message carries the file name, "offset " and `rule`.
    static Error expect_error(const std::string & path, const std::string & rule) {
        Result<SafeTensorsFile> r = SafeTensorsFile::open(path);
        EXPECT_FALSE(r.ok()) << path;
        if (r.ok()) {
            return {};
        }
        const std::string msg = r.error().message();
        EXPECT_NE(msg.find(fs::path(path).filename().string()), std::string::npos) << msg;
        EXPECT_NE(msg.find("offset "), std::string::npos) << msg;
        EXPECT_NE(msg.find(rule), std::string::npos) << "expected \"" << rule << "\" in: " << msg;
        return r.error();
    }

    static fs::path dir_;
};

fs::path SafeTensorsTest::dir_;

} // namespace

// ---------------------------------------------------------------------------------------------
// Real checkpoint

TEST_F(SafeTensorsTest, TinyStoriesCheckpoint) {
    const fs::path sd = shared_dir();
    const fs::path p  = sd / "models/tinystories-656k-hf/model.safetensors";
    if (sd.empty() || !fs::exists(p)) {
        GTEST_SKIP() << "tinystories-656k-hf not found (set NIBBLE_SHARED_DIR)";
    }
    Result<SafeTensorsFile> r = SafeTensorsFile::open(p.string());
    ASSERT_TRUE(r.ok()) << r.error().message();
    const SafeTensorsFile & st = r.value();

    ASSERT_EQ(st.tensors().size(), 20u);
    for (const StTensor & t : st.tensors()) {
        EXPECT_EQ(t.dtype, "F32") << t.name;
        EXPECT_EQ(t.nbytes(), t.numel() * 4) << t.name;
    }
    // File order, contiguous from the data start.
    uint64_t expect_begin = st.data_offset();
    for (const StTensor & t : st.tensors()) {
        EXPECT_EQ(t.begin, expect_begin) << t.name;
        expect_begin = t.end;
    }
    EXPECT_EQ(expect_begin, fs::file_size(p));

    const StTensor * lm = st.find("lm_head.weight");
    ASSERT_NE(lm, nullptr);
    EXPECT_EQ(lm->shape, (std::vector<int64_t>{ 2048, 128 }));
    EXPECT_EQ(st.find("no.such.tensor"), nullptr);

    ASSERT_EQ(st.metadata().count("format"), 1u);
    EXPECT_EQ(st.metadata().at("format"), "pt");

    // Data pointers address the right bytes: compare against a plain read.
    const StTensor * norm = st.find("model.norm.weight");
    ASSERT_NE(norm, nullptr);
    std::ifstream f(p, std::ios::binary);
    f.seekg(std::streamoff(norm->begin));
    std::vector<float> raw(128);
    f.read(reinterpret_cast<char *>(raw.data()), 128 * 4);
    Result<std::vector<float>> v = to_f32(*norm);
    ASSERT_TRUE(v.ok());
    EXPECT_EQ(v.value(), raw);
}

// ---------------------------------------------------------------------------------------------
// Valid synthetic files

TEST_F(SafeTensorsTest, ConvertsFloatDtypesAtUnalignedOffsets) {
    // A 1-byte U8 tensor first, so every following tensor starts at an odd offset.
    const uint16_t f16[2]  = { 0x3C00, 0xC000 }; // 1, -2
    const uint16_t bf16[2] = { 0x3F80, 0x4040 }; // 1, 3
    const uint8_t  e4m3[2] = { 0x38, 0xC0 };     // 1, -2
    const uint8_t  e5m2[2] = { 0x3C, 0x44 };     // 1, 4
    const float    f32[1]  = { 0.5f };
    std::string    data(1, '\x07');
    data.append(reinterpret_cast<const char *>(f16), 4);
    data.append(reinterpret_cast<const char *>(bf16), 4);
    data.append(reinterpret_cast<const char *>(e4m3), 2);
    data.append(reinterpret_cast<const char *>(e5m2), 2);
    data.append(reinterpret_cast<const char *>(f32), 4);
    const std::string       hdr = R"({"u":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},)"
                                  R"("h":{"dtype":"F16","shape":[2],"data_offsets":[1,5]},)"
                                  R"("b":{"dtype":"BF16","shape":[1,2],"data_offsets":[5,9]},)"
                                  R"("e4":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[9,11]},)"
                                  R"("e5":{"dtype":"F8_E5M2","shape":[2,1],"data_offsets":[11,13]},)"
                                  R"("s":{"dtype":"F32","shape":[],"data_offsets":[13,17]},)"
                                  R"("z":{"dtype":"F32","shape":[0,5],"data_offsets":[17,17]},)"
                                  R"("__metadata__":{"format":"pt","k":"v"}}        )"; // writer pads with spaces
    Result<SafeTensorsFile> r   = SafeTensorsFile::open(write_st("float_dtypes.safetensors", hdr, data));
    ASSERT_TRUE(r.ok()) << r.error().message();
    // Moving the file object must keep data pointers valid (the mapping does not move).
    SafeTensorsFile st = std::move(r.value());

    const auto vals = [&](const char * name) {
        const StTensor * t = st.find(name);
        EXPECT_NE(t, nullptr) << name;
        Result<std::vector<float>> v = to_f32(*t);
        EXPECT_TRUE(v.ok()) << name;
        return v.ok() ? v.value() : std::vector<float>{};
    };
    EXPECT_EQ(vals("h"), (std::vector<float>{ 1.0f, -2.0f }));
    EXPECT_EQ(vals("b"), (std::vector<float>{ 1.0f, 3.0f }));
    EXPECT_EQ(vals("e4"), (std::vector<float>{ 1.0f, -2.0f }));
    EXPECT_EQ(vals("e5"), (std::vector<float>{ 1.0f, 4.0f }));
    EXPECT_EQ(vals("s"), (std::vector<float>{ 0.5f }));
    EXPECT_TRUE(vals("z").empty());
    EXPECT_EQ(st.find("s")->shape.size(), 0u);
    EXPECT_EQ(st.metadata().size(), 2u);
    EXPECT_EQ(st.tensors().size(), 7u);

    // Integer dtypes have no float conversion: a clean error at the tensor's data offset.
    Result<std::vector<float>> u = to_f32(*st.find("u"));
    ASSERT_FALSE(u.ok());
    EXPECT_EQ(u.error().offset, st.find("u")->begin);
    EXPECT_NE(u.error().message().find("U8"), std::string::npos);
}

TEST_F(SafeTensorsTest, EmptyHeaderObjectIsValid) {
    Result<SafeTensorsFile> r = SafeTensorsFile::open(write_st("empty_obj.safetensors", "{}"));
    ASSERT_TRUE(r.ok()) << r.error().message();
    EXPECT_TRUE(r->tensors().empty());
    EXPECT_TRUE(r->metadata().empty());
}

TEST_F(SafeTensorsTest, NestingAtTheLimitIsAccepted) {
    // Unknown fields are ignored, so nesting can be placed in one; the entry object itself is depth 2.
    const auto deep = [](int total_depth) {
        const int n = total_depth - 2;
        return R"({"t":{"dtype":"U8","shape":[0],"data_offsets":[0,0],"x":)" + std::string(size_t(n), '[') +
               std::string(size_t(n), ']') + "}}";
    };
    Result<SafeTensorsFile> ok = SafeTensorsFile::open(write_st("depth64.safetensors", deep(kStMaxJsonDepth)));
    EXPECT_TRUE(ok.ok()) << ok.error().message();
    expect_error(write_st("depth65.safetensors", deep(kStMaxJsonDepth + 1)), "kStMaxJsonDepth");
}

// ---------------------------------------------------------------------------------------------
// Broken files: each must fail cleanly, naming file and offset.

TEST_F(SafeTensorsTest, TruncatedHeaderLength) {
    const Error e = expect_error(write_raw("trunc.safetensors", std::string("\x10\x00\x00", 3)), "too small");
    EXPECT_EQ(e.offset, 0u);
}

TEST_F(SafeTensorsTest, EmptyFile) {
    expect_error(write_raw("empty.safetensors", ""), "too small");
}

TEST_F(SafeTensorsTest, HeaderLengthPastEof) {
    expect_error(write_raw("past_eof.safetensors", le64(1000) + "{}"), "past end of file");
    expect_error(write_raw("max_len.safetensors", le64(UINT64_MAX) + "{}"), "kStMaxHeaderBytes");
}

TEST_F(SafeTensorsTest, HugeHeaderLength) {
    // A sparse file really is 8 + 200 MiB long, so only the header-size limit can reject it.
    const uint64_t    n = 200ull << 20;
    const std::string p = write_raw("huge_header.safetensors", le64(n) + "{}");
    fs::resize_file(p, 8 + n);
    const Error e = expect_error(p, "exceeds the limit kStMaxHeaderBytes");
    EXPECT_EQ(e.offset, 0u);
}

TEST_F(SafeTensorsTest, BadJson) {
    const Error e = expect_error(write_st("bad_json.safetensors", R"({"a": {"dtype": )"), "invalid JSON");
    EXPECT_GE(e.offset, 8u);
    expect_error(write_st("bad_utf8.safetensors", "{\"\xff\xfe\": 1}"), "invalid JSON");
    expect_error(write_st("zero_len.safetensors", ""), "invalid JSON");
    expect_error(write_st("trailing.safetensors", "{} x"), "invalid JSON");
}

TEST_F(SafeTensorsTest, NonObject) {
    const Error e = expect_error(write_st("non_object.safetensors", "[1, 2, 3]"), "must be an object");
    EXPECT_EQ(e.offset, 8u);
    expect_error(write_st("entry_non_object.safetensors", R"({"t": 5})"), "entry must be an object");
}

TEST_F(SafeTensorsTest, MissingField) {
    expect_error(write_st("missing.safetensors", R"({"t":{"dtype":"F32","shape":[1]}})", "abcd"), "needs");
}

TEST_F(SafeTensorsTest, UnknownDtype) {
    const std::string hdr = R"({"t":{"dtype":"F33","shape":[1],"data_offsets":[0,4]}})";
    const Error       e   = expect_error(write_st("unknown_dtype.safetensors", hdr, "abcd"), "unknown dtype");
    EXPECT_EQ(e.offset, 8u + 1u); // position of the key "t" in the file
    expect_error(write_st("dtype_num.safetensors", R"({"t":{"dtype":7,"shape":[1],"data_offsets":[0,4]}})", "abcd"),
                 "dtype must be a string");
}

TEST_F(SafeTensorsTest, NegativeDim) {
    const std::string hdr = R"({"t":{"dtype":"U8","shape":[-1,2],"data_offsets":[0,2]}})";
    expect_error(write_st("neg_dim.safetensors", hdr, "ab"), "negative dimension");
    expect_error(write_st("float_dim.safetensors", R"({"t":{"dtype":"U8","shape":[2.0],"data_offsets":[0,2]}})", "ab"),
                 "non-negative integers");
    expect_error(write_st("shape_obj.safetensors", R"({"t":{"dtype":"U8","shape":{},"data_offsets":[0,2]}})", "ab"),
                 "shape must be an array");
}

TEST_F(SafeTensorsTest, TooManyDims) {
    const std::string hdr = R"({"t":{"dtype":"U8","shape":[1,1,1,1,1,1,1,1,1],"data_offsets":[0,1]}})";
    expect_error(write_st("nine_dims.safetensors", hdr, "a"), "kStMaxDims");
}

TEST_F(SafeTensorsTest, OverflowingShape) {
    expect_error(write_st("overflow.safetensors",
                          R"({"t":{"dtype":"U8","shape":[4294967296,4294967296,16],"data_offsets":[0,0]}})"),
                 "overflows");
    // Element count fits, byte count does not.
    expect_error(write_st("overflow_bytes.safetensors",
                          R"({"t":{"dtype":"F64","shape":[4611686018427387904],"data_offsets":[0,0]}})"),
                 "overflows");
    expect_error(write_st("huge_dim.safetensors", R"({"t":{"dtype":"U8","shape":[18446744073709551615],)"
                                                  R"("data_offsets":[0,0]}})"),
                 "does not fit int64");
}

TEST_F(SafeTensorsTest, OffsetsPastEof) {
    const std::string hdr = R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
    const Error       e   = expect_error(write_st("offsets_past_eof.safetensors", hdr, "abcd"), "past end of data");
    EXPECT_EQ(e.offset, 8u + hdr.size()); // the tensor's absolute data offset
    expect_error(
        write_st("offsets_max.safetensors",
                 R"({"t":{"dtype":"U8","shape":[1],"data_offsets":[18446744073709551614,18446744073709551615]}})"),
        "past end of data");
}

TEST_F(SafeTensorsTest, BeginAfterEnd) {
    const std::string hdr = R"({"t":{"dtype":"U8","shape":[0],"data_offsets":[3,1]}})";
    const Error       e   = expect_error(write_st("begin_gt_end.safetensors", hdr, "abcd"), "begin 3 > end 1");
    EXPECT_EQ(e.offset, 8u + hdr.size() + 3u);
    expect_error(
        write_st("offsets_three.safetensors", R"({"t":{"dtype":"U8","shape":[1],"data_offsets":[0,1,2]}})", "ab"),
        "data_offsets must be [begin, end]");
    expect_error(write_st("offsets_neg.safetensors", R"({"t":{"dtype":"U8","shape":[1],"data_offsets":[-1,0]}})", "a"),
                 "data_offsets must be [begin, end]");
}

TEST_F(SafeTensorsTest, SizeMismatch) {
    const std::string hdr = R"({"t":{"dtype":"F16","shape":[3],"data_offsets":[0,4]}})";
    expect_error(write_st("size_mismatch.safetensors", hdr, "abcdef"), "needs 6");
    // Sub-byte dtype whose elements do not fill whole bytes.
    expect_error(write_st("f4_odd.safetensors", R"({"t":{"dtype":"F4","shape":[3],"data_offsets":[0,2]}})", "ab"),
                 "not a whole byte");
}

TEST_F(SafeTensorsTest, OverlappingTensors) {
    const std::string hdr = R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},)"
                            R"("b":{"dtype":"U8","shape":[4],"data_offsets":[2,6]}})";
    const Error       e   = expect_error(write_st("overlap.safetensors", hdr, "abcdefgh"), "overlaps");
    EXPECT_EQ(e.offset, 8u + hdr.size() + 2u);
    // Empty tensors occupy nothing, so they may share an offset with a non-empty one.
    const std::string       ok = R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},)"
                                 R"("e":{"dtype":"U8","shape":[0],"data_offsets":[2,2]}})";
    Result<SafeTensorsFile> r  = SafeTensorsFile::open(write_st("empty_inside.safetensors", ok, "abcd"));
    EXPECT_TRUE(r.ok()) << r.error().message();
}

TEST_F(SafeTensorsTest, DuplicateNames) {
    const std::string t1  = R"({"t":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},)";
    const std::string hdr = t1 + R"("t":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}})";
    const Error       e   = expect_error(write_st("dup.safetensors", hdr, "ab"), "duplicate key \"t\"");
    EXPECT_EQ(e.offset, 8u + t1.size()); // the second "t"
    // Duplicates inside an entry and escaped spellings of the same key are caught too.
    expect_error(write_st("dup_field.safetensors",
                          R"({"t":{"dtype":"U8","dtype":"F32","shape":[1],"data_offsets":[0,1]}})", "a"),
                 "duplicate key \"dtype\"");
    expect_error(write_st("dup_escaped.safetensors",
                          R"({"t":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},)"
                          R"("\u0074":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}})",
                          "ab"),
                 "duplicate key");
}

TEST_F(SafeTensorsTest, DeepNesting) {
    const Error e = expect_error(write_st("deep.safetensors", std::string(10000, '[')), "kStMaxJsonDepth");
    EXPECT_EQ(e.offset, 8u + uint64_t(kStMaxJsonDepth)); // the 65th '['
    expect_error(write_st("deep_obj.safetensors", std::string(5000, '{') + std::string(5000, '}')), "kStMaxJsonDepth");
}

TEST_F(SafeTensorsTest, BadMetadata) {
    expect_error(write_st("meta_value.safetensors", R"({"__metadata__":{"format":1}})"), "must be a string");
    expect_error(write_st("meta_array.safetensors", R"({"__metadata__":["pt"]})"), "__metadata__ must be an object");
}

// ---------------------------------------------------------------------------------------------
// MappedFile

TEST_F(SafeTensorsTest, MappedFileErrors) {
    const std::string  missing = (dir_ / "does_not_exist.safetensors").string();
    Result<MappedFile> m       = MappedFile::open(missing);
    ASSERT_FALSE(m.ok());
    EXPECT_NE(m.error().message().find("does_not_exist.safetensors"), std::string::npos);
    EXPECT_NE(m.error().message().find("No such file"), std::string::npos) << m.error().message();

    Result<MappedFile> d = MappedFile::open(dir_.string());
    ASSERT_FALSE(d.ok());
    EXPECT_NE(d.error().message().find("not a regular file"), std::string::npos);

    Result<MappedFile> e = MappedFile::open(write_raw("zero.bin", ""));
    ASSERT_TRUE(e.ok()) << e.error().message();
    EXPECT_EQ(e->size(), 0u);
    EXPECT_EQ(e->data(), nullptr);

    Result<MappedFile> f = MappedFile::open(write_raw("abc.bin", "abc"));
    ASSERT_TRUE(f.ok());
    MappedFile g = std::move(f.value());
    EXPECT_EQ(f->data(), nullptr); // moved-from is empty, so its destructor does not unmap g's view
    ASSERT_EQ(g.size(), 3u);
    EXPECT_EQ(std::memcmp(g.data(), "abc", 3), 0);
    g.advise_sequential(1, 100); // clamped, advisory only
}
