// Session: the Llama-family forward pass on the CPU backend, batch-at-once (prefill) or one token at
// a time (decode) with the same kernels, so both give bit-identical logits. The graph is llama.cpp's
// llm_build_llama: per block x += Wo·attn(rope(Wq·n(x)), rope(Wk·n(x)), Wv·n(x)); x += Wd·(silu(Wg·n(x)) *
// Wu·n(x)); then the final norm and the output projection. Optional roles (biases, Q/K norms,
// rope_freqs, NVFP4 scales) are applied when the model has them: nothing here depends on the
// architecture name. Like llama.cpp, the last block only computes the rows whose logits are asked for
// after attention (its KV rows are still written for every token).
#include "backend/cpu/formats/dequant.h"
#include "backend/cpu/ops.h"
#include "formats/format_table.h"
#include "runtime/kv_cache.h"
#include "runtime/model_impl.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

namespace nibble {

namespace {

// (token, head) pairs per attention work item.
constexpr int64_t kAttnItemsPerChunk = 4;

void add_rows(float * x, const float * y, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
        x[i] += y[i];
    }
}

// y[t] += bias for every row; then y *= scale (NVFP4 side-car), as llama.cpp's build_lora_mm + bias.
void finish_proj(const ModelTensor & w, const ModelTensor * bias, float * y, int64_t m, int64_t n) {
    if (w.scale != 1.0f) {
        for (int64_t i = 0; i < m * n; ++i) {
            y[i] *= w.scale;
        }
    }
    if (bias != nullptr && bias->present()) {
        for (int64_t t = 0; t < m; ++t) {
            add_rows(y + t * n, bias->f.data(), n);
        }
    }
}

} // namespace

struct Session::Impl {
    std::shared_ptr<const Model::Impl> model;
    int64_t                            n_ctx  = 0;
    int64_t                            n_past = 0;
    std::unique_ptr<ThreadPool>        pool;
    KvCache                            kv;
    MatmulObserver *                   observer = nullptr;
    cpu::MatmulScratch                 scratch;
    cpu::AttentionHeadFn               attention = nullptr;

    // Activations of the current batch, row-major [token][feature].
    std::vector<float> x, xn, q, k, v, att, gate, up, rope_cs;

    void observe(const ModelTensor & w, const float * in, int64_t m) {
        if (observer != nullptr) {
            observer->on_matmul(w.name(), in, m, w.w.n_in);
        }
    }

    void project(const ModelTensor & w, const ModelTensor * bias, const float * in, int64_t m, float * y) {
        observe(w, in, m);
        cpu::matmul(w.w, in, m, y, w.w.n_out, pool.get(), scratch);
        finish_proj(w, bias, y, m, w.w.n_out);
    }

    void embed(std::span<const int32_t> tokens);
    void attention_block(const RoleTensors & L, int64_t layer, int64_t n);
    void attend(int64_t layer, int64_t n, int64_t first);
    void ffn_block(const RoleTensors & L, int64_t m);
    void run(std::span<const int32_t> tokens, float * logits, int64_t first);
};

void Session::Impl::embed(std::span<const int32_t> tokens) {
    const ModelTensor & e     = model->get(TensorRole::TokEmbd);
    const int64_t       n_emb = model->hp.n_embd;
    const int64_t       rb    = row_size(e.w.format, n_emb);
    cpu::DequantFn      deq   = cpu::fast_dequantizer(e.w.format);
    if (deq == nullptr) {
        deq = format_info(e.w.format).dequantize_row;
    }
    for (size_t t = 0; t < tokens.size(); ++t) {
        deq(e.w.data + int64_t(tokens[t]) * rb, x.data() + int64_t(t) * n_emb, n_emb);
    }
}

