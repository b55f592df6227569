// Model::load: map the GGUF, read the hyper-parameters, find and validate every tensor of the
// architecture's list (model/arch/*.cpp). Errors name the file and the tensor.
#include "backend/cpu/formats/vec_dot.h"
#include "formats/format_table.h"
#include "runtime/model_impl.h"

#include <cstdio>
#include <cstring>
#include <string>

namespace nibble {

namespace {

std::string shape_str(const int64_t * ne, int n) {
    std::string s = "[";
    for (int i = 0; i < n; ++i) {
        s += (i ? ", " : "") + std::to_string(ne[i]);
    }
    return s + "]";
}

std::string tensor_name(const TensorSpec & s, int layer) {
    if (layer < 0) {
        return s.name;
    }
    char buf[96];
    std::snprintf(buf, sizeof(buf), s.name, layer);
    return buf;
}

// Checks one tensor against its spec and fills `out`. Absent optional tensors leave `out` empty.
Result<bool> bind(const GgufFile & f, const HParams & hp, const TensorSpec & spec, int layer, ModelTensor & out) {
    const std::string  name = tensor_name(spec, layer);
    const GgufTensor * t    = f.find_tensor(name);
    if (t == nullptr) {
        if (spec.required) {
            return Error{ f.path(), 0, "missing tensor '" + name + "'" };
        }
        return true;
    }
    const auto fail = [&](const std::string & what) {
        return Error{ f.path(), t->info_offset, "tensor '" + name + "': " + what };
    };
    const int64_t want[2] = { resolve_dim(spec.ne0, hp), resolve_dim(spec.ne1, hp) };
    const bool    vector  = spec.ne1 == Dim::One;
    if (t->ne[0] != want[0] || t->ne[1] != want[1] || t->ne[2] != 1 || t->ne[3] != 1) {
        return fail("shape " + shape_str(t->ne, int(t->n_dims)) + ", expected " + shape_str(want, vector ? 1 : 2));
    }
    if (!t->format) {
        const GgmlTypeInfo * ti = ggml_type_info(t->ggml_type);
        return fail(std::string("type ") + (ti ? ti->name : "?") + " is not supported");
    }
    out.t = t;
    if (spec.matmul) {
        cpu::ActFormat act;
        if (!cpu::vec_dot_type(*t->format, &act) || t->ne[0] % cpu::act_block_size(act) != 0) {
            return fail(std::string("format ") + format_name(*t->format) + " cannot be a matmul weight of row length " +
                        std::to_string(t->ne[0]));
        }
        out.w                   = { *t->format, t->data, t->ne[0], t->ne[1] };
        // NVFP4 second-level scale: `<base>.scale`, one F32.
        const std::string  base = name.substr(0, name.size() - (name.ends_with(".weight") ? 7 : 0));
        const GgufTensor * side = f.find_tensor(base + ".scale");
        if (side != nullptr) {
            if (side->format != Format::F32 || side->numel() != 1) {
                return Error{ f.path(), side->info_offset, "tensor '" + base + ".scale' must be one F32" };
            }
            float s;
            std::memcpy(&s, side->data, sizeof(s));
            out.scale = s;
        }
    } else {
        const FormatInfo & fi = format_info(*t->format);
        if (fi.dequantize_row == nullptr || t->ne[0] % fi.block_size != 0) {
            return fail(std::string("format ") + format_name(*t->format) + " cannot be read as a vector");
        }
        out.f.resize(size_t(t->ne[0]));
        fi.dequantize_row(t->data, out.f.data(), t->ne[0]);
    }
    return true;
}

} // namespace

Result<Model> Model::load(const std::string & path) {
    Result<GgufFile> opened = GgufFile::open(path);
    if (!opened) {
        return opened.error();
    }
    auto       impl = std::make_shared<Impl>(Impl{ std::move(opened).value(), {}, {}, nullptr, {}, {} });
    GgufFile & f    = impl->file;

    Result<std::string_view> arch = f.get_string("general.architecture");
    if (!arch) {
        return arch.error();
    }
    impl->arch = find_arch(*arch);
    if (impl->arch == nullptr) {
        std::string known;
        for (std::string_view n : arch_names()) {
            known += (known.empty() ? "" : ", ") + std::string(n);
        }
        return Error{ f.path(), 0,
                      "architecture '" + std::string(*arch) + "' is not supported (known: " + known + ")" };
    }
    Result<HParams> hp = load_hparams(f, *arch);
    if (!hp) {
        return hp.error();
    }
    impl->hp                = *hp;
    const GgufTensor * embd = f.find_tensor("token_embd.weight");
    if (embd == nullptr) {
        return Error{ f.path(), 0, "missing tensor 'token_embd.weight'" };
    }
    impl->hp.n_vocab = embd->ne[1];

    impl->layers.resize(size_t(impl->hp.n_layer));
    for (const TensorSpec & spec : impl->arch->tensors) {
        const bool per_layer = int(spec.role) >= kFirstLayerRole;
        for (int l = 0; l < (per_layer ? int(impl->hp.n_layer) : 1); ++l) {
            ModelTensor & slot =
                per_layer ? impl->layers[size_t(l)][size_t(spec.role)] : impl->global[size_t(spec.role)];
            Result<bool> r = bind(f, impl->hp, spec, per_layer ? l : -1, slot);
            if (!r) {
                return r.error();
            }
        }
    }

    ModelInfo & info = impl->info;
    info.arch        = std::string(*arch);
    if (Result<std::string_view> n = f.get_string("general.name"); n) {
        info.name = std::string(*n);
    } else {
        info.name = path.substr(path.find_last_of('/') + 1);
    }
    info.n_vocab     = impl->hp.n_vocab;
    info.n_embd      = impl->hp.n_embd;
    info.n_layer     = impl->hp.n_layer;
    info.n_ctx_train = impl->hp.n_ctx_train;
    for (const GgufTensor & t : f.tensors()) {
        info.n_params += t.numel();
        info.weight_bytes += t.nbytes;
    }
    Model m;
    m.impl_ = std::move(impl);
    return m;
}

const ModelInfo & Model::info() const {
    return impl_->info;
}
const GgufFile & Model::gguf() const {
    return impl_->file;
}

} // namespace nibble
