#include "io/hf_quant_config.h"

#include "io/json_file.h"

#include <algorithm>
#include <cctype>
#include <set>
#include <utility>

namespace nibble {

using json = nlohmann::json;

namespace {

std::string qname(const std::string & s) {
    constexpr size_t kMax = 200;
    return s.size() <= kMax ? "\"" + s + "\"" : "\"" + s.substr(0, kMax) + "...\"";
}

// ---------------------------------------------------------------------------------------------
// The declared configuration, read from config.json quantization_config and hf_quant_config.json.

std::optional<Error> read_strings(const JsonDoc & doc, const json & obj, const char * key,
                                  std::vector<std::string> & out) {
    const auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) {
        return std::nullopt;
    }
    if (!it->is_array()) {
        return doc.error_at(key, std::string(key) + " must be an array of strings");
    }
    for (const json & v : *it) {
        if (!v.is_string()) {
            return doc.error_at(key, std::string(key) + " must be an array of strings");
        }
        out.push_back(v.get<std::string>());
    }
    return std::nullopt;
}

std::string str_or(const json & obj, const char * key, std::string dflt = {}) {
    const auto it = obj.find(key);
    return it != obj.end() && it->is_string() ? it->get<std::string>() : dflt;
}

int64_t int_or(const json & obj, const char * key, int64_t dflt = 0) {
    const auto it = obj.find(key);
    return it != obj.end() && it->is_number_integer() ? it->get<int64_t>() : dflt;
}

std::optional<Error> read_block(const JsonDoc & doc, const json & obj, const char * key, int64_t (&out)[2]) {
    const auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) {
        return std::nullopt;
    }
    if (!it->is_array() || it->size() != 2 || !(*it)[0].is_number_integer() || !(*it)[1].is_number_integer() ||
        (*it)[0].get<int64_t>() <= 0 || (*it)[1].get<int64_t>() <= 0 || (*it)[0].get<int64_t>() > (1 << 20) ||
        (*it)[1].get<int64_t>() > (1 << 20)) {
        return doc.error_at(key, std::string(key) + " must be [rows, cols] of positive integers");
    }
    out[0] = (*it)[0].get<int64_t>();
    out[1] = (*it)[1].get<int64_t>();
    return std::nullopt;
}

// ModelOpt hf_quant_config.json: {"producer": {...}, "quantization": {"quant_algo", "kv_cache_quant_algo",
// "group_size", "exclude_modules", "quantized_layers"}} (FORMATS.md §7.2).
std::optional<Error> read_modelopt_file(const JsonDoc & doc, HfQuantDeclared & d) {
    const auto q = doc.root.is_object() ? doc.root.find("quantization") : doc.root.end();
    if (q == doc.root.end() || !q->is_object()) {
        return doc.error_at("quantization", "hf_quant_config.json needs a \"quantization\" object");
    }
    d.info.source              = "hf_quant_config.json";
    d.info.quant_method        = "modelopt";
    d.info.quant_algo          = str_or(*q, "quant_algo");
    d.info.kv_cache_quant_algo = str_or(*q, "kv_cache_quant_algo");
    d.info.group_size          = int_or(*q, "group_size");
    if (auto e = read_strings(doc, *q, "exclude_modules", d.info.ignore)) {
        return e;
    }
    if (const auto ql = q->find("quantized_layers"); ql != q->end() && !ql->is_null()) {
        if (!ql->is_object()) {
            return doc.error_at("quantized_layers", "quantized_layers must be an object {module: {quant_algo}}");
        }
        for (const auto & [mod, v] : ql->items()) {
            if (!v.is_object() || !v.contains("quant_algo") || !v["quant_algo"].is_string()) {
                return doc.error_at(mod, "quantized_layers entry " + qname(mod) + " needs a string quant_algo");
            }
            d.per_layer.emplace(mod, v["quant_algo"].get<std::string>());
        }
    }
    return std::nullopt;
}

std::optional<Error> read_ct_groups(const JsonDoc & doc, const json & qc, HfQuantDeclared & d) {
    const auto cg = qc.find("config_groups");
    if (cg == qc.end() || cg->is_null()) {
        return std::nullopt;
    }
    if (!cg->is_object()) {
        return doc.error_at("config_groups", "config_groups must be an object");
    }
    for (const auto & [name, g] : cg->items()) {
        if (!g.is_object()) {
            return doc.error_at(name, "config group " + qname(name) + " must be an object");
        }
        HfCtGroup grp;
        if (auto e = read_strings(doc, g, "targets", grp.targets)) {
            return e;
        }
        const auto w = g.find("weights");
        if (w != g.end() && w->is_object()) {
            const int64_t     bits     = int_or(*w, "num_bits");
            const std::string type     = str_or(*w, "type");
            const std::string strategy = str_or(*w, "strategy");
            const std::string fmt      = str_or(g, "format", d.info.quant_algo);
            if (fmt == "nvfp4-pack-quantized" || (bits == 4 && type == "float")) {
                grp.declared = "NVFP4";
            } else if (bits == 8 && type == "float") {
                grp.declared = "FP8/" + strategy;
                if (auto e = read_block(doc, *w, "block_structure", grp.block)) {
                    return e;
                }
            } else {
                grp.declared = "other";
            }
            if (d.info.group_size == 0) {
                d.info.group_size = int_or(*w, "group_size");
            }
        }
        d.groups.push_back(std::move(grp));
    }
    return std::nullopt;
}

