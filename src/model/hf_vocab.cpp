#include "model/hf_vocab.h"

#include "core/mmap_file.h"
#include "model/hf_special_vocab.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>
#include <unordered_map>
#include <utility>

namespace nibble {

using json = nlohmann::json;

// ---------------------------------------------------------------------------------------------
// KvList

void KvList::set(std::string key, Value v) {
    const bool empty = std::visit(
        [](const auto & x) {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, std::string> || std::is_same_v<T, std::vector<std::string>> ||
                          std::is_same_v<T, std::vector<float>> || std::is_same_v<T, std::vector<int32_t>>) {
                return x.empty();
            } else {
                return false;
            }
        },
        v);
    if (empty) {
        return; // GGUFWriter.add_string / add_array skip empty values
    }
    for (auto & [k, old] : items_) {
        if (k == key) {
            old = std::move(v);
            return;
        }
    }
    items_.emplace_back(std::move(key), std::move(v));
}

void KvList::remove(std::string_view key) {
    std::erase_if(items_, [&](const auto & kv) { return kv.first == key; });
}

bool KvList::contains(std::string_view key) const {
    return find(key) != nullptr;
}

const KvList::Value * KvList::find(std::string_view key) const {
    for (const auto & [k, v] : items_) {
        if (k == key) {
            return &v;
        }
    }
    return nullptr;
}

std::optional<Error> KvList::write(GgufWriter & w) const {
    for (const auto & [k, v] : items_) {
        Result<size_t> r = std::visit(
            [&w, key = k](const auto & x) -> Result<size_t> {
                using T = std::decay_t<decltype(x)>;
                if constexpr (std::is_same_v<T, std::string>) {
                    return w.add_string(key, x);
                } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
                    return w.add_string_array(key, x);
                } else if constexpr (std::is_same_v<T, std::vector<float>> || std::is_same_v<T, std::vector<int32_t>>) {
                    return w.add_array<typename T::value_type>(key, std::span<const typename T::value_type>(x));
                } else {
                    return w.add<T>(key, x);
                }
            },
            v);
        if (!r) {
            return r.error();
        }
    }
    return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// SentencePiece model (protobuf)

namespace {

struct PbReader {
    const uint8_t * p;
    const uint8_t * end;

    bool varint(uint64_t & v) {
        v = 0;
        for (int shift = 0; shift < 64 && p < end; shift += 7) {
            const uint8_t b = *p++;
            v |= uint64_t(b & 0x7f) << shift;
            if ((b & 0x80) == 0) {
                return true;
            }
        }
        return false;
    }
    // Skips a field of wire type wt; false when malformed.
    bool skip(uint64_t wt) {
        uint64_t n = 0;
        switch (wt) {
            case 0:
                return varint(n);
            case 1:
                n = 8;
                break;
            case 2:
                if (!varint(n)) {
                    return false;
                }
                break;
            case 5:
                n = 4;
                break;
            default:
                return false;
        }
        if (n > uint64_t(end - p)) {
            return false;
        }
        p += n;
        return true;
    }
};

} // namespace

Result<std::vector<SpmPiece>> parse_spm_pieces(const std::string & name, const uint8_t * data, size_t size) {
    std::vector<SpmPiece> out;
    PbReader              r{ data, data + size };
    auto                  bad = [&](const char * what) {
        return Error{ name, uint64_t(r.p - data), std::string("tokenizer.model: ") + what };
    };
    while (r.p < r.end) {
        uint64_t tag = 0;
        if (!r.varint(tag)) {
            return bad("truncated field tag");
        }
        if (tag != ((1u << 3) | 2u)) { // ModelProto.pieces = 1, length-delimited
            if (!r.skip(tag & 7)) {
                return bad("malformed field");
            }
            continue;
        }
        uint64_t len = 0;
        if (!r.varint(len) || len > uint64_t(r.end - r.p)) {
            return bad("piece length runs past the end");
        }
        PbReader m{ r.p, r.p + len };
        r.p += len;
        SpmPiece sp;
        while (m.p < m.end) {
            uint64_t t = 0;
            if (!m.varint(t)) {
                return bad("truncated piece");
            }
            if (t == ((1u << 3) | 2u)) { // piece
                uint64_t n = 0;
                if (!m.varint(n) || n > uint64_t(m.end - m.p)) {
                    return bad("piece text runs past the end");
                }
                sp.piece.assign(reinterpret_cast<const char *>(m.p), size_t(n));
                m.p += n;
            } else if (t == ((2u << 3) | 5u)) { // score, fixed32 float
                if (m.end - m.p < 4) {
                    return bad("truncated score");
                }
                std::memcpy(&sp.score, m.p, 4);
                m.p += 4;
            } else if (t == ((3u << 3) | 0u)) { // type
                uint64_t v = 0;
                if (!m.varint(v)) {
                    return bad("truncated type");
                }
                sp.type = int(v & 0xff);
            } else if (!m.skip(t & 7)) {
                return bad("malformed piece field");
            }
        }
        out.push_back(std::move(sp));
        if (out.size() > (1u << 24)) {
            return bad("more than 16M pieces");
        }
    }
    if (out.empty()) {
        return Error{ name, 0, "tokenizer.model has no pieces (not a SentencePiece model?)" };
    }
    return out;
}

