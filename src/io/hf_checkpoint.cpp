#include "io/hf_checkpoint.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>
#include <system_error>
#include <utility>

namespace nibble {

namespace fs = std::filesystem;
using json   = nlohmann::json;

namespace {

// Names go into messages; keep them short so a hostile 50 MB key does not become a 50 MB message.
std::string qname(const std::string & s) {
    constexpr size_t kMax = 200;
    return s.size() <= kMax ? "\"" + s + "\"" : "\"" + s.substr(0, kMax) + "...\"";
}

bool is_file(const fs::path & p) {
    std::error_code ec;
    return fs::is_regular_file(p, ec);
}

bool path_exists(const fs::path & p) {
    std::error_code ec;
    return fs::exists(p, ec);
}

// Optional JSON side file: nullopt when absent, an error when present but unreadable.
Result<std::optional<JsonDoc>> read_optional(const fs::path & p, const JsonReadOptions & opt = {}) {
    if (!path_exists(p)) {
        return std::optional<JsonDoc>{};
    }
    Result<JsonDoc> d = read_json_file(p.string(), opt);
    if (!d) {
        return d.error();
    }
    return std::optional<JsonDoc>(std::move(d.value()));
}

// Integer config value; absent or null leaves `out` empty.
std::optional<Error> get_int(const JsonDoc & doc, const json & obj, const char * key, std::optional<int64_t> & out) {
    const auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) {
        return std::nullopt;
    }
    if (it->is_number_unsigned()) {
        if (it->get<uint64_t>() > uint64_t(INT64_MAX)) {
            return doc.error_at(key, std::string(key) + " does not fit int64");
        }
        out = int64_t(it->get<uint64_t>());
    } else if (it->is_number_integer()) {
        out = it->get<int64_t>();
    } else {
        return doc.error_at(key, std::string(key) + " must be an integer, got " + it->dump(-1).substr(0, 80));
    }
    return std::nullopt;
}

std::optional<Error> get_double(const JsonDoc & doc, const json & obj, const char * key, std::optional<double> & out) {
    const auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) {
        return std::nullopt;
    }
    if (!it->is_number()) {
        return doc.error_at(key, std::string(key) + " must be a number, got " + it->dump(-1).substr(0, 80));
    }
    out = it->get<double>();
    return std::nullopt;
}

std::optional<Error> get_string(const JsonDoc & doc, const json & obj, const char * key, std::string & out) {
    const auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) {
        return std::nullopt;
    }
    if (!it->is_string()) {
        return doc.error_at(key, std::string(key) + " must be a string, got " + it->type_name());
    }
    out = it->get<std::string>();
    return std::nullopt;
}

// A special token in tokenizer_config.json is a string or an AddedToken object {"content": ...}.
std::optional<Error> get_token(const JsonDoc & doc, const json & obj, const char * key, std::string & out) {
    const auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) {
        return std::nullopt;
    }
    if (it->is_string()) {
        out = it->get<std::string>();
        return std::nullopt;
    }
    if (it->is_object()) {
        const auto c = it->find("content");
        if (c != it->end() && c->is_string()) {
            out = c->get<std::string>();
            return std::nullopt;
        }
    }
    return doc.error_at(key, std::string(key) + " must be a string or an object with a string \"content\"");
}

std::string type_of(const json & obj, const char * key) {
    const auto it = obj.find(key);
    if (it == obj.end() || !it->is_object()) {
        return {};
    }
    const auto t = it->find("type");
    return t != it->end() && t->is_string() ? t->get<std::string>() : std::string("?");
}

// Token ids beyond this are certainly corrupt (the largest real vocabularies are ~260k).
constexpr int64_t kMaxTokenId = int64_t(1) << 31;

} // namespace

// ---------------------------------------------------------------------------------------------
// Side-file parsers

