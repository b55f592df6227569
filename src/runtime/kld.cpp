// The arithmetic here deliberately mirrors llama-perplexity's (tools/perplexity/perplexity.cpp): which
// values are float and which double, expf vs log, float percentiles. Changing a type changes the last
// printed digits, and the point of these numbers is to be comparable with llama.cpp's.
#include "runtime/kld.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdarg>
#include <cstring>
#include <filesystem>

namespace nibble {

namespace {

constexpr char     kMagic[8]  = { '_', 'l', 'o', 'g', 'i', 't', 's', '_' };
constexpr uint64_t kHeaderLen = 8 + 3 * 4;

// ggml's round-to-nearest through the float mantissa (valid for |x| < 2^22).
int nearest_int(float fval) {
    const float val = fval + 12582912.f;
    int         i;
    std::memcpy(&i, &val, sizeof(int));
    return (i & 0x007fffff) - 0x00400000;
}

void appendf(std::string & s, const char * fmt, ...) __attribute__((format(printf, 2, 3)));
void appendf(std::string & s, const char * fmt, ...) {
    char    buf[256];
    va_list ap;
    va_start(ap, fmt);
    const int n = std::vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n > 0) {
        s.append(buf, size_t(std::min<int>(n, int(sizeof buf) - 1)));
    }
}

double covariance(double suma, double sumb, double sumab, uint64_t count) {
    if (count < 10) {
        return 0.0;
    }
    double var = sumab / double(count) - (suma / double(count)) * (sumb / double(count));
    var /= double(count - 1);
    return var;
}

float median(const std::vector<float> & v) {
    return v.size() % 2 == 0 ? 0.5f * (v[v.size() / 2] + v[v.size() / 2 - 1]) : v[v.size() / 2];
}

} // namespace

double encode_log_probs(int64_t n_vocab, const float * logits, uint16_t * record, int32_t tok) {
    float max_logit = logits[0];
    float min_logit = logits[0];
    for (int64_t i = 1; i < n_vocab; ++i) {
        max_logit = std::max(max_logit, logits[i]);
        min_logit = std::min(min_logit, logits[i]);
    }
    min_logit      = std::max(min_logit, max_logit - 16);
    double sum_exp = 0.0;
    for (int64_t i = 0; i < n_vocab; ++i) {
        sum_exp += std::exp(logits[i] - max_logit); // float expf
    }
    const float log_sum_exp  = float(std::log(sum_exp));
    const float min_log_prob = min_logit - max_logit - log_sum_exp;
    const float scale        = (max_logit - min_logit) / 65535.f;
    std::memcpy(record, &scale, 4);
    std::memcpy(record + 2, &min_log_prob, 4);
    uint16_t * codes = record + 4;
    if (scale != 0.0f) {
        const float inv_scale = 1 / scale;
        for (int64_t i = 0; i < n_vocab; ++i) {
            codes[i] = logits[i] > min_logit ? uint16_t(nearest_int(inv_scale * (logits[i] - min_logit))) : 0;
        }
    } else {
        std::memset(codes, 0, size_t(n_vocab) * sizeof(uint16_t));
    }
    // Padding entry (odd n_vocab): llama-perplexity's buffer is zero-initialised and never written there.
    for (int64_t i = n_vocab; i < kld_record_len(n_vocab) - 4; ++i) {
        codes[i] = 0;
    }
    return max_logit + log_sum_exp - logits[tok];
}

float decode_log_prob(const uint16_t * record, int64_t i) {
    float scale, min_log_prob;
    std::memcpy(&scale, record, 4);
    std::memcpy(&min_log_prob, record + 2, 4);
    return scale * record[4 + i] + min_log_prob;
}

// ---------------------------------------------------------------------------------------------
// File I/O

LogitsFileWriter::~LogitsFileWriter() {
    if (f_ != nullptr) {
        std::fclose(f_);
        std::remove(tmp_.c_str());
    }
}

