// Text <-> token ids, the way llama.cpp's llama-vocab does it: SentencePiece-style (`llama`) and
// byte-level BPE (`gpt2`) vocabularies, read from GGUF metadata (tokenizer.ggml.*) or from a Hugging
// Face tokenizer.json. Ids must equal llama.cpp's for the same vocabulary (tests/unit/test_tokenizer*).
#pragma once

#include "core/status.h"

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace nibble {

class GgufFile;
struct TokenizerFactory; // tokenizer_impl.h: the loaders' way to construct one

class Tokenizer {
  public:
    // tokenizer.ggml.{model,pre,tokens,scores,token_type,merges,bos_token_id,...}; errors name the key.
    static Result<Tokenizer> from_gguf(const GgufFile & file);
    // A Hugging Face folder: tokenizer.json (+ tokenizer_config.json for BOS/EOS handling).
    static Result<Tokenizer> from_hf_dir(const std::string & dir);

    // add_bos: prepend BOS when the vocabulary asks for it (add_bos() true) -- llama_tokenize's
    // add_special. parse_special: text like "<|im_start|>" becomes its control token.
    // Any bytes are accepted. Where llama.cpp aborts (an SPM vocabulary without a <0xXX> token for a
    // byte, as TinyStories-656K), each run of such bytes in a character becomes the unknown token.
    std::vector<int32_t> encode(std::string_view text, bool add_bos, bool parse_special) const;
    // Bytes of one token as llama.cpp's token_to_piece prints them (special tokens rendered); "" for
    // ids outside the vocabulary.
    std::string          token_to_piece(int32_t id) const;
    // llama_detokenize(remove_special = false, unparse_special = false): control tokens print nothing,
    // SPM drops the first piece's leading space (a leading BOS keeps it, as in llama.cpp).
    std::string          decode(std::span<const int32_t> ids) const;

    int32_t n_vocab() const;
    int32_t bos_id() const; // -1 if none
    int32_t eos_id() const; // -1 if none
    bool    add_bos() const;
    bool    is_eog(int32_t id) const; // end of generation (eos, eot, ...)

    struct Impl;

  private:
    friend struct TokenizerFactory;
    std::shared_ptr<const Impl> impl_;
};

} // namespace nibble
