// Tokenizer against llama.cpp: ids for the strings in tests/data/tokenizer/*.txt must equal the ids
// llama-tokenize printed for the same vocabulary (tests/data/tokenizer/<vocab>.{plain,special}.ids,
// made by scripts/gen-tokenizer-ids.sh). Vocabularies:
//   - TinyStories-656K (SPM, no byte tokens), GGUF and HF folder, from ../shared (NIBBLE_SHARED_DIR);
//   - SmolLM2-135M-Instruct (byte-level BPE, pre "smollm") from $NIBBLE_MODEL_DIR or
//     ~/.cache/nibble/models, also re-labelled in memory as llama-bpe / qwen2 / default / gpt-2 to
//     check those pre-tokenizers; skipped when absent (CI);
//   - llama.cpp's vocab-only GGUFs (models/ggml-vocab-*.gguf in its repository), only when
//     NIBBLE_VOCAB_DIR points at a folder holding them: they are not committed here.
// Plus round trips, robustness on arbitrary bytes and errors for malformed metadata.
#include "io/gguf.h"
#include "io/gguf_writer.h"
#include "model/tokenizer/tokenizer.h"
#include "unit/gguf_builder.h"
#include "unit/test_paths.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

namespace fs = std::filesystem;
using namespace nibble;
using namespace nibble::test;

namespace {

const fs::path kData = "tests/data/tokenizer";

// scripts/fetch-model.sh's cache: $NIBBLE_MODEL_DIR, else $NIBBLE_CACHE/models, else ~/.cache/nibble/models.
fs::path model_dir() {
    if (const char * env = std::getenv("NIBBLE_MODEL_DIR"); env != nullptr && *env != '\0') {
        return env;
    }
    if (const char * env = std::getenv("NIBBLE_CACHE"); env != nullptr && *env != '\0') {
        return fs::path(env) / "models";
    }
    const char * home = std::getenv("HOME");
    return home != nullptr ? fs::path(home) / ".cache/nibble/models" : fs::path();
}

// \n \t \r \\ \xHH, as printf %b in the generator script.
std::string unescape(const std::string & s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '\\' || i + 1 >= s.size()) {
            out.push_back(s[i]);
            continue;
        }
        const char c = s[++i];
        if (c == 'n') {
            out.push_back('\n');
        } else if (c == 't') {
            out.push_back('\t');
        } else if (c == 'r') {
            out.push_back('\r');
        } else if (c == 'x' && i + 2 < s.size()) {
            out.push_back(char(std::stoi(s.substr(i + 1, 2), nullptr, 16)));
            i += 2;
        } else {
            out.push_back(c);
        }
    }
    return out;
}

std::vector<std::string> read_lines(const fs::path & p) {
    std::ifstream            f(p);
    std::vector<std::string> lines;
    for (std::string line; std::getline(f, line);) {
        lines.push_back(line);
    }
    return lines;
}

std::vector<std::string> read_strings(const std::string & file) {
    std::vector<std::string> out;
    for (const std::string & l : read_lines(kData / file)) {
        out.push_back(unescape(l));
    }
    return out;
}

std::vector<int32_t> parse_ids(const std::string & line) {
    std::istringstream   in(line);
    std::vector<int32_t> ids;
    for (int32_t id; in >> id;) {
        ids.push_back(id);
    }
    return ids;
}

std::string show(const std::vector<int32_t> & ids) {
    std::string s;
    for (const int32_t id : ids) {
        s += std::to_string(id) + " ";
    }
    return s;
}

// Both modes of one vocabulary; returns the number of strings compared.
size_t expect_llama_ids(const Tokenizer & tk, const std::string & name, const std::string & strings_file) {
    const std::vector<std::string> strings = read_strings(strings_file);
    for (const bool special : { false, true }) {
        const std::vector<std::string> expected =
            read_lines(kData / (name + (special ? ".special.ids" : ".plain.ids")));
        EXPECT_EQ(expected.size(), strings.size()) << name;
        for (size_t i = 0; i < std::min(expected.size(), strings.size()); ++i) {
            const std::vector<int32_t> got = tk.encode(strings[i], special, special);
            EXPECT_EQ(show(got), show(parse_ids(expected[i])))
                << name << (special ? " (bos+special)" : " (plain)") << " string " << i + 1 << ": \""
                << read_lines(kData / strings_file)[i] << "\"";
        }
    }
    return strings.size();
}

