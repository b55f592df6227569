// Importance-matrix files (src/io/imatrix.h): GGUF and legacy .dat, the means llama-quantize derives
// from them, validation of broken files, filters. The byte-exact round trip of llama-imatrix's own
// files is in tests/golden/test_quantize_golden.cpp.
#include "io/gguf_writer.h"
#include "io/imatrix.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace nibble {
namespace {

namespace fs = std::filesystem;

class ImatrixTest : public ::testing::Test {
  protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() / ("nibble-imatrix-" + std::to_string(::getpid()));
        fs::create_directories(dir_);
    }
    void TearDown() override {
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }
    std::string path(const std::string & name) const { return (dir_ / name).string(); }

    fs::path dir_;
};

std::vector<ImatrixStats> two_weights() {
    ImatrixStats dense{ "blk.0.attn_q.weight", { 2.0f, 4.0f, 6.0f, 8.0f }, { 2.0f } };
    // Two experts of 3 columns; the second saw no token.
    ImatrixStats moe{ "blk.0.ffn_up_exps.weight", { 3.0f, 6.0f, 9.0f, 0.0f, 0.0f, 0.0f }, { 3.0f, 0.0f } };
    return { moe, dense }; // unsorted on purpose: the writer sorts by name
}

void write_bytes(const std::string & p, const std::vector<uint8_t> & b) {
    std::ofstream(p, std::ios::binary).write(reinterpret_cast<const char *>(b.data()), std::streamsize(b.size()));
}

template <class T> void put(std::vector<uint8_t> & b, T v) {
    const size_t at = b.size();
    b.resize(at + sizeof v);
    std::memcpy(b.data() + at, &v, sizeof v);
}

void put_entry(std::vector<uint8_t> & b, const std::string & name, int32_t ncall, const std::vector<float> & v) {
    put<int32_t>(b, int32_t(name.size()));
    b.insert(b.end(), name.begin(), name.end());
    put<int32_t>(b, ncall);
    put<int32_t>(b, int32_t(v.size()));
    for (float x : v) {
        put<float>(b, x);
    }
}

std::vector<uint8_t> legacy_file(bool trailer) {
    std::vector<uint8_t> b;
    put<int32_t>(b, 2);
    put_entry(b, "blk.0.attn_q.weight", 4, { 4.0f, 8.0f, 2.0f });
    put_entry(b, "blk.0.attn_k.weight", 0, { 0.5f, 1.5f });
    if (trailer) {
        put<int32_t>(b, 40);
        const std::string ds = "tiny.txt";
        put<int32_t>(b, int32_t(ds.size()));
        b.insert(b.end(), ds.begin(), ds.end());
    }
    return b;
}

TEST_F(ImatrixTest, GgufMeansAreSumsOverCountsAndOneForUnseenExperts) {
    ASSERT_TRUE(write_imatrix_gguf(path("im.gguf"), two_weights(), { "a.txt", "b.txt" }, 40, 128).ok());
    const Result<Imatrix> m = load_imatrix(path("im.gguf"));
    ASSERT_TRUE(m.ok()) << m.error().message();
    EXPECT_FALSE(m->legacy);
    EXPECT_EQ(m->datasets, (std::vector<std::string>{ "a.txt", "b.txt" }));
    EXPECT_EQ(m->chunk_count, 40u);
    EXPECT_EQ(m->chunk_size, 128u);
    ASSERT_EQ(m->entries.size(), 2u);

    const ImatrixEntry * d = m->find("blk.0.attn_q.weight");
    ASSERT_NE(d, nullptr);
    EXPECT_EQ(d->n_mat, 1);
    EXPECT_EQ(d->mean, (std::vector<float>{ 1.0f, 2.0f, 3.0f, 4.0f }));

    const ImatrixEntry * e = m->find("blk.0.ffn_up_exps.weight");
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->n_mat, 2);
    EXPECT_EQ(e->n_per_mat(), 3);
    EXPECT_EQ(e->mean, (std::vector<float>{ 1.0f, 2.0f, 3.0f, 1.0f, 1.0f, 1.0f }));
    EXPECT_EQ(e->counts, (std::vector<float>{ 3.0f, 0.0f }));
}

