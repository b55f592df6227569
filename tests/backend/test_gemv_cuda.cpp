// CUDA GEMV against the CPU reference: every format x batch {1, 2, 3, 8} x shapes that do not divide
// the kernel tiles, on the same quantized bytes. The reference dequantizes with the format table's
// dequantize_row and accumulates in double. Repack round trips need no GPU; everything else skips
// (GTEST_SKIP) when no CUDA device is present, as in CI.
#include "backend/cuda/context.h"
#include "backend/cuda/gemv.h"
#include "core/half.h"
#include "formats/format_table.h"
#include "formats/nvfp4.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace nibble::cuda {
namespace {

// Tolerances (normalised MSE, see nmse() below), by the arithmetic the kernel family uses:
//  * Block formats multiply int8 weights by x quantized to int8 per 32 values (scale amax/127). The
//    rounding error of x is uniform with variance (amax/127)^2 / 12; for Gaussian x (amax of 32 draws
//    ~2.1 sigma) that is ~2.3e-5 of the signal, whatever the weight format. 4x headroom.
//  * F16, BF16 and E4M3 weights are exact in fp32, x (fp16/bf16) too: only fp32 summation error
//    (~cols * 2^-48 ~ 1e-10 at 16640 columns). 10x headroom.
constexpr double kNmseInt8Activations = 1e-4;
constexpr double kNmseFp32            = 1e-9;

struct FormatCase {
    Format format;
    double max_nmse;
};

const FormatCase kFormatCases[] = {
    { Format::NVFP4, kNmseInt8Activations },  { Format::MXFP4, kNmseInt8Activations },
    { Format::Q4_0, kNmseInt8Activations },   { Format::Q4_1, kNmseInt8Activations },
    { Format::Q5_0, kNmseInt8Activations },   { Format::Q5_1, kNmseInt8Activations },
    { Format::Q8_0, kNmseInt8Activations },   { Format::Q2_K, kNmseInt8Activations },
    { Format::Q3_K, kNmseInt8Activations },   { Format::Q4_K, kNmseInt8Activations },
    { Format::Q5_K, kNmseInt8Activations },   { Format::Q6_K, kNmseInt8Activations },
    { Format::IQ4_NL, kNmseInt8Activations }, { Format::IQ4_XS, kNmseInt8Activations },
    { Format::E4M3, kNmseFp32 },              { Format::BF16, kNmseFp32 },
    { Format::F16, kNmseFp32 },
};

// (rows, cols): rows that fill no tile (1, 37, 130), cols that leave lanes idle (256, 768), that are
// not a multiple of 32 chunks (2304) and that need two activation slices at batch 1 (16640 > 16384).
struct Shape {
    int rows;
    int cols;
};
// {1100, 1024} gives the balanced grid's warps several groups each.
const Shape kShapes[] = { { 1, 256 }, { 37, 768 }, { 130, 2304 }, { 64, 4096 }, { 1100, 1024 }, { 5, 16640 } };

bool have_gpu() { return device_count() > 0; }

std::string case_name(Format f) { return format_name(f); }

// Host matrix quantized to `f`, its dequantized values and the packed device copy.
struct Matrix {
    Format               format;
    int                  rows = 0, cols = 0;
    std::vector<uint8_t> gguf;
    std::vector<float>   deq;  // rows x cols
    PackedLayout         layout;
    DeviceArray<uint8_t> dev;

