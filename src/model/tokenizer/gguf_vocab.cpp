// Tokenizer::from_gguf: reads tokenizer.ggml.* into a VocabSpec. Every error names the file, the KV's
// offset and the key.
#include "io/gguf.h"
#include "model/tokenizer/tokenizer_impl.h"

namespace nibble {

namespace {

Error kv_error(const GgufFile & f, const GgufKV & kv, const std::string & what) {
    return Error{ f.path(), kv.offset, kv.key + ": " + what };
}

// An optional token id (UINT32 as llama.cpp writes them; INT32 accepted too). Must lie in the vocabulary.
std::optional<Error> read_id(const GgufFile & f, const char * key, size_t n_vocab, std::optional<int32_t> & out) {
    const GgufKV * kv = f.find(key);
    if (kv == nullptr) {
        return std::nullopt;
    }
    int64_t id = -1;
    if (auto u = kv->value.get<uint32_t>()) {
        id = *u;
    } else if (auto i = kv->value.get<int32_t>()) {
        id = *i;
    } else {
        return kv_error(f, *kv, std::string("expected UINT32, got ") + gguf_type_name(kv->value.type()));
    }
    if (id < 0 || uint64_t(id) >= n_vocab) {
        return kv_error(f, *kv,
                        "token id " + std::to_string(id) + " is outside the vocabulary of " + std::to_string(n_vocab) +
                            " tokens");
    }
    out = int32_t(id);
    return std::nullopt;
}

std::optional<Error> read_bool(const GgufFile & f, const char * key, std::optional<bool> & out) {
    const GgufKV * kv = f.find(key);
    if (kv == nullptr) {
        return std::nullopt;
    }
    const auto b = kv->value.get<bool>();
    if (!b) {
        return kv_error(f, *kv, std::string("expected BOOL, got ") + gguf_type_name(kv->value.type()));
    }
    out = *b;
    return std::nullopt;
}

// An array KV of `want` elements (0: any) of element type `elem`.
Result<const GgufKV *> find_array(const GgufFile & f, const char * key, GgufType elem, uint64_t want) {
    const GgufKV * kv = f.find(key);
    if (kv == nullptr) {
        return static_cast<const GgufKV *>(nullptr);
    }
    if (!kv->value.is_array() || kv->value.elem_type() != elem) {
        return kv_error(f, *kv, std::string("expected an array of ") + gguf_type_name(elem));
    }
    if (want != 0 && kv->value.size() != want) {
        return kv_error(f, *kv,
                        "has " + std::to_string(kv->value.size()) + " elements, tokenizer.ggml.tokens has " +
                            std::to_string(want));
    }
    return kv;
}

} // namespace

Result<Tokenizer> Tokenizer::from_gguf(const GgufFile & file) {
    tok::VocabSpec spec;
    spec.source = file.path();

    const auto model = file.get_string("tokenizer.ggml.model");
    if (!model) {
        return model.error();
    }
    if (*model == "llama") {
        spec.type = tok::VocabType::Spm;
    } else if (*model == "gpt2") {
        spec.type = tok::VocabType::Bpe;
    } else {
        return kv_error(file, *file.find("tokenizer.ggml.model"),
                        "unsupported tokenizer \"" + std::string(model->substr(0, 64)) + "\" (supported: llama, gpt2)");
    }
    if (const GgufKV * kv = file.find("tokenizer.ggml.pre")) {
        const auto s = kv->value.get_string();
        if (!s) {
            return kv_error(file, *kv, "expected STRING");
        }
        spec.pre = std::string(*s);
    }
    if (const GgufKV * kv = file.find("general.name")) {
        spec.model_name = std::string(kv->value.get_string().value_or(""));
    }

    auto tokens = find_array(file, "tokenizer.ggml.tokens", GgufType::STRING, 0);
    if (!tokens) {
        return tokens.error();
    }
    if (*tokens == nullptr) {
        return Error{ file.path(), 0, "tokenizer.ggml.tokens: missing" };
    }
    const uint64_t n = (*tokens)->value.size();
    if (n == 0 || n > uint64_t(INT32_MAX)) {
        return kv_error(file, **tokens, "vocabulary of " + std::to_string(n) + " tokens");
    }
    spec.tokens.reserve(n);
    for (uint64_t i = 0; i < n; ++i) {
        spec.tokens.emplace_back((*tokens)->value.string_at(i));
    }

    auto scores = find_array(file, "tokenizer.ggml.scores", GgufType::FLOAT32, n);
    if (!scores) {
        return scores.error();
    }
    if (*scores != nullptr) {
        spec.scores.resize(n);
        for (uint64_t i = 0; i < n; ++i) {
            spec.scores[i] = (*scores)->value.at<float>(i);
        }
    }

    const GgufKV * types = file.find("tokenizer.ggml.token_type");
    if (types != nullptr) {
        const GgufType et = types->value.elem_type();
        if (!types->value.is_array() || (et != GgufType::INT32 && et != GgufType::UINT32)) {
            return kv_error(file, *types, "expected an array of INT32");
        }
        if (types->value.size() != n) {
            return kv_error(file, *types,
                            "has " + std::to_string(types->value.size()) + " elements, tokenizer.ggml.tokens has " +
                                std::to_string(n));
        }
        spec.token_types.resize(n);
        for (uint64_t i = 0; i < n; ++i) {
            spec.token_types[i] = types->value.at<int32_t>(i); // same bits for UINT32
        }
    }

    if (spec.type == tok::VocabType::Bpe) {
        auto merges = find_array(file, "tokenizer.ggml.merges", GgufType::STRING, 0);
        if (!merges) {
            return merges.error();
        }
        if (*merges == nullptr) {
            return Error{ file.path(), 0, "tokenizer.ggml.merges: missing (needed by a gpt2 tokenizer)" };
        }
        const uint64_t nm = (*merges)->value.size();
        spec.merges.reserve(nm);
        for (uint64_t i = 0; i < nm; ++i) {
            const std::string_view m   = (*merges)->value.string_at(i);
            const size_t           pos = m.size() > 1 ? m.find(' ', 1) : std::string_view::npos;
            if (pos == std::string_view::npos) {
                return kv_error(file, **merges, "merge " + std::to_string(i) + " is not \"left right\"");
            }
            spec.merges.emplace_back(std::string(m.substr(0, pos)), std::string(m.substr(pos + 1)));
        }
    }

    struct IdKey {
        const char *             key;
        std::optional<int32_t> * out;
    };
    const IdKey ids[] = {
        { "tokenizer.ggml.bos_token_id", &spec.bos },         { "tokenizer.ggml.eos_token_id", &spec.eos },
        { "tokenizer.ggml.eot_token_id", &spec.eot },         { "tokenizer.ggml.eom_token_id", &spec.eom },
        { "tokenizer.ggml.unknown_token_id", &spec.unk },     { "tokenizer.ggml.fim_pad_token_id", &spec.fim_pad },
        { "tokenizer.ggml.fim_rep_token_id", &spec.fim_rep }, { "tokenizer.ggml.fim_sep_token_id", &spec.fim_sep },
    };
    for (const IdKey & k : ids) {
        if (auto err = read_id(file, k.key, n, *k.out)) {
            return *err;
        }
    }
    for (const auto & [key, out] : { std::pair{ "tokenizer.ggml.add_bos_token", &spec.add_bos },
                                     std::pair{ "tokenizer.ggml.add_eos_token", &spec.add_eos },
                                     std::pair{ "tokenizer.ggml.add_space_prefix", &spec.add_space_prefix } }) {
        if (auto err = read_bool(file, key, *out)) {
            return *err;
        }
    }
    return tok::build_tokenizer(std::move(spec));
}

} // namespace nibble
