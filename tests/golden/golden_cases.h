// Reader for ../shared/golden/formats (see its README): cases.txt, inputs, imatrices, expected
// quantized bytes and dequantized floats. Header-only so scratch harnesses can reuse it.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace nibble::golden {

inline constexpr int64_t kRows     = 16;
inline constexpr int64_t kPerRow   = 512;

struct Case {
    std::string type;  // ggml type name as in cases.txt ("q4_K", "nvfp4", ...)
    std::string set;   // gauss | outlier | real | edge
    bool        with_imatrix = false;
    int64_t     row_bytes    = 0;
    std::string q_file;
    std::string dequant_file;
};

// NIBBLE_GOLDEN_DIR wins; else the shared folder beside the checkout (tests run from the build dir
// or the repo root, so try both).
inline std::string golden_dir() {
    if (const char * env = std::getenv("NIBBLE_GOLDEN_DIR")) {
        return env;
    }
    for (const char * cand : {"../shared/golden/formats", "../../shared/golden/formats", "../../../shared/golden/formats"}) {
        std::ifstream f(std::string(cand) + "/cases.txt");
        if (f) {
            return cand;
        }
    }
    return "";
}

inline std::vector<char> read_file(const std::string & path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) {
        throw std::runtime_error("cannot open " + path);
    }
    return std::vector<char>((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

inline std::vector<float> read_f32(const std::string & path) {
    std::vector<char>  raw = read_file(path);
    std::vector<float> out(raw.size() / 4);
    std::memcpy(out.data(), raw.data(), out.size() * 4);
    return out;
}

inline std::vector<Case> read_cases(const std::string & dir) {
    std::ifstream     f(dir + "/cases.txt");
    std::vector<Case> cases;
    std::string       line;
    while (std::getline(f, line)) {
        if (line.empty()) {
            continue;
        }
        std::istringstream ss(line);
        Case               c;
        int                imat = 0;
        std::string        kw;
        ss >> c.type >> c.set >> imat >> kw >> c.row_bytes >> c.q_file >> c.dequant_file;
        if (!ss || kw != "rowbytes") {
            throw std::runtime_error("malformed line in cases.txt: " + line);
        }
        c.with_imatrix = imat != 0;
        cases.push_back(c);
    }
    return cases;
}

}  // namespace nibble::golden