TEST_F(ImatrixTest, GgufWithoutRequiredMetadataIsRefused) {
    for (const char * skip : { "imatrix.datasets", "imatrix.chunk_count", "imatrix.chunk_size" }) {
        GgufWriter w;
        if (std::string(skip) != "imatrix.datasets") {
            const std::vector<std::string> ds = { "x" };
            ASSERT_TRUE(w.add_string_array("imatrix.datasets", ds).ok());
        }
        for (const char * k : { "imatrix.chunk_count", "imatrix.chunk_size" }) {
            if (std::string(k) != skip) {
                ASSERT_TRUE(w.add<uint32_t>(k, 1).ok());
            }
        }
        const std::vector<int64_t> ne = { 1 };
        ASSERT_TRUE(w.add_tensor("a.weight.in_sum2", Format::F32, ne).ok());
        ASSERT_TRUE(w.add_tensor("a.weight.counts", Format::F32, ne).ok());
        ASSERT_TRUE(w.begin(path("bad.gguf")).ok());
        const float one = 1.0f;
        ASSERT_TRUE(w.write_tensor_data(0, &one, 4).ok());
        ASSERT_TRUE(w.write_tensor_data(1, &one, 4).ok());
        ASSERT_TRUE(w.commit().ok());
        const Result<Imatrix> m = load_imatrix(path("bad.gguf"));
        ASSERT_FALSE(m.ok()) << skip;
        EXPECT_NE(m.error().what.find(skip), std::string::npos) << m.error().message();
    }
}

// Writes a GGUF imatrix whose tensors are given directly (names, shapes, values).
void write_raw(const std::string & p, const std::vector<std::pair<std::string, std::vector<float>>> & tensors,
               GgufType count_type = GgufType::UINT32) {
    GgufWriter                     w;
    const std::vector<std::string> ds = { "x" };
    ASSERT_TRUE(w.add_string_array("imatrix.datasets", ds).ok());
    if (count_type == GgufType::UINT32) {
        ASSERT_TRUE(w.add<uint32_t>("imatrix.chunk_count", 1).ok());
    } else {
        ASSERT_TRUE(w.add<int32_t>("imatrix.chunk_count", 1).ok());
    }
    ASSERT_TRUE(w.add<uint32_t>("imatrix.chunk_size", 1).ok());
    for (const auto & [name, v] : tensors) {
        const std::vector<int64_t> ne = { int64_t(v.size()) };
        ASSERT_TRUE(w.add_tensor(name, Format::F32, ne).ok());
    }
    ASSERT_TRUE(w.begin(p).ok());
    for (size_t i = 0; i < tensors.size(); ++i) {
        ASSERT_TRUE(w.write_tensor_data(i, tensors[i].second.data(), tensors[i].second.size() * 4).ok());
    }
    ASSERT_TRUE(w.commit().ok());
}

TEST_F(ImatrixTest, GgufValidationNamesTheProblem) {
    struct Bad {
        std::vector<std::pair<std::string, std::vector<float>>> tensors;
        GgufType                                                count_type;
        const char *                                            expect;
    };
    const float nan     = std::nanf("");
    const Bad   cases[] = {
          { { { "w.in_sum2", { 1, 2 } } }, GgufType::UINT32, "mismatched sums and counts" },
          { { { "w.counts", { 1 } } }, GgufType::UINT32, "mismatched sums and counts" },
          { { { "w.in_sum2", { 1, 2 } }, { "w.counts", { 1, 2 } } }, GgufType::UINT32, "counts for 1" },
          { { { "w.in_sum2", { 1, nan } }, { "w.counts", { 1 } } }, GgufType::UINT32, "NaN" },
          { { { "w.in_sum2", { 1, -2 } }, { "w.counts", { 1 } } }, GgufType::UINT32, "sum of squares" },
          { { { "w.in_sum2", { 1, 2 } }, { "w.counts", { -1 } } }, GgufType::UINT32, "not a valid count" },
          { { { "w.in_sum2", { 1, 2 } }, { "w.counts", { 1 } } }, GgufType::INT32, "expected UINT32" },
          { { { "w.other", { 1 } } }, GgufType::UINT32, "no imatrix entries" },
    };
    for (const Bad & c : cases) {
        write_raw(path("bad.gguf"), c.tensors, c.count_type);
        const Result<Imatrix> m = load_imatrix(path("bad.gguf"));
        ASSERT_FALSE(m.ok()) << c.expect;
        EXPECT_NE(m.error().message().find(c.expect), std::string::npos) << m.error().message();
        EXPECT_EQ(m.error().file, path("bad.gguf"));
    }
    // The offset of a bad value points at it in the file.
    write_raw(path("nan.gguf"), { { "w.in_sum2", { 1, nan } }, { "w.counts", { 1 } } });
    const Result<Imatrix> m = load_imatrix(path("nan.gguf"));
    ASSERT_FALSE(m.ok());
    std::ifstream in(path("nan.gguf"), std::ios::binary);
    in.seekg(std::streamoff(m.error().offset));
    float v = 0;
    in.read(reinterpret_cast<char *>(&v), 4);
    EXPECT_TRUE(std::isnan(v)) << m.error().message();
}