// config.json quantization_config (or the older compression_config).
std::optional<Error> read_quantization_config(const JsonDoc & doc, HfQuantDeclared & d) {
    if (!doc.root.is_object()) {
        return std::nullopt; // parse_hf_config already rejected this
    }
    auto qc = doc.root.find("quantization_config");
    if (qc == doc.root.end() || qc->is_null()) {
        qc = doc.root.find("compression_config");
    }
    if (qc == doc.root.end() || qc->is_null()) {
        return std::nullopt;
    }
    if (!qc->is_object()) {
        return doc.error_at("quantization_config", "quantization_config must be an object");
    }
    const std::string method = str_or(*qc, "quant_method");
    if (method == "modelopt" && !d.info.source.empty()) {
        // hf_quant_config.json already described it (and has quantized_layers); only add ignores.
        return read_strings(doc, *qc, "ignore", d.info.ignore);
    }
    d.info.source       = "config.json quantization_config";
    d.info.quant_method = method;
    if (method == "modelopt") {
        d.info.quant_algo          = str_or(*qc, "quant_algo");
        d.info.kv_cache_quant_algo = str_or(*qc, "kv_cache_quant_algo");
        if (auto e = read_ct_groups(doc, *qc, d)) {
            return e;
        }
        return read_strings(doc, *qc, "ignore", d.info.ignore);
    }
    if (method == "compressed-tensors") {
        d.info.quant_algo = str_or(*qc, "format");
        if (const auto kv = qc->find("kv_cache_scheme"); kv != qc->end() && kv->is_object()) {
            d.info.kv_cache_quant_algo = int_or(*kv, "num_bits") == 8 ? "FP8" : "other";
        }
        if (auto e = read_ct_groups(doc, *qc, d)) {
            return e;
        }
        return read_strings(doc, *qc, "ignore", d.info.ignore);
    }
    if (method == "fp8") {
        d.info.quant_algo = str_or(*qc, "fmt", "e4m3");
        if (auto e = read_block(doc, *qc, "weight_block_size", d.info.weight_block)) {
            return e;
        }
        if (auto e = read_strings(doc, *qc, "modules_to_not_convert", d.info.ignore)) {
            return e;
        }
        return read_strings(doc, *qc, "ignored_layers", d.info.ignore);
    }
    return std::nullopt; // another method: reported by name only
}

HfQuantScheme hf_quant_scheme_of(const HfQuantDeclared & d) {
    const HfQuantInfo & i = d.info;
    if (i.quant_method.empty()) {
        return HfQuantScheme::None;
    }
    if (i.quant_method == "modelopt") {
        return i.quant_algo == "NVFP4"             ? HfQuantScheme::ModelOptNVFP4
               : i.quant_algo == "FP8"             ? HfQuantScheme::ModelOptFP8
               : i.quant_algo == "MIXED_PRECISION" ? HfQuantScheme::ModelOptMixed
                                                   : HfQuantScheme::ModelOptOther;
    }
    if (i.quant_method == "compressed-tensors") {
        if (i.quant_algo == "nvfp4-pack-quantized") {
            return HfQuantScheme::CtNVFP4;
        }
        if (i.quant_algo == "mixed-precision") {
            return HfQuantScheme::CtMixed;
        }
        const bool fp8 = !d.groups.empty() && std::all_of(d.groups.begin(), d.groups.end(), [](const HfCtGroup & g) {
            return g.declared.rfind("FP8/", 0) == 0;
        });
        if ((i.quant_algo == "float-quantized" || i.quant_algo == "naive-quantized") && fp8) {
            return HfQuantScheme::CtFP8;
        }
        return HfQuantScheme::CtOther;
    }
    if (i.quant_method == "fp8") {
        return HfQuantScheme::BlockFP8;
    }
    return HfQuantScheme::Other;
}

} // namespace

Result<HfQuantDeclared> read_hf_quant_declared(const JsonDoc * config, const JsonDoc * hf_quant_config) {
    HfQuantDeclared d;
    if (hf_quant_config != nullptr) {
        if (auto e = read_modelopt_file(*hf_quant_config, d)) {
            return *e;
        }
    }
    if (config != nullptr) {
        if (auto e = read_quantization_config(*config, d)) {
            return *e;
        }
    }
    d.info.scheme = hf_quant_scheme_of(d);
    return d;
}

