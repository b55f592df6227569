// Bounded JSON reading for the small side files of a Hugging Face checkpoint (config.json,
// tokenizer.json, model.safetensors.index.json, ...). These come from the same untrusted download
// as the weights, so every read is capped in size and nesting before nlohmann builds a DOM, and every
// error names the file and a byte offset (STYLE.md Do #12).
#pragma once

#include "core/status.h"

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace nibble {

// 64 MiB: the largest tokenizer.json files in circulation are ~35 MB and a 90k-tensor index.json
// is ~9 MB. nlohmann's DOM costs up to ~8x the text for arrays of tiny numbers, so this also caps
// the heap a hostile file can claim at well under a GiB.
inline constexpr uint64_t kJsonMaxBytes = 64ull << 20;
// Real files nest < 10 deep; the DOM destructor recurses, so deep input is a stack hazard.
inline constexpr int      kJsonMaxDepth = 128;

struct JsonDoc {
    std::string    path; // for messages
    std::string    text; // the raw bytes, kept so semantic errors can point at a key
    nlohmann::json root;

    // Byte offset of the first `"key"` that is followed by ':', or 0 when absent. It is the first
    // occurrence, so for a key that appears in several objects it may point at an earlier one; that
    // is still the right neighbourhood for a hex dump.
    uint64_t key_offset(std::string_view key) const;

    // Error{path, key_offset(key), what}.
    Error error_at(std::string_view key, std::string what) const;
};

struct JsonReadOptions {
    uint64_t max_bytes             = kJsonMaxBytes;
    // Reject an object that repeats a key. Python's json keeps the last value silently; for an
    // index.json that would let one tensor name point at two shards, so the index reader asks for it.
    bool     reject_duplicate_keys = false;
};

// Reads and parses `path` (a regular file of at most max_bytes).
Result<JsonDoc> read_json_file(const std::string & path, const JsonReadOptions & opt = {});

// Parses text already in memory; `name` is used in messages only (fuzz harnesses, tests).
Result<JsonDoc> parse_json_text(const std::string & name, std::string text, const JsonReadOptions & opt = {});

} // namespace nibble
