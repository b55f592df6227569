// KL-divergence against saved base logits (FORMATS.md §6.2, §6.3): the `_logits_` file llama-perplexity
// writes with --kl-divergence-base (byte-compatible both ways), the per-token statistics of its
// --kl-divergence mode computed with the same float/double arithmetic, and the report it prints.
#pragma once

#include "core/status.h"

#include <cstdint>
#include <cstdio>
#include <span>
#include <string>
#include <vector>

namespace nibble {

// uint16 per scored position: two float32 (scale, min_log_prob) in 4 uint16, then n_vocab codes,
// padded to an even count.
constexpr int64_t kld_record_len(int64_t n_vocab) {
    return 2 * ((n_vocab + 1) / 2) + 4;
}

// Encodes the log-softmax of one row of logits into a record (llama-perplexity's log_softmax with a
// uint16 output) and returns the NLL of `tok` computed in float as llama-perplexity does on this path.
double encode_log_probs(int64_t n_vocab, const float * logits, uint16_t * record, int32_t tok);

// Decoded base log-probability of entry i of a record.
float decode_log_prob(const uint16_t * record, int64_t i);

struct LogitsFileHeader {
    int32_t              n_ctx   = 0;
    int32_t              n_vocab = 0;
    int32_t              n_chunk = 0;
    std::vector<int32_t> tokens; // n_chunk * n_ctx evaluation tokens (first token of a chunk not BOS-replaced)

    int64_t n_scored() const { return n_ctx - 1 - n_ctx / 2; } // records per chunk
};

// Streams a base-logits file: header, then one chunk of n_scored() records at a time. Written to
// PATH.tmp and renamed on commit(), so an interrupted run leaves no truncated file behind.
class LogitsFileWriter {
  public:
    LogitsFileWriter() = default;
    ~LogitsFileWriter();
    LogitsFileWriter(const LogitsFileWriter &)             = delete;
    LogitsFileWriter & operator=(const LogitsFileWriter &) = delete;

    static Result<bool> open(LogitsFileWriter & w, const std::string & path, const LogitsFileHeader & header);
    Result<bool>        write_chunk(std::span<const uint16_t> records); // n_scored() * kld_record_len(n_vocab)
    Result<bool>        commit();
    const std::string & path() const { return path_; }

  private:
    std::string path_, tmp_;
    FILE *      f_ = nullptr;
};

// Reads a base-logits file; errors name the file and the byte offset.
class LogitsFileReader {
  public:
    LogitsFileReader() = default;
    ~LogitsFileReader();
    LogitsFileReader(const LogitsFileReader &)             = delete;
    LogitsFileReader & operator=(const LogitsFileReader &) = delete;

    static Result<bool>      open(LogitsFileReader & r, const std::string & path);
    const LogitsFileHeader & header() const { return header_; }
    // Reads the records of the next chunk into `records` (resized to n_scored() * record length).
    Result<bool>             read_chunk(std::vector<uint16_t> & records);
    const std::string &      path() const { return path_; }

  private:
    std::string      path_;
    FILE *           f_      = nullptr;
    uint64_t         offset_ = 0;
    int32_t          next_   = 0;
    LogitsFileHeader header_;
};

// Running sums of llama-perplexity's kl_divergence_result.
struct KldSums {
    double   sum_nll = 0, sum_nll2 = 0, sum_nll_base = 0, sum_nll_base2 = 0, sum_nll_nll_base = 0;
    double   sum_kld = 0, sum_kld2 = 0, sum_p_diff = 0, sum_p_diff2 = 0, sum_p_diff4 = 0;
    float    max_p_diff = 0;
    uint64_t n_same_top = 0, count = 0;
};

struct KldToken {
    double kld    = 0;
    float  p_diff = 0;
};

// One scored position: current logits against a base record, predicting `tok`. Adds to `sums`.
KldToken kld_token(int64_t n_vocab, const float * logits, const uint16_t * base_record, int32_t tok, KldSums & sums);

// Mean and standard error as llama-perplexity computes them (error 0 for count <= 10).
struct MeanErr {
    double mean = 0, err = 0;
};
MeanErr mean_and_uncertainty(double sum, double sum2, uint64_t count);

// Everything the final report prints.
struct KldStats {
    MeanErr ppl, ppl_base, log_ratio, ratio, diff;
    double  cor = 0;
    MeanErr kld;
    float   kld_max = 0, kld_999 = 0, kld_99 = 0, kld_95 = 0, kld_90 = 0, kld_median = 0, kld_10 = 0, kld_5 = 0,
          kld_1 = 0, kld_01 = 0, kld_min = 0;
    MeanErr p_diff;
    float   dp_max = 0, dp_999 = 0, dp_99 = 0, dp_95 = 0, dp_90 = 0, dp_75 = 0, dp_median = 0, dp_25 = 0, dp_10 = 0,
          dp_5 = 0, dp_1 = 0, dp_01 = 0, dp_min = 0;
    MeanErr rms_p_diff, same_top;
};

// Percentile as llama-perplexity computes it: linear interpolation at fraction * (n - 1), in float.
float kld_percentile(const std::vector<float> & sorted, float fraction);

// kld_values / p_diff_values: one per scored token (any order; sorted here).
KldStats kld_statistics(const KldSums & s, std::vector<float> kld_values, std::vector<float> p_diff_values);

// "====== Perplexity statistics ======" ... "Same top p: ..." exactly as llama-perplexity prints it.
std::string format_kld_report(const KldStats & st);
// The header line and one running line per chunk (chunk is 1-based).
std::string format_kld_chunk_header();
std::string format_kld_chunk_line(int chunk, const KldSums & s);

} // namespace nibble
