// The format table is the single source of truth: check it against FORMATS.md §2.5.
#include "formats/format_table.h"

#include <gtest/gtest.h>

#include <set>

namespace nibble {
namespace {

TEST(FormatTable, MatchesGgmlTypeSizes) {
    struct Expect {
        const char * name;
        int          ggml_type, block, bytes;
        double       bpw;
    };
    const Expect table[] = {
        {"f32", 0, 1, 4, 32},          {"f16", 1, 1, 2, 16},          {"bf16", 30, 1, 2, 16},
        {"q4_0", 2, 32, 18, 4.5},      {"q4_1", 3, 32, 20, 5.0},      {"q5_0", 6, 32, 22, 5.5},
        {"q5_1", 7, 32, 24, 6.0},      {"q8_0", 8, 32, 34, 8.5},      {"q2_K", 10, 256, 84, 2.625},
        {"q3_K", 11, 256, 110, 3.4375}, {"q4_K", 12, 256, 144, 4.5},  {"q5_K", 13, 256, 176, 5.5},
        {"q6_K", 14, 256, 210, 6.5625}, {"q8_K", 15, 256, 292, 9.125}, {"iq4_nl", 20, 32, 18, 4.5},
        {"iq4_xs", 23, 256, 136, 4.25}, {"mxfp4", 39, 32, 17, 4.25},  {"nvfp4", 40, 64, 36, 4.5},
    };
    for (const Expect & e : table) {
        SCOPED_TRACE(e.name);
        auto f = format_from_name(e.name);
        ASSERT_TRUE(f.has_value());
        const FormatInfo & info = format_info(*f);
        EXPECT_EQ(info.ggml_type, e.ggml_type);
        EXPECT_EQ(info.block_size, e.block);
        EXPECT_EQ(info.type_size, e.bytes);
        EXPECT_DOUBLE_EQ(info.bits_per_weight(), e.bpw);
        EXPECT_EQ(format_from_ggml_type(e.ggml_type), f);
    }
}

TEST(FormatTable, NamesAndIdsAreUnique) {
    std::set<std::string> names;
    std::set<int>         ids;
    for (const FormatInfo & info : kFormats) {
        EXPECT_TRUE(names.insert(info.name).second) << info.name;
        if (info.ggml_type >= 0) {
            EXPECT_TRUE(ids.insert(info.ggml_type).second) << info.name;
        }
        EXPECT_NE(info.quantize_row_ref, nullptr);
        EXPECT_NE(info.quantize_rows, nullptr);
        EXPECT_NE(info.dequantize_row, nullptr);
    }
    EXPECT_EQ(format_from_name("Q4_k"), Format::Q4_K);  // case-insensitive like llama-quantize
    EXPECT_FALSE(format_from_name("q4_2").has_value());
    EXPECT_FALSE(format_from_ggml_type(4).has_value());  // removed Q4_2
    EXPECT_FALSE(format_from_ggml_type(-1).has_value());
}

TEST(FormatTable, RowSize) {
    EXPECT_EQ(row_size(Format::Q8_0, 4096), 4096 / 32 * 34);
    EXPECT_EQ(row_size(Format::Q4_K, 4096), 16 * 144);
    EXPECT_EQ(row_size(Format::NVFP4, 128), 2 * 36);
    EXPECT_EQ(row_size(Format::F16, 7), 14);
}

}  // namespace
}  // namespace nibble