// Q/K/V projections, optional Q/K norms, rope, K/V into the cache, attention into `att`.
void Session::Impl::attention_block(const RoleTensors & L, int64_t layer, int64_t n) {
    const HParams & hp = model->hp;
    const auto &    wq = L[size_t(TensorRole::Wq)];
    const auto &    wk = L[size_t(TensorRole::Wk)];
    const auto &    wv = L[size_t(TensorRole::Wv)];
    const int64_t   qd = hp.q_dim(), kvd = hp.kv_dim(), hd = hp.head_dim;

    observe(wq, xn.data(), n);
    observe(wk, xn.data(), n);
    observe(wv, xn.data(), n);
    const cpu::MatmulOut outs[3] = { { &wq.w, q.data(), qd }, { &wk.w, k.data(), kvd }, { &wv.w, v.data(), kvd } };
    cpu::matmul_multi(outs, xn.data(), n, pool.get(), scratch);
    finish_proj(wq, &L[size_t(TensorRole::Bq)], q.data(), n, qd);
    finish_proj(wk, &L[size_t(TensorRole::Bk)], k.data(), n, kvd);
    finish_proj(wv, &L[size_t(TensorRole::Bv)], v.data(), n, kvd);

    const auto & qn = L[size_t(TensorRole::QNorm)];
    const auto & kn = L[size_t(TensorRole::KNorm)];
    for (int64_t t = 0; t < n; ++t) {
        if (qn.present()) {
            for (int64_t h = 0; h < hp.n_head; ++h) {
                float * p = q.data() + t * qd + h * hd;
                cpu::rms_norm(p, qn.f.data(), p, hd, hp.rms_eps);
            }
        }
        if (kn.present()) {
            for (int64_t h = 0; h < hp.n_head_kv; ++h) {
                float * p = k.data() + t * kvd + h * hd;
                cpu::rms_norm(p, kn.f.data(), p, hd, hp.rms_eps);
            }
        }
    }

    const ModelTensor & freqs = model->get(TensorRole::RopeFreqs);
    cpu::RopeParams     rp;
    rp.n_rot        = hp.n_rot;
    rp.freq_base    = hp.rope_base;
    rp.freq_scale   = hp.rope_scale;
    rp.freq_factors = freqs.present() ? freqs.f.data() : nullptr;
    rp.neox         = model->arch->rope == RopeStyle::NeoX;
    rope_cs.resize(size_t(hp.n_rot));
    for (int64_t t = 0; t < n; ++t) {
        cpu::rope_cache(rp, n_past + t, rope_cs.data());
        cpu::rope_apply(rp, rope_cs.data(), q.data() + t * qd, hp.n_head, hd);
        cpu::rope_apply(rp, rope_cs.data(), k.data() + t * kvd, hp.n_head_kv, hd);
        KvCache::store(k.data() + t * kvd, kv.k(layer, n_past + t), kvd);
        KvCache::store(v.data() + t * kvd, kv.v(layer, n_past + t), kvd);
    }
}

// Attention outputs for rows [first, n) into att rows [0, n - first).
void Session::Impl::attend(int64_t layer, int64_t n, int64_t first) {
    const HParams & hp = model->hp;
    const int64_t   qd = hp.q_dim(), hd = hp.head_dim;
    const int64_t   group   = hp.n_head / hp.n_head_kv;
    const float     scale   = 1.0f / std::sqrt(float(hd));
    const int64_t   n_items = (n - first) * hp.n_head;
    const auto      work    = [&](int64_t i0, int64_t i1) {
        thread_local std::vector<float> scores;
        scores.resize(size_t(n_past + n));
        for (int64_t i = i0; i < i1; ++i) {
            const int64_t t = first + i / hp.n_head, h = i % hp.n_head;
            const int64_t g = h / group;
            attention(q.data() + t * qd + h * hd, kv.k(layer, 0) + g * hd, kv.v(layer, 0) + g * hd, kv.kv_dim(),
                              n_past + t + 1, hd, scale, att.data() + (t - first) * qd + h * hd, scores.data());
        }
    };
    pool->parallel_for(n_items, kAttnItemsPerChunk, work);
}

// x[0..m) += Wd · (silu(Wg · n(x)) * Wu · n(x)), with xn = n(x) already computed.
void Session::Impl::ffn_block(const RoleTensors & L, int64_t m) {
    const auto &  wg = L[size_t(TensorRole::FfnGate)];
    const auto &  wu = L[size_t(TensorRole::FfnUp)];
    const auto &  wd = L[size_t(TensorRole::FfnDown)];
    const int64_t ff = model->hp.n_ff, ne = model->hp.n_embd;
    observe(wg, xn.data(), m);
    observe(wu, xn.data(), m);
    const cpu::MatmulOut outs[2] = { { &wg.w, gate.data(), ff }, { &wu.w, up.data(), ff } };
    cpu::matmul_multi(outs, xn.data(), m, pool.get(), scratch);
    finish_proj(wg, nullptr, gate.data(), m, ff);
    finish_proj(wu, nullptr, up.data(), m, ff);
    cpu::swiglu(gate.data(), up.data(), gate.data(), m * ff);
    project(wd, nullptr, gate.data(), m, xn.data());
    add_rows(x.data(), xn.data(), m * ne);
}

