// Internal to model/hf_vocab.cpp: the converter's gguf.SpecialVocab (special-token ids, add_*_token
// flags, merges, chat template, normalizer flags) and small JSON helpers shared by the vocab code.
#pragma once

#include "core/status.h"
#include "io/json_file.h"
#include "model/hf_vocab.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace nibble::hf_vocab_detail {

// Python truthiness of a JSON value (null, "", false, 0, {} and [] are false).
bool                           truthy(const nlohmann::json & j);
// j[key] for an object that has it, else a null value.
const nlohmann::json &         get(const nlohmann::json & j, const char * key);
// A token entry of tokenizer_config / special_tokens_map: a string or {"content": ...}.
std::optional<std::string>     token_content(const nlohmann::json & e);
// TextModel.does_token_look_special.
bool                           looks_special(std::string_view t);
std::string                    replace_all(std::string s, std::string_view from, std::string_view to);
// nullopt when `path` is not a regular file.
Result<std::optional<JsonDoc>> read_optional_json(const std::string & path);
Result<std::string>            read_text(const std::string & path);

class SpecialVocab {
  public:
    SpecialVocab(const std::string & dir, bool load_merges, std::optional<int64_t> n_vocab)
        : dir_(dir), load_merges_(load_merges), n_vocab_(n_vocab) {}

    // tok / tok_config / config may be null (file absent).
    std::optional<Error> load(const JsonDoc * tok, const JsonDoc * tok_config, const JsonDoc * config);
    void                 add_to(KvList & kv) const;

  private:
    std::optional<Error> from_tokenizer_json(const JsonDoc * tok, const JsonDoc * tok_config);
    std::optional<Error> load_chat_template(const nlohmann::json & tc);
    std::optional<Error> load_merges_txt();
    void                 template_processing(const nlohmann::json & p, nlohmann::json & tc, bool tc_truthy);
    void                 set_special(const std::string & typ, const nlohmann::json & id);
    void                 set_add(const std::string & typ, bool v);
    bool                 has_type(const std::string & t) const;

    std::string                                  dir_;
    bool                                         load_merges_;
    std::optional<int64_t>                       n_vocab_;
    std::vector<std::string>                     types_ = { "bos", "eos", "unk", "sep", "pad", "cls", "mask" };
    std::vector<std::pair<std::string, int64_t>> ids_;
    std::vector<std::pair<std::string, bool>>    add_;
    std::vector<std::string>                     merges_;
    nlohmann::json                               chat_template_; // string, [{name, template}], or null
    std::optional<bool>                          lowercase_, strip_accents_;
    nlohmann::json                               special_[4]; // bos, cls, eos, sep while reading the post-processor
};

} // namespace nibble::hf_vocab_detail