Result<bool> LogitsFileWriter::open(LogitsFileWriter & w, const std::string & path, const LogitsFileHeader & h) {
    if (h.n_ctx <= 0 || h.n_vocab <= 0 || h.n_chunk < 0 || h.tokens.size() != size_t(h.n_ctx) * size_t(h.n_chunk)) {
        return Error{ path, 0, "inconsistent logits file header" };
    }
    w.path_ = path;
    w.tmp_  = path + ".tmp";
    w.f_    = std::fopen(w.tmp_.c_str(), "wb");
    if (w.f_ == nullptr) {
        return Error{ w.tmp_, 0, std::string("cannot create: ") + std::strerror(errno) };
    }
    const int32_t head[3] = { h.n_ctx, h.n_vocab, h.n_chunk };
    if (std::fwrite(kMagic, 1, 8, w.f_) != 8 || std::fwrite(head, 4, 3, w.f_) != 3 ||
        std::fwrite(h.tokens.data(), 4, h.tokens.size(), w.f_) != h.tokens.size()) {
        return Error{ w.tmp_, 0, std::string("write failed: ") + std::strerror(errno) };
    }
    return true;
}

Result<bool> LogitsFileWriter::write_chunk(std::span<const uint16_t> records) {
    if (f_ == nullptr || std::fwrite(records.data(), 2, records.size(), f_) != records.size()) {
        return Error{ tmp_, 0, std::string("write failed: ") + std::strerror(errno) };
    }
    return true;
}

Result<bool> LogitsFileWriter::commit() {
    if (f_ == nullptr) {
        return Error{ path_, 0, "logits file is not open" };
    }
    const bool ok = std::fflush(f_) == 0;
    const int  rc = std::fclose(f_);
    f_            = nullptr;
    std::error_code ec;
    if (!ok || rc != 0) {
        std::filesystem::remove(tmp_, ec);
        return Error{ tmp_, 0, "write failed" };
    }
    std::filesystem::rename(tmp_, path_, ec);
    if (ec) {
        std::filesystem::remove(tmp_, ec);
        return Error{ path_, 0, "cannot rename " + tmp_ + ": " + ec.message() };
    }
    return true;
}

LogitsFileReader::~LogitsFileReader() {
    if (f_ != nullptr) {
        std::fclose(f_);
    }
}

Result<bool> LogitsFileReader::open(LogitsFileReader & r, const std::string & path) {
    r.path_ = path;
    r.f_    = std::fopen(path.c_str(), "rb");
    if (r.f_ == nullptr) {
        return Error{ path, 0, std::string("cannot open: ") + std::strerror(errno) };
    }
    std::error_code ec;
    const uint64_t  size = std::filesystem::file_size(path, ec);
    char            magic[8];
    if (std::fread(magic, 1, 8, r.f_) != 8 || std::memcmp(magic, kMagic, 8) != 0) {
        return Error{ path, 0, "not a llama-perplexity logits file (expected \"_logits_\")" };
    }
    int32_t head[3];
    if (std::fread(head, 4, 3, r.f_) != 3) {
        return Error{ path, 8, "truncated header (n_ctx, n_vocab, n_chunk)" };
    }
    LogitsFileHeader & h = r.header_;
    h.n_ctx              = head[0];
    h.n_vocab            = head[1];
    h.n_chunk            = head[2];
    if (h.n_ctx < 4) {
        return Error{ path, 8, "n_ctx " + std::to_string(h.n_ctx) + " is too small" };
    }
    if (h.n_vocab <= 0) {
        return Error{ path, 12, "n_vocab " + std::to_string(h.n_vocab) + " is not positive" };
    }
    if (h.n_chunk <= 0) {
        return Error{ path, 16, "n_chunk " + std::to_string(h.n_chunk) + " is not positive" };
    }
    const uint64_t n_tok = uint64_t(h.n_ctx) * uint64_t(h.n_chunk);
    const uint64_t need =
        kHeaderLen + 4 * n_tok + uint64_t(h.n_chunk) * uint64_t(h.n_scored()) * uint64_t(kld_record_len(h.n_vocab)) * 2;
    if (!ec && size != need) {
        return Error{ path, size < need ? size : need,
                      "file size " + std::to_string(size) + " does not match its header (n_ctx " +
                          std::to_string(h.n_ctx) + ", n_vocab " + std::to_string(h.n_vocab) + ", n_chunk " +
                          std::to_string(h.n_chunk) + " need " + std::to_string(need) + " bytes)" };
    }
    h.tokens.resize(n_tok);
    if (std::fread(h.tokens.data(), 4, n_tok, r.f_) != n_tok) {
        return Error{ path, kHeaderLen, "truncated token list" };
    }
    for (size_t i = 0; i < h.tokens.size(); ++i) {
        if (h.tokens[i] < 0 || h.tokens[i] >= h.n_vocab) {
            return Error{ path, kHeaderLen + 4 * i,
                          "token " + std::to_string(h.tokens[i]) + " out of range for n_vocab " +
                              std::to_string(h.n_vocab) };
        }
    }
    r.offset_ = kHeaderLen + 4 * n_tok;
    return true;
}

