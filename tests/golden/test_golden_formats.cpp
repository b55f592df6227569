// Bit-exactness against ggml: for every case in ../shared/golden/formats (16 formats x 4 input
// sets x with/without importance matrix) our quantizer must write the same bytes and our
// dequantizers (scalar reference and CPU fast path) the same floats.
#include "backend/cpu/formats/dequant.h"
#include "formats/format_table.h"
#include "formats/quantize.h"
#include "golden/golden_cases.h"

#include <gtest/gtest.h>

#include <cstring>
#include <map>

namespace nibble {
namespace {

// 16 formats x 4 sets x 2 (README of the golden folder).
constexpr size_t kExpectedCases = 128;

struct Inputs {
    std::vector<float> x;
    std::vector<float> imatrix;
};

size_t first_float_mismatch(const std::vector<float> & a, const std::vector<float> & b) {
    for (size_t i = 0; i < a.size(); ++i) {
        if (std::memcmp(&a[i], &b[i], 4) != 0) {
            return i;
        }
    }
    return a.size();
}

TEST(GoldenFormats, QuantizeAndDequantizeAreBitExactWithGgml) {
    const std::string dir = golden::golden_dir();
    if (dir.empty()) {
        GTEST_SKIP() << "golden data not found (set NIBBLE_GOLDEN_DIR or put ../shared beside the checkout)";
    }
    const std::vector<golden::Case> cases = golden::read_cases(dir);
    ASSERT_EQ(cases.size(), kExpectedCases);

    std::map<std::string, Inputs> inputs;
    ThreadPool                    pool(3);  // odd count on purpose: uneven chunks must not matter
    int                           passed = 0;
    for (const golden::Case & c : cases) {
        SCOPED_TRACE(c.type + " " + c.set + (c.with_imatrix ? " imatrix" : ""));
        auto fmt = format_from_name(c.type);
        ASSERT_TRUE(fmt.has_value()) << "unknown format " << c.type;
        Inputs & in = inputs[c.set];
        if (in.x.empty()) {
            in.x       = golden::read_f32(dir + "/input_" + c.set + ".f32");
            in.imatrix = golden::read_f32(dir + "/imatrix_" + c.set + ".f32");
        }
        ASSERT_EQ(in.x.size(), size_t(golden::kRows * golden::kPerRow));
        ASSERT_EQ(row_size(*fmt, golden::kPerRow), c.row_bytes);

        const std::vector<char> expected_q = golden::read_file(dir + "/" + c.q_file);
        ASSERT_EQ(expected_q.size(), size_t(c.row_bytes * golden::kRows));

        QuantParams p;
        p.imatrix = c.with_imatrix ? in.imatrix.data() : nullptr;
        std::vector<char> q(expected_q.size());
        quantize_matrix(*fmt, in.x.data(), q.data(), golden::kRows, golden::kPerRow, p, &pool);
        bool bytes_ok = true;
        for (int64_t r = 0; r < golden::kRows; ++r) {
            if (std::memcmp(q.data() + r * c.row_bytes, expected_q.data() + r * c.row_bytes, size_t(c.row_bytes))) {
                ADD_FAILURE() << "quantized bytes differ in row " << r;
                bytes_ok = false;
                break;
            }
        }

        const std::vector<float> expected_f = golden::read_f32(dir + "/" + c.dequant_file);
        ASSERT_EQ(expected_f.size(), in.x.size());
        std::vector<float> y(expected_f.size());
        const FormatInfo & info = format_info(*fmt);
        for (int64_t r = 0; r < golden::kRows; ++r) {
            info.dequantize_row(expected_q.data() + r * c.row_bytes, y.data() + r * golden::kPerRow, golden::kPerRow);
        }
        const size_t bad = first_float_mismatch(y, expected_f);
        EXPECT_EQ(bad, y.size()) << "scalar dequantized float " << bad << " differs";

        bool fast_ok = true;
        if (cpu::DequantFn fast = cpu::fast_dequantizer(*fmt)) {
            std::fill(y.begin(), y.end(), -1.0f);
            for (int64_t r = 0; r < golden::kRows; ++r) {
                fast(expected_q.data() + r * c.row_bytes, y.data() + r * golden::kPerRow, golden::kPerRow);
            }
            const size_t bad_fast = first_float_mismatch(y, expected_f);
            fast_ok               = bad_fast == y.size();
            EXPECT_TRUE(fast_ok) << "fast-path dequantized float " << bad_fast << " differs";
        }
        passed += bytes_ok && bad == y.size() && fast_ok;
    }
    EXPECT_EQ(passed, int(kExpectedCases));
    std::printf("golden formats: %d/%zu cases bit-exact (dir %s)\n", passed, cases.size(), dir.c_str());
}

}  // namespace
}  // namespace nibble