struct Loaded {
    std::vector<uint8_t> image; // keeps a parse()d GgufFile's bytes alive
    Tokenizer            tok;
};

Result<Tokenizer> load_gguf(const fs::path & p) {
    auto f = GgufFile::open(p.string());
    if (!f) {
        return f.error();
    }
    return Tokenizer::from_gguf(*f);
}

// The vocabulary of `src` with tokenizer.ggml.pre replaced, as gen-tokenizer-ids.sh's relabel().
Result<Tokenizer> load_relabelled(const fs::path & src, const std::string & pre) {
    auto f = GgufFile::open(src.string());
    if (!f) {
        return f.error();
    }
    GgufWriter w;
    for (const GgufKV & kv : f->metadata()) {
        auto r = kv.key == "tokenizer.ggml.pre" ? w.add_string(kv.key, pre) : w.add_kv(kv.key, kv.value);
        if (!r) {
            return r.error();
        }
    }
    const std::vector<uint8_t> image = w.header_image();
    auto                       g     = GgufFile::parse("relabelled-" + pre + ".gguf", image.data(), image.size());
    if (!g) {
        return g.error();
    }
    return Tokenizer::from_gguf(*g);
}

fs::path tinystories_gguf() {
    const fs::path s = shared_dir();
    return s.empty() ? fs::path() : s / "models/tinystories-656k-gguf/TinyStories-656K.f16.gguf";
}

fs::path smollm2_gguf() {
    return model_dir() / "SmolLM2-135M-Instruct.Q4_1.gguf";
}

// Arbitrary bytes must never crash, and every id must be in the vocabulary.
void expect_robust(const Tokenizer & tk) {
    std::mt19937 rng(1234);
    for (int iter = 0; iter < 300; ++iter) {
        std::string s(rng() % 64, '\0');
        for (char & c : s) {
            // Bias towards UTF-8 lead/continuation bytes and specials' characters.
            const uint32_t r = rng() % 8;
            c = char(r < 3 ? 0x80 + rng() % 0x80 : r < 5 ? rng() % 0x80 : r == 5 ? "<|>▁ \n"[rng() % 7] : rng() % 256);
        }
        for (const bool special : { false, true }) {
            for (const int32_t id : tk.encode(s, special, special)) {
                ASSERT_GE(id, 0);
                ASSERT_LT(id, tk.n_vocab());
            }
        }
        (void)tk.decode(tk.encode(s, true, true));
    }
    // Long inputs: a 256 KiB mix of words, digits and whitespace runs, and one 64 KiB whitespace run
    // (the \s*[\r\n]+ / \s+(?!\S) alternatives backtrack over it).
    std::string big;
    while (big.size() < (256u << 10)) {
        big += "Once upon a time 12345 \t\n  there were  ";
    }
    EXPECT_FALSE(tk.encode(big, true, true).empty());
    EXPECT_FALSE(tk.encode(std::string(64u << 10, ' ') + "x", false, false).empty());
}

} // namespace

// ---------------------------------------------------------------------------------------------
// TinyStories-656K: SPM without byte tokens.

TEST(Tokenizer, TinyStoriesGgufMatchesLlamaCpp) {
    const fs::path p = tinystories_gguf();
    if (p.empty() || !fs::exists(p)) {
        GTEST_SKIP() << "shared models not found (set NIBBLE_SHARED_DIR)";
    }
    auto tk = load_gguf(p);
    ASSERT_TRUE(tk.ok()) << tk.error().message();
    EXPECT_EQ(tk->n_vocab(), 2048);
    EXPECT_EQ(tk->bos_id(), 1);
    EXPECT_EQ(tk->eos_id(), 2);
    EXPECT_TRUE(tk->add_bos());
    EXPECT_TRUE(tk->is_eog(2));
    EXPECT_FALSE(tk->is_eog(1));
    expect_llama_ids(*tk, "tinystories-656k", "strings-656k.txt");

    EXPECT_EQ(tk->token_to_piece(1), "<|start_story|>"); // control tokens are rendered
    EXPECT_EQ(tk->token_to_piece(-1), "");
    EXPECT_EQ(tk->token_to_piece(5000), "");
}

