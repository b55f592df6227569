// Tokenizer::from_hf_dir: a Hugging Face tokenizer.json (+ tokenizer_config.json, config.json) read into
// the VocabSpec that convert_hf_to_gguf.py would have written, so ids equal those of the converted GGUF
// under llama.cpp. Two shapes are supported:
//  - byte-level BPE (a ByteLevel pre-tokenizer): tokenizer.ggml.model "gpt2", with the pre-tokenizer
//    kind recognised from the pre_tokenizer section (GPT-2, SmolLM digits, Llama 3 / Qwen2 Split regex);
//  - SentencePiece-style BPE (spaces become U+2581 through a Replace normalizer or Metaspace):
//    tokenizer.ggml.model "llama" with every score -1000, as convert's LlamaHfVocab writes. llama.cpp
//    then merges by position rather than by merge rank, which can differ from HF `tokenizers` itself;
//    we follow llama.cpp.
// Anything else is an Error naming the file and key.
#include "io/json_file.h"
#include "model/tokenizer/tokenizer_impl.h"

#include <filesystem>
#include <map>
#include <set>

namespace nibble {

using json = nlohmann::json;

namespace {

// Real vocabularies have < 300k tokens; this bounds what a hostile id can make us allocate.
constexpr int64_t kMaxVocab = int64_t(1) << 22;

const char * kLlama3Regex = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
                            "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const char * kQwen2Regex  = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "
                            "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

std::string str_of(const json & obj, const char * key) {
    const auto it = obj.find(key);
    return it != obj.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// The items of a normalizer/pre_tokenizer: itself, or the members of a Sequence.
std::vector<const json *> flatten(const json & node, const char * seq_key) {
    std::vector<const json *> out;
    if (!node.is_object()) {
        return out;
    }
    if (str_of(node, "type") == "Sequence") {
        const auto it = node.find(seq_key);
        if (it != node.end() && it->is_array()) {
            for (const json & x : *it) {
                if (x.is_object()) {
                    out.push_back(&x);
                }
            }
        }
    } else {
        out.push_back(&node);
    }
    return out;
}

// json::value() throws on a type mismatch; this reads untrusted files.
bool bool_of(const json & obj, const char * key, bool dflt) {
    const auto it = obj.find(key);
    return it != obj.end() && it->is_boolean() ? it->get<bool>() : dflt;
}

// "bos_token": "<s>" or { "content": "<s>", ... }.
std::string special_text(const json & cfg, const char * key) {
    const auto it = cfg.find(key);
    if (it == cfg.end()) {
        return {};
    }
    if (it->is_string()) {
        return it->get<std::string>();
    }
    return it->is_object() ? str_of(*it, "content") : std::string();
}

bool is_byte_token(const std::string & t) {
    const auto hex = [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; };
    return t.size() == 6 && t.compare(0, 3, "<0x") == 0 && hex(t[3]) && hex(t[4]) && t[5] == '>';
}

} // namespace

Result<Tokenizer> Tokenizer::from_hf_dir(const std::string & dir) {
    namespace fs         = std::filesystem;
    const std::string tj = (fs::path(dir) / "tokenizer.json").string();
    auto              rd = read_json_file(tj);
    if (!rd) {
        return rd.error();
    }
    const JsonDoc & doc  = *rd;
    const json &    root = doc.root;
    if (!root.is_object() || !root.contains("model") || !root["model"].is_object()) {
        return doc.error_at("model", "tokenizer.json: no \"model\" object");
    }
    const json & model = root["model"];
    if (str_of(model, "type") != "BPE") {
        return doc.error_at("type",
                            "model.type \"" + str_of(model, "type").substr(0, 64) + "\" is not supported (only BPE)");
    }

    // Optional side files.
    json       cfg = json::object();
    const auto tc  = (fs::path(dir) / "tokenizer_config.json").string();
    if (fs::exists(tc)) {
        auto r = read_json_file(tc);
        if (!r) {
            return r.error();
        }
        if (r->root.is_object()) {
            cfg = r->root;
        }
    }
    int64_t    config_vocab = 0;
    const auto cj           = (fs::path(dir) / "config.json").string();
    if (fs::exists(cj)) {
        auto r = read_json_file(cj);
        if (!r) {
            return r.error();
        }
        if (r->root.is_object() && r->root.contains("vocab_size") && r->root["vocab_size"].is_number_integer()) {
            config_vocab = r->root["vocab_size"].get<int64_t>();
        }
    }

    // Vocabulary: model.vocab plus added_tokens; ids must be dense after padding like convert does.
    const auto vit = model.find("vocab");
    if (vit == model.end() || !vit->is_object()) {
        return doc.error_at("vocab", "model.vocab must be an object of token -> id");
    }
    std::vector<std::pair<int64_t, std::string>> entries;
    for (auto it = vit->begin(); it != vit->end(); ++it) {
        if (!it.value().is_number_integer()) {
            return doc.error_at("vocab", "model.vocab: id of \"" + it.key().substr(0, 64) + "\" is not an integer");
        }
        entries.emplace_back(it.value().get<int64_t>(), it.key());
    }
    std::map<int64_t, bool> added; // id -> special
    if (const auto at = root.find("added_tokens"); at != root.end() && at->is_array()) {
        for (const json & a : *at) {
            if (!a.is_object() || !a.contains("id") || !a["id"].is_number_integer() || !a.contains("content") ||
                !a["content"].is_string()) {
                return doc.error_at("added_tokens", "added_tokens entries need an integer id and a content string");
            }
            const int64_t id = a["id"].get<int64_t>();
            entries.emplace_back(id, a["content"].get<std::string>());
            added[id] = bool_of(a, "special", false);
        }
    }
    int64_t n = std::max<int64_t>(config_vocab, 0);
    for (const auto & [id, text] : entries) {
        if (id < 0 || id >= kMaxVocab) {
            return doc.error_at("vocab", "token id " + std::to_string(id) + " is out of range [0, " +
                                             std::to_string(kMaxVocab) + ")");
        }
        n = std::max(n, id + 1);
    }
    if (n == 0 || n > kMaxVocab) {
        return doc.error_at("vocab", "vocabulary of " + std::to_string(n) + " tokens");
    }

    tok::VocabSpec spec;
    spec.source = tj;
    spec.tokens.assign(size_t(n), std::string());
    std::vector<bool> present(size_t(n), false);
    for (const auto & [id, text] : entries) {
        spec.tokens[size_t(id)] = text;
        present[size_t(id)]     = true;
    }
    spec.token_types.assign(size_t(n), tok::kTypeNormal);
    for (int64_t i = 0; i < n; ++i) {
        if (!present[size_t(i)]) {
            spec.tokens[size_t(i)]      = "[PAD" + std::to_string(i) + "]";
            spec.token_types[size_t(i)] = tok::kTypeUnused;
        }
    }
    std::map<std::string, int32_t> id_of;
    for (int64_t i = 0; i < n; ++i) {
        if (present[size_t(i)]) {
            id_of[spec.tokens[size_t(i)]] = int32_t(i);
        }
    }
    const auto lookup = [&](const std::string & text) -> std::optional<int32_t> {
        const auto it = id_of.find(text);
        return text.empty() || it == id_of.end() ? std::nullopt : std::optional<int32_t>(it->second);
    };

    // Special tokens named by tokenizer_config.json.
    spec.bos = lookup(special_text(cfg, "bos_token"));
    spec.eos = lookup(special_text(cfg, "eos_token"));
    spec.unk = lookup(special_text(cfg, "unk_token"));
    if (!spec.unk) {
        spec.unk = lookup(str_of(model, "unk_token"));
    }
    std::set<int32_t> special_ids;
    for (const char * k :
         { "bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token" }) {
        if (const auto id = lookup(special_text(cfg, k))) {
            special_ids.insert(*id);
        }
    }
    if (const auto it = cfg.find("additional_special_tokens"); it != cfg.end() && it->is_array()) {
        for (const json & x : *it) {
            const std::string t = x.is_string() ? x.get<std::string>() : x.is_object() ? str_of(x, "content") : "";
            if (const auto id = lookup(t)) {
                special_ids.insert(*id);
            }
        }
    }
    if (const auto it = cfg.find("add_bos_token"); it != cfg.end() && it->is_boolean()) {
        spec.add_bos = it->get<bool>();
    }
    if (const auto it = cfg.find("add_eos_token"); it != cfg.end() && it->is_boolean()) {
        spec.add_eos = it->get<bool>();
    }

    // Which shape of BPE this is.
    const json                      null_json;
    const auto                      pre_it     = root.find("pre_tokenizer");
    const auto                      nrm_it     = root.find("normalizer");
    const std::vector<const json *> pre        = flatten(pre_it != root.end() ? *pre_it : null_json, "pretokenizers");
    const std::vector<const json *> nrm        = flatten(nrm_it != root.end() ? *nrm_it : null_json, "normalizers");
    bool                            byte_level = false, metaspace = false, space_prefix = false, replace_space = false;
    for (const json * p : pre) {
        byte_level |= str_of(*p, "type") == "ByteLevel";
        if (str_of(*p, "type") == "Metaspace") {
            metaspace = true;
            space_prefix |= str_of(*p, "prepend_scheme") != "never" && bool_of(*p, "add_prefix_space", true);
        }
    }
    for (const json * p : nrm) {
        if (str_of(*p, "type") == "Prepend" && str_of(*p, "prepend") == "\xe2\x96\x81") {
            space_prefix = true;
        }
        if (str_of(*p, "type") == "Replace" && p->contains("pattern") && (*p)["pattern"].is_object() &&
            str_of((*p)["pattern"], "String") == " " && str_of(*p, "content") == "\xe2\x96\x81") {
            replace_space = true;
        }
    }

    if (byte_level) {
        spec.type = tok::VocabType::Bpe;
        // The pre-tokenizer kind, as convert_hf_to_gguf.py's hash would name it.
        std::vector<std::string> kinds;
        bool                     bl_regex = true;
        for (const json * p : pre) {
            const std::string t = str_of(*p, "type");
            if (t == "ByteLevel") {
                bl_regex = bool_of(*p, "use_regex", true);
            } else if (t == "Digits" && bool_of(*p, "individual_digits", false)) {
                kinds.push_back("digits");
            } else if (t == "Split" && p->contains("pattern") && (*p)["pattern"].is_object()) {
                kinds.push_back("split:" + str_of((*p)["pattern"], "Regex"));
            } else {
                kinds.push_back("other:" + t);
            }
        }
        if (kinds.empty() && bl_regex) {
            spec.pre = "gpt-2";
        } else if (kinds == std::vector<std::string>{ "digits" } && bl_regex) {
            spec.pre = "smollm";
        } else if (kinds == std::vector<std::string>{ std::string("split:") + kLlama3Regex } && !bl_regex) {
            spec.pre = "llama-bpe";
        } else if (kinds == std::vector<std::string>{ std::string("split:") + kQwen2Regex } && !bl_regex) {
            spec.pre = "qwen2";
        } else {
            return doc.error_at("pre_tokenizer", "byte-level pre_tokenizer not recognised (supported: GPT-2, "
                                                 "SmolLM digits, Llama 3 and Qwen2 Split regexes)");
        }
        for (const auto & [id, special] : added) {
            spec.token_types[size_t(id)] =
                special || special_ids.count(int32_t(id)) ? tok::kTypeControl : tok::kTypeUserDefined;
        }
    } else if (replace_space || metaspace) {
        spec.type             = tok::VocabType::Spm;
        spec.add_space_prefix = space_prefix;
        spec.scores.assign(size_t(n), -1000.0f);
        std::set<int64_t> base_ids;
        for (auto it = vit->begin(); it != vit->end(); ++it) {
            base_ids.insert(it.value().get<int64_t>());
        }
        for (int64_t i = 0; i < n; ++i) {
            if (!present[size_t(i)]) {
                continue;
            }
            const auto a = added.find(i);
            if (base_ids.count(i) == 0 && a != added.end()) {
                spec.token_types[size_t(i)] = a->second ? tok::kTypeControl : tok::kTypeUserDefined;
            } else if (is_byte_token(spec.tokens[size_t(i)])) {
                spec.token_types[size_t(i)] = tok::kTypeByte;
            } else if (special_ids.count(int32_t(i)) || (a != added.end() && a->second)) {
                spec.token_types[size_t(i)] = tok::kTypeControl;
            }
        }
    } else {
        return doc.error_at("pre_tokenizer", "BPE tokenizer is neither byte-level nor SentencePiece-style "
                                             "(no ByteLevel pre-tokenizer, no \" \" -> U+2581 normalizer)");
    }

    // Merges: "left right" strings or [left, right] pairs.
    if (const auto mit = model.find("merges"); mit != model.end() && mit->is_array()) {
        for (const json & m : *mit) {
            if (m.is_string()) {
                const std::string s   = m.get<std::string>();
                const size_t      pos = s.size() > 1 ? s.find(' ', 1) : std::string::npos;
                if (pos == std::string::npos) {
                    return doc.error_at("merges", "merge \"" + s.substr(0, 64) + "\" is not \"left right\"");
                }
                spec.merges.emplace_back(s.substr(0, pos), s.substr(pos + 1));
            } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
                spec.merges.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
            } else {
                return doc.error_at("merges", "merges must be \"left right\" strings or [left, right] pairs");
            }
        }
    } else if (spec.type == tok::VocabType::Bpe) {
        return doc.error_at("merges", "model.merges missing");
    }
    if (spec.type == tok::VocabType::Spm) {
        spec.merges.clear(); // SentencePiece-style: merged by score, as llama.cpp does for the GGUF
    }
    return tok::build_tokenizer(std::move(spec));
}

} // namespace nibble
