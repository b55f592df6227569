// Tokenizer: vocabulary set-up (llama.cpp's llama_vocab::impl::load after the keys are read), special
// token partitioning, encode/decode, and the GGUF loader. The kernels live in spm.cpp and bpe.cpp, the
// Hugging Face loader in hf_tokenizer.cpp.
#include "model/tokenizer/tokenizer.h"

#include "io/gguf.h"
#include "model/tokenizer/tokenizer_impl.h"

#include <algorithm>
#include <cctype>
#include <cstring>

namespace nibble {

namespace tok {

namespace {

struct PreInfo {
    std::vector<std::string_view> names;
    PreTokenizer::Kind            kind;
    bool                          clean_spaces;
    bool                          ignore_merges = false;
    bool                          add_bos       = false;
};

// The tokenizer.ggml.pre values we support, with the flags llama-vocab.cpp sets for each.
const std::vector<PreInfo> & pre_table() {
    using K                             = PreTokenizer::Kind;
    static const std::vector<PreInfo> t = {
        { { "", "default" }, K::Default, true },
        { { "llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2", "jina-v5-nano" },
          K::Llama3,
          true,
          true,
          true },
        { { "dbrx", "smaug-bpe" }, K::Llama3, true },
        { { "gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es", "jina-v2-de", "a.x-4.0", "mellum",
            "modern-bert", "mpt", "olmo", "jais", "exaone4" },
          K::Gpt2,
          true },
        { { "trillion", "granite-docling" }, K::Gpt2, false },
        { { "starcoder", "refact", "codeshell", "exaone", "minerva-7b" }, K::Smollm, true },
        { { "smollm", "command-r" }, K::Smollm, false },
        { { "qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2", "hunyuan", "solar-open" }, K::Qwen2, false },
        { { "stablelm2", "megrez" }, K::Qwen2, true },
    };
    return t;
}

uint32_t attr_of_type(int32_t t) {
    switch (t) {
        case kTypeUnknown:
            return kAttrUnknown;
        case kTypeUnused:
            return kAttrUnused;
        case kTypeNormal:
            return kAttrNormal;
        case kTypeControl:
            return kAttrControl;
        case kTypeUserDefined:
            return kAttrUserDefined;
        case kTypeByte:
            return kAttrByte;
        default:
            return kAttrUndefined;
    }
}

int hex_digit(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

bool is_one_of(const std::string & s, std::initializer_list<std::string_view> list) {
    return std::find(list.begin(), list.end(), s) != list.end();
}

} // namespace

Result<Tokenizer> build_tokenizer(VocabSpec spec) {
    auto   impl     = std::make_shared<Tokenizer::Impl>();
    auto & v        = *impl;
    v.type          = spec.type;
    const auto fail = [&](std::string what) { return Error{ spec.source, 0, std::move(what) }; };

    const size_t n = spec.tokens.size();
    if (n == 0 || n > size_t(INT32_MAX)) {
        return fail("tokenizer: vocabulary has " + std::to_string(n) + " tokens");
    }

    // Defaults by vocabulary type (llama_vocab::impl::load).
    int32_t bos = 1, eos = 2, unk = 0, eot = -1, eom = -1, fim_pad = -1, fim_rep = -1, fim_sep = -1;
    if (spec.type == VocabType::Spm) {
        v.add_space_prefix = true;
        v.add_bos          = true;
    } else {
        bos = 11, eos = 11, unk = -1;
        const PreInfo * info = nullptr;
        for (const PreInfo & p : pre_table()) {
            if (std::find(p.names.begin(), p.names.end(), spec.pre) != p.names.end()) {
                info = &p;
            }
        }
        if (info == nullptr) {
            return fail("tokenizer.ggml.pre: unsupported pre-tokenizer \"" + spec.pre.substr(0, 64) + "\"");
        }
        auto pre = PreTokenizer::create(info->kind);
        if (!pre) {
            return fail(pre.error().what);
        }
        v.pretok        = std::move(pre.value());
        v.clean_spaces  = info->clean_spaces;
        v.ignore_merges = info->ignore_merges;
        v.add_bos       = info->add_bos;
    }
    v.add_space_prefix = spec.add_space_prefix.value_or(v.add_space_prefix);

    // Tokens. Later duplicates win in the text -> id map, as in llama.cpp.
    v.tokens.resize(n);
    v.token_to_id.reserve(n);
    for (size_t i = 0; i < n; ++i) {
        Tokenizer::Impl::Token & t = v.tokens[i];
        t.text                     = std::move(spec.tokens[i]);
        if (t.text.empty()) {
            t.text = "[EMPTY_" + std::to_string(i) + "]";
        }
        t.score = spec.scores.empty() ? 0.0f : spec.scores[i];
        t.attr  = spec.token_types.empty() ? kAttrNormal : attr_of_type(spec.token_types[i]);
        if (t.attr & kAttrByte) {
            const bool ok = t.text.size() == 6 && t.text.compare(0, 3, "<0x") == 0 && t.text[5] == '>' &&
                            hex_digit(t.text[3]) >= 0 && hex_digit(t.text[4]) >= 0;
            if (!ok) {
                return fail("tokenizer.ggml.token_type: token " + std::to_string(i) +
                            " has type BYTE but its text is not <0xXX>");
            }
            t.byte = int16_t(hex_digit(t.text[3]) * 16 + hex_digit(t.text[4]));
        }
        v.token_to_id[t.text] = int32_t(i);
    }
    for (size_t i = 0; i < spec.merges.size(); ++i) {
        v.bpe_ranks.emplace(Tokenizer::Impl::merge_key(spec.merges[i].first, spec.merges[i].second), int(i));
    }

    // Special ids: defaults that fall outside the vocabulary are disabled, explicit ones override.
    const auto pick = [&](int32_t dflt, const std::optional<int32_t> & key) {
        const int32_t d = (dflt >= 0 && size_t(dflt) < n) ? dflt : -1;
        return key ? *key : d;
    };
    v.bos     = pick(bos, spec.bos);
    v.eos     = pick(eos, spec.eos);
    v.unk     = pick(unk, spec.unk);
    eot       = pick(eot, spec.eot);
    eom       = pick(eom, spec.eom);
    fim_pad   = pick(-1, spec.fim_pad);
    fim_rep   = pick(-1, spec.fim_rep);
    fim_sep   = pick(-1, spec.fim_sep);
    v.add_bos = spec.add_bos.value_or(v.add_bos);
    v.add_eos = spec.add_eos.value_or(false);

    // Text-based detection of EOT/EOM/FIM tokens, which are forced to CONTROL (llama-vocab.cpp's
    // "auto-detect special tokens by text"). Scanned by id, so the lowest id wins a tie.
    const auto detect = [&](int32_t & id, std::initializer_list<std::string_view> texts) {
        for (size_t i = 0; i < n && id < 0; ++i) {
            if (is_one_of(v.tokens[i].text, texts)) {
                id = int32_t(i);
                v.tokens[i].attr |= kAttrControl;
            }
        }
    };
    detect(eot, { "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>", "<EOT>",
                  "_<EOT>", "[EOT]", "<｜end▁of▁sentence｜>", "<end_of_utterance>" });
    detect(eom, { "<|eom_id|>" });
    detect(fim_pad, { "<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]" });
    detect(fim_rep, { "<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>" });
    detect(fim_sep, { "<|file_sep|>" });
    v.eot = eot;
    v.eom = eom;
    for (const int32_t id : { fim_pad, fim_rep, fim_sep }) {
        if (id >= 0) {
            v.eog.insert(id);
        }
    }
    for (size_t i = 0; i < n; ++i) {
        Tokenizer::Impl::Token & t = v.tokens[i];
        if (is_one_of(t.text, { "<|eot_id|>",
                                "<|im_end|>",
                                "<|end|>",
                                "<|return|>",
                                "<|call|>",
                                "<|flush|>",
                                "<|calls|>",
                                "<end_of_turn>",
                                "<|endoftext|>",
                                "</s>",
                                "<|eom_id|>",
                                "<EOT>",
                                "_<EOT>",
                                "[EOT]",
                                "[EOS]",
                                "<|end_of_text|>",
                                "<end_of_utterance>",
                                "<eos>",
                                "<turn|>",
                                "<|tool_response>",
                                "<｜end▁of▁sentence｜>",
                                "[e~[" })) {
            v.eog.insert(int32_t(i));
            t.attr |= kAttrControl;
        }
        if (is_one_of(t.text, { "<|channel|>", "<|message|>", "<|start|>", "<|constrain|>" })) {
            t.attr = kAttrUserDefined; // gpt-oss: always rendered
        }
    }
    for (const int32_t id : { v.eos, v.eot, v.eom }) {
        if (id >= 0) {
            v.eog.insert(id);
        }
    }
    // o200k_harmony / solar-open: "<|end|>" is not end of generation when "<|return|>"/"<|call|>" exist.
    {
        bool    has_return = false, has_call = false, has_flush = false;
        int32_t end_id = -1;
        for (const int32_t id : v.eog) {
            const std::string & t = v.tokens[id].text;
            has_return |= t == "<|return|>";
            has_call |= t == "<|call|>" || t == "<|calls|>";
            has_flush |= t == "<|flush|>";
            end_id = t == "<|end|>" ? id : end_id;
        }
        if (end_id >= 0 && ((has_return && has_call) || (has_call && has_flush))) {
            v.eog.erase(end_id);
            v.tokens[end_id].attr = kAttrUserDefined;
        }
    }

    for (size_t i = 0; i < n; ++i) {
        if (v.tokens[i].attr & (kAttrControl | kAttrUserDefined | kAttrUnknown)) {
            v.special_cache.push_back(int32_t(i));
        }
    }
    std::stable_sort(v.special_cache.begin(), v.special_cache.end(),
                     [&](int32_t a, int32_t b) { return v.tokens[a].text.size() > v.tokens[b].text.size(); });

    // Per-model attributes llama.cpp sets by name (only Phi-3's matter for text tokenization).
    std::string name = spec.model_name;
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return char(std::tolower(c)); });
    if (name.find("phi-3") != std::string::npos || name.find("phi3") != std::string::npos) {
        for (const int32_t id : v.special_cache) {
            v.tokens[id].attr |= kAttrRstrip;
        }
        const auto set = [&](const char * text, bool on) {
            const int32_t id = v.text_to_token(text);
            if (id >= 0) {
                v.tokens[id].attr = on ? (v.tokens[id].attr | kAttrRstrip) : (v.tokens[id].attr & ~kAttrRstrip);
            }
        };
        set("</s>", true);
        for (const char * t : { "<unk>", "<s>", "<|endoftext|>" }) {
            set(t, false);
        }
    }

