// The per-tensor type policy of `nibble quantize` (src/plan/quant_policy.h):
//   * golden: for both models in ../shared/golden/llama-quantize, every file type and both variants
//     (plain / imatrix), every tensor's type and byte size equal llama-quantize's output;
//   * snapshots: tests/golden/plans/*.plan hold format_plan() for a few cases, so any policy change
//     shows up in review as a diff. Regenerate with
//         NIBBLE_REGENERATE_PLANS=1 ./build/tests/nibble_unit_tests --gtest_filter='QuantPolicySnapshot*'
//   * unit tests for option precedence, --pure, --leave-output-tensor, the NVFP4 rules and parsing.
#include "plan/quant_policy.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

namespace nibble {
namespace {

namespace fs = std::filesystem;
using json   = nlohmann::json;

// Tests find data through one env var, else ../shared next to the repo root (STYLE.md Avoid #5).
std::optional<fs::path> shared_dir() {
    if (const char * env = std::getenv("NIBBLE_SHARED_DIR"); env != nullptr && *env != '\0') {
        return fs::is_directory(env) ? std::optional<fs::path>(env) : std::nullopt;
    }
    for (const char * rel : { "../shared", "../../shared" }) {
        if (fs::is_directory(rel)) {
            return fs::path(rel);
        }
    }
    return std::nullopt;
}

std::optional<json> load_manifest(const std::string & model) {
    const std::optional<fs::path> dir = shared_dir();
    if (!dir) {
        return std::nullopt;
    }
    std::ifstream in(*dir / "golden" / "llama-quantize" / (model + ".manifest.json"));
    if (!in) {
        return std::nullopt;
    }
    return json::parse(in);
}

TensorDesc tensor(std::string name, std::vector<int64_t> ne, Format f) {
    TensorDesc t;
    t.name   = std::move(name);
    t.n_dims = int(ne.size());
    for (size_t i = 0; i < ne.size(); ++i) {
        t.ne[i] = ne[i];
    }
    t.format = f;
    return t;
}

// A llama-shaped model as llama.cpp's converter writes it: 2-D weights F16, norms F32.
struct LlamaShape {
    int     n_layer, n_head, n_head_kv;
    int64_t n_embd, n_ff, n_vocab;
    bool    tied; // no output.weight
};

constexpr LlamaShape kSynth256 = { 4, 4, 2, 256, 512, 2048, false };
constexpr LlamaShape k656k     = { 2, 8, 4, 128, 384, 2048, true };

std::vector<TensorDesc> llama_model(const LlamaShape & s) {
    const int64_t           n_embd_kv = s.n_embd / s.n_head * s.n_head_kv;
    std::vector<TensorDesc> ts        = {
               tensor("token_embd.weight", { s.n_embd, s.n_vocab }, Format::F16),
               tensor("output_norm.weight", { s.n_embd }, Format::F32),
    };
    if (!s.tied) {
        ts.push_back(tensor("output.weight", { s.n_embd, s.n_vocab }, Format::F16));
    }
    for (int i = 0; i < s.n_layer; ++i) {
        const std::string p = "blk." + std::to_string(i) + ".";
        ts.push_back(tensor(p + "attn_norm.weight", { s.n_embd }, Format::F32));
        ts.push_back(tensor(p + "attn_q.weight", { s.n_embd, s.n_embd }, Format::F16));
        ts.push_back(tensor(p + "attn_k.weight", { s.n_embd, n_embd_kv }, Format::F16));
        ts.push_back(tensor(p + "attn_v.weight", { s.n_embd, n_embd_kv }, Format::F16));
        ts.push_back(tensor(p + "attn_output.weight", { s.n_embd, s.n_embd }, Format::F16));
        ts.push_back(tensor(p + "ffn_norm.weight", { s.n_embd }, Format::F32));
        ts.push_back(tensor(p + "ffn_gate.weight", { s.n_embd, s.n_ff }, Format::F16));
        ts.push_back(tensor(p + "ffn_up.weight", { s.n_embd, s.n_ff }, Format::F16));
        ts.push_back(tensor(p + "ffn_down.weight", { s.n_ff, s.n_embd }, Format::F16));
    }
    sort_in_llama_order(ts);
    return ts;
}

QuantOptions llama_options(const LlamaShape & s) {
    QuantOptions o;
    o.arch      = "llama";
    o.n_layer   = s.n_layer;
    o.n_head    = s.n_head;
    o.n_head_kv = s.n_head_kv;
    return o;
}

const TensorPlan & find(const QuantPlan & plan, const std::string & name) {
    for (const TensorPlan & tp : plan.tensors) {
        if (tp.name == name) {
            return tp;
        }
    }
    ADD_FAILURE() << "no tensor " << name;
    static const TensorPlan none;
    return none;
}

// ---------------------------------------------------------------------------------------------
// Golden: llama-quantize's choices for every type and variant.

// The input list as llama-quantize saw it: the F16 file's tensors (the manifest's F16/plain entry
// is the input converted to itself, so it carries the input's names, shapes and types).
std::vector<TensorDesc> manifest_tensors(const json & m) {
    std::vector<TensorDesc> ts;
    for (const auto & [name, e] : m.at("F16").at("plain").at("tensors").items()) {
        const std::optional<Format> f = format_from_name(e.at("type").get<std::string>());
        EXPECT_TRUE(f.has_value()) << name;
        ts.push_back(tensor(name, e.at("ne").get<std::vector<int64_t>>(), f.value_or(Format::F32)));
    }
    sort_in_llama_order(ts);
    return ts;
}

QuantOptions manifest_options(const json & m) {
    const json & kv   = m.at("F16").at("plain").at("metadata");
    const auto   arch = kv.at("general.architecture").get<std::string>();
    QuantOptions o;
    o.arch      = arch;
    o.n_layer   = kv.at(arch + ".block_count").get<int>();
    o.n_head    = kv.at(arch + ".attention.head_count").get<int>();
    o.n_head_kv = kv.at(arch + ".attention.head_count_kv").get<int>();
    o.n_expert  = kv.value(arch + ".expert_count", 0);
    return o;
}

void check_manifest(const std::string & model, const LlamaShape & shape) {
    const std::optional<json> m = load_manifest(model);
    if (!m) {
        GTEST_SKIP() << model << ".manifest.json not found (set NIBBLE_SHARED_DIR)";
    }
    const std::vector<TensorDesc> input = manifest_tensors(*m);

    // The synthetic builder used by the snapshots describes exactly this model.
    const std::vector<TensorDesc> synthetic = llama_model(shape);
    ASSERT_EQ(input.size(), synthetic.size());
    for (size_t i = 0; i < input.size(); ++i) {
        EXPECT_EQ(input[i].name, synthetic[i].name);
        EXPECT_EQ(input[i].ne, synthetic[i].ne) << input[i].name;
        EXPECT_EQ(input[i].format, synthetic[i].format) << input[i].name;
    }

    int n_cases = 0;
    for (const auto & [type, variants] : m->items()) {
        for (const auto & [variant, out] : variants.items()) {
            SCOPED_TRACE(model + " " + type + " " + variant);
            QuantOptions opt = manifest_options(*m);
            opt.has_imatrix  = variant == "imatrix";
            std::optional<FileType> ft;
            if (type == "NVFP4-blk") {
                // llama-quantize --tensor-type 'blk\..*=nvfp4' MODEL OUT Q8_0
                ft = FileType::Q8_0;
                opt.tensor_type_overrides.push_back(*parse_tensor_type_override("blk\\..*=nvfp4"));
            } else {
                ft = file_type_from_name(type);
            }
            ASSERT_TRUE(ft.has_value()) << type;
            const QuantPlan plan = plan_quantization(input, *ft, opt);
            EXPECT_TRUE(plan.ok()) << format_plan(plan);

            const json & expected = out.at("tensors");
            ASSERT_EQ(plan.tensors.size(), expected.size());
            for (size_t i = 0; i < plan.tensors.size(); ++i) {
                const TensorPlan & tp = plan.tensors[i];
                const json &       e  = expected.at(tp.name);
                EXPECT_EQ(format_from_name(e.at("type").get<std::string>()), tp.target)
                    << tp.name << ": expected " << e.at("type") << ", planned " << format_name(tp.target) << " ("
                    << tp.reason << ")";
                const TensorDesc & t     = input[i];
                const int64_t      nrows = t.ne[1] * t.ne[2] * t.ne[3];
                EXPECT_EQ(row_size(tp.target, t.ne[0]) * nrows, e.at("nbytes").get<int64_t>()) << tp.name;
            }
            ++n_cases;
        }
    }
    // 19 file types x {plain, imatrix} + NVFP4-blk.
    EXPECT_EQ(n_cases, 39);
}

TEST(QuantPolicyGolden, Synth256AllTypesMatchLlamaQuantize) {
    check_manifest("synth256", kSynth256);
}

TEST(QuantPolicyGolden, TinyStories656kAllTypesMatchLlamaQuantize) {
    check_manifest("656k", k656k);
}

// ---------------------------------------------------------------------------------------------
// Snapshots (STYLE.md Do #13).

fs::path plans_dir() {
    // This file lives in tests/unit; the snapshots in tests/golden/plans.
    const fs::path beside = fs::path(__FILE__).parent_path().parent_path() / "golden" / "plans";
    if (fs::is_directory(beside) || fs::path(__FILE__).is_absolute()) {
        return beside;
    }
    return fs::path("tests") / "golden" / "plans";
}

void check_snapshot(const std::string & file, const QuantPlan & plan) {
    const fs::path    path   = plans_dir() / file;
    const std::string actual = format_plan(plan);
    if (const char * regen = std::getenv("NIBBLE_REGENERATE_PLANS"); regen != nullptr && std::string(regen) == "1") {
        fs::create_directories(path.parent_path());
        std::ofstream(path, std::ios::binary) << actual;
        GTEST_SKIP() << "regenerated " << path;
    }
    std::ifstream in(path, std::ios::binary);
    ASSERT_TRUE(in) << "missing snapshot " << path
                    << "; regenerate with NIBBLE_REGENERATE_PLANS=1 ./build/tests/nibble_unit_tests "
                       "--gtest_filter='QuantPolicySnapshot*'";
    std::stringstream expected;
    expected << in.rdbuf();
    EXPECT_EQ(expected.str(), actual) << "plan changed; if intended, regenerate with NIBBLE_REGENERATE_PLANS=1 "
                                         "./build/tests/nibble_unit_tests --gtest_filter='QuantPolicySnapshot*'";
}

TEST(QuantPolicySnapshot, Synth256Q4KM) {
    check_snapshot("synth256-Q4_K_M.plan",
                   plan_quantization(llama_model(kSynth256), FileType::Q4_K_M, llama_options(kSynth256)));
}

TEST(QuantPolicySnapshot, TinyStories656kQ4KM) {
    // Rows of 128 and 384: every K-quant choice takes the shape fallback.
    check_snapshot("656k-Q4_K_M.plan", plan_quantization(llama_model(k656k), FileType::Q4_K_M, llama_options(k656k)));
}

TEST(QuantPolicySnapshot, Synth256NVFP4) {
    check_snapshot("synth256-NVFP4.plan",
                   plan_quantization(llama_model(kSynth256), FileType::NVFP4, llama_options(kSynth256)));
}

// ---------------------------------------------------------------------------------------------
// File type names

TEST(QuantPolicyFileType, ParsesNamesAliasesAndNumbers) {
    EXPECT_EQ(file_type_from_name("Q4_K_M"), FileType::Q4_K_M);
    EXPECT_EQ(file_type_from_name("q4_k_m"), FileType::Q4_K_M);
    EXPECT_EQ(file_type_from_name("Q4_K"), FileType::Q4_K_M);
    EXPECT_EQ(file_type_from_name("q3_k"), FileType::Q3_K_M);
    EXPECT_EQ(file_type_from_name("Q5_K"), FileType::Q5_K_M);
    EXPECT_EQ(file_type_from_name("mxfp4_moe"), FileType::MXFP4_MOE);
    EXPECT_EQ(file_type_from_name("NVFP4"), FileType::NVFP4);
    EXPECT_EQ(file_type_from_name("bf16"), FileType::BF16);
    EXPECT_EQ(file_type_from_name("15"), FileType::Q4_K_M);
    EXPECT_EQ(file_type_from_name("39"), FileType::NVFP4);
    EXPECT_FALSE(file_type_from_name("Q4_2").has_value());
    EXPECT_FALSE(file_type_from_name("4").has_value()); // removed Q4_1_SOME_F16
    EXPECT_FALSE(file_type_from_name("15x").has_value());
    EXPECT_FALSE(file_type_from_name("").has_value());
}

TEST(QuantPolicyFileType, TableMatchesLlamaFtype) {
    EXPECT_STREQ(file_type_info(FileType::Q4_K_M).ftype_name, "Q4_K - Medium");
    EXPECT_STREQ(file_type_info(FileType::Q3_K_L).ftype_name, "Q3_K - Large");
    EXPECT_STREQ(file_type_info(FileType::F32).ftype_name, "all F32");
    EXPECT_STREQ(file_type_info(FileType::IQ4_XS).ftype_name, "IQ4_XS - 4.25 bpw");
    EXPECT_EQ(file_type_info(FileType::Q5_K_S).default_format, Format::Q5_K);
    EXPECT_EQ(file_type_info(FileType::MXFP4_MOE).default_format, Format::MXFP4);
    EXPECT_EQ(file_type_info(FileType::NVFP4).default_format, Format::NVFP4);
    EXPECT_EQ(int(FileType::BF16), 32);
    EXPECT_EQ(int(FileType::NVFP4), 39);
    for (const FileTypeInfo & info : file_types()) {
        EXPECT_EQ(file_type_from_name(info.name), info.type) << info.name;
        EXPECT_EQ(&file_type_info(info.type), &info) << info.name;
    }
}

TEST(QuantPolicyFileType, ParsesTensorTypeOverride) {
    const auto o = parse_tensor_type_override("BLK\\.0\\..*=Q8_0");
    ASSERT_TRUE(o.has_value());
    EXPECT_EQ(o->pattern, "blk\\.0\\..*"); // lower-cased like llama-quantize
    EXPECT_EQ(o->format, Format::Q8_0);
    EXPECT_FALSE(parse_tensor_type_override("attn_q").has_value());
    EXPECT_FALSE(parse_tensor_type_override("=q8_0").has_value());
    EXPECT_FALSE(parse_tensor_type_override("attn_q=").has_value());
    EXPECT_FALSE(parse_tensor_type_override("attn_q=q7_0").has_value());
}

// ---------------------------------------------------------------------------------------------
// Order and exclusions

TEST(QuantPolicyOrder, FollowsLlamaModelLoader) {
    std::vector<TensorDesc> ts;
    for (const char * n : { "blk.10.attn_q.weight", "blk.2.ffn_up.weight", "token_embd.weight", "output.weight",
                            "blk.2.attn_k.weight", "output_norm.weight", "blk.0.attn_v.weight" }) {
        ts.push_back(tensor(n, { 32, 32 }, Format::F16));
    }
    sort_in_llama_order(ts);
    std::vector<std::string> names;
    for (const TensorDesc & t : ts) {
        names.push_back(t.name);
    }
    const std::vector<std::string> expected = { "output.weight",       "output_norm.weight",  "token_embd.weight",
                                                "blk.0.attn_v.weight", "blk.2.attn_k.weight", "blk.2.ffn_up.weight",
                                                "blk.10.attn_q.weight" };
    EXPECT_EQ(names, expected);
}

TEST(QuantPolicyOrder, ExclusionsKeepTheirType) {
    const QuantOptions opt;
    EXPECT_STREQ(quantization_exclusion(tensor("blk.0.attn_norm.weight", { 256 }, Format::F32), opt), "1-D: kept");
    EXPECT_STREQ(quantization_exclusion(tensor("blk.0.ffn_gate_inp.weight", { 256, 8 }, Format::F32), opt),
                 "MoE router: kept");
    EXPECT_STREQ(quantization_exclusion(tensor("blk.0.attn_q.bias", { 256, 2 }, Format::F32), opt),
                 "not a weight: kept");
    EXPECT_EQ(quantization_exclusion(tensor("output.weight", { 256, 8 }, Format::F16), opt), nullptr);
}

// ---------------------------------------------------------------------------------------------
// Precedence: embedding/output options > --tensor-type > mix (unless --pure) > shape fallback

TEST(QuantPolicyOptions, OverridesBeatTheMixFirstMatchWins) {
    QuantOptions opt          = llama_options(kSynth256);
    opt.tensor_type_overrides = { { "ffn_down", Format::Q8_0 }, { "blk\\.0\\.", Format::Q5_0 } };
    const QuantPlan plan      = plan_quantization(llama_model(kSynth256), FileType::Q4_K_M, opt);
    ASSERT_TRUE(plan.ok());
    EXPECT_EQ(find(plan, "blk.0.ffn_down.weight").target, Format::Q8_0); // first pattern wins
    EXPECT_EQ(find(plan, "blk.0.ffn_down.weight").reason, "override 'ffn_down=q8_0'");
    EXPECT_EQ(find(plan, "blk.0.attn_q.weight").target, Format::Q5_0);
    EXPECT_EQ(find(plan, "blk.3.ffn_down.weight").target, Format::Q8_0); // mix would say Q6_K
    EXPECT_EQ(find(plan, "blk.3.attn_v.weight").target, Format::Q6_K);   // the mix still applies elsewhere
}

TEST(QuantPolicyOptions, OverriddenTensorsDoNotAdvanceTheMixCounters) {
    // llama-quantize only counts attn_v tensors that reach the mix, so overriding blk.0's makes
    // blk.1 the "first": use_more_bits(0, 4) is false, then blk.2 is i=1, blk.3 is i=2 (more bits).
    QuantOptions opt          = llama_options(kSynth256);
    opt.tensor_type_overrides = { { "blk\\.0\\.attn_v", Format::Q8_0 } };
    const QuantPlan plan      = plan_quantization(llama_model(kSynth256), FileType::Q4_K_M, opt);
    EXPECT_EQ(find(plan, "blk.1.attn_v.weight").target, Format::Q4_K);
    EXPECT_EQ(find(plan, "blk.2.attn_v.weight").target, Format::Q4_K);
    EXPECT_EQ(find(plan, "blk.3.attn_v.weight").target, Format::Q6_K);
}

TEST(QuantPolicyOptions, EmbeddingAndOutputTypesBeatOverrides) {
    QuantOptions opt          = llama_options(kSynth256);
    opt.token_embedding_type  = Format::Q8_0;
    opt.output_tensor_type    = Format::Q5_K;
    opt.tensor_type_overrides = { { ".*", Format::Q4_0 } };
    const QuantPlan plan      = plan_quantization(llama_model(kSynth256), FileType::Q4_K_M, opt);
    ASSERT_TRUE(plan.ok());
    EXPECT_EQ(find(plan, "token_embd.weight").target, Format::Q8_0);
    EXPECT_EQ(find(plan, "token_embd.weight").reason, "--token-embedding-type");
    EXPECT_EQ(find(plan, "output.weight").target, Format::Q5_K);
    EXPECT_EQ(find(plan, "blk.0.attn_q.weight").target, Format::Q4_0);
    EXPECT_EQ(find(plan, "output_norm.weight").target, Format::F32);
}

TEST(QuantPolicyOptions, TiedEmbeddingTakesOutputTensorType) {
    QuantOptions opt       = llama_options(k656k);
    opt.output_tensor_type = Format::Q8_0;
    const QuantPlan plan   = plan_quantization(llama_model(k656k), FileType::Q4_0, opt);
    EXPECT_EQ(find(plan, "token_embd.weight").target, Format::Q8_0);
    EXPECT_EQ(find(plan, "token_embd.weight").reason, "tied token_embd as output: --output-tensor-type");
}

TEST(QuantPolicyOptions, PureUsesTheDefaultEverywhere) {
    QuantOptions opt     = llama_options(kSynth256);
    opt.pure             = true;
    const QuantPlan plan = plan_quantization(llama_model(kSynth256), FileType::Q4_K_M, opt);
    ASSERT_TRUE(plan.ok());
    for (const TensorPlan & tp : plan.tensors) {
        EXPECT_EQ(tp.target, tp.allows_quantization ? Format::Q4_K : Format::F32) << tp.name;
    }
    EXPECT_EQ(find(plan, "output.weight").reason, "--pure");

    // The shape fallback still applies under --pure.
    const QuantPlan small = plan_quantization(llama_model(k656k), FileType::Q4_K_M, [] {
        QuantOptions o = llama_options(k656k);
        o.pure         = true;
        return o;
    }());
    EXPECT_EQ(find(small, "blk.0.ffn_down.weight").target, Format::Q5_0);
    EXPECT_EQ(find(small, "blk.0.ffn_down.weight").reason, "--pure, fallback q4_K->q5_0: ne[0]=384 % 256");
    EXPECT_EQ(small.n_fallback, 15); // 7 per layer + token_embd
}

TEST(QuantPolicyOptions, LeaveOutputTensor) {
    QuantOptions opt        = llama_options(kSynth256);
    opt.leave_output_tensor = true;
    const QuantPlan    plan = plan_quantization(llama_model(kSynth256), FileType::Q4_K_M, opt);
    const TensorPlan & out  = find(plan, "output.weight");
    EXPECT_FALSE(out.allows_quantization);
    EXPECT_EQ(out.target, Format::F16);
    EXPECT_EQ(out.reason, "--leave-output-tensor: kept");
    // output.weight still exists, so token_embd is not tied and follows the mix's default.
    EXPECT_EQ(find(plan, "token_embd.weight").target, Format::Q4_K);
}

TEST(QuantPolicyOptions, FloatFileTypesIgnoreOverrides) {
    QuantOptions opt          = llama_options(kSynth256);
    opt.tensor_type_overrides = { { "attn_q", Format::Q4_0 } };
    const QuantPlan plan      = plan_quantization(llama_model(kSynth256), FileType::BF16, opt);
    EXPECT_EQ(find(plan, "blk.0.attn_q.weight").target, Format::BF16);
    EXPECT_EQ(find(plan, "blk.0.attn_q.weight").reason, "BF16 file, override 'attn_q=q4_0' ignored");
    EXPECT_EQ(find(plan, "output.weight").target, Format::BF16);
}

TEST(QuantPolicyOptions, InvalidRegexIsAnError) {
    QuantOptions opt          = llama_options(kSynth256);
    opt.tensor_type_overrides = { { "blk\\.(", Format::Q8_0 } };
    EXPECT_FALSE(plan_quantization(llama_model(kSynth256), FileType::Q8_0, opt).ok());
}

// ---------------------------------------------------------------------------------------------
// Shape fallback, requantization, imatrix requirement

TEST(QuantPolicyFallback, SecondFallbackIsF16AndSomeTypesHaveNone) {
    std::vector<TensorDesc> ts   = { tensor("blk.0.attn_q.weight", { 80, 64 }, Format::F16),
                                     tensor("blk.0.attn_k.weight", { 96, 64 }, Format::F16) };
    const QuantPlan         q4ks = plan_quantization(ts, FileType::Q4_K_S, {});
    EXPECT_EQ(q4ks.tensors[0].target, Format::F16); // 80 % 256, then 80 % 32
    EXPECT_EQ(q4ks.tensors[0].reason, "default, fallback q4_K->f16: ne[0]=80 % 256, q5_0 needs % 32");
    EXPECT_EQ(q4ks.tensors[1].target, Format::Q5_0);
    EXPECT_EQ(q4ks.n_fallback, 2);

    const QuantPlan q8 =
        plan_quantization({ tensor("blk.0.attn_q.weight", { 80, 64 }, Format::F16) }, FileType::Q8_0, {});
    EXPECT_FALSE(q8.ok());
    EXPECT_EQ(q8.tensors[0].error, "no shape fallback for q8_0: ne[0]=80 % 32");
}

TEST(QuantPolicyFallback, RequantizeNeedsPermission) {
    const std::vector<TensorDesc> ts = { tensor("blk.0.attn_q.weight", { 256, 64 }, Format::Q4_0),
                                         tensor("blk.0.attn_k.weight", { 256, 64 }, Format::Q8_0) };
    const QuantPlan               no = plan_quantization(ts, FileType::Q8_0, {});
    EXPECT_EQ(no.tensors[0].error, "requantizing from q4_0 is disabled (--allow-requantize)");
    EXPECT_TRUE(no.tensors[1].error.empty()); // already Q8_0: copied
    EXPECT_FALSE(no.tensors[1].converts());
    QuantOptions opt     = {};
    opt.allow_requantize = true;
    EXPECT_TRUE(plan_quantization(ts, FileType::Q8_0, opt).ok());
}

TEST(QuantPolicyFallback, Q2KSmallRequiresAnImatrix) {
    QuantOptions    opt   = llama_options(kSynth256);
    const QuantPlan plain = plan_quantization(llama_model(kSynth256), FileType::Q2_K_S, opt);
    EXPECT_FALSE(plain.ok());
    EXPECT_TRUE(find(plain, "blk.0.attn_q.weight").requires_imatrix);
    EXPECT_FALSE(find(plain, "token_embd.weight").requires_imatrix); // embeddings never need one
    EXPECT_FALSE(find(plain, "output.weight").requires_imatrix);     // Q6_K
    opt.has_imatrix = true;
    EXPECT_TRUE(plan_quantization(llama_model(kSynth256), FileType::Q2_K_S, opt).ok());
}

// ---------------------------------------------------------------------------------------------
// Mix rules that the two golden models do not reach

TEST(QuantPolicyMix, ImatrixDependentFfnDown) {
    LlamaShape shape = kSynth256;
    shape.n_layer    = 16; // n/8 = 2: layers 0 and 1 are "first"
    QuantOptions opt = llama_options(shape);
    auto         at  = [&](FileType ft, bool imatrix, const char * name) {
        opt.has_imatrix = imatrix;
        return find(plan_quantization(llama_model(shape), ft, opt), name).target;
    };
    EXPECT_EQ(at(FileType::IQ4_XS, false, "blk.1.ffn_down.weight"), Format::Q5_K);
    EXPECT_EQ(at(FileType::IQ4_XS, true, "blk.1.ffn_down.weight"), Format::IQ4_XS);
    EXPECT_EQ(at(FileType::IQ4_XS, false, "blk.2.ffn_down.weight"), Format::IQ4_XS);
    EXPECT_EQ(at(FileType::Q4_0, false, "blk.0.ffn_down.weight"), Format::Q4_0);
    EXPECT_EQ(at(FileType::Q4_0, true, "blk.0.ffn_down.weight"), Format::Q4_1);
    EXPECT_EQ(at(FileType::Q5_0, true, "blk.1.ffn_down.weight"), Format::Q5_1);
    EXPECT_EQ(at(FileType::Q5_0, true, "blk.2.ffn_down.weight"), Format::Q5_0);
}

TEST(QuantPolicyMix, GqaAnd70BAndEightExperts) {
    LlamaShape shape = kSynth256;
    shape.n_head_kv  = 1; // n_gqa = 4
    EXPECT_EQ(find(plan_quantization(llama_model(shape), FileType::IQ4_XS, llama_options(shape)), "blk.2.attn_v.weight")
                  .target,
              Format::Q5_K);

    QuantOptions opt = llama_options(kSynth256);
    opt.is_70b       = true;
    EXPECT_EQ(find(plan_quantization(llama_model(kSynth256), FileType::Q3_K_M, opt), "blk.3.attn_v.weight").target,
              Format::Q5_K); // Q4_K bumped

    opt.is_70b          = false;
    opt.n_expert        = 8;
    const QuantPlan moe = plan_quantization(llama_model(kSynth256), FileType::Q4_K_M, opt);
    EXPECT_EQ(find(moe, "blk.0.attn_v.weight").target, Format::Q8_0);
    EXPECT_EQ(find(moe, "blk.0.attn_k.weight").target, Format::Q8_0);
    EXPECT_EQ(find(moe, "blk.0.attn_output.weight").target, Format::Q5_K);
    EXPECT_EQ(find(moe, "blk.3.ffn_down.weight").target, Format::Q6_K); // layer parsed from the name
}

TEST(QuantPolicyMix, MoeLayerMustBeParsable) {
    QuantOptions opt                   = {};
    opt.n_layer                        = 2;
    opt.n_expert                       = 4;
    const std::vector<TensorDesc> ts   = { tensor("blk.5.ffn_down_exps.weight", { 256, 256, 4 }, Format::F16),
                                           tensor("ffn_up_exps.weight", { 256, 256, 4 }, Format::F16) };
    const QuantPlan               plan = plan_quantization(ts, FileType::Q4_K_M, opt);
    EXPECT_EQ(plan.errors.size(), 2u);
}

TEST(QuantPolicyMix, Mxfp4MoeQuantizesOnlyExperts) {
    QuantOptions opt           = llama_options(kSynth256);
    opt.n_expert               = 4;
    std::vector<TensorDesc> ts = llama_model(kSynth256);
    ts.push_back(tensor("blk.0.ffn_gate_inp.weight", { 256, 4 }, Format::F32));
    ts.push_back(tensor("blk.0.ffn_up_exps.weight", { 256, 512, 4 }, Format::F16));
    sort_in_llama_order(ts);
    const QuantPlan plan = plan_quantization(ts, FileType::MXFP4_MOE, opt);
    ASSERT_TRUE(plan.ok());
    EXPECT_EQ(find(plan, "blk.0.ffn_up_exps.weight").target, Format::MXFP4);
    EXPECT_EQ(find(plan, "blk.0.ffn_up.weight").target, Format::Q8_0);
    EXPECT_EQ(find(plan, "blk.0.ffn_gate_inp.weight").target, Format::F32);
    EXPECT_EQ(find(plan, "output.weight").target, Format::Q8_0);
}

// ---------------------------------------------------------------------------------------------
// nibble's NVFP4 file type (issue 4 item 3)

TEST(QuantPolicyNvfp4, WeightsNvfp4EmbeddingsAndOutputQ8) {
    const QuantPlan plan = plan_quantization(llama_model(kSynth256), FileType::NVFP4, llama_options(kSynth256));
    ASSERT_TRUE(plan.ok());
    for (const TensorPlan & tp : plan.tensors) {
        if (!tp.allows_quantization) {
            EXPECT_EQ(tp.target, Format::F32) << tp.name; // 1-D: kept
        } else if (tp.name == "token_embd.weight" || tp.name == "output.weight") {
            EXPECT_EQ(tp.target, Format::Q8_0) << tp.name;
        } else {
            EXPECT_EQ(tp.target, Format::NVFP4) << tp.name;
        }
    }
    // Tied embeddings: token_embd is the output projection, still Q8_0.
    EXPECT_EQ(
        find(plan_quantization(llama_model(k656k), FileType::NVFP4, llama_options(k656k)), "token_embd.weight").target,
        Format::Q8_0);
}

TEST(QuantPolicyNvfp4, RowsNotMultipleOf64FallBackToQ8) {
    const std::vector<TensorDesc> ts = {
        tensor("blk.0.attn_q.weight", { 96, 64 }, Format::F16),          // 96 % 64 = 32 -> Q8_0
        tensor("blk.0.attn_k.weight", { 40, 64 }, Format::F16),          // not even % 32 -> F16
        tensor("blk.0.ffn_up_exps.weight", { 128, 64, 8 }, Format::F16), // 3-D experts -> NVFP4
    };
    QuantPlan plan = plan_quantization(ts, FileType::NVFP4, {});
    ASSERT_TRUE(plan.ok());
    EXPECT_EQ(plan.tensors[0].target, Format::Q8_0);
    EXPECT_TRUE(plan.tensors[0].fallback);
    EXPECT_EQ(plan.tensors[0].reason, "default, fallback nvfp4->q8_0: ne[0]=96 % 64");
    EXPECT_EQ(plan.tensors[1].target, Format::F16);
    EXPECT_EQ(plan.tensors[2].target, Format::NVFP4);
    EXPECT_EQ(plan.n_fallback, 2);

    // The same fallback for --tensor-type overrides to nvfp4 in another file type...
    QuantOptions opt          = {};
    opt.tensor_type_overrides = { { "blk\\..*", Format::NVFP4 } };
    plan                      = plan_quantization(ts, FileType::Q8_0, opt);
    EXPECT_EQ(plan.tensors[0].target, Format::Q8_0);
    EXPECT_EQ(plan.tensors[0].reason, "override 'blk\\..*=nvfp4', fallback nvfp4->q8_0: ne[0]=96 % 64");

    // ...unless switched off, which is llama-quantize's behaviour: no NVFP4 fallback, an error.
    opt.nvfp4_fallback = false;
    plan               = plan_quantization(ts, FileType::Q8_0, opt);
    EXPECT_EQ(plan.tensors[0].error, "no shape fallback for nvfp4: ne[0]=96 % 64");
}

TEST(QuantPolicyNvfp4, PureMakesEmbeddingsNvfp4Too) {
    QuantOptions opt     = llama_options(kSynth256);
    opt.pure             = true;
    const QuantPlan plan = plan_quantization(llama_model(kSynth256), FileType::NVFP4, opt);
    EXPECT_EQ(find(plan, "token_embd.weight").target, Format::NVFP4);
    EXPECT_EQ(find(plan, "output.weight").target, Format::NVFP4);
}

} // namespace
} // namespace nibble
