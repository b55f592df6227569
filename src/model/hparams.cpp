#include "model/hparams.h"

#include "io/gguf.h"

#include <string>

namespace nibble {

namespace {

Error key_error(const GgufFile & f, const GgufKV * kv, const std::string & what) {
    return Error{ f.path(), kv != nullptr ? kv->offset : 0, what };
}

// An unsigned integer key of any integer type, or an array of equal such values (llama.cpp stores
// per-layer head counts that way for some models).
Result<int64_t> get_int(const GgufFile & f, const std::string & key, std::optional<int64_t> dflt) {
    const GgufKV * kv = f.find(key);
    if (kv == nullptr) {
        if (dflt) {
            return *dflt;
        }
        return key_error(f, nullptr, "missing key '" + key + "'");
    }
    const GgufValue & v      = kv->value;
    const auto        scalar = [&](GgufType t, uint64_t i, bool arr) -> std::optional<int64_t> {
        switch (t) {
            case GgufType::UINT8:
                return arr ? v.at<uint8_t>(i) : *v.get<uint8_t>();
            case GgufType::INT8:
                return arr ? v.at<int8_t>(i) : *v.get<int8_t>();
            case GgufType::UINT16:
                return arr ? v.at<uint16_t>(i) : *v.get<uint16_t>();
            case GgufType::INT16:
                return arr ? v.at<int16_t>(i) : *v.get<int16_t>();
            case GgufType::UINT32:
                return arr ? v.at<uint32_t>(i) : *v.get<uint32_t>();
            case GgufType::INT32:
                return arr ? v.at<int32_t>(i) : *v.get<int32_t>();
            case GgufType::UINT64:
                return int64_t(arr ? v.at<uint64_t>(i) : *v.get<uint64_t>());
            case GgufType::INT64:
                return arr ? v.at<int64_t>(i) : *v.get<int64_t>();
            default:
                return std::nullopt;
        }
    };
    std::optional<int64_t> out;
    if (v.is_array()) {
        for (uint64_t i = 0; i < v.size(); ++i) {
            const std::optional<int64_t> e = scalar(v.elem_type(), i, true);
            if (!e) {
                return key_error(
                    f, kv, "key '" + key + "' is an array of " + gguf_type_name(v.elem_type()) + ", expected integers");
            }
            if (out && *out != *e) {
                return key_error(f, kv, "key '" + key + "' differs between layers; not supported");
            }
            out = e;
        }
        if (!out) {
            return key_error(f, kv, "key '" + key + "' is an empty array");
        }
    } else {
        out = scalar(v.type(), 0, false);
        if (!out) {
            return key_error(f, kv, "key '" + key + "' has type " + gguf_type_name(v.type()) + ", expected an integer");
        }
    }
    if (*out < 0) {
        return key_error(f, kv, "key '" + key + "' is negative");
    }
    return *out;
}

Result<float> get_float(const GgufFile & f, const std::string & key, float dflt) {
    const GgufKV * kv = f.find(key);
    if (kv == nullptr) {
        return dflt;
    }
    if (auto v = kv->value.get<float>()) {
        return *v;
    }
    if (auto v = kv->value.get<double>()) {
        return float(*v);
    }
    return key_error(f, kv, "key '" + key + "' has type " + gguf_type_name(kv->value.type()) + ", expected FLOAT32");
}

} // namespace

Result<HParams> load_hparams(const GgufFile & f, std::string_view arch_sv) {
    HParams     hp;
    std::string a = std::string(arch_sv) + ".";
    hp.arch       = arch_sv;

#define NIBBLE_INT(field, key, dflt)                                                                                   \
    do {                                                                                                               \
        Result<int64_t> r = get_int(f, a + key, dflt);                                                                 \
        if (!r) {                                                                                                      \
            return r.error();                                                                                          \
        }                                                                                                              \
        hp.field = *r;                                                                                                 \
    } while (0)
#define NIBBLE_FLOAT(field, key, dflt)                                                                                 \
    do {                                                                                                               \
        Result<float> r = get_float(f, a + key, dflt);                                                                 \
        if (!r) {                                                                                                      \
            return r.error();                                                                                          \
        }                                                                                                              \
        hp.field = *r;                                                                                                 \
    } while (0)

    NIBBLE_INT(n_embd, "embedding_length", std::nullopt);
    NIBBLE_INT(n_layer, "block_count", std::nullopt);
    NIBBLE_INT(n_head, "attention.head_count", std::nullopt);
    NIBBLE_INT(n_ff, "feed_forward_length", std::nullopt);
    NIBBLE_INT(n_ctx_train, "context_length", int64_t(0));
    NIBBLE_INT(n_head_kv, "attention.head_count_kv", hp.n_head);
    if (hp.n_embd <= 0 || hp.n_layer <= 0 || hp.n_head <= 0 || hp.n_head_kv <= 0 || hp.n_ff <= 0) {
        return Error{ f.path(), 0,
                      "hyper-parameters must be positive (embedding_length, block_count, head_count, "
                      "head_count_kv, feed_forward_length)" };
    }
    if (hp.n_head % hp.n_head_kv != 0) {
        return Error{ f.path(), 0, "attention.head_count is not a multiple of attention.head_count_kv" };
    }
    NIBBLE_INT(head_dim, "attention.key_length", hp.n_embd / hp.n_head);
    NIBBLE_INT(head_dim_v, "attention.value_length", hp.head_dim);
    NIBBLE_INT(n_rot, "rope.dimension_count", hp.head_dim);
    if (hp.head_dim_v != hp.head_dim) {
        return Error{ f.path(), 0, "attention.value_length != attention.key_length is not supported" };
    }
    if (hp.n_rot <= 0 || hp.n_rot > hp.head_dim || hp.n_rot % 2 != 0) {
        return Error{ f.path(), 0, "rope.dimension_count must be even and <= the head size" };
    }
    NIBBLE_FLOAT(rms_eps, "attention.layer_norm_rms_epsilon", 1e-5f);
    NIBBLE_FLOAT(rope_base, "rope.freq_base", 10000.0f);

    // Rope scaling: linear (rope.scaling.type "linear" or the older rope.scale_linear) scales positions;
    // "llama3" frequency scaling comes as the rope_freqs.weight tensor (the loader); YaRN is not supported.
    float factor = 0.0f;
    NIBBLE_FLOAT(rope_scale, "rope.scale_linear", 1.0f);
    if (hp.rope_scale != 1.0f && hp.rope_scale > 0.0f) {
        hp.rope_scale = 1.0f / hp.rope_scale;
    }
    if (const GgufKV * kv = f.find(a + "rope.scaling.type")) {
        const std::optional<std::string_view> type = kv->value.get_string();
        if (!type) {
            return key_error(f, kv, "key '" + a + "rope.scaling.type' is not a STRING");
        }
        Result<float> fr = get_float(f, a + "rope.scaling.factor", 0.0f);
        if (!fr) {
            return fr.error();
        }
        factor = *fr;
        if (*type == "linear") {
            if (factor > 0.0f) {
                hp.rope_scale = 1.0f / factor;
            }
        } else if (*type != "none" && *type != "llama3") {
            return key_error(f, kv, "rope scaling type '" + std::string(*type) + "' is not supported");
        }
    }
#undef NIBBLE_INT
#undef NIBBLE_FLOAT
    return hp;
}

} // namespace nibble
