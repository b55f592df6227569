#include "io/imatrix.h"

#include "core/mmap_file.h"
#include "io/gguf.h"
#include "io/gguf_writer.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>

namespace nibble {

namespace {

constexpr std::string_view kSumsSuffix      = ".in_sum2";
constexpr std::string_view kCountsSuffix    = ".counts";
constexpr char             kKeyDatasets[]   = "imatrix.datasets";
constexpr char             kKeyChunkCount[] = "imatrix.chunk_count";
constexpr char             kKeyChunkSize[]  = "imatrix.chunk_size";

float load_f32(const uint8_t * p) {
    float v;
    std::memcpy(&v, p, sizeof v); // tensor data need not be 4-byte aligned in a hostile file
    return v;
}

std::string describe(float v) {
    return std::isnan(v) ? "NaN" : std::isinf(v) ? (v > 0 ? "+inf" : "-inf") : std::to_string(v);
}

// ---------------------------------------------------------------------------------------------
// GGUF (FORMATS.md §5.2)

Result<uint32_t> required_u32(const GgufFile & f, const char * key) {
    const GgufKV * kv = f.find(key);
    if (kv == nullptr) {
        // llama-quantize's wording: it refuses such files too.
        return Error{ f.path(), 0, std::string("missing imatrix metadata: no key ") + key };
    }
    if (std::optional<uint32_t> v = kv->value.get<uint32_t>()) {
        return *v;
    }
    return Error{ f.path(), kv->offset,
                  std::string("key ") + key + " has type " + gguf_type_name(kv->value.type()) + ", expected UINT32" };
}

Result<Imatrix> load_gguf(const std::string & path) {
    Result<GgufFile> opened = GgufFile::open(path);
    if (!opened) {
        return opened.error();
    }
    const GgufFile & f = *opened;
    Imatrix          m;
    m.path = path;

    const GgufKV * ds = f.find(kKeyDatasets);
    if (ds == nullptr) {
        return Error{ path, 0, std::string("missing imatrix metadata: no key ") + kKeyDatasets };
    }
    if (!ds->value.is_array() || ds->value.elem_type() != GgufType::STRING) {
        return Error{ path, ds->offset, std::string("key ") + kKeyDatasets + " is not an array of strings" };
    }
    for (uint64_t i = 0; i < ds->value.size(); ++i) {
        m.datasets.emplace_back(ds->value.string_at(i));
    }
    Result<uint32_t> chunk_count = required_u32(f, kKeyChunkCount);
    if (!chunk_count) {
        return chunk_count.error();
    }
    Result<uint32_t> chunk_size = required_u32(f, kKeyChunkSize);
    if (!chunk_size) {
        return chunk_size.error();
    }
    m.chunk_count = *chunk_count;
    m.chunk_size  = *chunk_size;

    // Pair `<name>.in_sum2` with `<name>.counts`; other tensors are ignored, as llama-quantize does.
    std::map<std::string, std::pair<const GgufTensor *, const GgufTensor *>, std::less<>> pairs;
    for (const GgufTensor & t : f.tensors()) {
        const std::string_view name = t.name;
        if (name.size() > kSumsSuffix.size() && name.ends_with(kSumsSuffix)) {
            pairs[std::string(name.substr(0, name.size() - kSumsSuffix.size()))].first = &t;
        } else if (name.size() > kCountsSuffix.size() && name.ends_with(kCountsSuffix)) {
            pairs[std::string(name.substr(0, name.size() - kCountsSuffix.size()))].second = &t;
        }
    }
    for (const auto & [name, pc] : pairs) {
        const GgufTensor * sums   = pc.first;
        const GgufTensor * counts = pc.second;
        if (sums == nullptr || counts == nullptr) {
            const GgufTensor * have = sums != nullptr ? sums : counts;
            return Error{ path, have->info_offset,
                          "mismatched sums and counts for " + name + ": " +
                              (sums == nullptr ? "no .in_sum2 tensor" : "no .counts tensor") };
        }
        for (const GgufTensor * t : { sums, counts }) {
            if (t->ggml_type != 0) {
                return Error{ path, t->info_offset, "imatrix tensor " + t->name + " is not F32" };
            }
        }
        const int64_t k     = sums->ne[0];
        const int64_t n_mat = sums->ne[1];
        if (sums->ne[2] != 1 || sums->ne[3] != 1) {
            return Error{ path, sums->info_offset, "imatrix tensor " + sums->name + " has more than 2 dimensions" };
        }
        if (counts->numel() != n_mat) {
            return Error{ path, counts->info_offset,
                          "imatrix tensor " + counts->name + " has " + std::to_string(counts->numel()) +
                              " counts for " + std::to_string(n_mat) + " matrices" };
        }
        const uint64_t sums_at   = f.data_offset() + sums->offset;
        const uint64_t counts_at = f.data_offset() + counts->offset;

        ImatrixEntry e;
        e.n_mat = n_mat;
        e.in_sum2.resize(size_t(k * n_mat));
        e.counts.resize(size_t(n_mat));
        for (int64_t j = 0; j < n_mat; ++j) {
            const float c = load_f32(counts->data + 4 * j);
            if (!std::isfinite(c) || c < 0.0f) {
                return Error{ path, counts_at + uint64_t(4 * j),
                              counts->name + "[" + std::to_string(j) + "] = " + describe(c) + " is not a valid count" };
            }
            e.counts[size_t(j)] = c;
        }
        for (int64_t i = 0; i < k * n_mat; ++i) {
            const float s = load_f32(sums->data + 4 * i);
            if (!std::isfinite(s) || s < 0.0f) {
                return Error{ path, sums_at + uint64_t(4 * i),
                              sums->name + "[" + std::to_string(i) + "] = " + describe(s) +
                                  " is not a valid sum of squares" };
            }
            e.in_sum2[size_t(i)] = s;
        }
        // quantize.cpp load_imatrix: the mean per expert, 1 for experts that saw no token.
        e.mean.resize(e.in_sum2.size());
        for (int64_t j = 0; j < n_mat; ++j) {
            const float c = e.counts[size_t(j)];
            for (int64_t i = 0; i < k; ++i) {
                e.mean[size_t(j * k + i)] = c > 0.0f ? e.in_sum2[size_t(j * k + i)] / c : 1.0f;
            }
        }
        for (int64_t i = 0; i < k * n_mat; ++i) {
            if (!std::isfinite(e.mean[size_t(i)])) { // a huge sum over a tiny count
                return Error{ path, sums_at + uint64_t(4 * i), sums->name + ": mean overflows" };
            }
        }
        m.entries.emplace(name, std::move(e));
    }
    if (m.entries.empty()) {
        return Error{ path, 0, "no imatrix entries (no <name>.in_sum2 / <name>.counts tensors)" };
    }
    return m;
}

// ---------------------------------------------------------------------------------------------
// Legacy .dat (FORMATS.md §5.3)

class LegacyReader {
  public:
    LegacyReader(const std::string & path, const uint8_t * p, size_t n) : path_(path), p_(p), n_(n) {}