Result<std::vector<SpmPiece>> read_spm_pieces(const std::string & path) {
    Result<MappedFile> f = MappedFile::open(path);
    if (!f) {
        return f.error();
    }
    return parse_spm_pieces(path, f->data(), f->size());
}

// ---------------------------------------------------------------------------------------------
// Vocabularies

namespace {

using namespace hf_vocab_detail;
namespace fs = std::filesystem;

// U+2581 LOWER ONE EIGHTH BLOCK, SentencePiece's space.
constexpr std::string_view kSpmSpace = "\xe2\x96\x81";

struct Vocab {
    std::vector<std::string> tokens;
    std::vector<float>       scores;
    std::vector<int32_t>     types;
};

bool is_file(const std::string & p) {
    std::error_code ec;
    return fs::is_regular_file(p, ec);
}

std::string pad_token(int64_t i) {
    return "[PAD" + std::to_string(i) + "]";
}

// The converter's _create_vocab_sentencepiece.
Result<Vocab> spm_vocab(const std::string & dir, int64_t n_vocab, const JsonDoc * tc) {
    Result<std::vector<SpmPiece>> pieces = read_spm_pieces(dir + "/tokenizer.model");
    if (!pieces) {
        return pieces.error();
    }
    const int64_t n = n_vocab > 0 ? n_vocab : int64_t(pieces->size());
    Vocab         v;
    for (int64_t i = 0; i < n; ++i) {
        v.tokens.push_back(pad_token(i));
    }
    v.scores.assign(size_t(n), -10000.0f);
    v.types.assign(size_t(n), int32_t(HfTokenType::Unused));
    for (size_t i = 0; i < pieces->size() && int64_t(i) < n; ++i) {
        const SpmPiece & p = (*pieces)[i];
        HfTokenType      t = HfTokenType::Normal; // user-defined pieces are NORMAL to the converter
        if (p.type == 2 || p.type == 3 || p.type == 5 || p.type == 6) {
            t = HfTokenType(p.type);
        }
        v.tokens[i] = p.piece;
        v.scores[i] = p.score;
        v.types[i]  = int32_t(t);
    }
    auto put = [&](int64_t id, std::string text, HfTokenType t) {
        if (id >= 0 && id < n) {
            v.tokens[size_t(id)] = std::move(text);
            v.scores[size_t(id)] = -1000.0f;
            v.types[size_t(id)]  = int32_t(t);
        }
    };
    Result<std::optional<JsonDoc>> added = read_optional_json(dir + "/added_tokens.json");
    if (!added) {
        return added.error();
    }
    if (*added && (*added)->root.is_object()) {
        for (const auto & [text, id] : (*added)->root.items()) {
            if (id.is_number_integer()) {
                put(id.get<int64_t>(), text, HfTokenType::UserDefined);
            }
        }
    }
    const json & decoder = tc != nullptr ? get(tc->root, "added_tokens_decoder") : get(json(), "");
    if (decoder.is_object()) {
        for (const auto & [id_text, data] : decoder.items()) {
            const json &    content = get(data, "content");
            char *          end     = nullptr;
            const long long id      = std::strtoll(id_text.c_str(), &end, 10);
            if (!content.is_string() || end == id_text.c_str() || *end != '\0') {
                return tc->error_at("added_tokens_decoder", "entry " + id_text + " has no integer id and content");
            }
            const std::string text = content.get<std::string>();
            if (truthy(get(data, "special")) || looks_special(text)) {
                put(id, text, HfTokenType::Control);
            } else {
                put(id, replace_all(text, kSpmSpace, " "), HfTokenType::UserDefined);
            }
        }
    }
    return v;
}

// content -> id of tokenizer.json's model.vocab and added_tokens (tokenizer.get_vocab()).
struct TokJson {
    const json &                                              model;
    std::unordered_map<std::string, int64_t>                  base;  // model.vocab
    std::vector<std::tuple<int64_t, std::string, bool, bool>> added; // id, content, special, normalized
    std::unordered_map<std::string, int64_t>                  all;   // base + added

