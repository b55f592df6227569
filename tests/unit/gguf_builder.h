// Test helper: builds GGUF images byte by byte, independently of GgufWriter, so reader tests do not
// trust the code they check. Every field can be overridden to produce broken files, and the builder
// records where each section starts so tests can truncate or patch at exact boundaries.
// Used by tests/unit/test_gguf.cpp (and the corrupt corpus in tests/data/gguf-corrupt).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace nibble::test {

using Bytes = std::vector<uint8_t>;

inline void put_u32(Bytes & b, uint32_t v) {
    const size_t at = b.size();
    b.resize(at + 4);
    std::memcpy(b.data() + at, &v, 4);
}

inline void put_u64(Bytes & b, uint64_t v) {
    const size_t at = b.size();
    b.resize(at + 8);
    std::memcpy(b.data() + at, &v, 8);
}

inline void put_bytes(Bytes & b, const void * p, size_t n) {
    // resize + memcpy rather than insert(): g++ 12 -O3 reports bogus -Warray-bounds on the latter.
    const size_t at = b.size();
    b.resize(at + n);
    if (n > 0) {
        std::memcpy(b.data() + at, p, n);
    }
}

inline void put_str(Bytes & b, std::string_view s) {
    put_u64(b, s.size());
    put_bytes(b, s.data(), s.size());
}

// Encoded values: type id followed by the payload, as they follow a key.
inline Bytes val_u32(uint32_t v) {
    Bytes b;
    put_u32(b, 4);
    put_u32(b, v);
    return b;
}

inline Bytes val_i32(int32_t v) {
    Bytes b;
    put_u32(b, 5);
    put_u32(b, uint32_t(v));
    return b;
}

inline Bytes val_str(std::string_view s) {
    Bytes b;
    put_u32(b, 8);
    put_str(b, s);
    return b;
}

inline Bytes val_raw(uint32_t type, const void * data, size_t n) {
    Bytes b;
    put_u32(b, type);
    put_bytes(b, data, n);
    return b;
}

inline Bytes val_str_array(const std::vector<std::string> & v) {
    Bytes b;
    put_u32(b, 9);
    put_u32(b, 8);
    put_u64(b, v.size());
    for (const std::string & s : v) {
        put_str(b, s);
    }
    return b;
}

// An empty ARRAY whose element type id is `elem` (valid or not).
inline Bytes val_empty_array(uint32_t elem) {
    Bytes b;
    put_u32(b, 9);
    put_u32(b, elem);
    put_u64(b, 0);
    return b;
}

// ARRAY of ARRAY of INT32 with `depth` levels of nesting around a single [1, 2] leaf.
inline Bytes val_nested(int depth) {
    Bytes leaf;
    put_u32(leaf, 5);
    put_u64(leaf, 2);
    put_u32(leaf, 1);
    put_u32(leaf, 2);
    for (int d = 1; d < depth; d++) {
        Bytes outer;
        put_u32(outer, 9);
        put_u64(outer, 1);
        put_bytes(outer, leaf.data(), leaf.size());
        leaf = std::move(outer);
    }
    Bytes b;
    put_u32(b, 9);
    put_bytes(b, leaf.data(), leaf.size());
    return b;
}

struct TensorSpec {
    std::string             name;
    uint32_t                type = 0; // ggml type id
    std::vector<int64_t>    ne;
    uint64_t                nbytes = 0;  // data bytes to emit (the builder does not know block sizes)
    std::optional<uint64_t> offset;      // default: sequential, aligned
    std::optional<uint32_t> n_dims;      // default: ne.size()
    bool                    emit = true; // write the data bytes (off for offsets far past the end)

    // An offset past any sane file: record it but write no data there.
    void place_far(uint64_t off) {
        offset = off;
        emit   = false;
    }
};

struct GgufBuilder {
    uint32_t                                   magic   = 0x46554747;
    uint32_t                                   version = 3;
    std::optional<uint64_t>                    n_tensors;      // default: tensors.size()
    std::optional<uint64_t>                    n_kv;           // default: kvs.size()
    uint32_t                                   alignment = 32; // padding the builder applies (not a KV)
    std::vector<std::pair<std::string, Bytes>> kvs;
    std::vector<TensorSpec>                    tensors;

    // Filled by build(): file offsets of section starts.
    struct Layout {
        size_t              after_header = 0;
        std::vector<size_t> kv_starts;
        size_t              after_kvs = 0;
        std::vector<size_t> info_starts;
        size_t              after_infos = 0;
        size_t              data_start  = 0;
        std::vector<size_t> tensor_starts;
        size_t              data_end = 0; // end of the last tensor's bytes (before trailing padding)
    } layout;