    size_t pos() const { return pos_; }
    size_t left() const { return n_ - pos_; }

    Result<int32_t> i32(const char * what) {
        if (left() < 4) {
            return err(std::string("truncated: no room for ") + what);
        }
        int32_t v;
        std::memcpy(&v, p_ + pos_, 4);
        pos_ += 4;
        return v;
    }
    const uint8_t * take(size_t n) {
        const uint8_t * at = p_ + pos_;
        pos_ += n;
        return at;
    }
    Error err(std::string what) const { return Error{ path_, pos_, std::move(what) }; }

  private:
    const std::string & path_;
    const uint8_t *     p_;
    size_t              n_;
    size_t              pos_ = 0;
};

Result<Imatrix> load_legacy(const std::string & path, const MappedFile & file) {
    Imatrix m;
    m.path   = path;
    m.legacy = true;
    LegacyReader    r(path, file.data(), file.size());
    Result<int32_t> n_entries = r.i32("the entry count");
    if (!n_entries) {
        return Error{ path, 0, "too short" };
    }
    if (*n_entries < 1) {
        return Error{ path, 0, "legacy imatrix: entry count " + std::to_string(*n_entries) + " (no data in file)" };
    }
    for (int32_t e = 0; e < *n_entries; ++e) {
        const std::string entry = "legacy imatrix entry " + std::to_string(e + 1) + ": ";
        const size_t      at    = r.pos();
        Result<int32_t>   len   = r.i32("the name length");
        if (!len) {
            return len.error();
        }
        if (*len < 1 || size_t(*len) > r.left()) {
            return Error{
                path, at, entry + "name length " + std::to_string(*len) + " is outside 1.." + std::to_string(r.left())
            };
        }
        const auto *      np = r.take(size_t(*len));
        const std::string name(reinterpret_cast<const char *>(np), size_t(*len));
        if (name.find('\0') != std::string::npos) {
            return Error{ path, at + 4, entry + "name contains a NUL byte" };
        }
        Result<int32_t> ncall = r.i32("ncall");
        if (!ncall) {
            return ncall.error();
        }
        const size_t    nval_at = r.pos();
        Result<int32_t> nval    = r.i32("nval");
        if (!nval) {
            return nval.error();
        }
        if (*nval < 1 || size_t(*nval) > r.left() / 4) {
            return Error{ path, nval_at,
                          entry + name + ": value count " + std::to_string(*nval) + " is outside 1.." +
                              std::to_string(r.left() / 4) };
        }
        const size_t    values_at = r.pos();
        const uint8_t * vp        = r.take(size_t(*nval) * 4);
        ImatrixEntry    out;
        out.mean.resize(size_t(*nval));
        for (int32_t i = 0; i < *nval; ++i) {
            float v = load_f32(vp + 4 * i);
            if (!std::isfinite(v) || v < 0.0f) {
                return Error{ path, values_at + size_t(4 * i),
                              entry + name + "[" + std::to_string(i) + "] = " + describe(v) + " is not valid" };
            }
            // quantize.cpp load_legacy_imatrix: stored values are means times ncall.
            if (*ncall > 0) {
                v /= float(*ncall);
            }
            out.mean[size_t(i)] = v;
        }
        m.entries[name] = std::move(out); // a repeated name replaces the earlier entry, as in llama.cpp
    }
    // Optional trailer written by newer llama-imatrix versions: last chunk and dataset name.
    if (r.left() > 0) {
        Result<int32_t> last = r.i32("the chunk count of the trailer");
        if (!last) {
            return last.error();
        }
        const size_t    len_at = r.pos();
        Result<int32_t> len    = r.i32("the dataset name length of the trailer");
        if (!len) {
            return len.error();
        }
        if (*len < 0 || size_t(*len) > r.left()) {
            return Error{ path, len_at,
                          "legacy imatrix trailer: dataset name length " + std::to_string(*len) + " is outside 0.." +
                              std::to_string(r.left()) };
        }
        const uint8_t * dp = r.take(size_t(*len));
        m.datasets.emplace_back(reinterpret_cast<const char *>(dp), size_t(*len));
        m.chunk_count = uint32_t(std::max(0, *last));
        if (r.left() > 0) {
            return r.err("legacy imatrix: " + std::to_string(r.left()) + " unexpected bytes after the trailer");
        }
    }
    return m;
}

} // namespace

Result<Imatrix> load_imatrix(const std::string & path) {
    Result<MappedFile> file = MappedFile::open(path);
    if (!file) {
        return file.error();
    }
    // llama-quantize tries GGUF and falls back to legacy on any failure; we decide by the magic so a
    // damaged GGUF imatrix gets the GGUF reader's precise error instead of a legacy-format one.
    if (file->size() >= 4 && std::memcmp(file->data(), "GGUF", 4) == 0) {
        return load_gguf(path);
    }
    Result<Imatrix> m = load_legacy(path, *file);
    if (!m) {
        Error e = m.error();
        e.what  = "not a GGUF file, and not a valid legacy imatrix: " + e.what;
        return e;
    }
    return m;
}

void filter_imatrix(Imatrix & m, const std::vector<std::string> & include, const std::vector<std::string> & exclude) {
    auto contains_any = [](const std::string & name, const std::vector<std::string> & needles) {
        return std::any_of(needles.begin(), needles.end(),
                           [&](const std::string & s) { return name.find(s) != std::string::npos; });
    };
    for (auto it = m.entries.begin(); it != m.entries.end();) {
        const bool keep = (include.empty() || contains_any(it->first, include)) && !contains_any(it->first, exclude);
        it              = keep ? std::next(it) : m.entries.erase(it);
    }
}

Result<uint64_t> write_imatrix_gguf(const std::string & path, std::vector<ImatrixStats> stats,
                                    const std::vector<std::string> & datasets, uint32_t chunk_count,
                                    uint32_t chunk_size) {
    std::sort(stats.begin(), stats.end(),
              [](const ImatrixStats & a, const ImatrixStats & b) { return a.name < b.name; });
    GgufWriter           w;
    // Braced initialisers run left to right: the KVs are added in llama-imatrix's order.
    const Result<size_t> kvs[] = { w.add_string("general.type", "imatrix"), w.add_string_array(kKeyDatasets, datasets),
                                   w.add<uint32_t>(kKeyChunkCount, chunk_count),
                                   w.add<uint32_t>(kKeyChunkSize, chunk_size) };
    for (const Result<size_t> & r : kvs) {
        if (!r) {
            return r.error();
        }
    }
    // ggml's writer drops trailing dimensions of 1 (ggml_n_dims), so [K, 1] is stored as [K].
    auto dims = [](int64_t a, int64_t b) { return b == 1 ? std::vector<int64_t>{ a } : std::vector<int64_t>{ a, b }; };
    std::vector<const ImatrixStats *> written;
    for (const ImatrixStats & s : stats) {
        const int64_t n_mat = int64_t(s.counts.size());
        if (n_mat == 0 || s.in_sum2.empty()) {
            continue; // llama-imatrix skips weights without data
        }
        if (s.in_sum2.size() % s.counts.size() != 0) {
            return Error{ path, 0,
                          "imatrix " + s.name + ": " + std::to_string(s.in_sum2.size()) + " sums do not split into " +
                              std::to_string(n_mat) + " matrices" };
        }
        const int64_t        k      = int64_t(s.in_sum2.size()) / n_mat;
        const Result<size_t> sums   = w.add_tensor(s.name + std::string(kSumsSuffix), Format::F32, dims(k, n_mat));
        const Result<size_t> counts = w.add_tensor(s.name + std::string(kCountsSuffix), Format::F32, dims(1, n_mat));
        if (!sums || !counts) {
            return !sums ? sums.error() : counts.error();
        }
        written.push_back(&s);
    }
    if (Result<uint64_t> r = w.begin(path); !r) {
        return r;
    }
    size_t i = 0;
    for (const ImatrixStats * s : written) {
        if (Result<uint64_t> r = w.write_tensor_data(i++, s->in_sum2.data(), s->in_sum2.size() * 4); !r) {
            return r;
        }
        if (Result<uint64_t> r = w.write_tensor_data(i++, s->counts.data(), s->counts.size() * 4); !r) {
            return r;
        }
    }
    return w.commit();
}

} // namespace nibble