namespace {

// Python fnmatch semantics ('*' also crosses '.', '?', '[seq]', '[!seq]', ranges) with the iterative
// two-pointer algorithm: O(pattern x name) at worst, where glibc's recursive fnmatch can go
// exponential on hostile patterns like "*a*a*a*...".
bool glob_match(const std::string & pat, const std::string & s) {
    // Length of the bracket expression at pat[p] (0 when it is not a complete one) and whether c matches it.
    const auto bracket = [&pat](size_t p, char c, bool & hit) -> size_t {
        size_t     q      = p + 1;
        const bool negate = q < pat.size() && pat[q] == '!';
        q += negate;
        bool   any   = false;
        size_t first = q;
        for (; q < pat.size() && (pat[q] != ']' || q == first); q++) {
            if (q + 2 < pat.size() && pat[q + 1] == '-' && pat[q + 2] != ']') {
                any = any || (pat[q] <= c && c <= pat[q + 2]);
                q += 2;
            } else {
                any = any || pat[q] == c;
            }
        }
        if (q >= pat.size()) {
            return 0; // unterminated: '[' is literal, as in Python
        }
        hit = any != negate;
        return q - p + 1;
    };
    size_t p = 0, i = 0, star_p = std::string::npos, star_i = 0;
    while (i < s.size()) {
        bool   hit = false;
        size_t len = 0;
        if (p < pat.size() && pat[p] == '*') {
            star_p = p++;
            star_i = i;
            continue;
        }
        if (p < pat.size() && pat[p] == '[' && (len = bracket(p, s[i], hit)) > 0) {
            if (hit) {
                p += len;
                i++;
                continue;
            }
        } else if (p < pat.size() && (pat[p] == '?' || pat[p] == s[i])) {
            p++;
            i++;
            continue;
        }
        if (star_p == std::string::npos) {
            return false;
        }
        p = star_p + 1; // let the last '*' swallow one more character
        i = ++star_i;
    }
    while (p < pat.size() && pat[p] == '*') {
        p++;
    }
    return p == pat.size();
}

// Module names are < 200 bytes in real checkpoints; longer ones (hostile headers) skip regexes.
constexpr size_t kMaxRegexSubject = 1024;
constexpr size_t kMaxPattern      = 1024;

} // namespace

// A rough upper bound on the states std::regex builds for a pattern: its length times the product
// of its counted repetitions ({n} / {n,m}); "a{9999}" is ~10k states (~0.5 MB, ~7 ms to compile).
// Real ignore lists ("re:.*lm_head", "re:.*mlp[.]gate$") cost < 100; hostile ones could cost
// gigabytes, so one pattern may cost at most kMaxRegexCost and a whole list kMaxRegexCostTotal.
constexpr double kMaxRegexCost      = 1 << 14;
constexpr double kMaxRegexCostTotal = 1 << 18;

double regex_cost(const std::string & re) {
    double cost = double(re.size());
    for (size_t i = 0; i < re.size(); ++i) {
        if (re[i] != '{' || (i > 0 && re[i - 1] == '\\')) {
            continue;
        }
        double largest = 0, cur = 0;
        size_t j = i + 1;
        for (; j < re.size() && j < i + 24 && (std::isdigit(uint8_t(re[j])) || re[j] == ','); ++j) {
            cur     = re[j] == ',' ? 0 : std::min(cur * 10 + (re[j] - '0'), 1e9);
            largest = std::max(largest, cur);
        }
        if (j < re.size() && re[j] == '}') {
            cost *= std::max(1.0, largest);
        }
        if (cost > kMaxRegexCostTotal) {
            break;
        }
    }
    return cost;
}

HfIgnoreMatcher::HfIgnoreMatcher(const std::vector<std::string> & patterns) {
    std::set<std::string> seen; // duplicate entries are compiled once
    double                total = 0;
    for (const std::string & p : patterns) {
        if (p.size() > kMaxPattern || !seen.insert(p).second) {
            continue; // too long: matches nothing
        }
        if (p.rfind("re:", 0) != 0) {
            globs_.push_back(p);
            continue;
        }
        const double cost = regex_cost(p);
        if (cost > kMaxRegexCost || total + cost > kMaxRegexCostTotal) {
            continue; // too costly to compile: matches nothing (no real ignore list comes close)
        }
        total += cost;
        try {
            // __polynomial (libstdc++) selects the breadth-first executor: no exponential backtracking
            // on patterns like "(a*)*b" that a hostile config could pair with a long tensor name.
            res_.emplace_back(p.substr(3), std::regex::ECMAScript | std::regex_constants::__polynomial);
        } catch (const std::regex_error &) {
            // A pattern we cannot compile matches nothing: it would not exclude anything in Python either.
        }
    }
}

bool HfIgnoreMatcher::matches(const std::string & module) const {
    for (const std::string & g : globs_) {
        if (g == module || glob_match(g, module)) {
            return true;
        }
    }
    if (module.size() > kMaxRegexSubject) {
        return false;
    }
    for (const std::regex & re : res_) {
        // Python's re.match anchors at the start only; match_continuous does the same.
        if (std::regex_search(module, re, std::regex_constants::match_continuous)) {
            return true;
        }
    }
    return false;
}

} // namespace nibble