    std::optional<Error> load(const JsonDoc & tok) {
        const json & vocab = get(model, "vocab");
        if (get(model, "type") != "BPE" || !vocab.is_object()) {
            return tok.error_at("model", "tokenizer model type " + get(model, "type").dump() +
                                             " is not supported (BPE with a vocab object is)");
        }
        for (const auto & [text, id] : vocab.items()) {
            if (!id.is_number_integer() || id.get<int64_t>() < 0) {
                return tok.error_at("vocab", "token " + text + " has no valid id");
            }
            base.emplace(text, id.get<int64_t>());
        }
        all = base;
        for (const json & a : get(tok.root, "added_tokens")) {
            if (!get(a, "id").is_number_integer() || !get(a, "content").is_string() ||
                get(a, "id").get<int64_t>() < 0) {
                return tok.error_at("added_tokens", "an added token has no valid id and content");
            }
            const int64_t     id = get(a, "id").get<int64_t>();
            const std::string c  = get(a, "content").get<std::string>();
            added.emplace_back(id, c, truthy(get(a, "special")), get(a, "normalized") != false);
            all[c] = id;
        }
        std::sort(added.begin(), added.end());
        return std::nullopt;
    }
    std::vector<const std::string *> reverse(size_t n) const {
        std::vector<const std::string *> r(n, nullptr);
        for (const auto & [t, id] : base) {
            if (size_t(id) < n) {
                r[size_t(id)] = &t;
            }
        }
        for (const auto & [id, t, s, norm] : added) {
            if (size_t(id) < n) {
                r[size_t(id)] = &t;
            }
        }
        return r;
    }
};

// The converter's LlamaHfVocab (transformers' all_special_tokens from tokenizer_config.json and
// special_tokens_map.json).
Result<Vocab> llama_hf_vocab(const JsonDoc & tok, const JsonDoc * tc, const std::string & dir) {
    TokJson tj{ get(tok.root, "model"), {}, {}, {} };
    if (auto e = tj.load(tok)) {
        return *e;
    }
    Result<std::optional<JsonDoc>> stm = read_optional_json(dir + "/special_tokens_map.json");
    if (!stm) {
        return stm.error();
    }
    std::map<std::string, int64_t> specials;
    std::set<int64_t>              special_ids;
    const json *                   stm_root = *stm ? &(*stm)->root : nullptr;
    for (const json * src : { tc != nullptr ? &tc->root : nullptr, stm_root }) {
        if (src == nullptr) {
            continue;
        }
        std::vector<json> entries;
        for (const char * k :
             { "bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token" }) {
            entries.push_back(get(*src, k));
        }
        for (const json & e : get(*src, "additional_special_tokens")) {
            entries.push_back(e);
        }
        for (const json & e : entries) {
            if (const std::optional<std::string> c = token_content(e); c && tj.all.count(*c)) {
                specials.emplace(*c, tj.all.at(*c));
                special_ids.insert(tj.all.at(*c));
            }
        }
    }
    const size_t n_base = tj.base.size();
    const auto   rev    = tj.reverse(n_base);
    Vocab        v;
    for (size_t id = 0; id < n_base; ++id) {
        if (rev[id] == nullptr) {
            return tok.error_at("vocab", "token id " + std::to_string(id) + " is missing from the vocabulary");
        }
        const std::string & t    = *rev[id];
        const bool          byte = t.size() == 6 && t.starts_with("<0x") && t.back() == '>' &&
                          std::isxdigit(static_cast<unsigned char>(t[3])) &&
                          std::isxdigit(static_cast<unsigned char>(t[4]));
        v.tokens.push_back(t);
        v.scores.push_back(-1000.0f);
        v.types.push_back(int32_t(byte                             ? HfTokenType::Byte
                                  : special_ids.count(int64_t(id)) ? HfTokenType::Control
                                                                   : HfTokenType::Normal));
    }
    for (const auto & [id, t, s, norm] : tj.added) {
        if (size_t(id) >= n_base) {
            v.tokens.push_back(t);
            v.scores.push_back(-1000.0f);
            v.types.push_back(int32_t(specials.count(t) ? HfTokenType::Control : HfTokenType::UserDefined));
        }
    }
    return v;
}

// The converter's get_vocab_base (the gpt2 path).
Result<Vocab> gpt2_vocab(const JsonDoc & tok, int64_t n_vocab, std::vector<std::string> & notes) {
    TokJson tj{ get(tok.root, "model"), {}, {}, {} };
    if (auto e = tj.load(tok)) {
        return *e;
    }
    int64_t max_id = -1;
    for (const auto & [t, id] : tj.all) {
        max_id = std::max(max_id, id);
    }
    const int64_t n = n_vocab > 0 ? n_vocab : int64_t(tj.all.size());
    if (max_id >= n) {
        return tok.error_at("vocab", "token id " + std::to_string(max_id) + " is not below vocab_size " +
                                         std::to_string(n) + " of config.json");
    }
    std::unordered_map<std::string, size_t> added_by_content;
    std::map<int64_t, size_t>               added_by_id;
    for (size_t k = 0; k < tj.added.size(); ++k) {
        added_by_content[std::get<1>(tj.added[k])] = k;
        added_by_id[std::get<0>(tj.added[k])]      = k;
    }
    const auto rev = tj.reverse(size_t(n));
    Vocab      v;
    bool       noted = false;
    for (int64_t i = 0; i < n; ++i) {
        if (rev[size_t(i)] == nullptr) {
            v.tokens.push_back(pad_token(i));
            v.types.push_back(int32_t(HfTokenType::Unused));
            continue;
        }
        std::string t = *rev[size_t(i)];
        if (added_by_content.count(t)) {
            const auto it      = added_by_id.find(i);
            const bool special = it != added_by_id.end() && std::get<2>(tj.added[it->second]);
            if (it != added_by_id.end() && !std::get<3>(tj.added[it->second]) && !noted) {
                notes.push_back("added tokens with normalized=false are kept as written (the converter "
                                "round-trips them through the tokenizer, which leaves them unchanged for "
                                "the supported models)");
                noted = true;
            }
            if (special || looks_special(t)) {
                v.types.push_back(int32_t(HfTokenType::Control));
            } else {
                t = replace_all(t, kSpmSpace, " ");
                v.types.push_back(int32_t(HfTokenType::UserDefined));
            }
        } else {
            v.types.push_back(int32_t(HfTokenType::Normal));
        }
        v.tokens.push_back(std::move(t));
    }
    return v;
}

// The first Split regex of a pre_tokenizer tree.
std::optional<std::string> split_regex(const json & pt) {
    if (get(pt, "type") == "Split" && get(get(pt, "pattern"), "Regex").is_string()) {
        return get(get(pt, "pattern"), "Regex").get<std::string>();
    }
    for (const json & child : get(pt, "pretokenizers")) {
        if (auto r = split_regex(child)) {
            return r;
        }
    }
    return std::nullopt;
}

constexpr const char * kLlama3Regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr const char * kQwen2Regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr const char * kTekkenRegex =
    R"([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

} // namespace