TEST(Tokenizer, TinyStoriesHfDirMatchesGguf) {
    const fs::path s = shared_dir();
    if (s.empty() || !fs::exists(tinystories_gguf())) {
        GTEST_SKIP() << "shared models not found (set NIBBLE_SHARED_DIR)";
    }
    auto g = load_gguf(tinystories_gguf());
    auto h = Tokenizer::from_hf_dir((s / "models/tinystories-656k-hf").string());
    ASSERT_TRUE(g.ok()) << g.error().message();
    ASSERT_TRUE(h.ok()) << h.error().message();
    EXPECT_EQ(h->n_vocab(), g->n_vocab());
    EXPECT_EQ(h->bos_id(), g->bos_id());
    EXPECT_EQ(h->eos_id(), g->eos_id());
    EXPECT_EQ(h->add_bos(), g->add_bos());
    for (const char * file : { "strings-656k.txt", "strings.txt" }) {
        for (const std::string & str : read_strings(file)) {
            for (const bool special : { false, true }) {
                EXPECT_EQ(show(h->encode(str, special, special)), show(g->encode(str, special, special))) << str;
            }
        }
    }
    for (int32_t id = 0; id < g->n_vocab(); ++id) {
        ASSERT_EQ(h->token_to_piece(id), g->token_to_piece(id)) << id;
    }
}

TEST(Tokenizer, TinyStoriesMissingCharactersBecomeUnk) {
    const fs::path p = tinystories_gguf();
    if (p.empty() || !fs::exists(p)) {
        GTEST_SKIP() << "shared models not found (set NIBBLE_SHARED_DIR)";
    }
    auto tk = load_gguf(p);
    ASSERT_TRUE(tk.ok()) << tk.error().message();
    // llama.cpp aborts here (no <0xXX> tokens); we emit <unk> (id 0) once per run of missing bytes.
    const std::vector<int32_t> ids = tk->encode("a 日本 b\xff", false, false);
    ASSERT_FALSE(ids.empty());
    EXPECT_EQ(std::count(ids.begin(), ids.end(), 0), 3) << show(ids); // 日, 本, \xff
    expect_robust(*tk);
}

TEST(Tokenizer, TinyStoriesRoundTrip) {
    const fs::path p = tinystories_gguf();
    if (p.empty() || !fs::exists(p)) {
        GTEST_SKIP() << "shared models not found (set NIBBLE_SHARED_DIR)";
    }
    auto tk = load_gguf(p);
    ASSERT_TRUE(tk.ok()) << tk.error().message();
    for (const std::string & s : read_strings("strings-656k.txt")) {
        EXPECT_EQ(tk->decode(tk->encode(s, false, false)), s);
    }
    // As llama.cpp's detokenize: a leading BOS renders as nothing and keeps the next piece's space.
    EXPECT_EQ(tk->decode(tk->encode("Once upon a time", true, false)), " Once upon a time");
}

// ---------------------------------------------------------------------------------------------
// SmolLM2: byte-level BPE (local model cache only).

TEST(Tokenizer, SmolLM2MatchesLlamaCpp) {
    if (!fs::exists(smollm2_gguf())) {
        GTEST_SKIP() << smollm2_gguf() << " not found (scripts/fetch-model.sh)";
    }
    auto tk = load_gguf(smollm2_gguf());
    ASSERT_TRUE(tk.ok()) << tk.error().message();
    EXPECT_FALSE(tk->add_bos()); // gpt2 default, no tokenizer.ggml.add_bos_token key
    EXPECT_TRUE(tk->is_eog(2));  // <|im_end|>
    EXPECT_TRUE(tk->is_eog(0));  // <|endoftext|>
    EXPECT_EQ(tk->encode("<|im_start|>", false, true), std::vector<int32_t>{ 1 });
    EXPECT_EQ(tk->token_to_piece(1), "<|im_start|>");
    expect_llama_ids(*tk, "smollm2", "strings.txt");
    expect_robust(*tk);

    // Round trip: byte-level BPE without clean_spaces restores any valid UTF-8 (the \x lines are not).
    const std::vector<std::string> raw = read_lines(kData / "strings.txt");
    const std::vector<std::string> str = read_strings("strings.txt");
    for (size_t i = 0; i < str.size(); ++i) {
        if (raw[i].find("\\x") == std::string::npos) {
            EXPECT_EQ(tk->decode(tk->encode(str[i], false, false)), str[i]);
        }
    }
}

