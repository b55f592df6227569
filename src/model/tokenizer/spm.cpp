// SentencePiece-style tokenization as llama.cpp's llm_tokenizer_spm_session: start from UTF-8
// characters, repeatedly merge the adjacent pair whose concatenation is the highest-scoring token
// (ties: leftmost first), then emit each symbol's token, or its bytes as <0xXX> tokens.
#include "model/tokenizer/tokenizer_impl.h"

#include <queue>

namespace nibble::tok {

namespace {

struct Bigram {
    int    left;
    int    right;
    float  score;
    size_t size;
};

// Max-heap order: higher score first, then the leftmost pair.
struct BigramLess {
    bool operator()(const Bigram & l, const Bigram & r) const {
        return l.score < r.score || (l.score == r.score && l.left > r.left);
    }
};

// The token for one byte: "<0xXX>", else the byte itself as a one-character token, else -1.
int32_t byte_token(const Tokenizer::Impl & v, uint8_t ch) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    const char            buf[7] = { '<', '0', 'x', kHex[ch >> 4], kHex[ch & 15], '>', 0 };
    const int32_t         id     = v.text_to_token(buf);
    return id >= 0 ? id : v.text_to_token(std::string(1, char(ch)));
}

} // namespace

void spm_tokenize(const Tokenizer::Impl & v, std::string_view text, std::vector<int32_t> & out) {
    std::vector<Symbol> symbols;
    symbols.reserve(text.size());
    split_utf8_symbols(text, symbols);
    if (symbols.empty()) {
        return;
    }

    std::priority_queue<Bigram, std::vector<Bigram>, BigramLess> queue;
    std::string                                                  buf;
    const auto                                                   try_add = [&](int left, int right) {
        if (left == -1 || right == -1) {
            return;
        }
        buf.assign(symbols[left].text, symbols[left].n + symbols[right].n);
        const int32_t id = v.text_to_token(buf);
        if (id < 0) {
            return;
        }
        queue.push({ left, right, v.tokens[id].score, buf.size() });
    };
    for (int i = 1; i < int(symbols.size()); ++i) {
        try_add(i - 1, i);
    }

    while (!queue.empty()) {
        const Bigram b = queue.top();
        queue.pop();
        Symbol & l = symbols[b.left];
        Symbol & r = symbols[b.right];
        if (l.n == 0 || r.n == 0 || l.n + r.n != b.size) {
            continue; // one side was merged since this pair was queued
        }
        merge_symbols(symbols, b.left, b.right);
        try_add(l.prev, b.left);
        try_add(b.left, l.next);
    }

    for (int i = 0; i != -1; i = symbols[i].next) {
        const Symbol & s = symbols[i];
        buf.assign(s.text, s.n);
        const int32_t id = v.text_to_token(buf);
        if (id >= 0) {
            out.push_back(id);
            continue;
        }
        // Byte fallback. llama.cpp aborts when a byte has no token (vocabularies without <0xXX>, like
        // TinyStories-656K); we emit the unknown token once per run of such bytes instead (nothing if
        // the vocabulary has no unknown token), so one missing character costs one <unk>.
        bool in_missing_run = false;
        for (size_t j = 0; j < s.n; ++j) {
            const int32_t b = byte_token(v, uint8_t(s.text[j]));
            if (b >= 0) {
                out.push_back(b);
                in_missing_run = false;
            } else if (!in_missing_run) {
                if (v.unk >= 0) {
                    out.push_back(v.unk);
                }
                in_missing_run = true;
            }
        }
    }
}

} // namespace nibble::tok