    v.pieces.resize(n);
    for (size_t i = 0; i < n; ++i) {
        v.pieces[i] = v.piece(int32_t(i), true);
    }

    return TokenizerFactory::make(std::move(impl));
}

} // namespace tok

// ---------------------------------------------------------------------------------------------
// Pieces

namespace {

void replace_all(std::string & s, std::string_view from, std::string_view to) {
    std::string out;
    size_t      pos = 0;
    for (size_t hit; (hit = s.find(from, pos)) != std::string::npos; pos = hit + from.size()) {
        out.append(s, pos, hit - pos);
        out += to;
    }
    out.append(s, pos);
    s = std::move(out);
}

constexpr std::string_view kSpace = "\xe2\x96\x81"; // U+2581, SentencePiece's visible space

// llama_decode_text: GPT-2 code points back to bytes.
std::string decode_byte_level(const std::string & text) {
    std::string out;
    for (const uint32_t cpt : tok::utf8_to_cpts(text)) {
        std::string utf8;
        tok::append_utf8(utf8, cpt);
        const int b = tok::unicode_to_byte(utf8);
        if (b >= 0) {
            out.push_back(char(b));
            continue;
        }
        static constexpr char kHex[] = "0123456789abcdef";
        out += "[UNK_BYTE_0x";
        for (const char c : utf8) {
            out.push_back(kHex[uint8_t(c) >> 4]);
            out.push_back(kHex[uint8_t(c) & 15]);
        }
        out += text + "]";
    }
    return out;
}

} // namespace

