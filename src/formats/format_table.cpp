#include "formats/format_table.h"

#include <cctype>

namespace nibble {

const FormatInfo & format_info(Format f) { return kFormats[size_t(f)]; }

const char * format_name(Format f) { return kFormats[size_t(f)].name; }

std::optional<Format> format_from_name(std::string_view name) {
    for (const FormatInfo & info : kFormats) {
        std::string_view n = info.name;
        if (n.size() != name.size()) {
            continue;
        }
        bool same = true;
        for (size_t i = 0; i < n.size() && same; ++i) {
            same = std::tolower((unsigned char) n[i]) == std::tolower((unsigned char) name[i]);
        }
        if (same) {
            return info.format;
        }
    }
    return std::nullopt;
}

std::optional<Format> format_from_ggml_type(int ggml_type) {
    if (ggml_type < 0) {
        return std::nullopt;
    }
    for (const FormatInfo & info : kFormats) {
        if (info.ggml_type == ggml_type) {
            return info.format;
        }
    }
    return std::nullopt;
}

int64_t row_size(Format f, int64_t n) {
    const FormatInfo & info = format_info(f);
    return n / info.block_size * info.type_size;
}

}  // namespace nibble