Result<bool> LogitsFileReader::read_chunk(std::vector<uint16_t> & records) {
    const LogitsFileHeader & h = header_;
    if (next_ >= h.n_chunk) {
        return Error{ path_, offset_, "no chunk left to read (file has " + std::to_string(h.n_chunk) + ")" };
    }
    records.resize(size_t(h.n_scored()) * size_t(kld_record_len(h.n_vocab)));
    if (std::fread(records.data(), 2, records.size(), f_) != records.size()) {
        return Error{ path_, offset_, "truncated log-probs of chunk " + std::to_string(next_) };
    }
    const int64_t len = kld_record_len(h.n_vocab);
    for (int64_t r = 0; r < h.n_scored(); ++r) {
        float scale, min_log_prob;
        std::memcpy(&scale, &records[size_t(r * len)], 4);
        std::memcpy(&min_log_prob, &records[size_t(r * len) + 2], 4);
        if (!std::isfinite(scale) || scale < 0 || !std::isfinite(min_log_prob)) {
            return Error{ path_, offset_ + uint64_t(r * len) * 2,
                          "bad record (scale " + std::to_string(scale) + ", min_log_prob " +
                              std::to_string(min_log_prob) + ") in chunk " + std::to_string(next_) };
        }
    }
    offset_ += records.size() * 2;
    ++next_;
    return true;
}

// ---------------------------------------------------------------------------------------------
// Statistics

KldToken kld_token(int64_t n_vocab, const float * logits, const uint16_t * base_record, int32_t tok, KldSums & s) {
    float   max_logit = logits[0];
    int64_t imax      = 0;
    for (int64_t i = 1; i < n_vocab; ++i) {
        if (logits[i] > max_logit) {
            max_logit = logits[i];
            imax      = i;
        }
    }
    double sum_exp = 0.0;
    for (int64_t i = 0; i < n_vocab; ++i) {
        sum_exp += std::exp(logits[i] - max_logit);
    }
    const float log_sum_exp = float(std::log(sum_exp));
    float       scale, min_log_prob;
    std::memcpy(&scale, base_record, 4);
    std::memcpy(&min_log_prob, base_record + 2, 4);
    const uint16_t * codes = base_record + 4;

    const float nll = max_logit + log_sum_exp - logits[tok];
    s.sum_nll += nll;
    s.sum_nll2 += nll * nll;
    const float nll_base = -(scale * codes[tok] + min_log_prob);
    s.sum_nll_base += nll_base;
    s.sum_nll_base2 += nll_base * nll_base;
    s.sum_nll_nll_base += nll * nll_base;

    max_logit += log_sum_exp;
    double  sum            = 0;
    int64_t imax_base      = -1;
    float   p_log_base_max = 0;
    for (int64_t i = 0; i < n_vocab; ++i) {
        const float p_log_base = scale * codes[i] + min_log_prob;
        if (i == 0 || p_log_base > p_log_base_max) {
            p_log_base_max = p_log_base;
            imax_base      = i;
        }
        if (p_log_base > -16.f) {
            const float p_base = std::exp(p_log_base);
            sum += p_base * (p_log_base - logits[i] + max_logit);
        }
    }
    s.sum_kld += sum;
    s.sum_kld2 += sum * sum;
    ++s.count;
    if (imax == imax_base) {
        ++s.n_same_top;
    }
    const float  p_base  = std::exp(-nll_base);
    const float  p       = std::exp(-nll);
    const float  p_diff  = p - p_base;
    const double p_diff2 = p_diff * p_diff;
    s.sum_p_diff += p_diff;
    s.sum_p_diff2 += p_diff2;
    s.sum_p_diff4 += p_diff2 * p_diff2;
    s.max_p_diff = std::max(s.max_p_diff, std::fabs(p_diff));
    return { sum, p_diff };
}