void Session::Impl::run(std::span<const int32_t> tokens, float * logits, int64_t first) {
    const HParams & hp = model->hp;
    const int64_t   n  = int64_t(tokens.size());
    const int64_t   ne = hp.n_embd, qd = hp.q_dim(), kvd = hp.kv_dim();
    x.resize(size_t(n * ne));
    xn.resize(size_t(n * std::max(ne, qd)));
    q.resize(size_t(n * qd));
    k.resize(size_t(n * kvd));
    v.resize(size_t(n * kvd));
    att.resize(size_t(n * qd));
    gate.resize(size_t(n * hp.n_ff));
    up.resize(size_t(n * hp.n_ff));

    embed(tokens);
    int64_t row0 = 0; // first row of x still carried (the last block drops rows without logits)
    for (int64_t l = 0; l < hp.n_layer; ++l) {
        const RoleTensors & L    = model->layers[size_t(l)];
        const bool          last = l == hp.n_layer - 1;
        for (int64_t t = 0; t < n; ++t) {
            cpu::rms_norm(x.data() + t * ne, L[size_t(TensorRole::AttnNorm)].f.data(), xn.data() + t * ne, ne,
                          hp.rms_eps);
        }
        attention_block(L, l, n);
        if (last) {
            row0 = first;
        }
        const int64_t m = n - row0;
        if (m == 0) {
            break;
        }
        attend(l, n, row0);
        float * xr = x.data() + row0 * ne;
        if (row0 != 0) {
            std::memmove(x.data(), xr, size_t(m * ne) * sizeof(float));
        }
        project(L[size_t(TensorRole::Wo)], nullptr, att.data(), m, xn.data());
        add_rows(x.data(), xn.data(), m * ne);
        for (int64_t t = 0; t < m; ++t) {
            cpu::rms_norm(x.data() + t * ne, L[size_t(TensorRole::FfnNorm)].f.data(), xn.data() + t * ne, ne,
                          hp.rms_eps);
        }
        ffn_block(L, m);
    }
    const int64_t m = n - first;
    if (m > 0) {
        for (int64_t t = 0; t < m; ++t) {
            cpu::rms_norm(x.data() + t * ne, model->get(TensorRole::OutputNorm).f.data(), xn.data() + t * ne, ne,
                          hp.rms_eps);
        }
        const ModelTensor & out = model->output();
        observe(out, xn.data(), m);
        cpu::matmul(out.w, xn.data(), m, logits, hp.n_vocab, pool.get(), scratch);
        finish_proj(out, nullptr, logits, m, hp.n_vocab);
    }
    n_past += n;
}

Session::Session(const Model & model, int64_t n_ctx, int n_threads) : impl_(std::make_unique<Impl>()) {
    impl_->model     = model.impl_;
    impl_->n_ctx     = n_ctx;
    impl_->pool      = std::make_unique<ThreadPool>(n_threads);
    impl_->kv        = KvCache(model.impl_->hp.n_layer, n_ctx, model.impl_->hp.kv_dim());
    impl_->attention = cpu::attention_head_fast();
}

Session::~Session()                               = default;
Session::Session(Session &&) noexcept             = default;
Session & Session::operator=(Session &&) noexcept = default;

void Session::clear() {
    impl_->n_past = 0;
}
int64_t Session::n_past() const {
    return impl_->n_past;
}
void Session::set_observer(MatmulObserver * obs) {
    impl_->observer = obs;
}

Result<bool> Session::eval(std::span<const int32_t> tokens, float * logits, int64_t first_logit_row) {
    const int64_t n       = int64_t(tokens.size());
    const int64_t n_vocab = impl_->model->hp.n_vocab;
    const auto    err     = [](std::string what) { return Error{ "", 0, std::move(what) }; };
    if (first_logit_row < 0 || first_logit_row > n) {
        return err("eval: first_logit_row " + std::to_string(first_logit_row) + " outside [0, " + std::to_string(n) +
                   "]");
    }
    if (first_logit_row < n && logits == nullptr) {
        return err("eval: logits requested but no buffer given");
    }
    if (impl_->n_past + n > impl_->n_ctx) {
        return err("eval: context full (" + std::to_string(impl_->n_past) + " + " + std::to_string(n) +
                   " tokens > n_ctx " + std::to_string(impl_->n_ctx) + ")");
    }
    for (int64_t i = 0; i < n; ++i) {
        if (tokens[size_t(i)] < 0 || tokens[size_t(i)] >= n_vocab) {
            return err("eval: token id " + std::to_string(tokens[size_t(i)]) + " at " + std::to_string(i) +
                       " outside the vocabulary (" + std::to_string(n_vocab) + ")");
        }
    }
    if (n == 0) {
        return true;
    }
    impl_->run(tokens, logits, first_logit_row);
    return true;
}

} // namespace nibble
