// Byte-level BPE as llama.cpp's llm_tokenizer_bpe_session: pre-tokenize into words, map each word's
// bytes to GPT-2's printable code points, then within each word repeatedly apply the lowest-ranked
// merge (ties: leftmost first).
#include "model/tokenizer/tokenizer_impl.h"

#include <queue>

namespace nibble::tok {

namespace {

struct Bigram {
    int         left;
    int         right;
    std::string text;
    int         rank;
};

// Min-heap on rank, then the leftmost pair.
struct BigramGreater {
    bool operator()(const Bigram & l, const Bigram & r) const {
        return l.rank > r.rank || (l.rank == r.rank && l.left > r.left);
    }
};

void merge_word(const Tokenizer::Impl & v, const std::string & word, std::vector<Symbol> & final_symbols) {
    std::vector<Symbol> symbols;
    if (v.ignore_merges && v.text_to_token(word) >= 0) {
        symbols.push_back({ -1, -1, word.c_str(), word.size() });
    } else {
        split_utf8_symbols(word, symbols);
    }

    std::priority_queue<Bigram, std::vector<Bigram>, BigramGreater> queue;
    const auto                                                      try_add = [&](int left, int right) {
        if (left == -1 || right == -1) {
            return;
        }
        const std::string_view l(symbols[left].text, symbols[left].n);
        const std::string_view r(symbols[right].text, symbols[right].n);
        const int              rank = v.find_bpe_rank(l, r);
        if (rank < 0) {
            return;
        }
        std::string text(l);
        text += r;
        queue.push({ left, right, std::move(text), rank });
    };
    for (int i = 1; i < int(symbols.size()); ++i) {
        try_add(i - 1, i);
    }

    while (!queue.empty()) {
        const Bigram b = queue.top();
        queue.pop();
        Symbol & l = symbols[b.left];
        Symbol & r = symbols[b.right];
        if (l.n == 0 || r.n == 0 || l.n + r.n != b.text.size() ||
            std::string_view(l.text, l.n + r.n) != b.text) { // l and r are adjacent in `word`
            continue;                                        // outdated
        }
        merge_symbols(symbols, b.left, b.right);
        try_add(l.prev, b.left);
        try_add(b.left, l.next);
    }

    for (const Symbol & s : symbols) {
        if (s.n > 0) {
            final_symbols.push_back(s);
        }
    }
}

} // namespace

void bpe_tokenize(const Tokenizer::Impl & v, std::string_view text, std::vector<int32_t> & out) {
    // Words are byte-encoded, so every symbol is whole GPT-2 code points.
    std::vector<std::string> words = v.pretok->split(text);
    for (std::string & w : words) {
        std::string enc;
        enc.reserve(w.size() * 2);
        for (const char c : w) {
            enc += byte_to_unicode(uint8_t(c));
        }
        w = std::move(enc);
    }

    std::vector<Symbol> symbols;
    for (const std::string & w : words) {
        merge_word(v, w, symbols);
    }

    std::string buf;
    for (const Symbol & s : symbols) {
        buf.assign(s.text, s.n);
        const int32_t id = v.text_to_token(buf);
        if (id >= 0) {
            out.push_back(id);
            continue;
        }
        // As llama.cpp: look each byte of the encoded text up as a one-character token and drop the
        // bytes that have none (only ASCII-range bytes can match).
        for (const char c : buf) {
            const int32_t b = v.text_to_token(std::string(1, c));
            if (b >= 0) {
                out.push_back(b);
            }
        }
    }
}

} // namespace nibble::tok
