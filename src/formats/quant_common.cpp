#include "formats/quant_common.h"

#include <algorithm>
#include <cmath>

namespace nibble {

int best_index_int8(int n, const int8_t * val, float x) {
    if (x <= val[0]) {
        return 0;
    }
    if (x >= val[n - 1]) {
        return n - 1;
    }
    int lo = 0;
    int hi = n - 1;
    while (hi - lo > 1) {
        const int mid = (lo + hi) / 2;
        if (x < val[mid]) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    return x - val[hi - 1] < val[hi] - x ? hi - 1 : hi;
}

namespace {

// Signed value with the largest magnitude (first occurrence wins) and its magnitude.
void signed_absmax(int n, const float * x, float & max, float & amax) {
    max  = 0;
    amax = 0;
    for (int i = 0; i < n; ++i) {
        const float ax = std::fabs(x[i]);
        if (ax > amax) {
            amax = ax;
            max  = x[i];
        }
    }
}

int clamp_int(int v, int lo, int hi) {
    return std::max(lo, std::min(hi, v));
}

float qx_weight(const float * qw, const float * x, int i, int rmse_type) {
    if (qw) {
        return qw[i];
    }
    switch (rmse_type) {
        case 1:
            return x[i] * x[i];
        case 2:
            return 1.0f;
        case 3:
            return std::fabs(x[i]);
        default:
            return std::sqrt(std::fabs(x[i]));
    }
}

} // namespace

NIBBLE_HOT float make_qx_quants(int n, int nmax, const float * x, int8_t * L, int rmse_type, const float * qw) {
    float max, amax;
    signed_absmax(n, x, max, amax);
    if (amax < kGroupMaxEps) {
        std::memset(L, 0, size_t(n));
        return 0.f;
    }
    float iscale = -nmax / max;
    if (rmse_type == 0) {
        for (int i = 0; i < n; ++i) {
            L[i] = int8_t(nmax + clamp_int(nearest_int(iscale * x[i]), -nmax, nmax - 1));
        }
        return 1 / iscale;
    }
    bool return_early = false;
    if (rmse_type < 0) {
        rmse_type    = -rmse_type;
        return_early = true;
    }
    float sumlx = 0;
    float suml2 = 0;
    for (int i = 0; i < n; ++i) {
        const int l   = clamp_int(nearest_int(iscale * x[i]), -nmax, nmax - 1);
        L[i]          = int8_t(l + nmax);
        const float w = qx_weight(qw, x, i, rmse_type);
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    float scale = suml2 ? sumlx / suml2 : 0.0f;
    if (return_early) {
        return suml2 > 0 ? 0.5f * (scale + 1 / iscale) : 1 / iscale;
    }
    float best = scale * sumlx;
    for (int is = -9; is <= 9; ++is) {
        if (is == 0) {
            continue;
        }
        iscale = -(nmax + 0.1f * is) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; ++i) {
            const int   l = clamp_int(nearest_int(iscale * x[i]), -nmax, nmax - 1);
            const float w = qx_weight(qw, x, i, rmse_type);
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; ++i) {
                L[i] = int8_t(nmax + clamp_int(nearest_int(iscale * x[i]), -nmax, nmax - 1));
            }
            scale = sumlx / suml2;
            best  = scale * sumlx;
        }
    }
    return scale;
}

float make_q3_quants(int n, int nmax, const float * x, int8_t * L, bool do_rmse) {
    float max, amax;
    signed_absmax(n, x, max, amax);
    if (amax < kGroupMaxEps) {
        std::memset(L, 0, size_t(n));
        return 0.f;
    }
    const float iscale = -nmax / max;
    if (!do_rmse) {
        for (int i = 0; i < n; ++i) {
            L[i] = int8_t(clamp_int(nearest_int(iscale * x[i]), -nmax, nmax - 1) + nmax);
        }
        return 1 / iscale;
    }
    float sumlx = 0;
    float suml2 = 0;
    for (int i = 0; i < n; ++i) {
        const int l   = clamp_int(nearest_int(iscale * x[i]), -nmax, nmax - 1);
        L[i]          = int8_t(l);
        const float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    for (int itry = 0; itry < 5; ++itry) {
        int n_changed = 0;
        for (int i = 0; i < n; ++i) {
            const float w   = x[i] * x[i];
            float       slx = sumlx - w * x[i] * L[i];
            if (slx > 0) {
                float     sl2   = suml2 - w * L[i] * L[i];
                const int new_l = clamp_int(nearest_int(x[i] * sl2 / slx), -nmax, nmax - 1);
                if (new_l != L[i]) {
                    slx += w * x[i] * new_l;
                    sl2 += w * new_l * new_l;
                    if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
                        L[i]  = int8_t(new_l);
                        sumlx = slx;
                        suml2 = sl2;
                        ++n_changed;
                    }
                }
            }
        }
        if (!n_changed) {
            break;
        }
    }
    for (int i = 0; i < n; ++i) {
        L[i] = int8_t(L[i] + nmax);
    }
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

namespace {

// The common body of make_qkx2_quants / make_qkx3_quants. `weights` may be null only for qkx3.
NIBBLE_HOT float make_qkx_quants(int n, int nmax, const float * x, const float * weights, uint8_t * L, float * the_min,
                                 uint8_t * Laux, float rmin, float rdelta, int nstep, bool use_mad,
                                 bool strict_degenerate) {
    auto  weight = [&](int i) { return weights ? weights[i] : x[i] * x[i]; };
    float min    = x[0];
    float max    = x[0];
    float sum_w  = weight(0);
    float sum_x  = sum_w * x[0];
    for (int i = 1; i < n; ++i) {
        if (x[i] < min) {
            min = x[i];
        }
        if (x[i] > max) {
            max = x[i];
        }
        const float w = weight(i);
        sum_w += w;
        sum_x += w * x[i];
    }
    if (min > 0) {
        min = 0;
    }
    if (strict_degenerate ? max == min : max <= min) {
        std::memset(L, 0, size_t(n));
        *the_min = -min;
        return 0.f;
    }
    float iscale     = nmax / (max - min);
    float scale      = 1 / iscale;
    float best_error = 0;
    for (int i = 0; i < n; ++i) {
        const int l = nearest_int(iscale * (x[i] - min));
        L[i]        = uint8_t(clamp_int(l, 0, nmax));
        float diff  = scale * L[i] + min - x[i];
        diff        = use_mad ? std::fabs(diff) : diff * diff;
        best_error += weight(i) * diff;
    }
    if (nstep < 1) {
        *the_min = -min;
        return scale;
    }
    for (int is = 0; is <= nstep; ++is) {
        iscale      = (rmin + rdelta * is + nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; ++i) {
            const int l   = clamp_int(nearest_int(iscale * (x[i] - min)), 0, nmax);
            Laux[i]       = uint8_t(l);
            const float w = weight(i);
            sum_l += w * l;
            sum_l2 += w * l * l;
            sum_xl += w * l * x[i];
        }
        const float D = sum_w * sum_l2 - sum_l * sum_l;
        if (D > 0) {
            float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
            float this_min   = (sum_l2 * sum_x - sum_l * sum_xl) / D;
            if (this_min > 0) {
                this_min   = 0;
                this_scale = sum_xl / sum_l2;
            }
            float cur_error = 0;
            for (int i = 0; i < n; ++i) {
                float diff = this_scale * Laux[i] + this_min - x[i];
                diff       = use_mad ? std::fabs(diff) : diff * diff;
                cur_error += weight(i) * diff;
            }
            if (cur_error < best_error) {
                std::memcpy(L, Laux, size_t(n));
                best_error = cur_error;
                scale      = this_scale;
                min        = this_min;
            }
        }
    }
    *the_min = -min;
    return scale;
}

} // namespace

float make_qkx2_quants(int n, int nmax, const float * x, const float * weights, uint8_t * L, float * the_min,
                       uint8_t * Laux, float rmin, float rdelta, int nstep, bool use_mad) {
    return make_qkx_quants(n, nmax, x, weights, L, the_min, Laux, rmin, rdelta, nstep, use_mad, true);
}

float make_qkx3_quants(int n, int nmax, const float * x, const float * weights, uint8_t * L, float * the_min,
                       uint8_t * Laux, float rmin, float rdelta, int nstep, bool use_mad) {
    return make_qkx_quants(n, nmax, x, weights, L, the_min, Laux, rmin, rdelta, nstep, use_mad, false);
}

float make_qp_quants(int n, int nmax, const float * x, uint8_t * L, const float * quant_weights) {
    float max = 0;
    for (int i = 0; i < n; ++i) {
        max = std::max(max, x[i]);
    }
    if (max < kGroupMaxEps) {
        std::memset(L, 0, size_t(n));
        return 0.f;
    }
    float iscale = nmax / max;
    for (int i = 0; i < n; ++i) {
        L[i] = uint8_t(nearest_int(iscale * x[i]));
    }
    const float scale    = 1 / iscale;
    float       best_mse = 0;
    for (int i = 0; i < n; ++i) {
        const float diff = x[i] - scale * L[i];
        best_mse += quant_weights[i] * diff * diff;
    }
    for (int is = -4; is <= 4; ++is) {
        if (is == 0) {
            continue;
        }
        const float iscale_is = (0.1f * is + nmax) / max;
        const float scale_is  = 1 / iscale_is;
        float       mse       = 0;
        for (int i = 0; i < n; ++i) {
            const int   l    = std::min(nmax, nearest_int(iscale_is * x[i]));
            const float diff = x[i] - scale_is * l;
            mse += quant_weights[i] * diff * diff;
        }
        if (mse < best_mse) {
            best_mse = mse;
            iscale   = iscale_is;
        }
    }
    float sumlx = 0;
    float suml2 = 0;
    for (int i = 0; i < n; ++i) {
        const int l   = std::min(nmax, nearest_int(iscale * x[i]));
        L[i]          = uint8_t(l);
        const float w = quant_weights[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    for (int itry = 0; itry < 5; ++itry) {
        int n_changed = 0;
        for (int i = 0; i < n; ++i) {
            const float w   = quant_weights[i];
            float       slx = sumlx - w * x[i] * L[i];
            float       sl2 = suml2 - w * L[i] * L[i];
            if (slx > 0 && sl2 > 0) {
                const int new_l = std::min(nmax, nearest_int(x[i] * sl2 / slx));
                if (new_l != L[i]) {
                    slx += w * x[i] * new_l;
                    sl2 += w * new_l * new_l;
                    if (slx * slx * suml2 > sumlx * sumlx * sl2) {
                        L[i]  = uint8_t(new_l);
                        sumlx = slx;
                        suml2 = sl2;
                        ++n_changed;
                    }
                }
            }
        }
        if (!n_changed) {
            break;
        }
    }
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

namespace {

// Rounds the 32 values of xb onto the IQ4 grid with inverse scale id and returns the weighted sums
// sum w*q*x and sum w*q*q (sequential fp32, products left to right). L receives indices if set.
void iq4_grid_sums(const float * xb, const float * weight, float id, uint8_t * L, float & sumqx, float & sumq2) {
    sumqx = 0;
    sumq2 = 0;
    for (int j = 0; j < 32; ++j) {
        const int l = best_index_int8(16, kValuesIq4nl, id * xb[j]);
        if (L) {
            L[j] = uint8_t(l);
        }
        const float q = kValuesIq4nl[l];
        const float w = weight[j];
        sumqx += w * q * xb[j];
        sumq2 += w * q * q;
    }
}

} // namespace

float iq4_group_scale(const float * xb, const float * weight, int ntry, uint8_t * L) {
    float max, amax;
    signed_absmax(32, xb, max, amax);
    if (amax < kGroupMaxEps) {
        return 0;
    }
    const float v0 = kValuesIq4nl[0];
    float       d  = ntry > 0 ? -max / v0 : max / v0;
    float       sumqx, sumq2;
    iq4_grid_sums(xb, weight, 1 / d, L, sumqx, sumq2);
    d          = sumq2 > 0 ? sumqx / sumq2 : 0.f;
    float best = d * sumqx;
    for (int itry = -ntry; itry <= ntry; ++itry) {
        const float id = float(itry + kValuesIq4nl[0]) / max;
        iq4_grid_sums(xb, weight, id, nullptr, sumqx, sumq2);
        if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
            d    = sumqx / sumq2;
            best = d * sumqx;
        }
    }
    return d;
}

} // namespace nibble
