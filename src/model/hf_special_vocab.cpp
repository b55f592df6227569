#include "model/hf_special_vocab.h"

#include "core/mmap_file.h"

#include <algorithm>
#include <filesystem>
#include <map>

namespace nibble::hf_vocab_detail {

using json = nlohmann::json;

namespace {
namespace fs = std::filesystem;
} // namespace

bool truthy(const json & j) {
    if (j.is_null()) {
        return false;
    }
    if (j.is_string()) {
        return !j.get_ref<const std::string &>().empty();
    }
    if (j.is_boolean()) {
        return j.get<bool>();
    }
    if (j.is_object() || j.is_array()) {
        return !j.empty();
    }
    if (j.is_number()) {
        return j.get<double>() != 0.0;
    }
    return true;
}

const json & get(const json & j, const char * key) {
    static const json null_value;
    if (!j.is_object()) {
        return null_value;
    }
    const auto it = j.find(key);
    return it == j.end() ? null_value : *it;
}

// A token entry of tokenizer_config / special_tokens_map: a string or {"content": ...}.
std::optional<std::string> token_content(const json & e) {
    if (e.is_string()) {
        return e.get<std::string>();
    }
    if (e.is_object() && get(e, "content").is_string()) {
        return get(e, "content").get<std::string>();
    }
    return std::nullopt;
}

bool looks_special(std::string_view t) {
    auto wrapped = [&](std::string_view a, std::string_view b) { return t.starts_with(a) && t.ends_with(b); };
    return t == "<pad>" || t == "<mask>" || t == "<2mass>" || t == "[@BOS@]" || wrapped("<|", "|>") ||
           wrapped("<\xef\xbd\x9c", "\xef\xbd\x9c>") || wrapped("<unused", ">");
}

std::string replace_all(std::string s, std::string_view from, std::string_view to) {
    for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) {
        s.replace(at, from.size(), to);
    }
    return s;
}

Result<std::optional<JsonDoc>> read_optional_json(const std::string & path) {
    std::error_code ec;
    if (!fs::is_regular_file(path, ec)) {
        return std::optional<JsonDoc>();
    }
    Result<JsonDoc> d = read_json_file(path);
    if (!d) {
        return d.error();
    }
    return std::optional<JsonDoc>(std::move(*d));
}

Result<std::string> read_text(const std::string & path) {
    Result<MappedFile> f = MappedFile::open(path);
    if (!f) {
        return f.error();
    }
    return std::string(reinterpret_cast<const char *>(f->data()), f->size());
}

void SpecialVocab::set_add(const std::string & typ, bool v) {
    for (auto & [k, old] : add_) {
        if (k == typ) {
            old = v;
            return;
        }
    }
    add_.emplace_back(typ, v);
}

bool SpecialVocab::has_type(const std::string & t) const {
    return std::find(types_.begin(), types_.end(), t) != types_.end();
}

void SpecialVocab::set_special(const std::string & typ, const json & id) {
    if (!id.is_number_integer()) {
        return;
    }
    const int64_t tid = id.get<int64_t>();
    if (tid < 0 || (n_vocab_ && tid >= *n_vocab_)) {
        return; // the converter raises for < 0 and skips out-of-range ids with a warning
    }
    for (const auto & [k, v] : ids_) {
        if (k == typ) {
            return; // first match wins
        }
    }
    ids_.emplace_back(typ, tid);
}