TEST(Tokenizer, PreTokenizersMatchLlamaCpp) {
    if (!fs::exists(smollm2_gguf())) {
        GTEST_SKIP() << smollm2_gguf() << " not found (scripts/fetch-model.sh)";
    }
    for (const char * pre : { "llama-bpe", "qwen2", "default", "gpt-2" }) {
        auto tk = load_relabelled(smollm2_gguf(), pre);
        ASSERT_TRUE(tk.ok()) << tk.error().message();
        expect_llama_ids(*tk, std::string("smollm2-as-") + pre, "strings.txt");
    }
}

// llama.cpp's own vocab-only test files; they are not committed, so this needs NIBBLE_VOCAB_DIR.
TEST(Tokenizer, LlamaCppVocabsMatch) {
    const char * dir = std::getenv("NIBBLE_VOCAB_DIR");
    if (dir == nullptr || *dir == '\0') {
        GTEST_SKIP() << "NIBBLE_VOCAB_DIR not set (folder with llama.cpp's models/ggml-vocab-*.gguf)";
    }
    int found = 0;
    for (const char * v : { "gpt-2", "llama-spm", "phi-3", "starcoder", "refact", "mpt" }) {
        const fs::path p = fs::path(dir) / (std::string("ggml-vocab-") + v + ".gguf");
        if (!fs::exists(p)) {
            continue;
        }
        ++found;
        auto tk = load_gguf(p);
        ASSERT_TRUE(tk.ok()) << tk.error().message();
        expect_llama_ids(*tk, std::string("vocab-") + v, "strings.txt");
        expect_robust(*tk);
    }
    if (found == 0) {
        GTEST_SKIP() << "no ggml-vocab-*.gguf in " << dir;
    }
}

// ---------------------------------------------------------------------------------------------
// Malformed metadata.

namespace {

GgufBuilder tiny_vocab(const std::string & model = "llama") {
    GgufBuilder g;
    g.kv("tokenizer.ggml.model", val_str(model));
    g.kv("tokenizer.ggml.tokens", val_str_array({ "<unk>", "<s>", "</s>",
                                                  "\xe2\x96\x81"
                                                  "a",
                                                  "a", "b" }));
    const float scores[6] = { 0, 0, 0, -1, -2, -3 };
    Bytes       sc;
    put_u32(sc, 9);
    put_u32(sc, 6);
    put_u64(sc, 6);
    put_bytes(sc, scores, sizeof(scores));
    g.kv("tokenizer.ggml.scores", sc);
    return g;
}

Error load_error(GgufBuilder g, const std::string & name) {
    const Bytes b = g.build();
    auto        f = GgufFile::parse(name, b.data(), b.size());
    EXPECT_TRUE(f.ok()) << f.error().message();
    if (!f) {
        return f.error();
    }
    auto t = Tokenizer::from_gguf(*f);
    EXPECT_FALSE(t.ok()) << name;
    return t ? Error{} : t.error();
}

} // namespace

TEST(Tokenizer, TinySyntheticVocab) {
    const Bytes b = tiny_vocab().build();
    auto        f = GgufFile::parse("tiny.gguf", b.data(), b.size());
    ASSERT_TRUE(f.ok()) << f.error().message();
    auto t = Tokenizer::from_gguf(*f);
    ASSERT_TRUE(t.ok()) << t.error().message();
    EXPECT_EQ(t->encode("a ab", true, false), (std::vector<int32_t>{ 1, 3, 3, 5 })); // ▁a ▁a b
    EXPECT_EQ(t->encode("c", false, false), (std::vector<int32_t>{ 0, 0 }));         // ▁ and c: no tokens -> unk
}