std::string Tokenizer::Impl::piece(int32_t id, bool special) const {
    if (id < 0 || size_t(id) >= tokens.size()) {
        return {};
    }
    const Token & t = tokens[size_t(id)];
    if (!special && (t.attr & (tok::kAttrUnknown | tok::kAttrControl))) {
        return {};
    }
    if (t.attr & (tok::kAttrUnknown | tok::kAttrControl | tok::kAttrUserDefined)) {
        return t.text;
    }
    if (t.attr & tok::kAttrNormal) {
        if (type == tok::VocabType::Spm) {
            std::string s = t.text;
            replace_all(s, kSpace, " ");
            return s;
        }
        return decode_byte_level(t.text);
    }
    if (t.attr & tok::kAttrByte) {
        return std::string(1, char(t.byte));
    }
    return {};
}

// ---------------------------------------------------------------------------------------------
// Encode

namespace {

struct Fragment {
    int32_t token  = -1; // >= 0: a special token; else raw text [offset, offset + length)
    size_t  offset = 0;
    size_t  length = 0;
};

bool is_c_space(char c) {
    return std::isspace(static_cast<unsigned char>(c)) != 0;
}

// tokenizer_st_partition: cut the raw fragments at every occurrence of each special token, longest
// tokens first. Without parse_special only USER_DEFINED tokens are cut out.
std::vector<Fragment> partition(const Tokenizer::Impl & v, std::string_view text, bool parse_special) {
    std::vector<Fragment> frags;
    if (!text.empty()) {
        frags.push_back({ -1, 0, text.size() });
    }
    for (const int32_t id : v.special_cache) {
        const Tokenizer::Impl::Token & tk = v.tokens[size_t(id)];
        if (!parse_special && (tk.attr & (tok::kAttrControl | tok::kAttrUnknown))) {
            continue;
        }
        std::vector<Fragment> next;
        next.reserve(frags.size());
        for (const Fragment & f : frags) {
            if (f.token >= 0) {
                next.push_back(f);
                continue;
            }
            size_t base = f.offset, len = f.length;
            while (true) {
                const size_t match = text.substr(0, base + len).find(tk.text, base);
                if (match == std::string_view::npos) {
                    next.push_back({ -1, base, len });
                    break;
                }
                size_t left_len = match - base;
                if (tk.attr & tok::kAttrLstrip) {
                    while (left_len > 0 && is_c_space(text[base + left_len - 1])) {
                        --left_len;
                    }
                }
                if (left_len > 0) {
                    next.push_back({ -1, base, left_len });
                }
                next.push_back({ id, 0, 0 });
                size_t right     = match + tk.text.size();
                size_t right_len = base + len - right;
                if (tk.attr & tok::kAttrRstrip) {
                    while (right_len > 0 && is_c_space(text[right])) {
                        ++right, --right_len;
                    }
                }
                if (right_len == 0) {
                    break;
                }
                base = right, len = right_len;
            }
        }
        frags = std::move(next);
    }
    return frags;
}

} // namespace

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_bos, bool parse_special) const {
    std::vector<int32_t> out;
    if (!impl_) {
        return out;
    }
    const Impl &                v           = *impl_;
    const std::vector<Fragment> frags       = partition(v, text, parse_special);
    const bool                  add_special = add_bos;

    if (add_special && v.add_bos && v.bos >= 0) {
        out.push_back(v.bos);
    }
    if (v.type == tok::VocabType::Spm) {
        bool prev_special = true; // a space prefix goes before the first text, and after any special token
        for (const Fragment & f : frags) {
            if (f.token >= 0) {
                out.push_back(f.token);
                prev_special = true;
                continue;
            }
            std::string s;
            if (v.add_space_prefix && prev_special) {
                s = " ";
            }
            s.append(text.substr(f.offset, f.length));
            replace_all(s, " ", kSpace);
            tok::spm_tokenize(v, s, out);
            prev_special = false;
        }
    } else {
        for (const Fragment & f : frags) {
            if (f.token >= 0) {
                out.push_back(f.token);
            } else {
                tok::bpe_tokenize(v, text.substr(f.offset, f.length), out);
            }
        }
    }
    if (add_special && v.add_eos && v.eos >= 0) {
        out.push_back(v.eos);
    }
    return out;
}

