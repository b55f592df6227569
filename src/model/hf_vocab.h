// Hugging Face tokenizer files -> the tokenizer.* GGUF KVs that llama.cpp's convert_hf_to_gguf writes
// for llama, mistral, qwen2 and qwen3 (FORMATS.md §2.6), without Python, transformers or
// sentencepiece. Three vocabularies, chosen the way the converter chooses them:
//   * SentencePiece (tokenizer.model present): tokenizer.ggml.model "llama", pre "default", scores.
//   * Llama-style BPE with byte fallback in tokenizer.json (the converter's LlamaHfVocab): "llama".
//   * byte-level BPE (Llama 3, Qwen, Mistral Nemo): "gpt2" with merges and a pre-tokenizer name.
// Then the special-token ids, add_*_token flags and the chat template (the converter's SpecialVocab).
//
// tokenizer.ggml.pre for byte-level BPE: the converter hashes the token ids of a fixed test string
// and looks the hash up in a table (get_vocab_base_pre). That needs a working tokenizer; nibble
// instead reads the pre-tokenizer's split regex from tokenizer.json, which is what the hash is a
// fingerprint of, and maps it to the name the converter's table gives models with that regex:
//   Llama 3 regex (\p{N}{1,3})                        -> "llama-bpe"
//   Qwen regex (\p{N})                                 -> "qwen2", or "deepseek-r1-qwen" when the
//                                                         tokenizer prepends <｜begin▁of▁sentence｜>
//   Tekken regex (Mistral Nemo and later)              -> "tekken"
// Anything else is an Error naming the regex, where the converter would stop with "BPE
// pre-tokenizer was not recognized". A regex shared by a model the converter's table does not
// know is accepted here (the converter would refuse it).
#pragma once

#include "core/status.h"
#include "io/gguf_writer.h"
#include "io/hf_checkpoint.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace nibble {

// Ordered KVs with the converter's GGUFWriter semantics: setting a key again replaces its value in
// place (a Python dict), empty strings and empty arrays are not stored.
class KvList {
  public:
    using Value = std::variant<uint32_t, int32_t, float, bool, std::string, std::vector<std::string>,
                               std::vector<float>, std::vector<int32_t>>;

    void          set(std::string key, Value v);
    void          remove(std::string_view key);
    bool          contains(std::string_view key) const;
    const Value * find(std::string_view key) const;

    const std::vector<std::pair<std::string, Value>> & items() const { return items_; }
    std::optional<Error>                               write(GgufWriter & w) const;

  private:
    std::vector<std::pair<std::string, Value>> items_;
};

// GGUF token types (llama.cpp llama_token_type).
enum class HfTokenType : int32_t { Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Unused = 5, Byte = 6 };

// The tokenizer KVs for `arch` ("llama", "qwen2", "qwen3"), appended to `kv` in converter order.
// n_vocab is config.json's vocab_size (0 when absent). Notes about approximations go to `notes`.
std::optional<Error> add_hf_tokenizer_kvs(const HfCheckpoint & ck, const std::string & arch, int64_t n_vocab,
                                          KvList & kv, std::vector<std::string> & notes);

// The pre-tokenizer name for a tokenizer.json (see above); an Error when the regex is unknown.
Result<std::string> hf_bpe_pre_name(const JsonDoc & tokenizer_json, const JsonDoc * tokenizer_config);

// Pieces of a SentencePiece model file (tokenizer.model, a protobuf ModelProto).
struct SpmPiece {
    std::string piece;
    float       score = 0.0f;
    int         type  = 1; // sentencepiece Type: 1 normal, 2 unknown, 3 control, 4 user, 5 unused, 6 byte
};
Result<std::vector<SpmPiece>> read_spm_pieces(const std::string & path);
Result<std::vector<SpmPiece>> parse_spm_pieces(const std::string & name, const uint8_t * data, size_t size);

} // namespace nibble
