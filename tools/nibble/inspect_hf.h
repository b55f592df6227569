// `nibble inspect` for Hugging Face checkpoints: a SafeTensors file, or a folder with
// model.safetensors / model.safetensors.index.json shards, config.json and tokenizer files.
// Implemented in inspect_hf.cpp (the Hugging Face side of issue 3).
#pragma once

#include <string>

namespace nibble::cli {

// Prints the report for `path` (tables, or one JSON object when `json`) and returns the process exit
// status: 0 on success, non-zero with the reader's error (file, byte offset, rule) on stderr.
int inspect_hf(const std::string & path, bool json);

} // namespace nibble::cli
