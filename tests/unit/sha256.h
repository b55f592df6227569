// Test helper: SHA-256 (FIPS 180-4), to compare tensor bytes with the sha256 values of the golden
// manifests without a crypto dependency. Plain and slow-ish (~200 MB/s), which is plenty for tests.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

namespace nibble::test {

class Sha256 {
  public:
    Sha256() { reset(); }

    void reset() {
        h_    = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 };
        len_  = 0;
        nbuf_ = 0;
    }

    void update(const void * data, size_t n) {
        const auto * p = static_cast<const uint8_t *>(data);
        len_ += n;
        if (nbuf_ > 0) {
            const size_t take = std::min(n, sizeof buf_ - nbuf_);
            std::memcpy(buf_ + nbuf_, p, take);
            nbuf_ += take;
            p += take;
            n -= take;
            if (nbuf_ == sizeof buf_) {
                block(buf_);
                nbuf_ = 0;
            }
        }
        for (; n >= sizeof buf_; p += sizeof buf_, n -= sizeof buf_) {
            block(p);
        }
        std::memcpy(buf_, p, n);
        nbuf_ += n;
    }

    // Lower-case hex digest; the object must be reset() before reuse.
    std::string hex() {
        const uint64_t bits = len_ * 8;
        const uint8_t  one  = 0x80;
        update(&one, 1);
        const uint8_t zero = 0;
        while (nbuf_ != 56) {
            update(&zero, 1);
        }
        uint8_t be[8];
        for (int i = 0; i < 8; ++i) {
            be[i] = uint8_t(bits >> (56 - 8 * i));
        }
        update(be, 8);
        static constexpr char kHex[] = "0123456789abcdef";
        std::string           s;
        for (uint32_t w : h_) {
            for (int i = 3; i >= 0; --i) {
                const auto b = uint8_t(w >> (8 * i));
                s += kHex[b >> 4];
                s += kHex[b & 15];
            }
        }
        return s;
    }

  private:
    static uint32_t rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

    void block(const uint8_t * p) {
        static constexpr uint32_t k[64] = {
            0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
            0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
            0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
            0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
            0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
            0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
            0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
            0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
        };
        uint32_t w[64];
        for (int i = 0; i < 16; ++i) {
            w[i] = uint32_t(p[4 * i]) << 24 | uint32_t(p[4 * i + 1]) << 16 | uint32_t(p[4 * i + 2]) << 8 |
                   uint32_t(p[4 * i + 3]);
        }
        for (int i = 16; i < 64; ++i) {
            const uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
            const uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
            w[i]              = w[i - 16] + s0 + w[i - 7] + s1;
        }
        uint32_t a = h_[0], b = h_[1], c = h_[2], d = h_[3], e = h_[4], f = h_[5], g = h_[6], h = h_[7];
        for (int i = 0; i < 64; ++i) {
            const uint32_t t1 = h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + k[i] + w[i];
            const uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
            h                 = g;
            g                 = f;
            f                 = e;
            e                 = d + t1;
            d                 = c;
            c                 = b;
            b                 = a;
            a                 = t1 + t2;
        }
        h_[0] += a;
        h_[1] += b;
        h_[2] += c;
        h_[3] += d;
        h_[4] += e;
        h_[5] += f;
        h_[6] += g;
        h_[7] += h;
    }

    std::array<uint32_t, 8> h_{};
    uint64_t                len_  = 0;
    size_t                  nbuf_ = 0;
    uint8_t                 buf_[64]{};
};

inline std::string sha256_hex(const void * data, size_t n) {
    Sha256 s;
    s.update(data, n);
    return s.hex();
}

} // namespace nibble::test