    GemvWeights weights(float scale = 1.0f, const float * row_scale = nullptr) const {
        return { layout, dev.get(), scale, row_scale };
    }
};

// Dequantizes m.gguf on the CPU (the reference values) and uploads the packed copy.
void finish_matrix(Matrix & m, bool upload) {
    const FormatInfo & info = format_info(m.format);
    const size_t       rs   = size_t(row_size(m.format, m.cols));
    m.deq.resize(size_t(m.rows) * m.cols);
    for (int r = 0; r < m.rows; ++r) {
        info.dequantize_row(m.gguf.data() + size_t(r) * rs, m.deq.data() + size_t(r) * m.cols, m.cols);
    }
    m.layout = gemv_layout(m.format, m.rows, m.cols);
    if (upload) {
        std::vector<uint8_t> packed(size_t(m.layout.bytes));
        gemv_repack(m.layout, m.gguf.data(), packed.data());
        m.dev = device_alloc<uint8_t>(packed.size());
        CUDA_CHECK(cudaMemcpy(m.dev.get(), packed.data(), packed.size(), cudaMemcpyHostToDevice));
    }
}

Matrix make_matrix(Format f, int rows, int cols, uint32_t seed, bool upload = true) {
    const FormatInfo &              info = format_info(f);
    std::mt19937                    rng(seed);
    std::normal_distribution<float> dist(0.0f, 1.0f);
    std::vector<float>              w(size_t(rows) * cols);
    for (float & v : w) {
        v = dist(rng);
    }
    Matrix m;
    m.format = f;
    m.rows   = rows;
    m.cols   = cols;
    m.gguf.resize(size_t(rows) * size_t(row_size(f, cols)));
    info.quantize_rows(w.data(), m.gguf.data(), rows, cols, QuantParams{});
    finish_matrix(m, upload);
    return m;
}

// Activations: batch columns of ldx elements, rounded to fp16/bf16 (the values the GPU sees).
struct Activations {
    int                   batch = 0;
    int64_t               ldx   = 0;
    std::vector<float>    values;  // batch x ldx, already rounded
    DeviceArray<uint16_t> dev;
};

// group_scale(g): a factor for the 32-group g of every column (1 by default).
template <class GroupScale = float (*)(int)>
Activations make_x(int batch, int cols, ActType xt, uint32_t seed, GroupScale group_scale = [](int) { return 1.0f; }) {
    Activations a;
    a.batch = batch;
    a.ldx   = cols + 8;  // a stride wider than the row, as a KV-cache-sized buffer would have
    std::mt19937                    rng(seed);
    std::normal_distribution<float> dist(0.0f, 1.0f);
    std::vector<uint16_t>           bits(size_t(batch) * a.ldx);
    a.values.resize(bits.size());
    for (size_t i = 0; i < bits.size(); ++i) {
        const float v = dist(rng) * group_scale(int(i % size_t(a.ldx)) / 32);
        bits[i]       = xt == ActType::F16 ? fp32_to_fp16(v) : fp32_to_bf16(v);
        a.values[i]   = xt == ActType::F16 ? fp16_to_fp32(bits[i]) : bf16_to_fp32(bits[i]);
    }
    a.dev = device_alloc<uint16_t>(bits.size());
    CUDA_CHECK(cudaMemcpy(a.dev.get(), bits.data(), bits.size() * 2, cudaMemcpyHostToDevice));
    return a;
}

// dot of row r of m with column b of x in double, and the sum of squared products (for nmse()).
double ref_dot(const Matrix & m, int r, const Activations & x, int b, double * energy) {
    double s = 0.0, e = 0.0;
    for (int k = 0; k < m.cols; ++k) {
        const double p = double(m.deq[size_t(r) * m.cols + k]) * double(x.values[size_t(b) * x.ldx + k]);
        s += p;
        e += p * p;
    }
    *energy += e;
    return s;
}

// Squared error over the summed squared products sum_k (w_k x_k)^2, which is what sum ref^2 is for
// independent inputs but does not collapse when one output happens to cancel to ~0 (1-row shapes).
struct ErrorSum {
    double err = 0.0, energy = 0.0;
    double nmse() const { return err / energy; }
};

std::vector<float> run_gemv(const GemvWeights & w, const Activations & x, ActType xt, const GemvOptions & opt,
                            int64_t ldy, GemvError * status) {
    auto y = device_alloc<float>(size_t(x.batch) * ldy);
    CUDA_CHECK(cudaMemset(y.get(), 0xff, size_t(x.batch) * ldy * 4));  // NaN poison: unwritten outputs fail
    *status = gemv(w, x.dev.get(), xt, x.batch, x.ldx, { y.get(), ldy }, nullptr, opt);
    CUDA_CHECK(cudaGetLastError());
    CUDA_CHECK(cudaDeviceSynchronize());
    std::vector<float> out(size_t(x.batch) * ldy);
    CUDA_CHECK(cudaMemcpy(out.data(), y.get(), out.size() * 4, cudaMemcpyDeviceToHost));
    return out;
}

class GemvFormatTest : public ::testing::TestWithParam<FormatCase> {
  protected:
    void SetUp() override {
        if (!have_gpu()) {
            GTEST_SKIP() << "no CUDA device";
        }
    }
};

TEST_P(GemvFormatTest, MatchesCpuReference) {
    const FormatCase fc   = GetParam();
    const int64_t    mult = gemv_col_multiple(fc.format);
    uint32_t         seed = 1234;
    for (const Shape & s : kShapes) {
        ASSERT_EQ(s.cols % mult, 0);
        const Matrix m = make_matrix(fc.format, s.rows, s.cols, seed++);
        for (int batch : { 1, 2, 3, 8 }) {
            for (ActType xt : { ActType::F16, ActType::BF16 }) {
                const Activations x = make_x(batch, s.cols, xt, seed++);
                // fp16 x sweeps every block shape of the register kernel (rows per warp x warps per
                // block) and three balanced grids; bf16 x takes the defaults.
                std::vector<GemvOptions> opts;
                if (xt == ActType::F16) {
                    for (int shape : { 14, 24, 44, 18, 28, 48 }) {
                        opts.push_back(
                            { .rows_per_warp = shape / 10, .warps_per_block = shape % 10, .blocks_per_sm = 0 });
                    }
                    opts.push_back({ .rows_per_warp = 1, .warps_per_block = 8, .blocks_per_sm = 1 });
                    opts.push_back({ .rows_per_warp = 4, .warps_per_block = 4, .blocks_per_sm = 2 });
                    opts.push_back({ .rows_per_warp = 2, .warps_per_block = 8, .blocks_per_sm = 3 });
                    if (batch == 1) {  // 16-warp blocks: batch 1, 2 rows per warp only
                        opts.push_back({ .rows_per_warp = 2, .warps_per_block = 16, .blocks_per_sm = 1 });
                        opts.push_back({ .rows_per_warp = 2, .warps_per_block = 16, .blocks_per_sm = 0 });
                    }
                } else {
                    opts.push_back({});
                }
                for (const GemvOptions & opt : opts) {
                    const int                rpw = opt.rows_per_warp;
                    const int64_t            ldy = s.rows + 3;
                    GemvError                st;
                    const std::vector<float> y = run_gemv(m.weights(), x, xt, opt, ldy, &st);
                    ASSERT_EQ(st, GemvError::Ok) << gemv_error_string(st);
                    ErrorSum e;
                    for (int b = 0; b < batch; ++b) {
                        for (int r = 0; r < s.rows; ++r) {
                            const double ref = ref_dot(m, r, x, b, &e.energy);
                            const double d   = double(y[size_t(b) * ldy + r]) - ref;
                            e.err += d * d;
                        }
                        for (int64_t r = s.rows; r < ldy; ++r) {  // the gap between columns stays untouched
                            ASSERT_TRUE(std::isnan(y[size_t(b) * ldy + r])) << "wrote past rows";
                        }
                    }
                    EXPECT_LE(e.nmse(), fc.max_nmse)
                        << format_name(fc.format) << " rows " << s.rows << " cols " << s.cols << " batch " << batch
                        << " x " << (xt == ActType::F16 ? "f16" : "bf16") << " rows/warp " << rpw << " warps "
                        << opt.warps_per_block << " blocks/SM " << opt.blocks_per_sm;
                }
            }
        }
    }
}

TEST_P(GemvFormatTest, Deterministic) {
    const FormatCase  fc = GetParam();
    const Matrix      m  = make_matrix(fc.format, 130, 2304, 77);
    const Activations x  = make_x(3, 2304, ActType::F16, 78);
    GemvError         st;
    const auto        y0 = run_gemv(m.weights(), x, ActType::F16, {}, 130, &st);
    const auto        y1 = run_gemv(m.weights(), x, ActType::F16, {}, 130, &st);
    ASSERT_EQ(st, GemvError::Ok);
    EXPECT_EQ(0, std::memcmp(y0.data(), y1.data(), y0.size() * 4));
}

INSTANTIATE_TEST_SUITE_P(AllFormats, GemvFormatTest, ::testing::ValuesIn(kFormatCases),
                         [](const auto & info) { return case_name(info.param.format); });

// Repacking is a permutation of the GGUF bytes (plus zero padding): unpack restores them exactly.
TEST(GemvRepack, RoundTripIsExact) {
    for (const FormatCase & fc : kFormatCases) {
        const Matrix m = make_matrix(fc.format, 7, int(gemv_col_multiple(fc.format)) * 3, 5, false);
        ASSERT_TRUE(gemv_supports(fc.format));
        std::vector<uint8_t> packed(size_t(m.layout.bytes)), back(m.gguf.size());
        gemv_repack(m.layout, m.gguf.data(), packed.data());
        gemv_unpack(m.layout, packed.data(), back.data());
        EXPECT_EQ(m.gguf, back) << format_name(fc.format);
        for (int p = 0; p < m.layout.nplanes; ++p) {
            EXPECT_EQ(m.layout.plane_offset[p] % 256, 0) << format_name(fc.format);
        }
        EXPECT_EQ(m.layout.plane_row_bytes[0] % 16, 0) << "quant rows must stay 16-byte aligned";
    }
}

TEST(GemvRepack, UnsupportedFormats) {
    EXPECT_FALSE(gemv_supports(Format::F32));
    EXPECT_FALSE(gemv_supports(Format::Q8_K));
    EXPECT_FALSE(gemv_supports(Format::E5M2));
}

class GemvCudaTest : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!have_gpu()) {
            GTEST_SKIP() << "no CUDA device";
        }
    }
};

