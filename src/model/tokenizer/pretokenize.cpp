#include "model/tokenizer/pretokenize.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <array>

namespace nibble::tok {

// ---------------------------------------------------------------------------------------------
// UTF-8

std::vector<uint32_t> utf8_to_cpts(std::string_view s) {
    std::vector<uint32_t> out;
    out.reserve(s.size());
    const auto   b   = [&](size_t i) { return uint8_t(s[i]); };
    const auto   ok  = [&](size_t i) { return i < s.size() && (b(i) & 0xC0) == 0x80; };
    const size_t n   = s.size();
    size_t       pos = 0;
    while (pos < n) {
        const uint8_t c = b(pos);
        uint32_t      cpt;
        size_t        len;
        if (c < 0x80) {
            cpt = c, len = 1;
        } else if ((c & 0x40) == 0) {
            cpt = kReplacementChar, len = 1; // stray continuation byte
        } else if ((c & 0x20) == 0 && ok(pos + 1)) {
            cpt = (uint32_t(c & 0x1F) << 6) | (b(pos + 1) & 0x3F), len = 2;
        } else if ((c & 0x20) == 0) {
            cpt = kReplacementChar, len = 1;
        } else if ((c & 0x10) == 0 && ok(pos + 1) && ok(pos + 2)) {
            cpt = (uint32_t(c & 0x0F) << 12) | (uint32_t(b(pos + 1) & 0x3F) << 6) | (b(pos + 2) & 0x3F), len = 3;
        } else if ((c & 0x10) == 0) {
            cpt = kReplacementChar, len = 1;
        } else if ((c & 0x08) == 0 && ok(pos + 1) && ok(pos + 2) && ok(pos + 3)) {
            cpt = (uint32_t(c & 0x07) << 18) | (uint32_t(b(pos + 1) & 0x3F) << 12) |
                  (uint32_t(b(pos + 2) & 0x3F) << 6) | (b(pos + 3) & 0x3F);
            len = 4;
            if (cpt > 0x10FFFF) {
                cpt = kReplacementChar; // llama.cpp throws from unicode_cpt_to_utf8 here
            }
        } else {
            cpt = kReplacementChar, len = 1;
        }
        out.push_back(cpt);
        pos += len;
    }
    return out;
}

void append_utf8(std::string & out, uint32_t cpt) {
    if (cpt <= 0x7F) {
        out.push_back(char(cpt));
    } else if (cpt <= 0x7FF) {
        out.push_back(char(0xC0 | (cpt >> 6)));
        out.push_back(char(0x80 | (cpt & 0x3F)));
    } else if (cpt <= 0xFFFF) {
        out.push_back(char(0xE0 | (cpt >> 12)));
        out.push_back(char(0x80 | ((cpt >> 6) & 0x3F)));
        out.push_back(char(0x80 | (cpt & 0x3F)));
    } else {
        out.push_back(char(0xF0 | ((cpt >> 18) & 0x07)));
        out.push_back(char(0x80 | ((cpt >> 12) & 0x3F)));
        out.push_back(char(0x80 | ((cpt >> 6) & 0x3F)));
        out.push_back(char(0x80 | (cpt & 0x3F)));
    }
}

// ---------------------------------------------------------------------------------------------
// GPT-2 byte mapping: printable Latin-1 bytes map to themselves, the other 68 to U+0100.. in order.

namespace {

struct ByteTables {
    std::array<std::string, 256> to_unicode;
    std::array<int16_t, 512>     from_cpt; // code point (< 0x144) -> byte, -1 if none

    ByteTables() {
        from_cpt.fill(-1);
        uint32_t next = 256;
        for (int ch = 0; ch < 256; ++ch) {
            const bool     printable = (ch >= 0x21 && ch <= 0x7E) || (ch >= 0xA1 && ch <= 0xAC) || (ch >= 0xAE);
            const uint32_t cpt       = printable ? uint32_t(ch) : next++;
            append_utf8(to_unicode[ch], cpt);
            from_cpt[cpt] = int16_t(ch);
        }
    }
};

const ByteTables & byte_tables() {
    static const ByteTables t;
    return t;
}

} // namespace

const std::string & byte_to_unicode(uint8_t byte) {
    return byte_tables().to_unicode[byte];
}

int unicode_to_byte(std::string_view utf8) {
    if (utf8.empty() || utf8.size() > 2) {
        return -1;
    }
    const std::vector<uint32_t> cpts = utf8_to_cpts(utf8);
    if (cpts.size() != 1 || cpts[0] >= 512) {
        return -1;
    }
    std::string check;
    append_utf8(check, cpts[0]); // reject overlong spellings
    return check == utf8 ? byte_tables().from_cpt[cpts[0]] : -1;
}

// ---------------------------------------------------------------------------------------------
// Regexes

// llama.cpp's whitespace set (unicode-data.cpp), spelled out for \s: PCRE2's \s (Z plus \t\n\v\f\r)
// lacks U+0085.
#define NIBBLE_WS                                                                                                      \
    "\\t\\n\\x0b\\f\\r \\x{85}\\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}\\x{202f}\\x{205f}\\x{3000}"

namespace {

// 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)  (GPT-2)
constexpr const char * kGpt2 =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^" NIBBLE_WS "\\p{L}\\p{N}]+|[" NIBBLE_WS "]+(?![^" NIBBLE_WS "])";
// Llama 3: (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|
//          \s*[\r\n]+|\s+(?!\S)|\s+
#define NIBBLE_LLAMA3_LIKE(DIGITS)                                                                                     \
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|" DIGITS                  \
    "| ?[^" NIBBLE_WS "\\p{L}\\p{N}]+[\\r\\n]*|[" NIBBLE_WS "]*[\\r\\n]+|[" NIBBLE_WS "]+(?![^" NIBBLE_WS              \
    "])|[" NIBBLE_WS "]+"
constexpr const char * kLlama3 = NIBBLE_LLAMA3_LIKE("\\p{N}{1,3}");
constexpr const char * kQwen2  = NIBBLE_LLAMA3_LIKE("\\p{N}"); // Llama 3 with single digits
#undef NIBBLE_LLAMA3_LIKE

} // namespace

