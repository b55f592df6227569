// Internals of Tokenizer shared by its translation units: the loaded vocabulary (Tokenizer::Impl),
// the loader-neutral description both loaders fill in (VocabSpec), and the two tokenizer kernels.
#pragma once

#include "model/tokenizer/pretokenize.h"
#include "model/tokenizer/tokenizer.h"

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace nibble {

namespace tok {

// Token attributes, bit for bit llama.cpp's llama_token_attr.
enum Attr : uint32_t {
    kAttrUndefined   = 0,
    kAttrUnknown     = 1u << 0,
    kAttrUnused      = 1u << 1,
    kAttrNormal      = 1u << 2,
    kAttrControl     = 1u << 3,
    kAttrUserDefined = 1u << 4,
    kAttrByte        = 1u << 5,
    kAttrLstrip      = 1u << 7,
    kAttrRstrip      = 1u << 8,
};

// GGUF tokenizer.ggml.token_type values (llama_token_type).
enum TokenType : int32_t {
    kTypeUndefined   = 0,
    kTypeNormal      = 1,
    kTypeUnknown     = 2,
    kTypeControl     = 3,
    kTypeUserDefined = 4,
    kTypeUnused      = 5,
    kTypeByte        = 6,
};

enum class VocabType { Spm, Bpe };

// What a loader read, before the llama.cpp post-processing in build_tokenizer(). Special ids are
// already range-checked; nullopt means the key was absent (the type's default applies).
struct VocabSpec {
    std::string                                      source; // file, for messages
    VocabType                                        type = VocabType::Spm;
    std::string                                      pre; // tokenizer.ggml.pre (BPE only)
    std::vector<std::string>                         tokens;
    std::vector<float>                               scores;      // empty: all 0
    std::vector<int32_t>                             token_types; // empty: all NORMAL
    std::vector<std::pair<std::string, std::string>> merges;      // BPE, in rank order
    std::optional<int32_t>                           bos, eos, eot, eom, unk, fim_pad, fim_rep, fim_sep;
    std::optional<bool>                              add_bos, add_eos, add_space_prefix;
    std::string                                      model_name; // general.name (per-model token attribute quirks)
};

Result<Tokenizer> build_tokenizer(VocabSpec spec);

} // namespace tok

struct Tokenizer::Impl {
    struct Token {
        std::string text;
        float       score = 0.0f;
        uint32_t    attr  = tok::kAttrNormal;
        int16_t     byte  = -1; // BYTE tokens: the byte of "<0xXX>"
    };

    tok::VocabType                           type = tok::VocabType::Spm;
    std::optional<tok::PreTokenizer>         pretok; // BPE
    std::vector<Token>                       tokens;
    std::unordered_map<std::string, int32_t> token_to_id;
    std::unordered_map<std::string, int32_t> bpe_ranks; // key: merge_key(left, right)

    int32_t bos = -1, eos = -1, eot = -1, eom = -1, unk = -1;

    bool add_space_prefix = false;
    bool add_bos          = false;
    bool add_eos          = false;
    bool ignore_merges    = false;
    bool clean_spaces     = false;

    std::vector<int32_t>     special_cache; // CONTROL/USER_DEFINED/UNKNOWN ids, longest text first
    std::set<int32_t>        eog;
    std::vector<std::string> pieces; // token_to_piece(id, special = true)

    static std::string merge_key(std::string_view left, std::string_view right) {
        std::string k = std::to_string(left.size());
        k += ':';
        k += left;
        k += right;
        return k;
    }

    int32_t text_to_token(const std::string & text) const {
        const auto it = token_to_id.find(text);
        return it == token_to_id.end() ? -1 : it->second;
    }

    int find_bpe_rank(std::string_view left, std::string_view right) const {
        const auto it = bpe_ranks.find(merge_key(left, right));
        return it == bpe_ranks.end() ? -1 : it->second;
    }

    // llama.cpp's token_to_piece without a cache: special renders CONTROL/UNKNOWN tokens' text.
    std::string piece(int32_t id, bool special) const;
};

struct TokenizerFactory {
    static Tokenizer make(std::shared_ptr<const Tokenizer::Impl> impl) {
        Tokenizer t;
        t.impl_ = std::move(impl);
        return t;
    }
};

namespace tok {

// A piece of text being merged: a doubly linked list kept in a vector (llama.cpp's llm_symbol).
// Merged-away symbols keep n == 0.
struct Symbol {
    int          prev;
    int          next;
    const char * text;
    size_t       n;
};

// Appends one symbol per UTF-8 character of `text` (a truncated last character keeps its bytes).
inline void split_utf8_symbols(std::string_view text, std::vector<Symbol> & symbols) {
    for (size_t offs = 0; offs < text.size();) {
        const size_t n   = std::min(utf8_len(uint8_t(text[offs])), text.size() - offs);
        const int    idx = int(symbols.size());
        symbols.push_back({ idx - 1, offs + n == text.size() ? -1 : idx + 1, text.data() + offs, n });
        offs += n;
    }
}

// Merges the adjacent symbol `right` into `left`.
inline void merge_symbols(std::vector<Symbol> & symbols, int left, int right) {
    Symbol & l = symbols[size_t(left)];
    Symbol & r = symbols[size_t(right)];
    l.n += r.n;
    r.n    = 0;
    l.next = r.next;
    if (r.next >= 0) {
        symbols[size_t(r.next)].prev = left;
    }
}

// llm_tokenizer_spm_session::tokenize on text whose spaces are already U+2581.
void spm_tokenize(const Tokenizer::Impl & v, std::string_view text, std::vector<int32_t> & out);
// llm_tokenizer_bpe_session::tokenize.
void bpe_tokenize(const Tokenizer::Impl & v, std::string_view text, std::vector<int32_t> & out);

} // namespace tok

} // namespace nibble