// FP8 checkpoints: y = scale * row_scale[r] * (W x)[r].
TEST_F(GemvCudaTest, E4M3TensorAndChannelScales) {
    const Matrix       m = make_matrix(Format::E4M3, 37, 768, 9);
    const Activations  x = make_x(2, 768, ActType::BF16, 10);
    std::vector<float> rs(37);
    for (int r = 0; r < 37; ++r) {
        rs[r] = 0.5f + 0.01f * float(r);
    }
    auto drs = device_alloc<float>(rs.size());
    CUDA_CHECK(cudaMemcpy(drs.get(), rs.data(), rs.size() * 4, cudaMemcpyHostToDevice));
    GemvError  st;
    const auto y = run_gemv(m.weights(0.25f, drs.get()), x, ActType::BF16, {}, 37, &st);
    ASSERT_EQ(st, GemvError::Ok);
    ErrorSum e;
    for (int b = 0; b < 2; ++b) {
        for (int r = 0; r < 37; ++r) {
            double     energy = 0.0;
            const double ref  = 0.25 * rs[r] * ref_dot(m, r, x, b, &energy);
            e.energy += energy * 0.0625 * rs[r] * rs[r];
            e.err += (y[size_t(b) * 37 + r] - ref) * (y[size_t(b) * 37 + r] - ref);
        }
    }
    EXPECT_LE(e.nmse(), kNmseFp32);
}

