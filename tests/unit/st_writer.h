// Test helper: writes small SafeTensors files and JSON side files by hand, so checkpoint tests can
// build exactly the layout they need (shards, quantized roles, broken shapes) without Python.
#pragma once

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace nibble::test {

struct StEntry {
    std::string          name;
    std::string          dtype;
    std::vector<int64_t> shape;
    std::string          bytes; // empty: zero-filled to the size dtype x shape needs
};

inline int st_test_dtype_bytes(const std::string & dt) {
    if (dt == "F64" || dt == "I64" || dt == "U64") {
        return 8;
    }
    if (dt == "F32" || dt == "I32" || dt == "U32") {
        return 4;
    }
    if (dt == "F16" || dt == "BF16" || dt == "I16" || dt == "U16") {
        return 2;
    }
    return 1;
}

inline std::string f32_bytes(const std::vector<float> & v) {
    std::string s(v.size() * 4, '\0');
    if (!v.empty()) {
        std::memcpy(s.data(), v.data(), s.size());
    }
    return s;
}

inline std::string i64_bytes(const std::vector<int64_t> & v) {
    std::string s(v.size() * 8, '\0');
    if (!v.empty()) {
        std::memcpy(s.data(), v.data(), s.size());
    }
    return s;
}

// The SafeTensors image: 8-byte header length, JSON header padded with spaces to a multiple of 8
// (as the reference writer does), data in entry order.
inline std::string st_image(const std::vector<StEntry> &               entries,
                            const std::map<std::string, std::string> & meta = {}) {
    nlohmann::ordered_json hdr = nlohmann::ordered_json::object();
    if (!meta.empty()) {
        hdr["__metadata__"] = meta;
    }
    std::string data;
    for (const StEntry & e : entries) {
        int64_t n = 1;
        for (int64_t d : e.shape) {
            n *= d;
        }
        const std::string bytes =
            e.bytes.empty() ? std::string(size_t(n * st_test_dtype_bytes(e.dtype)), '\0') : e.bytes;
        hdr[e.name] = { { "dtype", e.dtype },
                        { "shape", e.shape },
                        { "data_offsets", { data.size(), data.size() + bytes.size() } } };
        data += bytes;
    }
    std::string h = hdr.dump();
    h.append((8 - h.size() % 8) % 8, ' ');
    std::string    out(8, '\0');
    const uint64_t n = h.size();
    std::memcpy(out.data(), &n, 8);
    return out + h + data;
}

inline void write_text(const std::filesystem::path & p, const std::string & s) {
    std::ofstream f(p, std::ios::binary | std::ios::trunc);
    f.write(s.data(), std::streamsize(s.size()));
}

inline void write_st(const std::filesystem::path & p, const std::vector<StEntry> & entries,
                     const std::map<std::string, std::string> & meta = {}) {
    write_text(p, st_image(entries, meta));
}

} // namespace nibble::test
