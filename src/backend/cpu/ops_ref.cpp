// Scalar reference ops (ops.h): the oracle, and the production path for the cheap elementwise ops.
#include "backend/cpu/ops.h"

#include <cmath>

namespace nibble::cpu {

void rms_norm(const float * x, const float * w, float * y, int64_t n, float eps) {
    double sum = 0.0;
    for (int64_t i = 0; i < n; ++i) {
        sum += double(x[i] * x[i]);
    }
    const float mean  = float(sum / double(n));
    const float scale = 1.0f / std::sqrt(mean + eps);
    for (int64_t i = 0; i < n; ++i) {
        const float v = x[i] * scale;
        y[i]          = w != nullptr ? v * w[i] : v;
    }
}

void rope_cache(const RopeParams & p, int64_t pos, float * cos_sin) {
    const float theta_scale = std::pow(p.freq_base, -2.0f / float(p.n_rot));
    float       theta       = float(pos);
    for (int64_t i = 0; i < p.n_rot / 2; ++i) {
        const float ff     = p.freq_factors != nullptr ? p.freq_factors[i] : 1.0f;
        const float t      = p.freq_scale * (theta / ff);
        cos_sin[2 * i]     = std::cos(t);
        cos_sin[2 * i + 1] = std::sin(t);
        theta *= theta_scale;
    }
}

void rope_apply(const RopeParams & p, const float * cos_sin, float * x, int64_t n_heads, int64_t head_dim) {
    const int64_t half = p.n_rot / 2;
    for (int64_t h = 0; h < n_heads; ++h) {
        float * xh = x + h * head_dim;
        for (int64_t i = 0; i < half; ++i) {
            const float   c  = cos_sin[2 * i];
            const float   s  = cos_sin[2 * i + 1];
            const int64_t i0 = p.neox ? i : 2 * i;
            const int64_t i1 = p.neox ? i + half : 2 * i + 1;
            const float   x0 = xh[i0];
            const float   x1 = xh[i1];
            xh[i0]           = x0 * c - x1 * s;
            xh[i1]           = x0 * s + x1 * c;
        }
    }
}

void swiglu(const float * gate, const float * up, float * y, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
        const float g = gate[i];
        y[i]          = g / (1.0f + std::exp(-g)) * up[i];
    }
}

void attention_head_ref(const float * q, const half_bits * k, const half_bits * v, int64_t kv_stride, int64_t n_kv,
                        int64_t head_dim, float scale, float * out, float * scratch) {
    float max = -INFINITY;
    for (int64_t j = 0; j < n_kv; ++j) {
        double s = 0;
        for (int64_t d = 0; d < head_dim; ++d) {
            s += double(q[d]) * double(fp16_to_fp32(k[j * kv_stride + d]));
        }
        scratch[j] = float(s) * scale;
        max        = std::fmax(max, scratch[j]);
    }
    double sum = 0;
    for (int64_t j = 0; j < n_kv; ++j) {
        scratch[j] = std::exp(scratch[j] - max);
        sum += double(scratch[j]);
    }
    for (int64_t d = 0; d < head_dim; ++d) {
        out[d] = 0;
    }
    for (int64_t j = 0; j < n_kv; ++j) {
        for (int64_t d = 0; d < head_dim; ++d) {
            out[d] += scratch[j] * fp16_to_fp32(v[j * kv_stride + d]);
        }
    }
    const float inv = sum == 0 ? 0.0f : float(1.0 / sum);
    for (int64_t d = 0; d < head_dim; ++d) {
        out[d] *= inv;
    }
}

} // namespace nibble::cpu