// nmse of one launch against the CPU reference (outputs rows x batch, ldy = rows).
double launch_nmse(const Matrix & m, const Activations & x, ActType xt, const GemvOptions & opt = {}) {
    GemvError  st;
    const auto y = run_gemv(m.weights(), x, xt, opt, m.rows, &st);
    EXPECT_EQ(st, GemvError::Ok) << gemv_error_string(st);
    ErrorSum e;
    for (int b = 0; b < x.batch; ++b) {
        for (int r = 0; r < m.rows; ++r) {
            const double d = double(y[size_t(b) * m.rows + r]) - ref_dot(m, r, x, b, &e.energy);
            e.err += d * d;
        }
    }
    return e.nmse();
}

// NVFP4 scale codes the quantizer never writes decode as ggml does: 0x7F (E4M3's NaN) as 0, bit 7
// ignored otherwise. The kernels decode 0x7F through max(NaN, 0).
TEST_F(GemvCudaTest, Nvfp4ScaleCodesLikeGgml) {
    Matrix m = make_matrix(Format::NVFP4, 64, 1024, 21, false);
    for (size_t blk = 0; blk < m.gguf.size() / sizeof(BlockNVFP4); ++blk) {
        auto * b = reinterpret_cast<BlockNVFP4 *>(m.gguf.data()) + blk;
        for (int s = 0; s < 4; ++s) {
            const size_t i = 4 * blk + size_t(s);
            b->d[s]        = i % 5 == 0 ? 0x7F : i % 7 == 0 && b->d[s] != 0x7F ? uint8_t(b->d[s] | 0x80) : b->d[s];
        }
    }
    finish_matrix(m, true);
    for (int batch : { 1, 4 }) {  // the split look-up (batch < 4) and the single-table one
        EXPECT_LE(launch_nmse(m, make_x(batch, 1024, ActType::F16, 22), ActType::F16), kNmseInt8Activations)
            << "batch " << batch;
    }
}