// ---------------------------------------------------------------------------------------------
// Decode

std::string Tokenizer::token_to_piece(int32_t id) const {
    if (!impl_ || id < 0 || size_t(id) >= impl_->pieces.size()) {
        return {};
    }
    return impl_->pieces[size_t(id)];
}

// llama_detokenize(remove_special = false, unparse_special = false): control tokens render as nothing,
// the first piece loses one leading space when the vocabulary adds a space prefix (so a leading BOS
// keeps the next piece's space, as in llama.cpp), and byte-level vocabularies with clean_spaces get
// llama.cpp's three space-cleaning passes.
std::string Tokenizer::decode(std::span<const int32_t> ids) const {
    std::string text;
    if (!impl_) {
        return text;
    }
    const Impl & v            = *impl_;
    bool         remove_space = v.add_space_prefix;
    for (const int32_t id : ids) {
        std::string p = v.piece(id, false);
        if (remove_space && !p.empty() && p[0] == ' ') {
            p.erase(0, 1);
        }
        remove_space = false;
        text += p;
    }
    if (!v.clean_spaces || text.empty()) {
        return text;
    }
    // " ?", " !", " .", " ," lose the space.
    std::string a(1, text[0]);
    for (size_t i = 1; i < text.size(); ++i) {
        if (text[i - 1] == ' ' && (text[i] == '?' || text[i] == '!' || text[i] == '.' || text[i] == ',')) {
            a.pop_back();
        }
        a.push_back(text[i]);
    }
    // " ' " becomes "'"; the dropped space reads as NUL afterwards, as in llama.cpp's in-place pass.
    std::string b(1, a[0]);
    for (size_t i = 1; i < a.size(); ++i) {
        const char x = a[i];
        if (x == '\'' && i + 1 < a.size() && a[i - 1] == ' ' && a[i + 1] == ' ') {
            b.pop_back();
            a[++i] = '\0';
        }
        b.push_back(x);
    }
    // " 's", " 'm", " 're", " 've" lose the space.
    std::string c(1, b[0]);
    for (size_t i = 1; i < b.size(); ++i) {
        const char x = b[i];
        if (b[i - 1] == ' ' && x == '\'' && i + 1 < b.size()) {
            const char x1 = b[i + 1];
            if (x1 == 's' || x1 == 'm') {
                c.pop_back();
            } else if (i + 2 < b.size() && ((x1 == 'r' && b[i + 2] == 'e') || (x1 == 'v' && b[i + 2] == 'e'))) {
                c.pop_back();
            }
        }
        c.push_back(x);
    }
    return c;
}

int32_t Tokenizer::n_vocab() const {
    return impl_ ? int32_t(impl_->tokens.size()) : 0;
}
int32_t Tokenizer::bos_id() const {
    return impl_ ? impl_->bos : -1;
}
int32_t Tokenizer::eos_id() const {
    return impl_ ? impl_->eos : -1;
}
bool Tokenizer::add_bos() const {
    return impl_ && impl_->add_bos;
}
bool Tokenizer::is_eog(int32_t id) const {
    return impl_ && id >= 0 && impl_->eog.count(id) > 0;
}

} // namespace nibble