Result<std::string> hf_bpe_pre_name(const JsonDoc & tok, const JsonDoc * tc) {
    const std::optional<std::string> re = split_regex(get(tok.root, "pre_tokenizer"));
    if (re == kLlama3Regex) {
        return std::string("llama-bpe");
    }
    if (re == kQwen2Regex) {
        const std::optional<std::string> bos = tc != nullptr ? token_content(get(tc->root, "bos_token")) : std::nullopt;
        const bool                       r1  = bos == "<\xef\xbd\x9c"
                                                      "begin\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>";
        return std::string(r1 ? "deepseek-r1-qwen" : "qwen2");
    }
    if (re == kTekkenRegex) {
        return std::string("tekken");
    }
    std::string shown = re ? *re : std::string("(none: ") + get(get(tok.root, "pre_tokenizer"), "type").dump() + ")";
    if (shown.size() > 160) {
        shown = shown.substr(0, 160) + "...";
    }
    return tok.error_at("pre_tokenizer", "BPE pre-tokenizer not recognized (split regex " + shown +
                                             "); nibble knows llama-bpe, qwen2, deepseek-r1-qwen and tekken");
}

std::optional<Error> add_hf_tokenizer_kvs(const HfCheckpoint & ck, const std::string & arch, int64_t n_vocab,
                                          KvList & kv, std::vector<std::string> & notes) {
    const std::string              dir = ck.dir();
    Result<std::optional<JsonDoc>> tok = read_optional_json(dir + "/tokenizer.json");
    if (!tok) {
        return tok.error();
    }
    Result<std::optional<JsonDoc>> tcr = read_optional_json(dir + "/tokenizer_config.json");
    if (!tcr) {
        return tcr.error();
    }
    const JsonDoc * tj    = *tok ? &**tok : nullptr;
    const JsonDoc * tc    = *tcr ? &**tcr : nullptr;
    const bool      llama = arch == "llama";
    if (llama && tc != nullptr && get(tc->root, "add_prefix_space").is_boolean()) {
        kv.set("tokenizer.ggml.add_space_prefix", get(tc->root, "add_prefix_space").get<bool>());
    }
    if (llama && tj == nullptr && is_file(dir + "/tekken.json")) {
        return Error{ dir + "/tekken.json", 0,
                      "Mistral tekken.json tokenizers are not supported; need tokenizer.json" };
    }
    Vocab                  v;
    std::string            model = "llama", pre = "default";
    bool                   load_merges = false;
    std::optional<int64_t> special_n;
    if (is_file(dir + "/tokenizer.model")) {
        Result<Vocab> r = spm_vocab(dir, n_vocab, tc);
        if (!r) {
            return r.error();
        }
        v         = std::move(*r);
        special_n = int64_t(v.tokens.size());
    } else if (tj == nullptr) {
        return Error{ dir, 0, "no tokenizer.model or tokenizer.json: cannot write the tokenizer.ggml.* KVs" };
    } else {
        const json & m = get(tj->root, "model");
        const bool   llama3 =
            m.value("type", "") == "BPE" && truthy(get(m, "ignore_merges")) && get(m, "byte_fallback") == false;
        const bool llama_bpe = m.value("type", "") == "BPE" && truthy(get(m, "byte_fallback")) &&
                               get(get(tj->root, "decoder"), "type") == "Sequence";
        if (llama && !llama3 && llama_bpe) {
            Result<Vocab> r = llama_hf_vocab(*tj, tc, dir);
            if (!r) {
                return r.error();
            }
            v         = std::move(*r);
            special_n = int64_t(v.tokens.size());
        } else {
            Result<Vocab> r = gpt2_vocab(*tj, n_vocab, notes);
            if (!r) {
                return r.error();
            }
            Result<std::string> p = hf_bpe_pre_name(*tj, tc);
            if (!p) {
                return p.error();
            }
            v           = std::move(*r);
            model       = "gpt2";
            pre         = *p;
            load_merges = true;
        }
    }
    kv.set("tokenizer.ggml.model", model);
    kv.set("tokenizer.ggml.pre", pre);
    kv.set("tokenizer.ggml.tokens", v.tokens);
    kv.set("tokenizer.ggml.scores", v.scores);
    kv.set("tokenizer.ggml.token_type", v.types);
    SpecialVocab sv(dir, load_merges, special_n);
    if (auto e = sv.load(tj, tc, ck.config())) {
        return e;
    }
    sv.add_to(kv);
    if (llama && n_vocab == 32016) {
        notes.push_back("CodeLlama infill token ids (prefix/suffix/middle/eot) are not written");
    }
    if (llama && n_vocab == 49152) {
        kv.set("tokenizer.ggml.add_bos_token", false); // the converter's rule for granite/SmolLM vocabularies
    }
    return std::nullopt;
}

} // namespace nibble