// x is quantized per 32-group with scale amax / 127: groups of very different scales (zero, tiny,
// large), alone and mixed within a warp, all match the reference.
TEST_F(GemvCudaTest, ActivationGroupsOfEveryScale) {
    const Matrix m = make_matrix(Format::Q4_0, 96, 2048, 31);
    const std::pair<const char *, float (*)(int)> cases[] = {
        { "unit", [](int) { return 1.0f; } },
        { "small", [](int) { return 1.0e-3f; } },
        { "tiny", [](int) { return 1.0e-4f; } },
        { "large", [](int) { return 5.0e3f; } },
        { "mixed", [](int g) { return g % 4 == 0 ? 1.0f : g % 4 == 1 ? 1.0e-4f : g % 4 == 2 ? 0.0f : 3.0e-3f; } },
    };
    for (const auto & [name, scale] : cases) {
        for (ActType xt : { ActType::F16, ActType::BF16 }) {
            const Activations x = make_x(1, 2048, xt, 32, scale);
            EXPECT_LE(launch_nmse(m, x, xt), kNmseInt8Activations) << name << (xt == ActType::F16 ? " f16" : " bf16");
        }
    }
}

// Q, K and V (different row counts) in one launch equal three single launches.
TEST_F(GemvCudaTest, GroupedMatchesSingle) {
    for (const auto & [f, mode] : { std::pair{ Format::Q4_K, 0 }, { Format::NVFP4, 0 }, { Format::BF16, 0 },
                                   { Format::Q4_K, 1 }, { Format::NVFP4, 1 }, { Format::BF16, 1 },
                                   { Format::Q4_K, 2 }, { Format::NVFP4, 2 }, { Format::BF16, 2 } }) {
        // 0: grid in waves, 1: balanced (one block per SM), 2: balanced, 4 warps of 4 rows, 2 per SM.
        const GemvOptions opt = mode == 0   ? GemvOptions{ .blocks_per_sm = 0 }
                                : mode == 1 ? GemvOptions{ .blocks_per_sm = 1 }
                                            : GemvOptions{ .rows_per_warp = 4, .warps_per_block = 4, .blocks_per_sm = 2 };
        const int         rows[3] = { 130, 37, 37 };
        const Matrix      m[3]    = { make_matrix(f, rows[0], 512, 21), make_matrix(f, rows[1], 512, 22),
                                      make_matrix(f, rows[2], 512, 23) };
        const Activations x       = make_x(3, 512, ActType::F16, 24);
        DeviceArray<float> y[3];
        GemvWeights       w[3];
        GemvOutput        out[3];
        for (int i = 0; i < 3; ++i) {
            y[i]   = device_alloc<float>(size_t(3) * rows[i]);
            w[i]   = m[i].weights();
            out[i] = { y[i].get(), rows[i] };
        }
        ASSERT_EQ(gemv_grouped(w, out, x.dev.get(), ActType::F16, 3, x.ldx, nullptr, opt), GemvError::Ok);
        CUDA_CHECK(cudaDeviceSynchronize());
        for (int i = 0; i < 3; ++i) {
            std::vector<float> got(size_t(3) * rows[i]);
            CUDA_CHECK(cudaMemcpy(got.data(), y[i].get(), got.size() * 4, cudaMemcpyDeviceToHost));
            GemvError  st;
            const auto want = run_gemv(w[i], x, ActType::F16, opt, rows[i], &st);
            ASSERT_EQ(st, GemvError::Ok);
            EXPECT_EQ(0, std::memcmp(got.data(), want.data(), got.size() * 4))
                << format_name(f) << " matrix " << i << " mode " << mode;
        }
    }
}

// y = silu(gate x) * (up x), against the double reference.
TEST_F(GemvCudaTest, GateUpSilu) {
    for (const FormatCase & fc : kFormatCases) {
        const Matrix      gate = make_matrix(fc.format, 130, 2304, 31);
        const Matrix      up   = make_matrix(fc.format, 130, 2304, 32);
        const Activations x    = make_x(3, 2304, ActType::F16, 33);
        // 2 and 4 rows per warp (gate + up), in waves and balanced; 16-warp blocks at batch 1.
        const GemvOptions opts[] = { { .rows_per_warp = 2, .blocks_per_sm = 0 },
                                     { .rows_per_warp = 4, .blocks_per_sm = 0 },
                                     { .rows_per_warp = 2, .blocks_per_sm = 1 },
                                     { .rows_per_warp = 4, .warps_per_block = 4, .blocks_per_sm = 2 },
                                     { .rows_per_warp = 2, .warps_per_block = 16, .blocks_per_sm = 1 } };
        for (const GemvOptions & opt : opts) {
            const int rpw   = opt.rows_per_warp;
            const int batch = opt.warps_per_block == 16 ? 1 : 3;
            auto      y     = device_alloc<float>(size_t(3) * 130);
            ASSERT_EQ(gemv_gate_up_silu(gate.weights(), up.weights(), x.dev.get(), ActType::F16, batch, x.ldx,
                                        { y.get(), 130 }, nullptr, opt),
                      GemvError::Ok);
            std::vector<float> got(size_t(3) * 130);
            CUDA_CHECK(cudaMemcpy(got.data(), y.get(), got.size() * 4, cudaMemcpyDeviceToHost));
            ErrorSum e;
            for (int b = 0; b < batch; ++b) {
                for (int r = 0; r < 130; ++r) {
                    double       eg = 0.0, eu = 0.0;
                    const double g   = ref_dot(gate, r, x, b, &eg);
                    const double u   = ref_dot(up, r, x, b, &eu);
                    const double ref = g / (1.0 + std::exp(-g)) * u;
                    // silu(g) ~ g for the scale of these outputs: normalise by eg * eu.
                    e.energy += eg * eu;
                    e.err += (got[size_t(b) * 130 + r] - ref) * (got[size_t(b) * 130 + r] - ref);
                }
            }
            EXPECT_LE(e.nmse(), 4 * fc.max_nmse) << format_name(fc.format) << " rows/warp " << rpw << " blocks/SM "
                                                  << opt.blocks_per_sm << " warps " << opt.warps_per_block;
        }
    }
}