TEST(Tokenizer, MalformedMetadataIsAnError) {
    struct Case {
        std::string name, key;
        GgufBuilder g;
    };
    std::vector<Case> cases;
    {
        GgufBuilder g = tiny_vocab();
        g.kvs.erase(g.kvs.begin() + 2); // scores
        Bytes sc;
        put_u32(sc, 9);
        put_u32(sc, 6);
        put_u64(sc, 2);
        put_u32(sc, 0);
        put_u32(sc, 0);
        g.kv("tokenizer.ggml.scores", sc);
        cases.push_back({ "scores-short", "tokenizer.ggml.scores", g });
    }
    {
        GgufBuilder g = tiny_vocab();
        g.kv("tokenizer.ggml.token_type", val_str("x"));
        cases.push_back({ "types-not-array", "tokenizer.ggml.token_type", g });
    }
    {
        GgufBuilder g = tiny_vocab();
        g.kv("tokenizer.ggml.bos_token_id", val_u32(6));
        cases.push_back({ "bos-out-of-range", "tokenizer.ggml.bos_token_id", g });
    }
    {
        GgufBuilder g = tiny_vocab();
        g.kv("tokenizer.ggml.eos_token_id", val_str("2"));
        cases.push_back({ "eos-wrong-type", "tokenizer.ggml.eos_token_id", g });
    }
    {
        GgufBuilder g = tiny_vocab("gpt2");
        g.kv("tokenizer.ggml.pre", val_str("gpt-2"));
        g.kv("tokenizer.ggml.merges", val_str_array({ "a b", "nospace" }));
        cases.push_back({ "bad-merge", "tokenizer.ggml.merges", g });
    }
    {
        GgufBuilder g = tiny_vocab("gpt2");
        g.kv("tokenizer.ggml.pre", val_str("gpt-2"));
        cases.push_back({ "no-merges", "tokenizer.ggml.merges", g });
    }
    {
        GgufBuilder g = tiny_vocab("gpt2");
        g.kv("tokenizer.ggml.pre", val_str("no-such-pre"));
        g.kv("tokenizer.ggml.merges", val_str_array({ "a b" }));
        cases.push_back({ "unknown-pre", "tokenizer.ggml.pre", g });
    }
    { cases.push_back({ "unknown-model", "tokenizer.ggml.model", tiny_vocab("t5") }); }
    {
        GgufBuilder g;
        g.kv("tokenizer.ggml.model", val_str("llama"));
        cases.push_back({ "no-tokens", "tokenizer.ggml.tokens", g });
    }
    {
        GgufBuilder   g     = tiny_vocab();
        const int32_t ty[6] = { 2, 3, 3, 1, 6, 1 }; // "a" typed BYTE
        Bytes         b;
        put_u32(b, 9);
        put_u32(b, 5);
        put_u64(b, 6);
        put_bytes(b, ty, sizeof(ty));
        g.kv("tokenizer.ggml.token_type", b);
        cases.push_back({ "bad-byte-token", "tokenizer.ggml.token_type", g });
    }
    for (Case & c : cases) {
        const Error e = load_error(c.g, c.name + ".gguf");
        EXPECT_NE(e.message().find(c.name + ".gguf"), std::string::npos) << e.message();
        EXPECT_NE(e.message().find(c.key), std::string::npos) << c.name << ": " << e.message();
    }
}

TEST(Tokenizer, HfDirErrors) {
    auto missing = Tokenizer::from_hf_dir("/nonexistent-nibble-dir");
    ASSERT_FALSE(missing.ok());
    EXPECT_NE(missing.error().message().find("tokenizer.json"), std::string::npos) << missing.error().message();

    const fs::path d = fs::path(::testing::TempDir()) / ("nibble_tok_" + std::to_string(::getpid()));
    fs::create_directories(d);
    const auto write = [&](const std::string & text) { std::ofstream(d / "tokenizer.json") << text; };
    const auto error = [&]() {
        auto r = Tokenizer::from_hf_dir(d.string());
        return r ? std::string() : r.error().message();
    };
    write(R"({"model": {"type": "Unigram", "vocab": []}})");
    EXPECT_NE(error().find("Unigram"), std::string::npos) << error();
    write(R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 9999999999}, "merges": []}})");
    EXPECT_NE(error().find("out of range"), std::string::npos) << error();
    write(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "pre_tokenizer": null})");
    EXPECT_NE(error().find("neither byte-level"), std::string::npos) << error();
    write(R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": [3]},
              "pre_tokenizer": {"type": "ByteLevel"}})");
    EXPECT_NE(error().find("merges"), std::string::npos) << error();
    write(R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]},
              "pre_tokenizer": {"type": "ByteLevel"}})");
    auto ok = Tokenizer::from_hf_dir(d.string());
    ASSERT_TRUE(ok.ok()) << ok.error().message();
    EXPECT_EQ(ok->encode("ab", false, false), std::vector<int32_t>{ 2 });
    fs::remove_all(d);
}