MeanErr mean_and_uncertainty(double sum, double sum2, uint64_t count) {
    if (count < 1) {
        return {};
    }
    const double f  = sum / double(count);
    double       df = sum2 / double(count) - f * f;
    df              = df > 0 && count > 10 ? std::sqrt(df / double(count - 1)) : 0.;
    return { f, df };
}

float kld_percentile(const std::vector<float> & values, float fraction) {
    if (fraction <= 0) {
        return values.front();
    }
    if (fraction >= 1) {
        return values.back();
    }
    float        p  = fraction * float(values.size() - 1);
    const size_t ip = size_t(p);
    p -= float(ip);
    return (1 - p) * values[ip] + p * values[std::min(ip + 1, values.size() - 1)];
}

KldStats kld_statistics(const KldSums & s, std::vector<float> kld_values, std::vector<float> p_diff_values) {
    KldStats st;
    if (s.count == 0 || kld_values.empty() || p_diff_values.empty()) {
        return st;
    }
    std::sort(kld_values.begin(), kld_values.end());
    std::sort(p_diff_values.begin(), p_diff_values.end());

    const MeanErr log_ppl      = mean_and_uncertainty(s.sum_nll, s.sum_nll2, s.count);
    const double  ppl_val      = std::exp(log_ppl.mean);
    const double  ppl_unc      = ppl_val * log_ppl.err;
    const MeanErr log_ppl_base = mean_and_uncertainty(s.sum_nll_base, s.sum_nll_base2, s.count);
    const double  ppl_base_val = std::exp(log_ppl_base.mean);
    const double  ppl_base_unc = ppl_base_val * log_ppl_base.err;
    const double  log_ppl_cov  = covariance(s.sum_nll, s.sum_nll_base, s.sum_nll_nll_base, s.count);
    st.ppl                     = { ppl_val, ppl_unc };
    st.ppl_base                = { ppl_base_val, ppl_base_unc };
    st.cor                     = log_ppl_cov / (log_ppl.err * log_ppl_base.err);
    const double ratio_val     = log_ppl.mean - log_ppl_base.mean;
    const double ratio_unc =
        std::sqrt(log_ppl.err * log_ppl.err + log_ppl_base.err * log_ppl_base.err - 2.0 * log_ppl_cov);
    st.log_ratio         = { ratio_val, ratio_unc };
    st.ratio             = { std::exp(ratio_val), std::exp(ratio_val) * ratio_unc };
    const double ppl_cov = ppl_val * ppl_base_val * log_ppl_cov;
    st.diff = { ppl_val - ppl_base_val, std::sqrt(ppl_unc * ppl_unc + ppl_base_unc * ppl_base_unc - 2.0 * ppl_cov) };

    st.kld        = mean_and_uncertainty(s.sum_kld, s.sum_kld2, s.count);
    st.kld_max    = kld_values.back();
    st.kld_999    = kld_percentile(kld_values, 0.999f);
    st.kld_99     = kld_percentile(kld_values, 0.990f);
    st.kld_95     = kld_percentile(kld_values, 0.950f);
    st.kld_90     = kld_percentile(kld_values, 0.900f);
    st.kld_median = median(kld_values);
    st.kld_10     = kld_percentile(kld_values, 0.100f);
    st.kld_5      = kld_percentile(kld_values, 0.050f);
    st.kld_1      = kld_percentile(kld_values, 0.010f);
    st.kld_01     = kld_percentile(kld_values, 0.001f);
    st.kld_min    = kld_values.front();

    st.p_diff    = mean_and_uncertainty(s.sum_p_diff, s.sum_p_diff2, s.count);
    st.dp_max    = p_diff_values.back();
    st.dp_999    = kld_percentile(p_diff_values, 0.999f);
    st.dp_99     = kld_percentile(p_diff_values, 0.990f);
    st.dp_95     = kld_percentile(p_diff_values, 0.950f);
    st.dp_90     = kld_percentile(p_diff_values, 0.900f);
    st.dp_75     = kld_percentile(p_diff_values, 0.750f);
    st.dp_median = median(p_diff_values);
    st.dp_25     = kld_percentile(p_diff_values, 0.250f);
    st.dp_10     = kld_percentile(p_diff_values, 0.100f);
    st.dp_5      = kld_percentile(p_diff_values, 0.050f);
    st.dp_1      = kld_percentile(p_diff_values, 0.010f);
    st.dp_01     = kld_percentile(p_diff_values, 0.001f);
    st.dp_min    = p_diff_values.front();

    const MeanErr mse = mean_and_uncertainty(s.sum_p_diff2, s.sum_p_diff4, s.count);
    const double  rms = std::sqrt(mse.mean);
    st.rms_p_diff     = { rms, 0.5 / rms * mse.err };
    const double top  = 1.0 * double(s.n_same_top) / double(s.count);
    st.same_top       = { top, std::sqrt(top * (1.0 - top) / double(s.count - 1)) };
    return st;
}