    GgufBuilder & kv(std::string key, Bytes value) {
        kvs.emplace_back(std::move(key), std::move(value));
        return *this;
    }

    GgufBuilder & tensor(std::string name, uint32_t type, std::vector<int64_t> ne, uint64_t nbytes) {
        tensors.push_back(TensorSpec{ std::move(name), type, std::move(ne), nbytes, std::nullopt, std::nullopt, true });
        return *this;
    }

    Bytes build() {
        layout = Layout{};
        Bytes b;
        put_u32(b, magic);
        put_u32(b, version);
        put_u64(b, n_tensors.value_or(tensors.size()));
        put_u64(b, n_kv.value_or(kvs.size()));
        layout.after_header = b.size();
        for (const auto & [key, value] : kvs) {
            layout.kv_starts.push_back(b.size());
            put_str(b, key);
            put_bytes(b, value.data(), value.size());
        }
        layout.after_kvs           = b.size();
        uint64_t              next = 0;
        std::vector<uint64_t> offsets;
        for (const TensorSpec & t : tensors) {
            layout.info_starts.push_back(b.size());
            put_str(b, t.name);
            put_u32(b, t.n_dims.value_or(uint32_t(t.ne.size())));
            for (int64_t d : t.ne) {
                put_u64(b, uint64_t(d));
            }
            put_u32(b, t.type);
            const uint64_t off = t.offset.value_or(next);
            put_u64(b, off);
            offsets.push_back(off);
            next = off + (t.nbytes + alignment - 1) / alignment * alignment;
        }
        layout.after_infos = b.size();
        b.resize((b.size() + alignment - 1) / alignment * alignment, 0);
        layout.data_start = b.size();
        // Data: tensor i is filled with bytes (i + 1) so overlaps and copies are visible.
        for (size_t i = 0; i < tensors.size(); i++) {
            if (!tensors[i].emit) {
                layout.tensor_starts.push_back(0);
                continue;
            }
            const size_t start = layout.data_start + size_t(offsets[i]);
            const size_t end   = start + size_t(tensors[i].nbytes);
            if (b.size() < end) {
                b.resize(end, 0);
            }
            std::memset(b.data() + start, int(i + 1), size_t(tensors[i].nbytes));
            layout.tensor_starts.push_back(start);
            layout.data_end = std::max(layout.data_end, end);
        }
        if (tensors.empty()) {
            layout.data_end = b.size();
        }
        b.resize((b.size() + alignment - 1) / alignment * alignment, 0); // ggml pads the last tensor too
        return b;
    }
};

// A small valid file with every value type (incl. a nested array) and three tensors of different
// formats: the base that the corrupt cases mutate.
inline GgufBuilder valid_builder() {
    GgufBuilder    g;
    const uint8_t  u8  = 200;
    const int8_t   i8  = -100;
    const uint16_t u16 = 60000;
    const int16_t  i16 = -30000;
    const float    f32 = 1e-5f;
    const uint8_t  b1  = 1;
    const uint64_t u64 = 1ull << 40;
    const int64_t  i64 = -(1ll << 40);
    const double   f64 = 3.25;
    Bytes          arr_u32;
    put_u32(arr_u32, 9);
    put_u32(arr_u32, 4);
    put_u64(arr_u32, 3);
    for (uint32_t v : { 7u, 8u, 9u }) {
        put_u32(arr_u32, v);
    }
    g.kv("general.architecture", val_str("llama"))
        .kv("general.alignment", val_u32(32))
        .kv("t.u8", val_raw(0, &u8, 1))
        .kv("t.i8", val_raw(1, &i8, 1))
        .kv("t.u16", val_raw(2, &u16, 2))
        .kv("t.i16", val_raw(3, &i16, 2))
        .kv("t.u32", val_u32(4000000000u))
        .kv("t.i32", val_i32(-5))
        .kv("t.f32", val_raw(6, &f32, 4))
        .kv("t.bool", val_raw(7, &b1, 1))
        .kv("t.u64", val_raw(10, &u64, 8))
        .kv("t.i64", val_raw(11, &i64, 8))
        .kv("t.f64", val_raw(12, &f64, 8))
        .kv("t.arr_u32", arr_u32)
        .kv("t.arr_str", val_str_array({ "a", "", "h\xc3\xa9llo" }))
        .kv("t.nested", val_nested(2));
    g.tensor("norm.weight", 0, { 8 }, 32);              // f32 [8]
    g.tensor("blk.0.attn_q.weight", 1, { 32, 2 }, 128); // f16 [32, 2]
    g.tensor("blk.0.ffn_up.weight", 8, { 64, 2 }, 136); // q8_0 [64, 2]: 2 blocks x 34 bytes x 2 rows
    return g;
}