Result<HfConfigSummary> parse_hf_config(const JsonDoc & doc) {
    if (!doc.root.is_object()) {
        return Error{ doc.path, 0, std::string("config must be a JSON object, got ") + doc.root.type_name() };
    }
    // llama.cpp's converter lifts text_config over the root for multimodal wrappers; do the same so
    // the text hyper-parameters are found where it finds them.
    json cfg = doc.root;
    if (const auto tc = doc.root.find("text_config"); tc != doc.root.end() && tc->is_object()) {
        for (const auto & [k, v] : tc->items()) {
            cfg[k] = v;
        }
    }
    HfConfigSummary s;
    if (const auto a = cfg.find("architectures"); a != cfg.end() && !a->is_null()) {
        if (!a->is_array()) {
            return doc.error_at("architectures", "architectures must be an array of strings");
        }
        for (const json & v : *a) {
            if (!v.is_string()) {
                return doc.error_at("architectures", "architectures must be an array of strings");
            }
            s.architectures.push_back(v.get<std::string>());
        }
    }
    std::optional<Error> e;
    const auto           keep = [&e](std::optional<Error> x) {
        if (x && !e) {
            e = std::move(x);
        }
    };
    keep(get_string(doc, cfg, "model_type", s.model_type));
    keep(get_int(doc, cfg, "hidden_size", s.hidden_size));
    keep(get_int(doc, cfg, "intermediate_size", s.intermediate_size));
    keep(get_int(doc, cfg, "num_hidden_layers", s.num_hidden_layers));
    keep(get_int(doc, cfg, "num_attention_heads", s.num_attention_heads));
    keep(get_int(doc, cfg, "num_key_value_heads", s.num_key_value_heads));
    keep(get_int(doc, cfg, "head_dim", s.head_dim));
    keep(get_int(doc, cfg, "vocab_size", s.vocab_size));
    keep(get_int(doc, cfg, "max_position_embeddings", s.max_position_embeddings));
    keep(get_double(doc, cfg, "rms_norm_eps", s.rms_norm_eps));
    keep(get_double(doc, cfg, "rope_theta", s.rope_theta));
    // transformers >= 5 calls rope_scaling rope_parameters and moves rope_theta into it.
    for (const char * key : { "rope_parameters", "rope_scaling" }) {
        if (const auto rp = cfg.find(key); rp != cfg.end() && !rp->is_null() && s.rope_scaling.is_null()) {
            if (!rp->is_object()) {
                keep(doc.error_at(key, std::string(key) + " must be an object or null"));
            } else {
                s.rope_scaling = *rp;
            }
        }
    }
    if (!s.rope_theta && s.rope_scaling.is_object()) {
        keep(get_double(doc, s.rope_scaling, "rope_theta", s.rope_theta));
    }
    keep(get_string(doc, cfg, "torch_dtype", s.torch_dtype));
    if (s.torch_dtype.empty()) {
        keep(get_string(doc, cfg, "dtype", s.torch_dtype));
    }
    if (const auto t = cfg.find("tie_word_embeddings"); t != cfg.end() && !t->is_null()) {
        if (!t->is_boolean()) {
            keep(doc.error_at("tie_word_embeddings", "tie_word_embeddings must be a boolean"));
        } else {
            s.tie_word_embeddings = t->get<bool>();
        }
    }
    if (e) {
        return *e;
    }
    return s;
}

