// UTF-8 helpers and the byte-level BPE pre-tokenizer: a sequence of regexes, each splitting the pieces
// left by the previous one into matches and the gaps between them, as llama.cpp's unicode_regex_split.
// The regexes run on PCRE2 (UTF mode). llama.cpp hand-codes the common ones (unicode.cpp) over its own
// Unicode tables; ours are written so that the two agree: `\s` is spelled out as llama.cpp's whitespace
// set (which, unlike PCRE2's, holds U+0085), and \p{L}/\p{N} come from PCRE2's tables. The one known
// difference: characters assigned after PCRE2's Unicode version (14.0 in Debian 12's 10.42) are letters
// or numbers for llama.cpp but not for us.
#pragma once

#include "core/status.h"

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace nibble::tok {

// Bytes of the UTF-8 sequence that `lead` starts, from its high nibble alone (1 for stray continuation
// bytes, 4 for 0xF8..0xFF) -- llama.cpp's unicode_len_utf8, which the SPM tokenizer splits text with.
inline size_t utf8_len(uint8_t lead) {
    static constexpr uint8_t kLen[16] = { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4 };
    return kLen[lead >> 4];
}

inline constexpr uint32_t kReplacementChar = 0xFFFD;

// Decodes like llama.cpp's unicode_cpts_from_utf8: each undecodable byte becomes U+FFFD. Like llama.cpp
// it accepts overlong forms and surrogates; unlike it (which throws later), code points above U+10FFFF
// also become U+FFFD, so the result always re-encodes.
std::vector<uint32_t> utf8_to_cpts(std::string_view text);
void                  append_utf8(std::string & out, uint32_t cpt); // cpt <= 0x10FFFF

// GPT-2's byte <-> printable code point mapping (bytes_to_unicode).
const std::string & byte_to_unicode(uint8_t byte);
// Byte for one mapped code point given as UTF-8, or -1 when it is not one of the 256.
int                 unicode_to_byte(std::string_view utf8);

class PreTokenizer {
  public:
    // The regex sequence llama.cpp's llm_tokenizer_bpe uses for one of its pre-tokenizer kinds.
    enum class Kind { Default, Gpt2, Smollm, Llama3, Qwen2 };

    static Result<PreTokenizer> create(Kind kind);

    // Splits text into words (UTF-8, not yet byte-encoded). Never fails: a regex engine error (match
    // limit) leaves the rest of that piece unsplit.
    std::vector<std::string> split(std::string_view text) const;

    struct Regex;

  private:
    std::vector<std::shared_ptr<const Regex>> regexes_;
};

} // namespace nibble::tok