struct CorruptCase {
    std::string name; // file name stem in tests/data/gguf-corrupt
    Bytes       bytes;
    std::string rule; // substring the error message must contain
};

// The hand-made broken files. Each breaks exactly one rule of FORMATS.md §2 (or one of our limits).
inline std::vector<CorruptCase> corrupt_cases() {
    std::vector<CorruptCase> out;
    auto                     add = [&out](std::string name, GgufBuilder g, std::string rule) {
        out.push_back(CorruptCase{ std::move(name), g.build(), std::move(rule) });
    };
    auto patch_u64 = [](Bytes b, size_t at, uint64_t v) {
        std::memcpy(b.data() + at, &v, 8);
        return b;
    };
    auto raw = [&out](std::string name, Bytes b, std::string rule) {
        out.push_back(CorruptCase{ std::move(name), std::move(b), std::move(rule) });
    };

    // One field changed on the valid file per case (captureless lambdas, so a plain table).
    // Kept one per line by hand: clang-format 14 mangles aligned assignments inside these lambdas.
    // clang-format off
    struct Mutation {
        const char * name;
        void (*apply)(GgufBuilder &);
        const char * rule;
    };
    static const Mutation kMutations[] = {
        { "bad_magic", [](GgufBuilder & g) { g.magic = 0x58554747; }, "bad magic" },
        { "version_0", [](GgufBuilder & g) { g.version = 0; }, "unsupported GGUF version 0" },
        { "version_1", [](GgufBuilder & g) { g.version = 1; }, "unsupported GGUF version 1" },
        { "version_4", [](GgufBuilder & g) { g.version = 4; }, "unsupported GGUF version 4" },
        { "big_endian", [](GgufBuilder & g) { g.version = 0x03000000; }, "big-endian GGUF not supported" },
        { "huge_n_tensors", [](GgufBuilder & g) { g.n_tensors = 1ull << 62; }, "tensor count" },
        { "negative_n_tensors", [](GgufBuilder & g) { g.n_tensors = ~0ull; }, "tensor count" },
        { "huge_n_kv", [](GgufBuilder & g) { g.n_kv = 1ull << 60; }, "KV count" },
        { "negative_n_kv", [](GgufBuilder & g) { g.n_kv = ~0ull; }, "KV count" },
        { "n_kv_past_infos", [](GgufBuilder & g) { g.n_kv = g.kvs.size() + 1; }, "" },
        { "n_tensors_past_eof", [](GgufBuilder & g) { g.n_tensors = 4; }, "tensor 3" },
        { "unknown_kv_type", [](GgufBuilder & g) { g.kvs[2].second = { 13, 0, 0, 0, 0 }; }, "value type 13" },
        { "negative_kv_type", [](GgufBuilder & g) { g.kvs[2].second = { 0xff, 0xff, 0xff, 0xff, 0 }; }, "value type" },
        { "unknown_array_type", [](GgufBuilder & g) { g.kvs[2].second = val_empty_array(99); }, "element type 99" },
        { "empty_key", [](GgufBuilder & g) { g.kvs[2].first = ""; }, "key is empty" },
        { "duplicate_key", [](GgufBuilder & g) { g.kvs[3].first = "t.u8"; }, "duplicate key" },
        { "key_with_nul", [](GgufBuilder & g) { g.kvs[2].first = std::string("t.u\0x", 5); }, "NUL" },
        { "key_bad_utf8", [](GgufBuilder & g) { g.kvs[2].first = "t.\xc3\x28"; }, "UTF-8" },
        { "nested_array_too_deep", [](GgufBuilder & g) { g.kvs[15].second = val_nested(9); }, "nest deeper" },
        { "alignment_not_pow2", [](GgufBuilder & g) { g.kvs[1].second = val_u32(48); }, "power of two" },
        { "alignment_zero", [](GgufBuilder & g) { g.kvs[1].second = val_u32(0); }, "power of two" },
        { "alignment_wrong_type", [](GgufBuilder & g) { g.kvs[1].second = val_i32(32); }, "must be UINT32" },
        { "alignment_huge", [](GgufBuilder & g) { g.kvs[1].second = val_u32(1u << 30); }, "kGgufMaxAlignment" },
        { "name_64_bytes", [](GgufBuilder & g) { g.tensors[1].name = std::string(64, 'x'); }, "more than 63" },
        { "name_empty", [](GgufBuilder & g) { g.tensors[1].name = ""; }, "tensor name is empty" },
        { "duplicate_tensor_name", [](GgufBuilder & g) { g.tensors[2].name = g.tensors[0].name; }, "duplicate tensor" },
        { "tensor_name_nul", [](GgufBuilder & g) { g.tensors[1].name = std::string("a\0b", 3); }, "NUL" },
        { "n_dims_0", [](GgufBuilder & g) { g.tensors[1].n_dims = 0; }, "n_dims 0" },
        { "n_dims_5", [](GgufBuilder & g) { g.tensors[1].ne = { 32, 2, 1, 1, 1 }; }, "n_dims 5" },
        { "dim_zero", [](GgufBuilder & g) { g.tensors[1].ne = { 32, 0 }; }, "is not positive" },
        { "dim_negative", [](GgufBuilder & g) { g.tensors[1].ne = { 32, -2 }; }, "is not positive" },
        { "dims_overflow", [](GgufBuilder & g) { g.tensors[1].ne = { 1ll << 40, 1ll << 40 }; }, "overflows int64" },
        { "bytes_overflow", [](GgufBuilder & g) { g.tensors[0].ne = { 1ll << 62 }; }, "overflows int64" },
        { "dims_huge_past_eof", [](GgufBuilder & g) { g.tensors[1].ne = { 1ll << 40, 1024 }; }, "past end of file" },
        { "removed_tensor_type", [](GgufBuilder & g) { g.tensors[1].type = 4; }, "unknown ggml type id 4" },
        { "unknown_tensor_type", [](GgufBuilder & g) { g.tensors[1].type = 43; }, "unknown ggml type id 43" },
        { "negative_tensor_type", [](GgufBuilder & g) { g.tensors[1].type = ~0u; }, "unknown ggml type id" },
        { "ne0_not_block_multiple", [](GgufBuilder & g) { g.tensors[2].ne = { 48, 2 }; }, "not a multiple" },
        { "misaligned_offset", [](GgufBuilder & g) { g.tensors[1].offset = 48; }, "not a multiple of the alignment" },
        { "offset_past_eof", [](GgufBuilder & g) { g.tensors[2].place_far(1ull << 20); }, "past end of file" },
        { "offset_huge", [](GgufBuilder & g) { g.tensors[2].place_far(~0ull << 5); }, "past end of file" },
        { "overlapping_tensors", [](GgufBuilder & g) { g.tensors[2].offset = 0; }, "overlaps" },
        // Tensor 1 occupies [32, 160); 64 is aligned and inside it.
        { "overlapping_partial", [](GgufBuilder & g) { g.tensors[2].offset = 64; }, "overlaps" },
    };
    // clang-format on
    for (const Mutation & m : kMutations) {
        GgufBuilder g = valid_builder();
        m.apply(g);
        add(m.name, g, m.rule);
    }

    {
        GgufBuilder v = valid_builder();
        Bytes       b = v.build();
        raw("key_length_past_eof", patch_u64(b, v.layout.kv_starts[0], 1ull << 40), "key length");
        raw("key_length_huge", patch_u64(b, v.layout.kv_starts[0], ~0ull), "key length");
        // general.architecture's value length: after key length (8), key (20) and type (4).
        raw("string_length_past_eof", patch_u64(b, v.layout.kv_starts[0] + 8 + 20 + 4, 1ull << 32),
            "string value length");
        // t.arr_u32 count: key length 8 + key 9 + type 4 + element type 4.
        raw("array_count_huge", patch_u64(b, v.layout.kv_starts[13] + 8 + 9 + 4 + 4, 1ull << 60), "array count");
        raw("array_count_past_eof", patch_u64(b, v.layout.kv_starts[13] + 8 + 9 + 4 + 4, 100000), "array count");
        // t.arr_str count.
        raw("string_array_count_huge", patch_u64(b, v.layout.kv_starts[14] + 8 + 9 + 4 + 4, 1ull << 61), "array count");
        raw("truncated_in_header", Bytes(b.begin(), b.begin() + 12), "truncated");
        raw("truncated_after_header", Bytes(b.begin(), b.begin() + long(v.layout.after_header)), "truncated");
        // Inside the last key, so the KV count still passes the bytes-left bound and the key read fails.
        raw("truncated_in_kv", Bytes(b.begin(), b.begin() + long(v.layout.kv_starts[15] + 10)), "truncated");
        raw("truncated_after_kvs", Bytes(b.begin(), b.begin() + long(v.layout.after_kvs)), "truncated");
        raw("truncated_in_tensor_info", Bytes(b.begin(), b.begin() + long(v.layout.info_starts[1] + 20)), "truncated");
        raw("truncated_after_infos", Bytes(b.begin(), b.begin() + long(v.layout.after_infos)), "past end of file");
        raw("truncated_in_data", Bytes(b.begin(), b.begin() + long(v.layout.data_end - 1)), "past end of file");
        raw("empty_file", Bytes{}, "truncated");
    }
    return out;
}

} // namespace nibble::test
