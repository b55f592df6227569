// Error type for loaders and I/O. Every error names the file, a byte offset in it and the rule
// that was broken, so a bad checkpoint can be found with a hex dump (STYLE.md Do #12).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <variant>

namespace nibble {

struct Error {
    std::string file;
    uint64_t    offset = 0;
    std::string what;

    // "file: offset N: what"; the file part is left out when the error has none.
    std::string message() const {
        std::string s;
        if (!file.empty()) {
            s += file;
            s += ": ";
        }
        s += "offset ";
        s += std::to_string(offset);
        s += ": ";
        s += what;
        return s;
    }
};

// Stand-in for std::expected<T, Error> (g++ 12 has no <expected>). Swap for the real thing once the
// toolchain allows; the surface (ok/operator bool/value/error) is the subset of std::expected we use.
template <class T> class Result {
  public:
    Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}     // NOLINT: implicit on purpose
    Result(Error error) : v_(std::in_place_index<1>, std::move(error)) {} // NOLINT: implicit on purpose

    bool     ok() const { return v_.index() == 0; }
    explicit operator bool() const { return ok(); }

    // Precondition ok() / !ok(); std::get throws bad_variant_access otherwise rather than reading garbage.
    T &           value() & { return std::get<0>(v_); }
    const T &     value() const & { return std::get<0>(v_); }
    T &&          value() && { return std::get<0>(std::move(v_)); }
    const Error & error() const { return std::get<1>(v_); }

    T *       operator->() { return &value(); }
    const T * operator->() const { return &value(); }
    T &       operator*() & { return value(); }
    const T & operator*() const & { return value(); }

  private:
    std::variant<T, Error> v_;
};

} // namespace nibble