std::string format_kld_report(const KldStats & st) {
    std::string o;
    o += "====== Perplexity statistics ======\n";
    appendf(o, "Mean PPL(Q)                   : %10.6lf ± %10.6lf\n", st.ppl.mean, st.ppl.err);
    appendf(o, "Mean PPL(base)                : %10.6lf ± %10.6lf\n", st.ppl_base.mean, st.ppl_base.err);
    appendf(o, "Cor(ln(PPL(Q)), ln(PPL(base))): %6.2lf%%\n", 100.0 * st.cor);
    appendf(o, "Mean ln(PPL(Q)/PPL(base))     : %10.6lf ± %10.6lf\n", st.log_ratio.mean, st.log_ratio.err);
    appendf(o, "Mean PPL(Q)/PPL(base)         : %10.6lf ± %10.6lf\n", st.ratio.mean, st.ratio.err);
    appendf(o, "Mean PPL(Q)-PPL(base)         : %10.6lf ± %10.6lf\n", st.diff.mean, st.diff.err);
    o += "\n====== KL divergence statistics ======\n";
    appendf(o, "Mean    KLD: %10.6lf ± %10.6lf\n", st.kld.mean, st.kld.err);
    appendf(o, "Maximum KLD: %10.6f\n", double(st.kld_max));
    appendf(o, "99.9%%   KLD: %10.6f\n", double(st.kld_999));
    appendf(o, "99.0%%   KLD: %10.6f\n", double(st.kld_99));
    appendf(o, "95.0%%   KLD: %10.6f\n", double(st.kld_95));
    appendf(o, "90.0%%   KLD: %10.6f\n", double(st.kld_90));
    appendf(o, "Median  KLD: %10.6f\n", double(st.kld_median));
    appendf(o, "10.0%%   KLD: %10.6f\n", double(st.kld_10));
    appendf(o, " 5.0%%   KLD: %10.6f\n", double(st.kld_5));
    appendf(o, " 1.0%%   KLD: %10.6f\n", double(st.kld_1));
    appendf(o, " 0.1%%   KLD: %10.6f\n", double(st.kld_01));
    appendf(o, "Minimum KLD: %10.6f\n", double(st.kld_min));
    o += "\n====== Token probability statistics ======\n";
    appendf(o, "Mean    Δp: %6.3lf ± %5.3lf %%\n", 100.0 * st.p_diff.mean, 100.0 * st.p_diff.err);
    appendf(o, "Maximum Δp: %6.3lf%%\n", 100.0 * st.dp_max);
    appendf(o, "99.9%%   Δp: %6.3lf%%\n", 100.0 * st.dp_999);
    appendf(o, "99.0%%   Δp: %6.3lf%%\n", 100.0 * st.dp_99);
    appendf(o, "95.0%%   Δp: %6.3lf%%\n", 100.0 * st.dp_95);
    appendf(o, "90.0%%   Δp: %6.3lf%%\n", 100.0 * st.dp_90);
    appendf(o, "75.0%%   Δp: %6.3lf%%\n", 100.0 * st.dp_75);
    appendf(o, "Median  Δp: %6.3lf%%\n", 100.0 * st.dp_median);
    appendf(o, "25.0%%   Δp: %6.3lf%%\n", 100.0 * st.dp_25);
    appendf(o, "10.0%%   Δp: %6.3lf%%\n", 100.0 * st.dp_10);
    appendf(o, " 5.0%%   Δp: %6.3lf%%\n", 100.0 * st.dp_5);
    appendf(o, " 1.0%%   Δp: %6.3lf%%\n", 100.0 * st.dp_1);
    appendf(o, " 0.1%%   Δp: %6.3lf%%\n", 100.0 * st.dp_01);
    appendf(o, "Minimum Δp: %6.3lf%%\n", 100.0 * st.dp_min);
    appendf(o, "RMS Δp    : %6.3lf ± %5.3lf %%\n", 100.0 * st.rms_p_diff.mean, 100.0 * st.rms_p_diff.err);
    appendf(o, "Same top p: %6.3lf ± %5.3lf %%\n", 100.0 * st.same_top.mean, 100.0 * st.same_top.err);
    return o;
}

