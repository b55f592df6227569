// llama-quantize's tensor type selection as a pure function (see quant_policy.h).
//
// Layout: file-type table, tensor categories, "is it quantized at all", the mixes (one small function
// per tensor category, each a switch on the file type), the shape fallback, then the driver that
// applies them in llama-quantize's precedence order (FORMATS.md §4.3):
//   --token-embedding-type / --output-tensor-type  >  --tensor-type overrides  >  mix (unless --pure)
//   >  shape fallback.
// Rules for llama_ftypes nibble cannot write (IQ1/IQ2/IQ3, TQ, Q1_0/Q2_0) are left out: they cannot
// be reached from FileType.
#include "plan/quant_policy.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <regex>

namespace nibble {
namespace {

int block_size(Format f) {
    return format_info(f).block_size;
}

bool is_block_quantized(Format f) {
    return format_info(f).quantized;
}

// `blk.N.` prefix -> N, as llama.cpp's sscanf(name, "blk.%d.") reads it; nullopt without one.
std::optional<int> block_index(std::string_view name) {
    constexpr std::string_view kPrefix = "blk.";
    if (!name.starts_with(kPrefix)) {
        return std::nullopt;
    }
    const char * first = name.data() + kPrefix.size();
    const char * last  = name.data() + name.size();
    if (first != last && *first == '+') {
        ++first; // %d accepts an explicit sign; from_chars does not
    }
    int n = 0;
    if (std::from_chars(first, last, n).ec != std::errc{}) {
        return std::nullopt;
    }
    return n;
}

// ---------------------------------------------------------------------------------------------
// Tensor categories (llama-quant.cpp tensor_get_category): broad roles by name, first match wins.

enum class Category {
    TokenEmbd,
    AttnQKV,
    AttnKVB,
    AttnV,
    AttnK,
    AttnQ,
    AttnOutput,
    FfnUp,
    FfnGate,
    FfnDown,
    Output,
    Other
};

Category category_of(std::string_view name) {
    if (name == "output.weight") {
        return Category::Output;
    }
    if (name == "token_embd.weight" || name == "per_layer_token_embd.weight") {
        return Category::TokenEmbd;
    }
    // Substrings, so that `_exps` / `_shexp` / `_chexps` variants fall into the same category.
    static constexpr std::pair<std::string_view, Category> kBySubstring[] = {
        { "attn_qkv.weight", Category::AttnQKV },
        { "attn_kv_b.weight", Category::AttnKVB },
        { "attn_v.weight", Category::AttnV },
        { "attn_k.weight", Category::AttnK },
        { "attn_q.weight", Category::AttnQ },
        { "attn_output.weight", Category::AttnOutput },
        { "ffn_up", Category::FfnUp },
        { "ffn_gate", Category::FfnGate },
        { "ffn_down", Category::FfnDown },
    };
    for (const auto & [needle, cat] : kBySubstring) {
        if (name.find(needle) != std::string_view::npos) {
            return cat;
        }
    }
    return Category::Other;
}

// attn_v and the tensors that carry V (fused QKV, MLA's kv_b) share attn_v's rules and counter.
bool is_attn_v_like(Category c) {
    return c == Category::AttnV || c == Category::AttnQKV || c == Category::AttnKVB;
}

// ---------------------------------------------------------------------------------------------
// Tensors llama-quantize never quantizes (tensor_allows_quantization), with the reason we print.

struct Exclusion {
    std::string_view needle;
    const char *     reason;
};

// Substring matches, in llama-quant.cpp's order.
constexpr Exclusion kExcludedSubstrings[] = {
    { "_norm.weight", "norm: kept" },
    { "ffn_gate_inp.weight", "MoE router: kept" },
    { "ffn_gate_tid2eid.weight", "token->expert table: kept" },
    { "altup", "altup (tiny): kept" },
    { "laurel", "laurel (tiny): kept" },
    { "per_layer_model_proj", "per_layer_model_proj: kept" },
    { "ssm_conv1d", "conv1d: kept" },
    { "shortconv.conv.weight", "conv1d: kept" },
    { "indexer.k_proj.weight", "indexer projection: kept" },
    { "indexer.q_proj.weight", "indexer projection: kept" },
    { "time_mix_first.weight", "RWKV small weight: kept" },
    { "time_mix_w0.weight", "RWKV small weight: kept" },
    { "time_mix_w1.weight", "RWKV small weight: kept" },
    { "time_mix_w2.weight", "RWKV small weight: kept" },
    { "time_mix_v0.weight", "RWKV small weight: kept" },
    { "time_mix_v1.weight", "RWKV small weight: kept" },
    { "time_mix_v2.weight", "RWKV small weight: kept" },
    { "time_mix_a0.weight", "RWKV small weight: kept" },
    { "time_mix_a1.weight", "RWKV small weight: kept" },
    { "time_mix_a2.weight", "RWKV small weight: kept" },
    { "time_mix_g1.weight", "RWKV small weight: kept" },
    { "time_mix_g2.weight", "RWKV small weight: kept" },
    { "time_mix_decay_w1.weight", "RWKV small weight: kept" },
    { "time_mix_decay_w2.weight", "RWKV small weight: kept" },
    { "time_mix_lerp_fused.weight", "RWKV small weight: kept" },
    { "attn_rel_b.weight", "relative position bias: kept" },
    { ".position_embd", "position embedding: kept" },
    { "sam.pos_embd", "vision tensor: kept" },
    { "sam.neck.", "vision tensor: kept" },
    { "sam.net_", "vision tensor: kept" },
    { ".rel_pos", "vision tensor: kept" },
    { ".patch_embd", "vision tensor: kept" },
    { ".patch_merger", "vision tensor: kept" },
    { "a.rvq.codebook", "audio codebook: kept" },
    { "mm.a.code_embd", "audio codebook: kept" },
};

// ---------------------------------------------------------------------------------------------
// The mixes (llama_tensor_get_type_impl). Every rule function returns the format and the reason.

struct Choice {
    Format      format;
    std::string reason;
    std::string error;
};

struct Model {
    std::string arch;
    int         n_layer  = 0;
    int         n_gqa    = 0; // n_head / n_head_kv, 0 when unknown
    int         n_expert = 0;
    bool        falcon   = false;
    bool        is_70b   = false;
};

// Counters that advance as tensors pass through the mix, in write order (quantize_state_impl).
struct MixState {
    int  n_attention_wv  = 0;
    int  i_attention_wv  = 0;
    int  i_ffn_down      = 0;
    int  i_ffn_gate      = 0;
    int  i_ffn_up        = 0;
    bool tied_embeddings = true; // no output.weight: token_embd doubles as the output projection
};

struct MixInput {
    FileType             ftype;
    Format               def; // the file type's default format
    const TensorDesc &   t;
    Category             cat;
    const Model &        model;
    const QuantOptions & opt;
};

// The first and last eighth of the layers and every third one in between get more bits.
bool use_more_bits(int i, int n) {
    return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

std::string frac(int i, int n) {
    return std::to_string(i) + "/" + std::to_string(n);
}

// Which layer an FFN tensor belongs to. Dense models count tensors; MoE models parse the name because
// expert tensors need not be consecutive (llama-quant.cpp layer_info).
std::optional<int> ffn_layer(const MixInput & in, int counter, std::string & error) {
    if (std::max(1, in.model.n_expert) == 1) {
        return counter;
    }
    const std::optional<int> i = block_index(in.t.name);
    if (!i) {
        error = "cannot determine the layer of an MoE tensor (no blk.N. prefix)";
        return std::nullopt;
    }
    if (*i < 0 || *i >= in.model.n_layer) {
        error = "bad layer " + std::to_string(*i) + ", must be in [0, " + std::to_string(in.model.n_layer) + ")";
        return std::nullopt;
    }
    return *i;
}

// output.weight, and token_embd when it is tied to the output.
Choice output_rule(const MixInput & in) {
    const std::string who = in.cat == Category::Output ? "output" : "tied token_embd as output";
    if (in.opt.output_tensor_type) {
        return { *in.opt.output_tensor_type, who + ": --output-tensor-type", {} };
    }
    if (in.ftype == FileType::MXFP4_MOE) {
        return { Format::Q8_0, who + ": MXFP4_MOE", {} };
    }
    if (in.ftype == FileType::NVFP4) {
        return { Format::Q8_0, who + ": NVFP4 file", {} }; // nibble: issue 4 item 3
    }
    if (in.model.falcon) {
        return { Format::Q8_0, who + ": falcon", {} };
    }
    const int64_t nx = in.t.ne[0];
    if (nx % block_size(in.def) != 0) {
        return { Format::Q8_0, who + ": ne[0]=" + std::to_string(nx) + " % " + std::to_string(block_size(in.def)), {} };
    }
    if (in.def != Format::Q8_0) {
        return { Format::Q6_K, who + ": more bits", {} };
    }
    return { in.def, who + ": default", {} };
}

Choice attn_v_rule(const MixInput & in, MixState & st) {
    const int   i    = st.i_attention_wv;
    const int   n    = st.n_attention_wv;
    const int   gqa  = in.model.n_gqa;
    Format      f    = in.def;
    std::string why  = "default";
    auto        pick = [&](Format to, std::string r) {
        f   = to;
        why = std::move(r);
    };
    switch (in.ftype) {
        case FileType::Q2_K:
            pick(gqa >= 4 ? Format::Q4_K : Format::Q3_K, "attn_v Q2_K, n_gqa=" + std::to_string(gqa));
            break;
        case FileType::Q2_K_S:
            if (gqa >= 4) {
                pick(Format::Q4_K, "attn_v n_gqa=" + std::to_string(gqa) + " >= 4");
            }
            break;
        case FileType::Q3_K_M:
            pick(i < 2 ? Format::Q5_K : Format::Q4_K, "attn_v Q3_K_M, i_wv=" + frac(i, n));
            break;
        case FileType::Q3_K_L:
            pick(Format::Q5_K, "attn_v Q3_K_L");
            break;
        case FileType::IQ4_NL:
        case FileType::IQ4_XS:
            if (gqa >= 4) {
                pick(Format::Q5_K, "attn_v n_gqa=" + std::to_string(gqa) + " >= 4");
            }
            break;
        case FileType::Q4_K_M:
        case FileType::Q5_K_M:
            if (use_more_bits(i, n)) {
                pick(Format::Q6_K, "attn_v use_more_bits(" + frac(i, n) + ")");
            }
            break;
        case FileType::Q4_K_S:
            if (i < 4) {
                pick(Format::Q5_K, "attn_v i_wv=" + frac(i, n) + " < 4");
            }
            break;
        default:
            break;
    }
    // 70B llama: 8 query heads share each attn_v, so it is 8x smaller than attn_q; more bits are cheap.
    if (in.model.is_70b && (f == Format::Q3_K || f == Format::Q4_K)) {
        pick(Format::Q5_K, why + ", 70B bump");
    }
    if (in.model.n_expert == 8) {
        pick(Format::Q8_0, "attn_v n_expert=8");
    }
    ++st.i_attention_wv;
    return { f, why, {} };
}

Choice attn_k_rule(const MixInput & in) {
    if (in.model.n_expert == 8) {
        return { Format::Q8_0, "attn_k n_expert=8", {} };
    }
    return { in.def, "default", {} };
}

Choice ffn_down_rule(const MixInput & in, MixState & st) {
    std::string              error;
    const std::optional<int> layer = ffn_layer(in, st.i_ffn_down, error);
    if (!layer) {
        return { in.def, "ffn_down", error };
    }
    const int   i     = *layer;
    const int   n     = in.model.n_layer;
    const bool  more  = use_more_bits(i, n);
    const bool  first = i < n / 8; // the first eighth of the layers
    Format      f     = in.def;
    std::string why   = "default";
    auto        pick  = [&](Format to, std::string r) {
        f   = to;
        why = std::move(r);
    };
    switch (in.ftype) {
        case FileType::Q2_K:
            pick(Format::Q3_K, "ffn_down Q2_K");
            break;
        case FileType::Q2_K_S:
            if (first) {
                pick(Format::Q4_K, "ffn_down layer " + frac(i, n) + " in first eighth");
            }
            break;
        case FileType::Q3_K_M:
            if (i < n / 16) {
                pick(Format::Q5_K, "ffn_down layer " + frac(i, n) + " in first sixteenth");
            } else if (!in.model.falcon || more) {
                pick(Format::Q4_K, "ffn_down Q3_K_M");
            } else {
                pick(Format::Q3_K, "ffn_down falcon");
            }
            break;
        case FileType::Q3_K_L:
            pick(in.model.falcon ? Format::Q4_K : Format::Q5_K, "ffn_down Q3_K_L");
            break;
        case FileType::Q4_K_M:
            if (in.model.falcon) {
                pick(i < n / 16 ? Format::Q6_K : more ? Format::Q5_K : Format::Q4_K, "ffn_down falcon " + frac(i, n));
            } else if (more) {
                pick(Format::Q6_K, "ffn_down use_more_bits(" + frac(i, n) + ")");
            }
            break;
        case FileType::IQ4_NL:
        case FileType::IQ4_XS:
            // With an imatrix the 4-bit non-linear types hold up in the first layers on their own.
            if (first && !in.opt.has_imatrix) {
                pick(Format::Q5_K, "ffn_down layer " + frac(i, n) + " in first eighth, no imatrix");
            }
            break;
        case FileType::Q5_K_M:
            if (more) {
                pick(Format::Q6_K, "ffn_down use_more_bits(" + frac(i, n) + ")");
            }
            break;
        case FileType::Q4_K_S:
            if (!in.model.falcon && first) {
                pick(Format::Q5_K, "ffn_down layer " + frac(i, n) + " in first eighth");
            }
            break;
        case FileType::Q4_0:
        case FileType::Q5_0:
            // Only with an imatrix, so that plain Q4_0/Q5_0 files stay what they always were.
            if (in.opt.has_imatrix && first) {
                pick(in.ftype == FileType::Q4_0 ? Format::Q4_1 : Format::Q5_1,
                     "ffn_down layer " + frac(i, n) + " in first eighth, imatrix");
            }
            break;
        default:
            break;
    }
    ++st.i_ffn_down;
    return { f, why, {} };
}

Choice attn_output_rule(const MixInput & in) {
    const FileType ft = in.ftype;
    if (in.model.falcon) {
        if (ft == FileType::Q3_K_L) {
            return { Format::Q4_K, "attn_output falcon Q3_K_L", {} };
        }
        return { in.def, "default", {} };
    }
    if (in.model.n_expert == 8) {
        switch (ft) {
            case FileType::Q2_K:
            case FileType::Q3_K_S:
            case FileType::Q3_K_M:
            case FileType::IQ4_NL:
            case FileType::Q4_K_S:
            case FileType::Q4_K_M:
            case FileType::IQ4_XS:
                return { Format::Q5_K, "attn_output n_expert=8", {} };
            default:
                return { in.def, "default", {} };
        }
    }
    switch (ft) {
        case FileType::Q2_K:
            return { Format::Q3_K, "attn_output Q2_K", {} };
        case FileType::Q3_K_M:
            return { Format::Q4_K, "attn_output Q3_K_M", {} };
        case FileType::Q3_K_L:
            return { Format::Q5_K, "attn_output Q3_K_L", {} };
        default:
            return { in.def, "default", {} };
    }
}

// ffn_gate / ffn_up: no rule for the file types nibble writes, but the layer check and the counter
// still run (an MoE tensor without a valid blk.N. prefix is an error in llama-quantize too).
Choice ffn_gate_up_rule(const MixInput & in, int & counter) {
    std::string error;
    if (!ffn_layer(in, counter, error)) {
        return { in.def, "ffn", error };
    }
    ++counter;
    return { in.def, "default", {} };
}

// llama_tensor_get_type_impl: the branches form one else-if chain, so the order below matters
// (e.g. attn_qkv takes attn_v's rule, and the dedicated attn_qkv rule is never reached).
Choice mix_rule(const MixInput & in, MixState & st) {
    if (in.cat == Category::Output || (st.tied_embeddings && in.cat == Category::TokenEmbd)) {
        return output_rule(in);
    }
    if (in.ftype == FileType::MXFP4_MOE) {
        // Only stacked experts (ne[2] > 1) go to MXFP4. bailingmoe3's MLA projections are 3-D too.
        const bool expert_role = in.model.arch != "bailingmoe3" || in.cat == Category::FfnUp ||
                                 in.cat == Category::FfnGate || in.cat == Category::FfnDown;
        if (in.t.ne[2] > 1 && expert_role) {
            return { Format::MXFP4, "expert tensor ne[2]=" + std::to_string(in.t.ne[2]), {} };
        }
        return { Format::Q8_0, "MXFP4_MOE non-expert", {} };
    }
    if (in.ftype == FileType::NVFP4) {
        // nibble: issue 4 item 3. Embeddings are looked up row by row, not multiplied: keep 8 bits.
        if (in.cat == Category::TokenEmbd) {
            return { Format::Q8_0, "token_embd: NVFP4 file", {} };
        }
        return { in.def, "default", {} };
    }
    if (in.cat == Category::TokenEmbd) {
        return { in.def, "default", {} };
    }
    if (is_attn_v_like(in.cat)) {
        return attn_v_rule(in, st);
    }
    switch (in.cat) {
        case Category::AttnK:
            return attn_k_rule(in);
        case Category::FfnDown:
            return ffn_down_rule(in, st);
        case Category::AttnOutput:
            return attn_output_rule(in);
        case Category::FfnGate:
            return ffn_gate_up_rule(in, st.i_ffn_gate);
        case Category::FfnUp:
            return ffn_gate_up_rule(in, st.i_ffn_up);
        default:
            return { in.def, "default", {} };
    }
}

// ---------------------------------------------------------------------------------------------
// Shape fallback (tensor_type_fallback, FORMATS.md §4.4): rows that are not a whole number of blocks.

struct ShapeFallback {
    Format from, to;
};

constexpr ShapeFallback kShapeFallbacks[] = {
    { Format::IQ4_XS, Format::IQ4_NL }, { Format::Q2_K, Format::Q4_0 }, { Format::Q3_K, Format::Q4_0 },
    { Format::Q4_K, Format::Q5_0 },     { Format::Q5_K, Format::Q5_1 }, { Format::Q6_K, Format::Q8_0 },
    { Format::NVFP4, Format::Q8_0 }, // nibble only, and only with QuantOptions::nvfp4_fallback
};

struct FallbackResult {
    Format      format;
    bool        applied = false;
    std::string note;  // appended to the reason
    std::string error; // no fallback exists
};

FallbackResult shape_fallback(Format f, const TensorDesc & t, const QuantOptions & opt) {
    const int64_t ncols = t.ne[0];
    const int     blck  = block_size(f);
    if (ncols % blck == 0) {
        return { f, false, {}, {} };
    }
    const std::string     shape = "ne[0]=" + std::to_string(ncols) + " % " + std::to_string(blck);
    std::optional<Format> to;
    for (const ShapeFallback & fb : kShapeFallbacks) {
        if (fb.from == f && (f != Format::NVFP4 || opt.nvfp4_fallback)) {
            to = fb.to;
        }
    }
    if (!to) {
        return { f, false, {}, std::string("no shape fallback for ") + format_name(f) + ": " + shape };
    }
    std::string note = std::string("fallback ") + format_name(f) + "->";
    if (ncols % block_size(*to) != 0) {
        // Not even 32 divides the row: only a float type is left.
        note += std::string(format_name(Format::F16)) + ": " + shape + ", " + format_name(*to) + " needs % " +
                std::to_string(block_size(*to));
        return { Format::F16, true, note, {} };
    }
    return { *to, true, note + format_name(*to) + ": " + shape, {} };
}

// ---------------------------------------------------------------------------------------------
// The driver: precedence of the options, per tensor.

struct CompiledOverride {
    std::regex  re;
    std::string label; // "'pattern=type'"
    Format      format;
};

struct Decision {
    Format      format;
    std::string reason;
    std::string error;
    bool        fallback_allowed = true;
};

Decision decide(const MixInput & in, const std::vector<CompiledOverride> & overrides, MixState & st) {
    const QuantOptions & opt = in.opt;
    if (opt.token_embedding_type && in.cat == Category::TokenEmbd) {
        return { *opt.token_embedding_type, "--token-embedding-type", {}, true };
    }
    if (opt.output_tensor_type && in.cat == Category::Output) {
        return { *opt.output_tensor_type, "--output-tensor-type", {}, true };
    }
    if (!is_block_quantized(in.def)) {
        // Float file types convert every weight and ignore overrides and mixes (as llama-quantize).
        std::string why = std::string(file_type_info(in.ftype).name) + " file";
        for (const CompiledOverride & o : overrides) {
            if (std::regex_search(in.t.name, o.re)) {
                why += ", override " + o.label + " ignored";
                break;
            }
        }
        return { in.def, why, {}, false };
    }
    for (const CompiledOverride & o : overrides) {
        if (std::regex_search(in.t.name, o.re)) {
            return { o.format, "override " + o.label, {}, true }; // no mix: counters do not advance
        }
    }
    if (opt.pure) {
        return { in.def, "--pure", {}, true };
    }
    Choice c = mix_rule(in, st);
    return { c.format, std::move(c.reason), std::move(c.error), true };
}

Model model_facts(const std::vector<TensorDesc> & tensors, const QuantOptions & opt) {
    Model m;
    m.arch    = opt.arch;
    m.n_layer = opt.n_layer;
    if (m.n_layer <= 0) {
        for (const TensorDesc & t : tensors) {
            if (const std::optional<int> i = block_index(t.name)) {
                m.n_layer = std::max(m.n_layer, *i + 1);
            }
        }
    }
    m.n_gqa    = opt.n_head_kv > 0 ? opt.n_head / opt.n_head_kv : 0;
    m.n_expert = opt.n_expert;
    m.falcon   = opt.arch == "falcon";
    m.is_70b   = opt.is_70b.value_or(opt.arch == "llama" && m.n_layer == 80 && opt.n_head != opt.n_head_kv);
    return m;
}

} // namespace

std::optional<TensorTypeOverride> parse_tensor_type_override(std::string_view arg) {
    const size_t eq = arg.find('=');
    if (eq == std::string_view::npos || eq == 0 || eq + 1 == arg.size()) {
        return std::nullopt;
    }
    const std::optional<Format> f = format_from_name(arg.substr(eq + 1));
    if (!f) {
        return std::nullopt;
    }
    TensorTypeOverride o{ std::string(arg.substr(0, eq)), *f };
    // llama-quantize lower-cases the pattern (tensor names are lower case anyway).
    std::transform(o.pattern.begin(), o.pattern.end(), o.pattern.begin(),
                   [](char c) { return char(std::tolower((unsigned char)c)); });
    return o;
}

// ---------------------------------------------------------------------------------------------
// Order, exclusions, imatrix requirement

bool llama_tensor_order_less(std::string_view a, std::string_view b) {
    const int la = block_index(a).value_or(-1);
    const int lb = block_index(b).value_or(-1);
    if (la != lb) {
        return la < lb;
    }
    return a < b;
}

void sort_in_llama_order(std::vector<TensorDesc> & tensors) {
    std::stable_sort(tensors.begin(), tensors.end(), [](const TensorDesc & a, const TensorDesc & b) {
        return llama_tensor_order_less(a.name, b.name);
    });
}

const char * quantization_exclusion(const TensorDesc & t, const QuantOptions & opt) {
    if (t.n_dims < 2) {
        return "1-D: kept"; // norms, biases, scales
    }
    const std::string_view name = t.name;
    if (!name.ends_with("weight")) {
        return "not a weight: kept";
    }
    // output.weight matches none of the substrings below, so checking it first keeps llama's reasons.
    if (opt.leave_output_tensor && name == "output.weight") {
        return "--leave-output-tensor: kept";
    }
    for (const Exclusion & e : kExcludedSubstrings) {
        if (name.find(e.needle) != std::string_view::npos) {
            return e.reason;
        }
    }
    // BERT: absolute position embeddings and token types (LLM_TN names, the same for every arch).
    if (name == "position_embd.weight" || name == "token_types.weight") {
        return "position/token-type embedding: kept";
    }
    return nullptr;
}

bool tensor_requires_imatrix(std::string_view name, Format target, FileType ftype) {
    if (category_of(name) == Category::TokenEmbd || category_of(name) == Category::Output) {
        return false;
    }
    // IQ1/IQ2/IQ3_XXS always need one but are not nibble formats; k-quants only in a Q2_K_S file.
    return target == Format::Q2_K && ftype == FileType::Q2_K_S;
}

// ---------------------------------------------------------------------------------------------
// The policy

QuantPlan plan_quantization(const std::vector<TensorDesc> & tensors, FileType ftype, const QuantOptions & opt) {
    QuantPlan plan;
    plan.file_type = ftype;

    std::vector<CompiledOverride> overrides;
    for (const TensorTypeOverride & o : opt.tensor_type_overrides) {
        const std::string label = "'" + o.pattern + "=" + format_name(o.format) + "'";
        try {
            overrides.push_back({ std::regex(o.pattern), label, o.format });
        } catch (const std::regex_error & e) {
            plan.errors.push_back("--tensor-type " + label + ": invalid regular expression: " + e.what());
        }
    }

    const Model model = model_facts(tensors, opt);
    MixState    st;
    for (const TensorDesc & t : tensors) {
        const Category cat = category_of(t.name);
        st.n_attention_wv += is_attn_v_like(cat) ? 1 : 0;
        st.tied_embeddings = st.tied_embeddings && cat != Category::Output;
    }

    const Format def = file_type_info(ftype).default_format;
    plan.tensors.reserve(tensors.size());
    for (const TensorDesc & t : tensors) {
        TensorPlan tp;
        tp.name    = t.name;
        tp.current = t.format;
        tp.target  = t.format;
        if (const char * kept = quantization_exclusion(t, opt)) {
            tp.reason = kept;
            plan.tensors.push_back(std::move(tp));
            continue;
        }
        tp.allows_quantization = true;

        const MixInput in{ ftype, def, t, category_of(t.name), model, opt };
        Decision       d = decide(in, overrides, st);
        tp.target        = d.format;
        tp.reason        = std::move(d.reason);
        tp.error         = std::move(d.error);
        if (tp.error.empty() && d.fallback_allowed) {
            FallbackResult fb = shape_fallback(tp.target, t, opt);
            tp.target         = fb.format;
            tp.fallback       = fb.applied;
            tp.error          = std::move(fb.error);
            if (fb.applied) {
                tp.reason += ", " + fb.note;
                ++plan.n_fallback;
            }
        }
        if (tp.error.empty() && tp.converts() && is_block_quantized(tp.current) && !opt.allow_requantize) {
            tp.error =
                std::string("requantizing from ") + format_name(tp.current) + " is disabled (--allow-requantize)";
        }
        tp.requires_imatrix = tensor_requires_imatrix(t.name, tp.target, ftype);
        if (tp.error.empty() && tp.requires_imatrix && !opt.has_imatrix) {
            tp.error = std::string("needs an importance matrix (") + format_name(tp.target) + " in a " +
                       file_type_info(ftype).name + " file)";
        }
        if (!tp.error.empty()) {
            plan.errors.push_back(tp.name + ": " + tp.error);
        }
        plan.tensors.push_back(std::move(tp));
    }
    return plan;
}

std::string format_plan(const QuantPlan & plan) {
    std::string out;
    for (const TensorPlan & tp : plan.tensors) {
        out += tp.name;
        out += ' ';
        out += format_name(tp.target);
        out += ' ';
        out += tp.reason;
        out += '\n';
    }
    for (const std::string & e : plan.errors) {
        out += "# error: " + e + "\n";
    }
    return out;
}

} // namespace nibble