TEST_F(GemvCudaTest, RejectsBadArguments) {
    const Matrix      m = make_matrix(Format::Q4_0, 8, 256, 41);
    const Activations x = make_x(1, 256, ActType::F16, 42);
    auto              y = device_alloc<float>(64);
    const GemvOutput  out{ y.get(), 8 };
    EXPECT_EQ(gemv(m.weights(), x.dev.get(), ActType::F16, 0, x.ldx, out, nullptr), GemvError::BadBatch);
    EXPECT_EQ(gemv(m.weights(), x.dev.get(), ActType::F16, 9, x.ldx, out, nullptr), GemvError::BadBatch);
    EXPECT_EQ(gemv(m.weights(), x.dev.get() + 1, ActType::F16, 1, x.ldx, out, nullptr), GemvError::BadAlignment);
    EXPECT_EQ(gemv(m.weights(), x.dev.get(), ActType::F16, 1, 255, out, nullptr), GemvError::BadShape);
    EXPECT_EQ(gemv(m.weights(), x.dev.get(), ActType::F16, 1, x.ldx, { y.get(), 7 }, nullptr), GemvError::BadShape);
    EXPECT_EQ(gemv(m.weights(), x.dev.get(), ActType::F16, 1, x.ldx, out, nullptr, { .rows_per_warp = 3 }),
              GemvError::BadOption);
    EXPECT_EQ(gemv(m.weights(), x.dev.get(), ActType::F16, 1, x.ldx, out, nullptr, { .warps_per_block = 2 }),
              GemvError::BadOption);
    EXPECT_EQ(gemv(m.weights(), x.dev.get(), ActType::F16, 1, x.ldx, out, nullptr,
                   { .rows_per_warp = 4, .warps_per_block = 16 }),
              GemvError::BadOption);
    EXPECT_EQ(gemv(m.weights(), x.dev.get(), ActType::F16, 2, x.ldx, out, nullptr,
                   { .rows_per_warp = 2, .warps_per_block = 16 }),
              GemvError::BadOption);
    EXPECT_EQ(gemv(m.weights(), x.dev.get(), ActType::F16, 1, x.ldx, out, nullptr, { .blocks_per_sm = 33 }),
              GemvError::BadOption);
    EXPECT_EQ(gemv(m.weights(), x.dev.get(), ActType::F16, 1, x.ldx, out, nullptr, { .blocks_per_sm = -2 }),
              GemvError::BadOption);
    GemvWeights odd = m.weights();
    odd.layout.cols = 250;
    EXPECT_EQ(gemv(odd, x.dev.get(), ActType::F16, 1, x.ldx, out, nullptr), GemvError::BadShape);
    GemvWeights f32 = m.weights();
    f32.layout.format = Format::F32;
    EXPECT_EQ(gemv(f32, x.dev.get(), ActType::F16, 1, x.ldx, out, nullptr), GemvError::UnsupportedFormat);
    const Matrix other = make_matrix(Format::Q4_0, 8, 512, 43);
    EXPECT_EQ(gemv_gate_up_silu(m.weights(), other.weights(), x.dev.get(), ActType::F16, 1, x.ldx, out, nullptr),
              GemvError::Mismatch);
    CUDA_CHECK(cudaDeviceSynchronize());
}

}  // namespace
}  // namespace nibble::cuda