TEST_F(ImatrixTest, LegacyValuesAreDividedByNcall) {
    for (bool trailer : { false, true }) {
        write_bytes(path("im.dat"), legacy_file(trailer));
        const Result<Imatrix> m = load_imatrix(path("im.dat"));
        ASSERT_TRUE(m.ok()) << m.error().message();
        EXPECT_TRUE(m->legacy);
        ASSERT_EQ(m->entries.size(), 2u);
        EXPECT_EQ(m->find("blk.0.attn_q.weight")->mean, (std::vector<float>{ 1.0f, 2.0f, 0.5f }));
        EXPECT_EQ(m->find("blk.0.attn_k.weight")->mean, (std::vector<float>{ 0.5f, 1.5f })); // ncall 0: as stored
        EXPECT_EQ(m->chunk_count, trailer ? 40u : 0u);
        EXPECT_EQ(m->datasets, trailer ? std::vector<std::string>{ "tiny.txt" } : std::vector<std::string>{});
    }
}

TEST_F(ImatrixTest, TruncatedLegacyFilesGiveErrorsNotCrashes) {
    const std::vector<uint8_t> full     = legacy_file(true);
    const size_t               no_trail = legacy_file(false).size();
    for (size_t n = 0; n < full.size(); ++n) {
        write_bytes(path("cut.dat"), std::vector<uint8_t>(full.begin(), full.begin() + std::ptrdiff_t(n)));
        const Result<Imatrix> m = load_imatrix(path("cut.dat"));
        EXPECT_EQ(m.ok(), n == no_trail) << "prefix of " << n << " bytes";
        if (!m.ok()) {
            EXPECT_LE(m.error().offset, n) << m.error().message();
        }
    }
    std::vector<uint8_t> extra = full;
    extra.push_back(0);
    write_bytes(path("extra.dat"), extra);
    EXPECT_FALSE(load_imatrix(path("extra.dat")).ok());
    EXPECT_FALSE(load_imatrix(path("does-not-exist.dat")).ok());
}

TEST_F(ImatrixTest, LegacyHostileCountsAreRefused) {
    std::vector<uint8_t> b;
    put<int32_t>(b, 1);
    put<int32_t>(b, 3);
    b.insert(b.end(), { 'a', 'b', 'c' });
    put<int32_t>(b, 1);
    put<int32_t>(b, 1 << 30); // a billion values in a 20-byte file
    write_bytes(path("big.dat"), b);
    const Result<Imatrix> m = load_imatrix(path("big.dat"));
    ASSERT_FALSE(m.ok());
    EXPECT_NE(m.error().what.find("value count"), std::string::npos) << m.error().message();
    EXPECT_EQ(m.error().offset, 4u + 4u + 3u + 4u);
}

TEST_F(ImatrixTest, IncludeAndExcludeFilterBySubstring) {
    ASSERT_TRUE(write_imatrix_gguf(path("im.gguf"), two_weights(), { "a" }, 1, 1).ok());
    Imatrix m = *load_imatrix(path("im.gguf"));
    filter_imatrix(m, { "attn" }, {});
    ASSERT_EQ(m.entries.size(), 1u);
    EXPECT_NE(m.find("blk.0.attn_q.weight"), nullptr);
    filter_imatrix(m, {}, { "attn_q" });
    EXPECT_TRUE(m.entries.empty());
}

} // namespace
} // namespace nibble