void SpecialVocab::template_processing(const json & p, json & tc, bool tc_truthy) {
    json &       bos = special_[0], &cls = special_[1], &eos = special_[2], &sep = special_[3];
    const json & single = get(p, "single");
    const json & pair   = get(p, "pair");
    json         first, last;
    auto         special_id = [](const json & e) { return get(get(e, "SpecialToken"), "id"); };
    if (single.is_array() && single.size() > 1) {
        first = special_id(single.front());
        if (truthy(first)) {
            if (!tc_truthy) {
                bos = first;
            } else if (first != bos && first != cls) {
                if (!truthy(bos)) {
                    tc["bos_token"] = bos = first;
                }
                if (!truthy(cls)) {
                    tc["cls_token"] = cls = first;
                }
            }
            set_add("bos", first == bos || first == cls);
        }
        last = special_id(single.back());
        if (truthy(last)) {
            if (!tc_truthy) {
                eos = last;
            } else if (last != eos) {
                for (const char * extra : { "eot", "eom" }) {
                    if (!has_type(extra)) {
                        types_.push_back(extra);
                        tc[std::string(extra) + "_token"] = eos;
                        break;
                    }
                }
                tc["eos_token"] = eos = last;
            }
            set_add("eos", last == eos);
        }
    }
    if (!pair.is_array() || pair.empty()) {
        return;
    }
    const size_t start = truthy(first) && special_id(pair.front()) == first ? 1 : 0;
    size_t       stop  = pair.size();
    if (truthy(last) && special_id(pair.back()) == last) {
        stop--;
    }
    if (start >= stop) {
        return;
    }
    const json & a = get(get(pair[start], "Sequence"), "id");
    const json & b = get(get(pair[stop - 1], "Sequence"), "id");
    if (a != "A" || b != "B" || stop - start <= 2) {
        return;
    }
    bool add_sep = false;
    if (const json & e = special_id(pair[start + 1]); truthy(e) && (e == sep || e == eos) && !truthy(last)) {
        add_sep = true;
    }
    if (stop - start - 2 == 2) {
        if (const json & e = special_id(pair[start + 2]); truthy(e) && (e == sep || e == eos)) {
            add_sep = true;
        }
    }
    set_add("sep", add_sep);
    if (add_sep && !truthy(sep) && tc_truthy) {
        tc["sep_token"] = eos;
    }
}

