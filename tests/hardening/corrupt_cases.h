// The hand-made broken SafeTensors files and JSON side files checked into tests/data/safetensors-corrupt
// and tests/data/json-corrupt. Each case breaks one rule (FORMATS.md §9, the JSON limits in
// io/json_file.h, the side-file schemas in io/hf_checkpoint.cpp and io/hf_quant.cpp) and names a
// substring the error must contain, so a reader that starts failing for the wrong reason is noticed.
// The files are generated from here (test_corrupt_files.cpp, NIBBLE_REGEN_CORRUPT_CORPUS=1).
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace nibble::test {

struct BrokenFile {
    std::string name; // file name in its corpus folder
    std::string bytes;
    std::string rule; // substring the error message must contain
};

// ---------------------------------------------------------------------------------------------
// SafeTensors

inline std::string st_le64(uint64_t v) {
    std::string s(8, '\0');
    std::memcpy(s.data(), &v, 8);
    return s;
}

// 8-byte length + header text + `data_bytes` bytes of 0x11 (not zero, so a data over-read shows).
inline std::string st_raw(const std::string & header, size_t data_bytes) {
    return st_le64(header.size()) + header + std::string(data_bytes, '\x11');
}

// One F32 [2, 2] tensor "w" at [0, 16), with the dtype/shape/offsets text replaceable.
inline std::string st_one(const std::string & dtype, const std::string & shape, const std::string & offsets,
                          size_t data_bytes = 16) {
    return st_raw("{\"w\":{\"dtype\":" + dtype + ",\"shape\":" + shape + ",\"data_offsets\":" + offsets + "}}",
                  data_bytes);
}

inline std::vector<BrokenFile> safetensors_corrupt_cases() {
    const std::string valid   = st_raw("{\"__metadata__\":{\"format\":\"pt\"},"
                                         "\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]},"
                                         "\"b\":{\"dtype\":\"BF16\",\"shape\":[4],\"data_offsets\":[16,24]}}",
                                       24);
    const size_t      hdr_end = valid.size() - 24;
    std::string       depth;
    for (int i = 0; i < 200; i++) {
        depth += "[";
    }
    std::vector<BrokenFile> c = {
        // Truncation at every section.
        { "empty_file", "", "too small for the 8-byte header length" },
        { "truncated_in_length", valid.substr(0, 5), "too small for the 8-byte header length" },
        { "truncated_after_length", valid.substr(0, 8), "runs past end of file" },
        { "truncated_in_header", valid.substr(0, hdr_end / 2), "runs past end of file" },
        { "truncated_in_data", valid.substr(0, valid.size() - 5), "runs past end of data" },
        { "truncated_data_section", valid.substr(0, hdr_end), "runs past end of data" },
        // Header length.
        { "header_len_huge", st_le64(~0ull) + valid.substr(8), "exceeds the limit" },
        { "header_len_over_limit", st_le64((100ull << 20) + 1) + valid.substr(8), "exceeds the limit" },
        { "header_len_past_eof", st_le64(4096) + valid.substr(8), "runs past end of file" },
        { "header_len_zero", st_le64(0) + valid.substr(8), "invalid JSON header" },
        // JSON syntax and limits.
        { "header_not_json", st_raw("not json at all!", 0), "invalid JSON header" },
        { "header_not_object", st_raw("[1,2,3]", 0), "must be an object" },
        { "header_trailing_garbage", st_raw("{}garbage", 0), "invalid JSON header" },
        { "header_bad_utf8", st_raw("{\"w\xff\xfe\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4),
          "invalid JSON header" },
        { "header_bad_utf8_overlong", st_raw("{\"\xc0\xaf\":{}}", 0), "invalid JSON header" },
        { "header_control_char", st_raw("{\"a\nb\":{}}", 0), "invalid JSON header" },
        { "header_deep_nesting", st_raw("{\"w\":" + depth, 0), "nests deeper than" },
        { "header_number_overflow", st_one("\"F32\"", "[1e400]", "[0,16]"), "invalid JSON header" },
        { "duplicate_tensor_name",
          st_raw("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                 "\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
                 8),
          "duplicate key" },
        { "duplicate_field",
          st_raw("{\"w\":{\"dtype\":\"F32\",\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4),
          "duplicate key" },
        // __metadata__.
        { "metadata_not_object", st_raw("{\"__metadata__\":[\"pt\"]}", 0), "__metadata__ must be an object" },
        { "metadata_value_not_string", st_raw("{\"__metadata__\":{\"format\":1}}", 0), "must be a string" },
        // Entry fields.
        { "entry_not_object", st_raw("{\"w\":[\"F32\",[1],[0,4]]}", 4), "entry must be an object" },
        { "missing_dtype", st_raw("{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4), "entry needs" },
        { "missing_shape", st_raw("{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4), "entry needs" },
        { "missing_offsets", st_raw("{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4), "entry needs" },
        { "dtype_not_string", st_one("32", "[2,2]", "[0,16]"), "dtype must be a string" },
        { "dtype_unknown", st_one("\"F128\"", "[2,2]", "[0,16]"), "unknown dtype" },
        { "dtype_lowercase", st_one("\"f32\"", "[2,2]", "[0,16]"), "unknown dtype" },
        { "dtype_empty", st_one("\"\"", "[2,2]", "[0,16]"), "unknown dtype" },
        // Shapes.
        { "shape_not_array", st_one("\"F32\"", "4", "[0,16]"), "shape must be an array" },
        { "shape_negative_dim", st_one("\"F32\"", "[-2,-2]", "[0,16]"), "negative dimension" },
        { "shape_float_dim", st_one("\"F32\"", "[2.0,2]", "[0,16]"), "non-negative integers" },
        { "shape_string_dim", st_one("\"F32\"", "[\"2\",2]", "[0,16]"), "non-negative integers" },
        { "shape_too_many_dims", st_one("\"F32\"", "[1,1,1,1,1,1,1,1,4]", "[0,16]"), "more than kStMaxDims" },
        { "shape_dim_over_int64", st_one("\"F32\"", "[9223372036854775808]", "[0,16]"), "does not fit int64" },
        { "shape_numel_overflow", st_one("\"F32\"", "[4294967296,4294967296]", "[0,16]"), "overflows 64 bits" },
        { "shape_bytes_overflow", st_one("\"F64\"", "[4611686018427387904]", "[0,16]"), "byte size overflows" },
        { "shape_huge_past_eof", st_one("\"F32\"", "[1048576,1048576]", "[0,4398046511104]"), "runs past end of data" },
        { "subbyte_not_whole_byte", st_one("\"F4\"", "[3]", "[0,2]"), "not a whole byte" },
        // Data offsets.
        { "offsets_not_array", st_one("\"F32\"", "[2,2]", "16"), "data_offsets must be [begin, end]" },
        { "offsets_one_element", st_one("\"F32\"", "[2,2]", "[16]"), "data_offsets must be [begin, end]" },
        { "offsets_three_elements", st_one("\"F32\"", "[2,2]", "[0,16,32]"), "data_offsets must be [begin, end]" },
        { "offsets_negative", st_one("\"F32\"", "[2,2]", "[-16,0]"), "data_offsets must be [begin, end]" },
        { "offsets_float", st_one("\"F32\"", "[2,2]", "[0.0,16]"), "data_offsets must be [begin, end]" },
        { "offsets_reversed", st_one("\"F32\"", "[2,2]", "[16,0]"), "begin 16 > end 0" },
        { "offsets_past_eof", st_one("\"F32\"", "[2,2]", "[16,32]"), "runs past end of data" },
        { "offsets_huge", st_one("\"F32\"", "[2,2]", "[18446744073709551600,18446744073709551615]"),
          "runs past end of data" },
        { "offsets_over_uint64", st_one("\"F32\"", "[2,2]", "[0,18446744073709551616]"),
          "data_offsets must be [begin, end]" },
        { "offsets_span_mismatch", st_one("\"F32\"", "[2,2]", "[0,12]"), "needs 16" },
        { "offsets_span_too_long", st_one("\"F32\"", "[2,2]", "[0,20]", 20), "needs 16" },
        { "overlapping_tensors",
          st_raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                 "\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}",
                 16),
          "overlaps" },
        { "overlapping_partial",
          st_raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                 "\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,24]}}",
                 24),
          "overlaps" },
    };
    for (BrokenFile & f : c) {
        f.name += ".safetensors";
    }
    return c;
}

// ---------------------------------------------------------------------------------------------
// JSON side files. `name` is "<role>/<case>.json"; the role folder says which file of a checkpoint the
// case stands for (test_corrupt_files.cpp copies it under the real name into a valid checkpoint).

struct JsonRole {
    const char * folder;
    const char * file_name; // the name HfCheckpoint::open looks for
};

inline constexpr JsonRole kJsonRoles[] = {
    { "config", "config.json" },
    { "generation_config", "generation_config.json" },
    { "tokenizer", "tokenizer.json" },
    { "tokenizer_config", "tokenizer_config.json" },
    { "hf_quant_config", "hf_quant_config.json" },
    { "index", "model.safetensors.index.json" },
};

inline std::vector<BrokenFile> json_corrupt_cases() {
    std::string deep, deep_in_string;
    for (int i = 0; i < 300; i++) {
        deep += "[";
    }
    deep_in_string            = "{\"a\":\"" + deep + "\",\"b\":" + deep + "}";
    const std::string ct_head = "{\"quantization_config\":{\"quant_method\":\"compressed-tensors\","
                                "\"format\":\"nvfp4-pack-quantized\",";
    const std::string ct_group =
        "{\"targets\":[\"Linear\"],\"weights\":{\"num_bits\":8,\"type\":\"float\",\"strategy\":\"block\",";
    return {
        // Syntax and limits, on the file every checkpoint has.
        { "config/empty.json", "", "invalid JSON" },
        { "config/whitespace_only.json", " \n\t ", "invalid JSON" },
        { "config/truncated.json", "{\"model_type\": \"llama\", \"hidden_size\": 40", "invalid JSON" },
        { "config/truncated_in_string.json", "{\"model_type\": \"lla", "invalid JSON" },
        { "config/trailing_garbage.json", "{\"model_type\": \"llama\"} }", "invalid JSON" },
        { "config/bad_utf8.json", "{\"model_type\": \"ll\xc3\x28ma\"}", "invalid JSON" },
        { "config/bad_utf8_surrogate.json", "{\"model_type\": \"\xed\xa0\x80\"}", "invalid JSON" },
        { "config/lone_surrogate_escape.json", "{\"model_type\": \"\\ud800\"}", "invalid JSON" },
        { "config/nul_byte.json", std::string("{\"model_type\": \"ll\0ama\"}", 24), "invalid JSON" },
        { "config/deep_nesting.json", "{\"a\":" + deep + "}", "nests deeper than" },
        { "config/deep_nesting_after_string.json", deep_in_string, "nests deeper than" },
        { "config/comment.json", "{\"model_type\": \"llama\" /* c */}", "invalid JSON" },
        { "config/nan_literal.json", "{\"rope_theta\": NaN}", "invalid JSON" },
        { "config/number_overflow.json", "{\"rope_theta\": 1e400}", "invalid JSON" },
        { "config/single_quotes.json", "{'model_type': 'llama'}", "invalid JSON" },
        // config.json schema.
        { "config/not_object.json", "[{\"model_type\": \"llama\"}]", "config must be a JSON object" },
        { "config/architectures_not_array.json", "{\"architectures\": \"LlamaForCausalLM\"}",
          "architectures must be an array" },
        { "config/architectures_not_strings.json", "{\"architectures\": [1]}", "architectures must be an array" },
        { "config/hidden_size_string.json", "{\"hidden_size\": \"4096\"}", "hidden_size must be an integer" },
        { "config/hidden_size_float.json", "{\"hidden_size\": 4096.5}", "hidden_size must be an integer" },
        { "config/layers_over_int64.json", "{\"num_hidden_layers\": 18446744073709551615}", "does not fit int64" },
        { "config/rope_theta_string.json", "{\"rope_theta\": \"1e4\"}", "rope_theta must be a number" },
        { "config/rope_scaling_not_object.json", "{\"rope_scaling\": [1, 2]}", "rope_scaling must be an object" },
        { "config/tie_not_bool.json", "{\"tie_word_embeddings\": 1}", "tie_word_embeddings must be a boolean" },
        { "config/text_config_bad_type.json", "{\"text_config\": {\"head_dim\": true}}",
          "head_dim must be an integer" },
        // quantization_config in config.json.
        { "config/quantization_config_not_object.json", "{\"quantization_config\": \"nvfp4\"}",
          "quantization_config must be an object" },
        { "config/ct_config_groups_not_object.json", ct_head + "\"config_groups\":[1]}}",
          "config_groups must be an object" },
        { "config/ct_group_not_object.json", ct_head + "\"config_groups\":{\"group_0\":7}}}", "must be an object" },
        { "config/ct_targets_not_strings.json", ct_head + "\"config_groups\":{\"group_0\":{\"targets\":[1]}}}}",
          "targets must be an array of strings" },
        { "config/ct_ignore_not_array.json", ct_head + "\"ignore\":\"lm_head\"}}", "ignore must be an array" },
        { "config/ct_block_structure_bad.json",
          "{\"quantization_config\":{\"quant_method\":\"compressed-tensors\",\"format\":\"float-quantized\","
          "\"config_groups\":{\"group_0\":" +
              ct_group + "\"block_structure\":[128]}}}}}",
          "block_structure must be [rows, cols]" },
        { "config/fp8_block_size_zero.json",
          "{\"quantization_config\":{\"quant_method\":\"fp8\",\"weight_block_size\":[0,128]}}",
          "weight_block_size must be [rows, cols]" },
        { "config/fp8_block_size_huge.json",
          "{\"quantization_config\":{\"quant_method\":\"fp8\",\"weight_block_size\":[128,4294967296]}}",
          "weight_block_size must be [rows, cols]" },
        { "config/fp8_not_convert_not_strings.json",
          "{\"quantization_config\":{\"quant_method\":\"fp8\",\"modules_to_not_convert\":[null, 3]}}",
          "modules_to_not_convert must be an array of strings" },
        // generation_config.json is only parsed.
        { "generation_config/truncated.json", "{\"bos_token_id\": 1, \"eos_token_id\": [2,", "invalid JSON" },
        { "generation_config/deep_nesting.json", deep, "nests deeper than" },
        // tokenizer.json.
        { "tokenizer/not_object.json", "\"BPE\"", "tokenizer.json must be a JSON object" },
        { "tokenizer/no_model.json", "{\"version\": \"1.0\"}", "needs a \"model\" object" },
        { "tokenizer/vocab_not_container.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": 5}}",
          "model.vocab must be an object or an array" },
        { "tokenizer/vocab_negative_id.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": -1}}}",
          "must be an integer in [0, 2^31)" },
        { "tokenizer/vocab_huge_id.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 4294967296}}}",
          "must be an integer in [0, 2^31)" },
        { "tokenizer/vocab_id_over_int64.json",
          "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 18446744073709551615}}}",
          "must be an integer in [0, 2^31)" },
        { "tokenizer/vocab_id_float.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 1.5}}}",
          "must be an integer in [0, 2^31)" },
        { "tokenizer/unigram_bad_entry.json",
          "{\"model\": {\"type\": \"Unigram\", \"vocab\": [[\"a\", -1.0], [\"b\"]]}}",
          "Unigram vocab entries must be [piece, score]" },
        { "tokenizer/merges_not_array.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {}, \"merges\": \"a b\"}}",
          "model.merges must be an array" },
        { "tokenizer/merges_bad_entry.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {}, \"merges\": [[\"a\"]]}}",
          "model.merges entries" },
        { "tokenizer/added_tokens_not_array.json", "{\"model\": {\"vocab\": {}}, \"added_tokens\": {}}",
          "added_tokens must be an array" },
        { "tokenizer/added_token_no_content.json", "{\"model\": {\"vocab\": {}}, \"added_tokens\": [{\"id\": 3}]}",
          "added_tokens entries need" },
        { "tokenizer/added_token_huge_id.json",
          "{\"model\": {\"vocab\": {}}, \"added_tokens\": [{\"id\": 2147483648, \"content\": \"x\"}]}",
          "added_tokens entries need" },
        { "tokenizer/model_type_not_string.json", "{\"model\": {\"type\": 1}}", "type must be a string" },
        // tokenizer_config.json.
        { "tokenizer_config/not_object.json", "null", "tokenizer_config.json must be a JSON object" },
        { "tokenizer_config/bos_token_number.json", "{\"bos_token\": 1}", "bos_token must be a string" },
        { "tokenizer_config/eos_token_object_no_content.json", "{\"eos_token\": {\"lstrip\": false}}",
          "eos_token must be a string" },
        { "tokenizer_config/add_bos_not_bool.json", "{\"add_bos_token\": \"true\"}",
          "add_bos_token must be a boolean" },
        { "tokenizer_config/tokenizer_class_not_string.json", "{\"tokenizer_class\": []}",
          "tokenizer_class must be a string" },
        // hf_quant_config.json (ModelOpt).
        { "hf_quant_config/no_quantization.json", "{\"producer\": {\"name\": \"modelopt\"}}",
          "needs a \"quantization\" object" },
        { "hf_quant_config/quantization_not_object.json", "{\"quantization\": \"NVFP4\"}",
          "needs a \"quantization\" object" },
        { "hf_quant_config/exclude_not_strings.json",
          "{\"quantization\": {\"quant_algo\": \"NVFP4\", "
          "\"exclude_modules\": [\"lm_head\", {}]}}",
          "exclude_modules must be an array of strings" },
        { "hf_quant_config/quantized_layers_not_object.json",
          "{\"quantization\": {\"quant_algo\": \"MIXED_PRECISION\", \"quantized_layers\": []}}",
          "quantized_layers must be an object" },
        { "hf_quant_config/quantized_layer_no_algo.json",
          "{\"quantization\": {\"quant_algo\": \"MIXED_PRECISION\", \"quantized_layers\": {\"a.b\": {}}}}",
          "needs a string quant_algo" },
        // model.safetensors.index.json.
        { "index/not_object.json", "[]", "index must be a JSON object" },
        { "index/no_weight_map.json", "{\"metadata\": {\"total_size\": 8}}", "needs a \"weight_map\" object" },
        { "index/weight_map_value_not_string.json", "{\"weight_map\": {\"w\": 1}}", "must be a file name" },
        { "index/shard_path_traversal.json", "{\"weight_map\": {\"w\": \"../model-00001-of-00001.safetensors\"}}",
          "shards must be plain file names" },
        { "index/shard_absolute_path.json", "{\"weight_map\": {\"w\": \"/etc/passwd\"}}",
          "shards must be plain file names" },
        { "index/shard_dotdot.json", "{\"weight_map\": {\"w\": \"..\"}}", "shards must be plain file names" },
        { "index/shard_missing.json", "{\"weight_map\": {\"w\": \"model-00002-of-00002.safetensors\"}}",
          "does not exist" },
        { "index/tensor_not_in_shard.json",
          "{\"weight_map\": {\"w\": \"model-00001-of-00001.safetensors\", "
          "\"missing\": \"model-00001-of-00001.safetensors\"}}",
          "but that shard does not contain it" },
        { "index/duplicate_tensor.json",
          "{\"weight_map\": {\"w\": \"model-00001-of-00001.safetensors\", \"w\": "
          "\"model-00001-of-00001.safetensors\"}}",
          "duplicate key" },
    };
}

} // namespace nibble::test
