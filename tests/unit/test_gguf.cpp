// GGUF reader and writer: synthetic files from tests/unit/gguf_builder.h (valid and broken), the
// checked-in corrupt corpus in tests/data/gguf-corrupt, and byte-identical round trips of the shared
// llama.cpp GGUFs (skipped when ../shared is absent).
#include "formats/format_table.h"
#include "io/gguf.h"
#include "io/gguf_writer.h"
#include "unit/gguf_builder.h"
#include "unit/test_paths.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using namespace nibble;
using namespace nibble::test;

namespace {

// The checked-in corpus, found next to this source file (absolute __FILE__ under CMake) or from the
// repository root that ctest runs in.
fs::path corpus_dir() {
    const fs::path here = fs::path(__FILE__).parent_path().parent_path() / "data" / "gguf-corrupt";
    if (here.is_absolute() && fs::is_directory(here.parent_path())) {
        return here;
    }
    return fs::path("tests") / "data" / "gguf-corrupt";
}

std::vector<uint8_t> read_all(const fs::path & p) {
    std::ifstream f(p, std::ios::binary);
    return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

void write_all(const fs::path & p, const std::vector<uint8_t> & b) {
    std::ofstream f(p, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char *>(b.data()), std::streamsize(b.size()));
}

class GgufTest : public ::testing::Test {
  protected:
    void SetUp() override {
        dir_ = fs::path(::testing::TempDir()) / ("nibble_gguf_" + std::to_string(::getpid()) + "_" +
                                                 ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::create_directories(dir_);
    }

    void TearDown() override {
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }

    // Entries of dir_ (to check that no temporary file is left behind).
    size_t n_entries() const { return size_t(std::distance(fs::directory_iterator(dir_), fs::directory_iterator())); }

    fs::path dir_;
};

// Expects failure whose message names the file, an offset and the rule.
void expect_error(const Result<GgufFile> & r, const std::string & name, const std::string & rule) {
    ASSERT_FALSE(r.ok()) << name << " parsed but should not";
    const std::string msg = r.error().message();
    EXPECT_NE(msg.find(name), std::string::npos) << msg;
    EXPECT_NE(msg.find("offset "), std::string::npos) << msg;
    EXPECT_NE(msg.find(rule), std::string::npos) << "expected \"" << rule << "\" in: " << msg;
}

} // namespace

// ---------------------------------------------------------------------------------------------

TEST(GgmlTypes, AgreeWithFormatTable) {
    for (const FormatInfo & f : kFormats) {
        if (f.ggml_type < 0) {
            continue;
        }
        SCOPED_TRACE(f.name);
        const GgmlTypeInfo * t = ggml_type_info(uint32_t(f.ggml_type));
        ASSERT_NE(t, nullptr);
        EXPECT_STREQ(t->name, f.name);
        EXPECT_EQ(t->block_size, f.block_size);
        EXPECT_EQ(t->type_size, f.type_size);
    }
    for (uint32_t removed : { 4u, 5u, 31u, 32u, 33u, 36u, 37u, 38u, 43u, 1000u }) {
        EXPECT_EQ(ggml_type_info(removed), nullptr) << removed;
    }
}

TEST(GgufRead, ValidSyntheticFile) {
    GgufBuilder      g = valid_builder();
    const Bytes      b = g.build();
    Result<GgufFile> r = GgufFile::parse("valid.gguf", b.data(), b.size());
    ASSERT_TRUE(r.ok()) << r.error().message();
    const GgufFile & f = *r;

    EXPECT_EQ(f.version(), 3u);
    EXPECT_EQ(f.alignment(), 32u);
    EXPECT_EQ(f.data_offset(), g.layout.data_start);
    EXPECT_TRUE(f.sequential());
    ASSERT_EQ(f.metadata().size(), g.kvs.size());
    EXPECT_EQ(f.metadata()[3].key, "t.i8");
    EXPECT_EQ(f.metadata()[3].offset, g.layout.kv_starts[3]);

    EXPECT_EQ(*f.get_string("general.architecture"), "llama");
    EXPECT_EQ(*f.get<uint8_t>("t.u8"), 200);
    EXPECT_EQ(*f.get<int8_t>("t.i8"), -100);
    EXPECT_EQ(*f.get<uint16_t>("t.u16"), 60000);
    EXPECT_EQ(*f.get<int16_t>("t.i16"), -30000);
    EXPECT_EQ(*f.get_u32("t.u32"), 4000000000u);
    EXPECT_EQ(*f.get<int32_t>("t.i32"), -5);
    EXPECT_EQ(*f.get_f32("t.f32"), 1e-5f);
    EXPECT_EQ(*f.get<bool>("t.bool"), true);
    EXPECT_EQ(*f.get<uint64_t>("t.u64"), 1ull << 40);
    EXPECT_EQ(*f.get<int64_t>("t.i64"), -(1ll << 40));
    EXPECT_EQ(*f.get<double>("t.f64"), 3.25);

    const GgufValue & au = f.find("t.arr_u32")->value;
    ASSERT_TRUE(au.is_array());
    EXPECT_EQ(au.elem_type(), GgufType::UINT32);
    ASSERT_EQ(au.size(), 3u);
    EXPECT_EQ(au.at<uint32_t>(2), 9u);
    const GgufValue & as = f.find("t.arr_str")->value;
    ASSERT_EQ(as.size(), 3u);
    EXPECT_EQ(as.string_at(0), "a");
    EXPECT_EQ(as.string_at(1), "");
    EXPECT_EQ(as.string_at(2), "h\xc3\xa9llo");
    const GgufValue & an = f.find("t.nested")->value;
    ASSERT_EQ(an.elem_type(), GgufType::ARRAY);
    ASSERT_EQ(an.size(), 1u);
    EXPECT_EQ(an.array_at(0).elem_type(), GgufType::INT32);
    EXPECT_EQ(an.array_at(0).at<int32_t>(1), 2);
    EXPECT_EQ(an.to_string(), "[[1, 2]]");

    // Strict typing, like llama.cpp's loader: no silent conversions, errors name both types.
    const Result<int32_t> wrong = f.get<int32_t>("t.u32");
    ASSERT_FALSE(wrong.ok());
    EXPECT_NE(wrong.error().message().find("has type UINT32, expected INT32"), std::string::npos);
    EXPECT_EQ(wrong.error().offset, g.layout.kv_starts[6]);
    EXPECT_FALSE(f.get_u32("no.such.key").ok());
    EXPECT_EQ(f.find("no.such.key"), nullptr);

    ASSERT_EQ(f.tensors().size(), 3u);
    const GgufTensor * q = f.find_tensor("blk.0.ffn_up.weight");
    ASSERT_NE(q, nullptr);
    EXPECT_EQ(q->format, Format::Q8_0);
    EXPECT_EQ(q->n_dims, 2u);
    EXPECT_EQ(q->ne[0], 64);
    EXPECT_EQ(q->ne[1], 2);
    EXPECT_EQ(q->ne[2], 1);
    EXPECT_EQ(q->numel(), 128);
    EXPECT_EQ(q->nbytes, 136u);
    EXPECT_EQ(q->data, b.data() + g.layout.tensor_starts[2]);
    EXPECT_EQ(q->data[0], 3);
    EXPECT_EQ(q->data[135], 3);
    EXPECT_EQ(f.find_tensor("norm.weight")->format, Format::F32);
    EXPECT_EQ(f.find_tensor("missing"), nullptr);
}

TEST(GgufRead, CorruptCasesFailCleanly) {
    const std::vector<CorruptCase> cases = corrupt_cases();
    ASSERT_GE(cases.size(), 50u);
    for (const CorruptCase & c : cases) {
        SCOPED_TRACE(c.name);
        const auto       t0 = std::chrono::steady_clock::now();
        Result<GgufFile> r  = GgufFile::parse(c.name + ".gguf", c.bytes.data(), c.bytes.size());
        const double     s  = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        expect_error(r, c.name + ".gguf", c.rule);
        EXPECT_LT(s, 0.1);
    }
}

TEST(GgufRead, TruncatedAtEveryByte) {
    GgufBuilder g = valid_builder();
    const Bytes b = g.build();
    for (size_t cut = 0; cut < b.size(); cut++) {
        Result<GgufFile> r = GgufFile::parse("cut.gguf", b.data(), cut);
        if (cut < g.layout.data_end) {
            ASSERT_FALSE(r.ok()) << "cut at " << cut;
            EXPECT_LE(r.error().offset, cut) << r.error().message();
            EXPECT_NE(r.error().message().find("cut.gguf: offset "), std::string::npos);
        } else {
            // Only the trailing padding of the last tensor is missing: still a complete file.
            EXPECT_TRUE(r.ok()) << "cut at " << cut << ": " << r.error().message();
        }
    }
}

// A few thousand single-byte mutations of the header: the reader may accept or reject each, but must
// not crash or read out of bounds (ASan build), and an accepted file must still be self-consistent.
TEST(GgufRead, ByteMutationsNeverCrash) {
    GgufBuilder g = valid_builder();
    const Bytes b = g.build();
    for (size_t i = 0; i < g.layout.data_start; i++) {
        for (uint8_t v : { uint8_t(0x00), uint8_t(0xff), uint8_t(b[i] ^ 0x80), uint8_t(b[i] + 1) }) {
            Bytes m            = b;
            m[i]               = v;
            Result<GgufFile> r = GgufFile::parse("mut.gguf", m.data(), m.size());
            if (r.ok()) {
                for (const GgufTensor & t : r->tensors()) {
                    ASSERT_GE(t.data, m.data());
                    ASSERT_LE(t.data + t.nbytes, m.data() + m.size());
                }
            } else {
                ASSERT_NE(r.error().message().find("offset "), std::string::npos);
            }
        }
    }
}

TEST(GgufRead, NestingUpToTheLimitParses) {
    GgufBuilder g      = valid_builder();
    g.kvs[15].second   = val_nested(kGgufMaxArrayDepth);
    const Bytes      b = g.build();
    Result<GgufFile> r = GgufFile::parse("deep.gguf", b.data(), b.size());
    ASSERT_TRUE(r.ok()) << r.error().message();
    const GgufValue * v = &r->find("t.nested")->value;
    for (int d = 1; d < kGgufMaxArrayDepth; d++) {
        v = &v->array_at(0);
    }
    EXPECT_EQ(v->at<int32_t>(0), 1);
}

// Each inner array costs a GgufValue for 12 file bytes, so their total is capped file-wide.
TEST(GgufRead, InnerArrayBudget) {
    for (uint64_t n : { kGgufMaxInnerArrays, kGgufMaxInnerArrays + 1 }) {
        Bytes v;
        put_u32(v, 9); // ARRAY
        put_u32(v, 9); // of ARRAY
        put_u64(v, n);
        for (uint64_t i = 0; i < n; i++) {
            put_u32(v, 5); // empty INT32 arrays
            put_u64(v, 0);
        }
        GgufBuilder g      = valid_builder();
        g.kvs[15].second   = v;
        const Bytes      b = g.build();
        Result<GgufFile> r = GgufFile::parse("wide.gguf", b.data(), b.size());
        if (n <= kGgufMaxInnerArrays) {
            ASSERT_TRUE(r.ok()) << r.error().message();
            EXPECT_EQ(r->find("t.nested")->value.size(), n);
        } else {
            expect_error(r, "wide.gguf", "kGgufMaxInnerArrays");
        }
    }
}

TEST_F(GgufTest, NonSequentialLayoutIsReadAndCopiedSequentially) {
    GgufBuilder g       = valid_builder();
    g.tensors[0].offset = 320; // after the others: [0,32) stays a hole
    g.tensors[1].offset = 32;
    g.tensors[2].offset = 160;
    const Bytes      b  = g.build();
    Result<GgufFile> r  = GgufFile::parse("holes.gguf", b.data(), b.size());
    ASSERT_TRUE(r.ok()) << r.error().message();
    EXPECT_FALSE(r->sequential());

    const fs::path   out = dir_ / "seq.gguf";
    Result<uint64_t> n   = copy_gguf(*r, out.string());
    ASSERT_TRUE(n.ok()) << n.error().message();
    Result<GgufFile> c = GgufFile::open(out.string());
    ASSERT_TRUE(c.ok()) << c.error().message();
    EXPECT_TRUE(c->sequential());
    EXPECT_EQ(c->file_size(), *n);
    for (size_t i = 0; i < 3; i++) {
        const GgufTensor & a = r->tensors()[i];
        const GgufTensor & z = c->tensors()[i];
        EXPECT_EQ(a.name, z.name);
        ASSERT_EQ(a.nbytes, z.nbytes);
        EXPECT_EQ(0, std::memcmp(a.data, z.data, a.nbytes));
    }
    EXPECT_EQ(n_entries(), 1u);
}

// ---------------------------------------------------------------------------------------------
// Writer

TEST_F(GgufTest, CopyOfBuilderFileIsByteIdentical) {
    const Bytes    b  = valid_builder().build();
    const fs::path in = dir_ / "in.gguf", out = dir_ / "out.gguf";
    write_all(in, b);
    Result<GgufFile> r = GgufFile::open(in.string());
    ASSERT_TRUE(r.ok()) << r.error().message();
    ASSERT_TRUE(copy_gguf(*r, out.string()).ok());
    EXPECT_EQ(read_all(out), b);
}

TEST_F(GgufTest, TypedWriterApi) {
    const fs::path        out = dir_ / "typed.gguf";
    std::vector<uint16_t> f16(64 * 3);
    for (size_t i = 0; i < f16.size(); i++) {
        f16[i] = uint16_t(i * 7);
    }
    {
        GgufWriter w;
        ASSERT_TRUE(w.add_string("general.architecture", "llama").ok());
        ASSERT_TRUE(w.add<uint32_t>("general.alignment", 64).ok());
        ASSERT_TRUE(w.add<uint32_t>("llama.block_count", 2).ok());
        ASSERT_TRUE(w.add<float>("llama.rope.freq_base", 10000.0f).ok());
        ASSERT_TRUE(w.add<bool>("tokenizer.ggml.add_bos_token", true).ok());
        const std::vector<int32_t> types = { 1, 3, 6 };
        ASSERT_TRUE(w.add_array<int32_t>("tokenizer.ggml.token_type", types).ok());
        const std::vector<std::string> toks = { "<s>", "</s>", "\xe2\x96\x81the" };
        ASSERT_TRUE(w.add_string_array("tokenizer.ggml.tokens", toks).ok());
        const int64_t ne_w[] = { 64, 3 }, ne_n[] = { 64 };
        ASSERT_EQ(*w.add_tensor("token_embd.weight", Format::F16, ne_w), 0u);
        ASSERT_EQ(*w.add_tensor("output_norm.weight", Format::F32, ne_n), 1u);
        EXPECT_EQ(w.tensor_nbytes(0), 64u * 3 * 2);
        EXPECT_EQ(w.alignment(), 64u);
        Result<uint64_t> d = w.begin(out.string());
        ASSERT_TRUE(d.ok()) << d.error().message();
        EXPECT_EQ(*d % 64, 0u);
        EXPECT_FALSE(fs::exists(out)); // nothing at the destination before commit
        // Streamed in uneven chunks.
        const auto * p = reinterpret_cast<const uint8_t *>(f16.data());
        ASSERT_TRUE(w.write_tensor_data(0, p, 100).ok());
        ASSERT_TRUE(w.write_tensor_data(0, p + 100, 284).ok());
        const std::vector<float> norm(64, 1.0f);
        ASSERT_TRUE(w.write_tensor_data(1, norm.data(), 256).ok());
        ASSERT_TRUE(w.commit().ok());
    }
    EXPECT_EQ(n_entries(), 1u); // no temporary left

    Result<GgufFile> r = GgufFile::open(out.string());
    ASSERT_TRUE(r.ok()) << r.error().message();
    EXPECT_EQ(r->alignment(), 64u);
    EXPECT_TRUE(r->sequential());
    EXPECT_EQ(*r->get_u32("llama.block_count"), 2u);
    EXPECT_EQ(*r->get_f32("llama.rope.freq_base"), 10000.0f);
    EXPECT_EQ(*r->get<bool>("tokenizer.ggml.add_bos_token"), true);
    EXPECT_EQ(r->find("tokenizer.ggml.token_type")->value.at<int32_t>(2), 6);
    EXPECT_EQ(r->find("tokenizer.ggml.tokens")->value.string_at(2), "\xe2\x96\x81the");
    const GgufTensor * t = r->find_tensor("token_embd.weight");
    ASSERT_NE(t, nullptr);
    EXPECT_EQ(t->format, Format::F16);
    EXPECT_EQ(0, std::memcmp(t->data, f16.data(), t->nbytes));
    EXPECT_EQ(r->find_tensor("output_norm.weight")->offset, 384u); // align_up(384, 64)
    EXPECT_EQ(r->find_tensor("output_norm.weight")->n_dims, 1u);
}

TEST_F(GgufTest, WriterRejectsBadInputAndCleansUp) {
    GgufWriter w;
    ASSERT_TRUE(w.add<uint32_t>("a", 1).ok());
    EXPECT_FALSE(w.add<int32_t>("a", 1).ok());                   // duplicate
    EXPECT_FALSE(w.add<uint32_t>("", 1).ok());                   // empty key
    EXPECT_FALSE(w.add<int32_t>("general.alignment", 32).ok());  // wrong type
    EXPECT_FALSE(w.add<uint32_t>("general.alignment", 24).ok()); // not a power of two
    const int64_t ok_ne[] = { 32, 2 }, bad_ne[] = { 48 }, zero_ne[] = { 32, 0 }, five[] = { 32, 1, 1, 1, 1 };
    EXPECT_FALSE(w.add_tensor(std::string(64, 'n'), Format::F32, ok_ne).ok());
    EXPECT_FALSE(w.add_tensor("q", Format::Q8_0, bad_ne).ok());
    EXPECT_FALSE(w.add_tensor("z", Format::F32, zero_ne).ok());
    EXPECT_FALSE(w.add_tensor("five", Format::F32, five).ok());
    EXPECT_FALSE(w.add_tensor("e4m3", Format::E4M3, ok_ne).ok()); // no GGUF type
    EXPECT_FALSE(w.add_tensor("x", uint32_t(4), ok_ne).ok());     // removed ggml type
    ASSERT_TRUE(w.add_tensor("t0", Format::F32, ok_ne).ok());
    ASSERT_TRUE(w.add_tensor("t1", Format::F32, ok_ne).ok());
    EXPECT_FALSE(w.add_tensor("t0", Format::F16, ok_ne).ok()); // duplicate name

    const fs::path out = dir_ / "partial.gguf";
    ASSERT_TRUE(w.begin(out.string()).ok());
    EXPECT_EQ(n_entries(), 1u); // the temporary
    EXPECT_FALSE(w.add<uint32_t>("late", 1).ok());
    const std::vector<float> data(64);
    EXPECT_FALSE(w.write_tensor_data(1, data.data(), 256).ok()); // out of order: also discards
    EXPECT_EQ(n_entries(), 0u);
    EXPECT_FALSE(w.commit().ok());
    EXPECT_FALSE(fs::exists(out));
}

TEST_F(GgufTest, UncommittedWriterRemovesItsTemporary) {
    const fs::path out = dir_ / "never.gguf";
    {
        GgufWriter    w;
        const int64_t ne[] = { 32 };
        ASSERT_TRUE(w.add_tensor("t", Format::F32, ne).ok());
        ASSERT_TRUE(w.begin(out.string()).ok());
        const std::vector<float> data(32);
        ASSERT_TRUE(w.write_tensor_data(0, data.data(), 100).ok());
        EXPECT_EQ(n_entries(), 1u);
        EXPECT_FALSE(w.write_tensor_data(0, data.data(), 100).ok()); // 200 > 128 bytes
    }
    EXPECT_EQ(n_entries(), 0u);
    {
        GgufWriter    w;
        const int64_t ne[] = { 32 };
        ASSERT_TRUE(w.add_tensor("t", Format::F32, ne).ok());
        ASSERT_TRUE(w.begin(out.string()).ok());
        EXPECT_FALSE(w.commit().ok()); // tensor missing
    }
    EXPECT_EQ(n_entries(), 0u);
    {
        GgufWriter w; // destroyed mid-stream without an error
        ASSERT_TRUE(w.add<uint32_t>("k", 1).ok());
        ASSERT_TRUE(w.begin(out.string()).ok());
    }
    EXPECT_EQ(n_entries(), 0u);
}

// ---------------------------------------------------------------------------------------------
// Shared llama.cpp files

TEST_F(GgufTest, SharedFilesRoundTripByteIdentical) {
    const fs::path sd = shared_dir();
    if (sd.empty()) {
        GTEST_SKIP() << "../shared not found (set NIBBLE_SHARED_DIR)";
    }
    std::vector<fs::path> files;
    for (const fs::path & d : { sd / "models", sd / "golden" / "llama-quantize" }) {
        if (!fs::is_directory(d)) {
            continue;
        }
        for (const auto & e : fs::recursive_directory_iterator(d)) {
            if (e.is_regular_file() && e.path().extension() == ".gguf") {
                files.push_back(e.path());
            }
        }
    }
    ASSERT_FALSE(files.empty());
    for (const fs::path & p : files) {
        SCOPED_TRACE(p.string());
        Result<GgufFile> r = GgufFile::open(p.string());
        ASSERT_TRUE(r.ok()) << r.error().message();
        EXPECT_TRUE(r->sequential());
        const fs::path   out = dir_ / p.filename();
        Result<uint64_t> n   = copy_gguf(*r, out.string());
        ASSERT_TRUE(n.ok()) << n.error().message();
        EXPECT_EQ(*n, fs::file_size(p));
        EXPECT_TRUE(read_all(out) == read_all(p)) << "copy differs";
        fs::remove(out);
    }
}

TEST(GgufShared, TinyStoriesF16Facts) {
    const fs::path p = shared_dir() / "models" / "tinystories-656k-gguf" / "TinyStories-656K.f16.gguf";
    if (shared_dir().empty() || !fs::exists(p)) {
        GTEST_SKIP() << "TinyStories-656K.f16.gguf not found (set NIBBLE_SHARED_DIR)";
    }
    Result<GgufFile> r = GgufFile::open(p.string());
    ASSERT_TRUE(r.ok()) << r.error().message();
    EXPECT_EQ(r->tensors().size(), 20u);
    EXPECT_EQ(*r->get_string("general.architecture"), "llama");
    ASSERT_EQ(r->find("llama.block_count")->value.type(), GgufType::UINT32);
    EXPECT_EQ(*r->get_u32("llama.block_count"), 2u);
    const GgufTensor * t = r->find_tensor("token_embd.weight");
    ASSERT_NE(t, nullptr);
    EXPECT_EQ(t->n_dims, 2u);
    EXPECT_EQ(t->ne[0], 128);
    EXPECT_EQ(t->ne[1], 2048);
    EXPECT_EQ(t->format, Format::F16);
    EXPECT_EQ(t->nbytes, 128u * 2048 * 2);
}

// ---------------------------------------------------------------------------------------------
// Checked-in corrupt corpus. Regenerate after changing gguf_builder.h with:
//   NIBBLE_REGEN_GGUF_CORPUS=1 build/tests/nibble_unit_tests --gtest_filter='GgufCorpus.*'

TEST(GgufCorpus, MatchesGenerator) {
    const fs::path dir   = corpus_dir();
    const bool     regen = std::getenv("NIBBLE_REGEN_GGUF_CORPUS") != nullptr;
    if (regen) {
        fs::create_directories(dir);
    }
    uint64_t total = 0;
    for (const CorruptCase & c : corrupt_cases()) {
        const fs::path p = dir / (c.name + ".gguf");
        if (regen) {
            write_all(p, c.bytes);
        }
        EXPECT_TRUE(fs::exists(p) && read_all(p) == c.bytes)
            << p << " is missing or stale; regenerate: NIBBLE_REGEN_GGUF_CORPUS=1 "
            << "build/tests/nibble_unit_tests --gtest_filter='GgufCorpus.*'";
        total += c.bytes.size();
    }
    EXPECT_LT(total, 200u * 1024); // keep the repository small
}

TEST(GgufCorpus, EveryCheckedInFileFails) {
    const fs::path dir = corpus_dir();
    ASSERT_TRUE(fs::is_directory(dir)) << dir;
    size_t n = 0;
    for (const auto & e : fs::directory_iterator(dir)) {
        if (e.path().extension() != ".gguf") {
            continue;
        }
        SCOPED_TRACE(e.path().string());
        const auto       t0 = std::chrono::steady_clock::now();
        Result<GgufFile> r  = GgufFile::open(e.path().string());
        const double     s  = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        expect_error(r, e.path().filename().string(), "");
        EXPECT_LT(s, 1.0);
        n++;
    }
    EXPECT_GE(n, 50u);
}
