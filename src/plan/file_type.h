// llama_ftype: the file types `nibble quantize` writes, with their CLI names and default formats.
// One table (STYLE.md Do #2); the per-tensor policy that uses it is plan/quant_policy.h.
#pragma once

#include "formats/format.h"

#include <optional>
#include <string_view>
#include <vector>

namespace nibble {

// llama_ftype (include/llama.h), the value stored in `general.file_type`. Only the file types nibble
// can write are listed; the numbers are llama.cpp's, never renumber them.
enum class FileType : int {
    F32       = 0,
    F16       = 1,
    Q4_0      = 2,
    Q4_1      = 3,
    Q8_0      = 7,
    Q5_0      = 8,
    Q5_1      = 9,
    Q2_K      = 10,
    Q3_K_S    = 11,
    Q3_K_M    = 12,
    Q3_K_L    = 13,
    Q4_K_S    = 14,
    Q4_K_M    = 15,
    Q5_K_S    = 16,
    Q5_K_M    = 17,
    Q6_K      = 18,
    Q2_K_S    = 21, // the one file type whose Q2_K tensors require an importance matrix (§4.5)
    IQ4_NL    = 25,
    IQ4_XS    = 30,
    BF16      = 32,
    MXFP4_MOE = 38,
    NVFP4     = 39, // nibble: not selectable in llama-quantize yet (issue 4, item 3)
};

struct FileTypeInfo {
    FileType     type;
    const char * name;           // CLI name as llama-quantize prints it ("Q4_K_M")
    const char * alias;          // second CLI name or nullptr ("Q4_K" for Q4_K_M)
    const char * ftype_name;     // llama_ftype_name() ("Q4_K - Medium"), shown in summaries
    Format       default_format; // llama_ftype_get_default_type()
};

// One row per FileType, in llama_ftype order.
const std::vector<FileTypeInfo> & file_types();
const FileTypeInfo &              file_type_info(FileType t);
// Case-insensitive CLI name or alias ("q4_k" -> Q4_K_M), or the llama_ftype number ("15"), as
// llama-quantize's try_parse_ftype accepts them.
std::optional<FileType>           file_type_from_name(std::string_view name);

} // namespace nibble