struct PreTokenizer::Regex {
    pcre2_code * code = nullptr;
    ~Regex() { pcre2_code_free(code); }
};

Result<PreTokenizer> PreTokenizer::create(Kind kind) {
    std::vector<const char *> patterns;
    switch (kind) {
        case Kind::Default:
            patterns = { "[\\p{P}\\$\\+<=>\\^~\\|]+", kGpt2, "\\p{N}+", "[0-9][0-9][0-9]" };
            break;
        case Kind::Gpt2:
            patterns = { kGpt2 };
            break;
        case Kind::Smollm:
            patterns = { "\\p{N}", kGpt2 };
            break;
        case Kind::Llama3:
            patterns = { kLlama3 };
            break;
        case Kind::Qwen2:
            patterns = { kQwen2 };
            break;
    }
    PreTokenizer p;
    for (const char * pat : patterns) {
        int        err    = 0;
        PCRE2_SIZE erroff = 0;
        auto       re     = std::make_shared<Regex>();
        re->code =
            pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pat), PCRE2_ZERO_TERMINATED, PCRE2_UTF, &err, &erroff, nullptr);
        if (re->code == nullptr) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(err, msg, sizeof(msg));
            return Error{ "", erroff,
                          std::string("pre-tokenizer regex does not compile: ") + reinterpret_cast<char *>(msg) };
        }
        pcre2_jit_compile(re->code, PCRE2_JIT_COMPLETE); // optional: the interpreter is used if JIT is absent
        p.regexes_.push_back(std::move(re));
    }
    return p;
}

std::vector<std::string> PreTokenizer::split(std::string_view text) const {
    const std::vector<uint32_t> cpts = utf8_to_cpts(text);

    // The subject PCRE2 sees: valid UTF-8 of the same code points, with surrogates (which llama.cpp
    // keeps and UTF mode rejects) swapped for U+E000. Both are neither letter, number nor space.
    std::string           subject;
    std::vector<uint32_t> cpt_at_byte; // byte offset -> code point index, at code point starts
    subject.reserve(text.size());
    cpt_at_byte.reserve(text.size() + 1);
    for (size_t i = 0; i < cpts.size(); ++i) {
        const uint32_t c = (cpts[i] >= 0xD800 && cpts[i] <= 0xDFFF) ? 0xE000 : cpts[i];
        append_utf8(subject, c);
        cpt_at_byte.resize(subject.size(), uint32_t(i));
    }
    cpt_at_byte.push_back(uint32_t(cpts.size()));
    std::vector<size_t> byte_at_cpt(cpts.size() + 1, subject.size());
    for (size_t off = subject.size(); off-- > 0;) {
        byte_at_cpt[cpt_at_byte[off]] = off;
    }

    // Pieces as code point lengths, like llama.cpp's bpe_offsets.
    std::vector<size_t> pieces;
    if (!cpts.empty()) {
        pieces.push_back(cpts.size());
    }
    for (const auto & re : regexes_) {
        pcre2_match_data * md = pcre2_match_data_create_from_pattern(re->code, nullptr);
        if (md == nullptr) {
            continue;
        }
        std::vector<size_t> next;
        next.reserve(pieces.size());
        size_t start = 0; // code point index of the current piece
        for (const size_t len : pieces) {
            const size_t b0     = byte_at_cpt[start];
            const size_t blen   = byte_at_cpt[start + len] - b0;
            const auto * subj   = reinterpret_cast<PCRE2_SPTR>(subject.data() + b0);
            size_t       pos    = 0; // byte offset in the piece
            size_t       done   = 0; // end of the last emitted match
            const auto   cpt_of = [&](size_t off) { return size_t(cpt_at_byte[b0 + off]); };
            while (pos < blen) {
                int rc = pcre2_match(re->code, subj, blen, pos, PCRE2_NO_UTF_CHECK, md, nullptr);
                if (rc == PCRE2_ERROR_JIT_STACKLIMIT) {
                    rc = pcre2_match(re->code, subj, blen, pos, PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT, md, nullptr);
                }
                if (rc < 0) {
                    break; // no match, or an engine limit: the rest stays one piece
                }
                const PCRE2_SIZE * ov = pcre2_get_ovector_pointer(md);
                if (ov[1] <= ov[0]) { // empty match: none of our patterns has one, but step past it
                    pos = ov[0] + 1;
                    while (pos < blen && (uint8_t(subject[b0 + pos]) & 0xC0) == 0x80) {
                        ++pos;
                    }
                    continue;
                }
                if (ov[0] > done) {
                    next.push_back(cpt_of(ov[0]) - cpt_of(done));
                }
                next.push_back(cpt_of(ov[1]) - cpt_of(ov[0]));
                done = pos = ov[1];
            }
            if (done < blen) {
                next.push_back(start + len - cpt_of(done));
            }
            start += len;
        }
        pcre2_match_data_free(md);
        pieces = std::move(next);
    }

    std::vector<std::string> words;
    words.reserve(pieces.size());
    size_t start = 0;
    for (const size_t len : pieces) {
        std::string w;
        for (size_t i = start; i < start + len; ++i) {
            append_utf8(w, cpts[i]);
        }
        words.push_back(std::move(w));
        start += len;
    }
    return words;
}

} // namespace nibble::tok