std::string format_kld_chunk_header() {
    return "chunk             PPL               ln(PPL(Q)/PPL(base))          KL Divergence              Δp RMS"
           "            Same top p\n";
}

std::string format_kld_chunk_line(int chunk, const KldSums & s) {
    std::string   o;
    const MeanErr log_ppl      = mean_and_uncertainty(s.sum_nll, s.sum_nll2, s.count);
    const double  ppl_val      = std::exp(log_ppl.mean);
    const MeanErr log_ppl_base = mean_and_uncertainty(s.sum_nll_base, s.sum_nll_base2, s.count);
    const double  cov          = covariance(s.sum_nll, s.sum_nll_base, s.sum_nll_nll_base, s.count);
    const double  ratio_unc    = std::sqrt(log_ppl.err * log_ppl.err + log_ppl_base.err * log_ppl_base.err - 2.0 * cov);
    const MeanErr kl           = mean_and_uncertainty(s.sum_kld, s.sum_kld2, s.count);
    const MeanErr mse          = mean_and_uncertainty(s.sum_p_diff2, s.sum_p_diff4, s.count);
    const double  rms          = std::sqrt(mse.mean);
    const double  top          = s.count > 0 ? 1. * double(s.n_same_top) / double(s.count) : 0.0;
    const double  top_unc      = s.count > 1 ? std::sqrt(top * (1 - top) / double(s.count - 1)) : 0.0;
    appendf(o, "%4d", chunk);
    appendf(o, "    %9.4lf ± %9.4lf", ppl_val, ppl_val * log_ppl.err);
    appendf(o, "    %10.5lf ± %10.5lf", log_ppl.mean - log_ppl_base.mean, ratio_unc);
    appendf(o, "    %10.5lf ± %10.5lf", kl.mean, kl.err);
    appendf(o, "    %6.3lf ± %6.3lf %%", 100.0 * rms, 100.0 * 0.5 / rms * mse.err);
    appendf(o, "    %6.3lf ± %6.3lf %%", 100.0 * top, 100.0 * top_unc);
    o += "\n";
    return o;
}

} // namespace nibble