std::optional<Error> parse_hf_tokenizer(const JsonDoc & doc, HfTokenizerSummary & out) {
    if (!doc.root.is_object()) {
        return Error{ doc.path, 0, "tokenizer.json must be a JSON object" };
    }
    const auto m = doc.root.find("model");
    if (m == doc.root.end() || !m->is_object()) {
        return doc.error_at("model", "tokenizer.json needs a \"model\" object");
    }
    out.present = true;
    if (auto e = get_string(doc, *m, "type", out.model_type)) {
        return e;
    }
    int64_t    max_id = -1;
    const auto vocab  = m->find("vocab");
    if (vocab != m->end() && vocab->is_object()) { // BPE, WordPiece, WordLevel: {token: id}
        out.model_vocab = int64_t(vocab->size());
        for (const auto & [tok, id] : vocab->items()) {
            if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() >= kMaxTokenId) {
                return doc.error_at(tok, "vocab id of " + qname(tok) + " must be an integer in [0, 2^31)");
            }
            max_id = std::max(max_id, id.get<int64_t>());
        }
    } else if (vocab != m->end() && vocab->is_array()) { // Unigram: [[piece, score], ...], id = position
        for (const json & e : *vocab) {
            if (!e.is_array() || e.size() != 2 || !e[0].is_string() || !e[1].is_number()) {
                return doc.error_at("vocab", "Unigram vocab entries must be [piece, score]");
            }
        }
        out.model_vocab = int64_t(vocab->size());
        max_id          = out.model_vocab - 1;
    } else if (vocab != m->end() && !vocab->is_null()) {
        return doc.error_at("vocab", "model.vocab must be an object or an array");
    }
    if (out.model_type.empty()) {
        out.model_type = m->contains("merges") ? "BPE" : "";
    }
    if (const auto mg = m->find("merges"); mg != m->end() && !mg->is_null()) {
        if (!mg->is_array()) {
            return doc.error_at("merges", "model.merges must be an array");
        }
        for (const json & e : *mg) { // "a b" (classic) or ["a", "b"] (tokenizers >= 0.20)
            if (!e.is_string() && !(e.is_array() && e.size() == 2 && e[0].is_string() && e[1].is_string())) {
                return doc.error_at("merges", "model.merges entries must be \"a b\" or [\"a\", \"b\"]");
            }
        }
        out.merges = int64_t(mg->size());
    }
    if (const auto bf = m->find("byte_fallback"); bf != m->end() && bf->is_boolean()) {
        out.byte_fallback = bf->get<bool>();
    }
    out.normalizer    = type_of(doc.root, "normalizer");
    out.pre_tokenizer = type_of(doc.root, "pre_tokenizer");
    out.decoder       = type_of(doc.root, "decoder");
    if (const auto at = doc.root.find("added_tokens"); at != doc.root.end() && !at->is_null()) {
        if (!at->is_array()) {
            return doc.error_at("added_tokens", "added_tokens must be an array");
        }
        for (const json & t : *at) {
            const auto id = t.is_object() ? t.find("id") : t.end();
            const auto ct = t.is_object() ? t.find("content") : t.end();
            if (!t.is_object() || id == t.end() || ct == t.end() || !id->is_number_integer() || !ct->is_string() ||
                id->get<int64_t>() < 0 || id->get<int64_t>() >= kMaxTokenId) {
                return doc.error_at("added_tokens", "added_tokens entries need an integer id in [0, 2^31) and a "
                                                    "string content");
            }
            HfAddedToken a;
            a.id      = id->get<int64_t>();
            a.content = ct->get<std::string>();
            if (const auto sp = t.find("special"); sp != t.end() && sp->is_boolean()) {
                a.special = sp->get<bool>();
            }
            max_id = std::max(max_id, a.id);
            out.added_tokens.push_back(std::move(a));
        }
    }
    out.vocab_size = max_id + 1;
    return std::nullopt;
}