std::optional<Error> SpecialVocab::from_tokenizer_json(const JsonDoc * tok, const JsonDoc * tok_config) {
    json added_tokens = json::array();
    if (tok != nullptr) {
        const json & merges = get(get(tok->root, "model"), "merges");
        if (load_merges_ && merges.is_array() && !merges.empty()) {
            for (const json & m : merges) {
                if (m.is_string()) {
                    merges_.push_back(m.get<std::string>());
                } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
                    // transformers >= 4.45 pairs; spaces inside a part are written as U+0120
                    merges_.push_back(replace_all(m[0].get<std::string>(), " ", "\xc4\xa0") + " " +
                                      replace_all(m[1].get<std::string>(), " ", "\xc4\xa0"));
                } else {
                    return tok->error_at("merges", "unknown tokenizer merges format");
                }
            }
        }
        std::vector<const json *> norms = { &get(tok->root, "normalizer") };
        while (!norms.empty()) {
            const json & n = *norms.back();
            norms.pop_back();
            const json & t = get(n, "type");
            if (t == "Lowercase") {
                lowercase_ = true;
            } else if (t == "StripAccents") {
                strip_accents_ = true;
            } else if (t == "BertNormalizer") {
                if (get(n, "lowercase").is_boolean()) {
                    lowercase_ = get(n, "lowercase").get<bool>();
                }
                if (get(n, "strip_accents").is_boolean()) {
                    strip_accents_ = get(n, "strip_accents").get<bool>();
                }
            } else if (t == "Sequence" && get(n, "normalizers").is_array()) {
                const json & list = get(n, "normalizers");
                for (auto it = list.rbegin(); it != list.rend(); ++it) {
                    norms.push_back(&*it);
                }
            }
        }
        if (get(tok->root, "added_tokens").is_array()) {
            added_tokens = get(tok->root, "added_tokens");
        }
    }
    json       tc        = tok_config != nullptr ? tok_config->root : json();
    const bool tc_truthy = truthy(tc);
    if (tok != nullptr) {
        json &bos = special_[0], &cls = special_[1], &eos = special_[2], &sep = special_[3];
        bos = get(tc, "bos_token"), cls = get(tc, "cls_token"), eos = get(tc, "eos_token"), sep = get(tc, "sep_token");
        if (!truthy(bos) && truthy(cls) && tc_truthy) {
            tc["bos_token"] = bos = cls;
        }
        if (!truthy(eos) && truthy(sep) && tc_truthy) {
            tc["eos_token"] = eos = sep;
        }
        const json & post = get(tok->root, "post_processor");
        if (truthy(post)) {
            const json procs = get(post, "processors").is_array() ? get(post, "processors") : json::array({ post });
            for (const json & p : procs) {
                if (get(p, "type") == "RobertaProcessing") {
                    set_add("bos", true), set_add("eos", true), set_add("sep", true);
                    const json & c = get(p, "cls");
                    const json & s = get(p, "sep");
                    if (!truthy(cls) && tc_truthy) {
                        tc["cls_token"] = cls = c.is_array() && !c.empty() ? c[0] : bos;
                    }
                    if (!truthy(sep) && tc_truthy) {
                        tc["sep_token"] = sep = s.is_array() && !s.empty() ? s[0] : eos;
                    }
                } else if (get(p, "type") == "TemplateProcessing") {
                    template_processing(p, tc, tc_truthy);
                }
            }
        }
    }
    if (!tc_truthy) {
        return std::nullopt;
    }
    if (auto e = load_chat_template(tc)) {
        return e;
    }
    for (const std::string & typ : types_) {
        if (const json & a = get(tc, ("add_" + typ + "_token").c_str()); a.is_boolean()) {
            set_add(typ, a.get<bool>());
        }
        const std::optional<std::string> content = token_content(get(tc, (typ + "_token").c_str()));
        if (!content) {
            continue;
        }
        for (const json & at : added_tokens) {
            if (get(at, "content") == *content) {
                set_special(typ, get(at, "id"));
                break;
            }
        }
    }
    return std::nullopt;
}

std::optional<Error> SpecialVocab::load_chat_template(const json & tc) {
    // Chat template: tokenizer_config.json first, then chat_template.jinja, then chat_template.json.
    json alt;
    if (std::error_code ec; fs::is_regular_file(dir_ + "/chat_template.jinja", ec)) {
        Result<std::string> t = read_text(dir_ + "/chat_template.jinja");
        if (!t) {
            return t.error();
        }
        alt = *t;
        std::vector<fs::path> extra;
        if (fs::is_directory(dir_ + "/additional_chat_templates", ec)) {
            for (const auto & e : fs::directory_iterator(dir_ + "/additional_chat_templates", ec)) {
                if (e.path().extension() == ".jinja") {
                    extra.push_back(e.path());
                }
            }
        }
        std::sort(extra.begin(), extra.end());
        if (!extra.empty()) {
            alt = json::array({ json{ { "name", "default" }, { "template", *t } } });
            for (const fs::path & p : extra) {
                Result<std::string> x = read_text(p.string());
                if (!x) {
                    return x.error();
                }
                alt.push_back(json{ { "name", p.stem().string() }, { "template", *x } });
            }
        }
    } else if (fs::is_regular_file(dir_ + "/chat_template.json", ec)) {
        Result<JsonDoc> d = read_json_file(dir_ + "/chat_template.json");
        if (!d) {
            return d.error();
        }
        alt = get(d->root, "chat_template");
    }
    const json & ct = tc.contains("chat_template") ? tc["chat_template"] : alt;
    if (ct.is_string() || ct.is_array()) {
        chat_template_ = ct;
    }
    return std::nullopt;
}

