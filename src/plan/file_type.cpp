#include "plan/file_type.h"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace nibble {
namespace {

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower((unsigned char)x) == std::tolower((unsigned char)y);
           });
}

} // namespace

const std::vector<FileTypeInfo> & file_types() {
    static const std::vector<FileTypeInfo> kFileTypes = {
        { FileType::F32, "F32", nullptr, "all F32", Format::F32 },
        { FileType::F16, "F16", nullptr, "F16", Format::F16 },
        { FileType::Q4_0, "Q4_0", nullptr, "Q4_0", Format::Q4_0 },
        { FileType::Q4_1, "Q4_1", nullptr, "Q4_1", Format::Q4_1 },
        { FileType::Q8_0, "Q8_0", nullptr, "Q8_0", Format::Q8_0 },
        { FileType::Q5_0, "Q5_0", nullptr, "Q5_0", Format::Q5_0 },
        { FileType::Q5_1, "Q5_1", nullptr, "Q5_1", Format::Q5_1 },
        { FileType::Q2_K, "Q2_K", nullptr, "Q2_K - Medium", Format::Q2_K },
        { FileType::Q3_K_S, "Q3_K_S", nullptr, "Q3_K - Small", Format::Q3_K },
        { FileType::Q3_K_M, "Q3_K_M", "Q3_K", "Q3_K - Medium", Format::Q3_K },
        { FileType::Q3_K_L, "Q3_K_L", nullptr, "Q3_K - Large", Format::Q3_K },
        { FileType::Q4_K_S, "Q4_K_S", nullptr, "Q4_K - Small", Format::Q4_K },
        { FileType::Q4_K_M, "Q4_K_M", "Q4_K", "Q4_K - Medium", Format::Q4_K },
        { FileType::Q5_K_S, "Q5_K_S", nullptr, "Q5_K - Small", Format::Q5_K },
        { FileType::Q5_K_M, "Q5_K_M", "Q5_K", "Q5_K - Medium", Format::Q5_K },
        { FileType::Q6_K, "Q6_K", nullptr, "Q6_K", Format::Q6_K },
        { FileType::Q2_K_S, "Q2_K_S", nullptr, "Q2_K - Small", Format::Q2_K },
        { FileType::IQ4_NL, "IQ4_NL", nullptr, "IQ4_NL - 4.5 bpw", Format::IQ4_NL },
        { FileType::IQ4_XS, "IQ4_XS", nullptr, "IQ4_XS - 4.25 bpw", Format::IQ4_XS },
        { FileType::BF16, "BF16", nullptr, "BF16", Format::BF16 },
        { FileType::MXFP4_MOE, "MXFP4_MOE", nullptr, "MXFP4 MoE", Format::MXFP4 },
        { FileType::NVFP4, "NVFP4", nullptr, "NVFP4", Format::NVFP4 },
    };
    return kFileTypes;
}

const FileTypeInfo & file_type_info(FileType t) {
    for (const FileTypeInfo & info : file_types()) {
        if (info.type == t) {
            return info;
        }
    }
    return file_types().front(); // unreachable for valid enumerators
}

std::optional<FileType> file_type_from_name(std::string_view name) {
    for (const FileTypeInfo & info : file_types()) {
        if (iequals(name, info.name) || (info.alias != nullptr && iequals(name, info.alias))) {
            return info.type;
        }
    }
    int value            = 0;
    const auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), value);
    if (ec == std::errc{} && end == name.data() + name.size()) {
        for (const FileTypeInfo & info : file_types()) {
            if (int(info.type) == value) {
                return info.type;
            }
        }
    }
    return std::nullopt;
}

} // namespace nibble