std::optional<Error> parse_hf_tokenizer_config(const JsonDoc & doc, HfTokenizerSummary & out) {
    if (!doc.root.is_object()) {
        return Error{ doc.path, 0, "tokenizer_config.json must be a JSON object" };
    }
    out.config_present = true;
    for (auto [key, dst] : { std::pair{ "bos_token", &out.bos_token }, std::pair{ "eos_token", &out.eos_token },
                             std::pair{ "unk_token", &out.unk_token }, std::pair{ "pad_token", &out.pad_token } }) {
        if (auto e = get_token(doc, doc.root, key, *dst)) {
            return e;
        }
    }
    if (auto e = get_string(doc, doc.root, "tokenizer_class", out.tokenizer_class)) {
        return e;
    }
    for (auto [key, dst] :
         { std::pair{ "add_bos_token", &out.add_bos_token }, std::pair{ "add_eos_token", &out.add_eos_token } }) {
        const auto it = doc.root.find(key);
        if (it != doc.root.end() && !it->is_null()) {
            if (!it->is_boolean()) {
                return doc.error_at(key, std::string(key) + " must be a boolean");
            }
            *dst = it->get<bool>();
        }
    }
    // chat_template is a string, or a list of {name, template} for models with several templates.
    if (const auto ct = doc.root.find("chat_template"); ct != doc.root.end()) {
        out.has_chat_template = out.has_chat_template || (ct->is_string() && !ct->get<std::string>().empty()) ||
                                (ct->is_array() && !ct->empty());
    }
    return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// Loader

struct HfCheckpointLoader {
    HfCheckpoint ck;

    Result<bool> open(const std::string & path);
    Result<bool> open_index(const fs::path & index);
    Result<bool> open_single(const fs::path & file);
    void         add_aliases();
    Result<bool> read_side_files(std::optional<JsonDoc> & hf_quant_config);

    void add_tensor(HfTensor t) {
        ck.by_name_.emplace(t.name, ck.tensors_.size());
        ck.tensors_.push_back(std::move(t));
    }
};

Result<bool> HfCheckpointLoader::open(const std::string & path) {
    const fs::path  p(path);
    std::error_code ec;
    if (fs::is_directory(p, ec)) {
        ck.dir_ = p.string();
        if (is_file(p / "model.safetensors.index.json")) {
            return open_index(p / "model.safetensors.index.json");
        }
        if (is_file(p / "model.safetensors")) {
            return open_single(p / "model.safetensors");
        }
        return Error{ path, 0, "directory has neither model.safetensors.index.json nor model.safetensors" };
    }
    if (!path_exists(p)) {
        return Error{ path, 0, "no such file or directory" };
    }
    ck.dir_                = p.has_parent_path() ? p.parent_path().string() : std::string(".");
    const std::string name = p.filename().string();
    if (name.size() > 11 && name.compare(name.size() - 11, 11, ".index.json") == 0) {
        return open_index(p);
    }
    return open_single(p);
}

Result<bool> HfCheckpointLoader::open_single(const fs::path & file) {
    Result<SafeTensorsFile> f = SafeTensorsFile::open(file.string());
    if (!f) {
        return f.error();
    }
    ck.shards_.push_back(std::move(f.value()));
    for (const StTensor & t : ck.shards_[0].tensors()) {
        add_tensor(HfTensor{ t.name, 0, &t, {} });
    }
    return true;
}

Result<bool> HfCheckpointLoader::open_index(const fs::path & index) {
    ck.index_path_ = index.string();
    JsonReadOptions opt;
    opt.reject_duplicate_keys = true; // one name listed twice could point at two shards
    Result<JsonDoc> doc       = read_json_file(index.string(), opt);
    if (!doc) {
        return doc.error();
    }
    const JsonDoc & d = *doc;
    if (!d.root.is_object()) {
        return Error{ d.path, 0, "index must be a JSON object" };
    }
    const auto wm = d.root.find("weight_map");
    if (wm == d.root.end() || !wm->is_object()) {
        return d.error_at("weight_map", "index needs a \"weight_map\" object {tensor name: shard file}");
    }

    // Shards in order of first mention; names must be plain file names in the index's directory.
    std::map<std::string, size_t>           shard_of_file;
    std::vector<std::string>                files;
    std::unordered_map<std::string, size_t> listed; // tensor -> shard
    for (const auto & [tensor, v] : wm->items()) {
        if (!v.is_string()) {
            return d.error_at(tensor, "weight_map value for " + qname(tensor) + " must be a file name");
        }
        const std::string f = v.get<std::string>();
        if (f.empty() || f == "." || f == ".." || f.find('/') != std::string::npos ||
            f.find('\\') != std::string::npos || f.find('\0') != std::string::npos) {
            return d.error_at(tensor, "weight_map names shard " + qname(f) + " for " + qname(tensor) +
                                          "; shards must be plain file names next to the index");
        }
        auto [it, fresh] = shard_of_file.emplace(f, files.size());
        if (fresh) {
            files.push_back(f);
        }
        listed.emplace(tensor, it->second);
    }

    const fs::path dir = index.parent_path();
    ck.shards_.reserve(files.size());
    for (const std::string & f : files) {
        const fs::path sp = dir / f;
        if (!is_file(sp)) {
            // Point at the first tensor that needs this shard.
            std::string who;
            for (const auto & [tensor, v] : wm->items()) {
                if (v.get<std::string>() == f) {
                    who = tensor;
                    break;
                }
            }
            return d.error_at(who, "shard " + qname(f) + " (listed for " + qname(who) + ") does not exist in " +
                                       dir.string());
        }
        Result<SafeTensorsFile> sf = SafeTensorsFile::open(sp.string());
        if (!sf) {
            return sf.error();
        }
        ck.shards_.push_back(std::move(sf.value()));
    }

    // Every listed tensor must be in its shard; every stored tensor must be listed for its own shard
    // (a tensor stored in two shards is listed for at most one of them, so this catches duplicates).
    for (const auto & [tensor, v] : wm->items()) { // sorted by name, so the first error is deterministic
        const size_t s = shard_of_file[v.get<std::string>()];
        if (ck.shards_[s].find(tensor) != nullptr) {
            continue;
        }
        std::string where;
        for (size_t o = 0; o < ck.shards_.size(); o++) {
            if (ck.shards_[o].find(tensor) != nullptr) {
                where = "; it is in " + qname(files[o]);
                break;
            }
        }
        return d.error_at(tensor, "tensor " + qname(tensor) + " is mapped to shard " + qname(files[s]) +
                                      " but that shard does not contain it" + where);
    }
    for (size_t s = 0; s < ck.shards_.size(); s++) {
        for (const StTensor & t : ck.shards_[s].tensors()) {
            const auto it = listed.find(t.name);
            if (it == listed.end()) {
                ck.warnings_.push_back("tensor " + qname(t.name) + " is stored in " + qname(files[s]) +
                                       " but not listed in the index; ignored");
                continue;
            }
            if (it->second != s) {
                return Error{ ck.shards_[s].path(), t.begin,
                              "tensor " + qname(t.name) + " is stored in two shards: " + qname(files[it->second]) +
                                  " (per the index) and " + qname(files[s]) };
            }
            add_tensor(HfTensor{ t.name, s, &t, {} });
        }
    }
    return true;
}

void HfCheckpointLoader::add_aliases() {
    // safetensors' save_model drops tensors that share storage and records {dropped: kept} in
    // __metadata__; other metadata (e.g. "format": "pt") never names a stored tensor.
    for (size_t s = 0; s < ck.shards_.size(); s++) {
        for (const auto & [alias, target] : ck.shards_[s].metadata()) {
            const HfTensor * t = ck.find(target);
            if (t == nullptr || !t->alias_of.empty() || ck.find(alias) != nullptr) {
                continue;
            }
            add_tensor(HfTensor{ alias, t->shard, t->st, target });
        }
    }
}

Result<bool> HfCheckpointLoader::read_side_files(std::optional<JsonDoc> & hf_quant_config) {
    const fs::path dir(ck.dir_);
    auto           cfg = read_optional(dir / "config.json");
    if (!cfg) {
        return cfg.error();
    }
    ck.config_ = std::move(cfg.value());
    if (ck.config_) {
        Result<HfConfigSummary> s = parse_hf_config(*ck.config_);
        if (!s) {
            return s.error();
        }
        ck.summary_ = std::move(s.value());
    }
    auto gen = read_optional(dir / "generation_config.json");
    if (!gen) {
        return gen.error();
    }
    ck.gen_config_ = std::move(gen.value());

    auto tok = read_optional(dir / "tokenizer.json");
    if (!tok) {
        return tok.error();
    }
    if (tok.value()) {
        if (auto e = parse_hf_tokenizer(*tok.value(), ck.tokenizer_)) {
            return *e;
        }
    }
    auto tcfg = read_optional(dir / "tokenizer_config.json");
    if (!tcfg) {
        return tcfg.error();
    }
    if (tcfg.value()) {
        if (auto e = parse_hf_tokenizer_config(*tcfg.value(), ck.tokenizer_)) {
            return *e;
        }
    }
    // transformers >= 4.43 may keep the template in its own file.
    ck.tokenizer_.has_chat_template = ck.tokenizer_.has_chat_template || is_file(dir / "chat_template.jinja");

    auto q = read_optional(dir / "hf_quant_config.json");
    if (!q) {
        return q.error();
    }
    hf_quant_config = std::move(q.value());
    return true;
}

// ---------------------------------------------------------------------------------------------

Result<HfCheckpoint> HfCheckpoint::open(const std::string & path) {
    HfCheckpointLoader l;
    if (Result<bool> r = l.open(path); !r) {
        return r.error();
    }
    l.add_aliases();
    std::optional<JsonDoc> hf_quant_config;
    if (Result<bool> r = l.read_side_files(hf_quant_config); !r) {
        return r.error();
    }
    Result<HfQuantInfo> q = analyze_hf_quant(l.ck, hf_quant_config ? &*hf_quant_config : nullptr);
    if (!q) {
        return q.error();
    }
    l.ck.quant_ = std::move(q.value());
    // Moving the checkpoint moves the shard vector's buffer, so StTensor pointers stay valid.
    return std::move(l.ck);
}

const HfTensor * HfCheckpoint::find(const std::string & name) const {
    const auto it = by_name_.find(name);
    return it == by_name_.end() ? nullptr : &tensors_[it->second];
}

uint64_t HfCheckpoint::total_bytes() const {
    uint64_t n = 0;
    for (const HfTensor & t : tensors_) {
        if (t.alias_of.empty()) {
            n += t.st->nbytes();
        }
    }
    return n;
}

} // namespace nibble