std::optional<Error> SpecialVocab::load(const JsonDoc * tok, const JsonDoc * tok_config, const JsonDoc * config) {
    if (auto e = from_tokenizer_json(tok, tok_config)) {
        return e;
    }
    if (config != nullptr) {
        for (const std::string & typ : types_) {
            const std::string key = typ + "_token_id";
            json              id  = get(config->root, key.c_str());
            if (id.is_null() && config->root.contains("text_config")) {
                id = get(get(config->root, "text_config"), key.c_str());
            }
            set_special(typ, id);
        }
    }
    if (load_merges_ && merges_.empty()) {
        return load_merges_txt();
    }
    return std::nullopt;
}

std::optional<Error> SpecialVocab::load_merges_txt() {
    std::error_code ec;
    if (fs::is_regular_file(dir_ + "/merges.txt", ec)) {
        Result<std::string> t = read_text(dir_ + "/merges.txt");
        if (!t) {
            return t.error();
        }
        size_t line_no = 0;
        for (size_t pos = 0; pos < t->size();) {
            size_t      nl   = t->find('\n', pos);
            std::string line = t->substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
            pos              = nl == std::string::npos ? t->size() : nl + 1;
            if (line_no++ == 0 && line.starts_with("#")) {
                continue;
            }
            std::vector<std::string> parts;
            for (size_t a = 0; a < line.size();) {
                a = line.find_first_not_of(" \t\r\f\v", a);
                if (a == std::string::npos) {
                    break;
                }
                const size_t b = std::min(line.find_first_of(" \t\r\f\v", a), line.size());
                parts.push_back(line.substr(a, b - a));
                a = b;
            }
            if (parts.size() == 2) {
                merges_.push_back(parts[0] + " " + parts[1]);
            }
        }
    }
    return std::nullopt;
}

void SpecialVocab::add_to(KvList & kv) const {
    if (!merges_.empty()) {
        kv.set("tokenizer.ggml.merges", merges_);
    }
    static const std::map<std::string, std::string> kIdKeys = {
        { "bos", "bos_token_id" },       { "eos", "eos_token_id" },     { "unk", "unknown_token_id" },
        { "sep", "seperator_token_id" }, { "pad", "padding_token_id" }, { "mask", "mask_token_id" },
        { "eot", "eot_token_id" },       { "eom", "eom_token_id" },
    };
    for (const auto & [typ, id] : ids_) {
        if (const auto it = kIdKeys.find(typ); it != kIdKeys.end()) {
            kv.set("tokenizer.ggml." + it->second, uint32_t(id));
        }
    }
    for (const auto & [typ, v] : add_) {
        if (typ == "bos" || typ == "eos" || typ == "sep") {
            kv.set("tokenizer.ggml.add_" + typ + "_token", v);
        }
    }
    if (chat_template_.is_string()) {
        kv.set("tokenizer.chat_template", chat_template_.get<std::string>());
    } else if (chat_template_.is_array()) {
        std::optional<std::string> dflt;
        std::vector<std::string>   names;
        for (const json & c : chat_template_) {
            std::string name = get(c, "name").is_string() ? get(c, "name").get<std::string>() : "";
            for (char & ch : name) {
                const bool alnum = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
                ch               = alnum ? ch : '_';
            }
            if (name.empty() || !get(c, "template").is_string()) {
                continue;
            }
            if (name == "default") {
                dflt = get(c, "template").get<std::string>();
            } else {
                kv.set("tokenizer.chat_template." + name, get(c, "template").get<std::string>());
                if (std::find(names.begin(), names.end(), name) == names.end()) {
                    names.push_back(name);
                }
            }
        }
        kv.set("tokenizer.chat_templates", names);
        if (dflt) {
            kv.set("tokenizer.chat_template", *dflt);
        }
    }
    if (lowercase_) {
        kv.set("tokenizer.ggml.normalizer.lowercase", *lowercase_);
    }
    if (strip_accents_) {
        kv.set("tokenizer.ggml.normalizer.strip_accents", *strip_accents_);
    }
}

} // namespace nibble::hf_vocab_detail
