#include "io/json_file.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <set>
#include <utility>
#include <vector>

namespace nibble {

namespace {

using json = nlohmann::json;

bool is_ws(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

// Depth pre-check on the raw text, string-aware so brackets inside strings (chat templates are full
// of them) do not count. Returns the offset of the first bracket that goes too deep, or npos.
size_t too_deep_at(const std::string & s, int max_depth) {
    int depth = 0;
    for (size_t i = 0; i < s.size(); i++) {
        const char c = s[i];
        if (c == '"') {
            for (i++; i < s.size() && s[i] != '"'; i++) {
                if (s[i] == '\\') {
                    i++; // the escaped character may be '"'
                }
            }
        } else if (c == '{' || c == '[') {
            if (++depth > max_depth) {
                return i;
            }
        } else if (c == '}' || c == ']') {
            depth--; // unbalanced input is the parser's to report
        }
    }
    return std::string::npos;
}

// One key set per open object; only used when duplicates must be rejected (the sets cost memory
// proportional to the keys, which a 150k-entry tokenizer vocab would make noticeable).
struct DupTracker {
    std::vector<std::set<std::string>> open;
    bool                               dup = false;
    std::string                        key;

    bool on_event(json::parse_event_t ev, const json & parsed) {
        if (ev == json::parse_event_t::object_start) {
            open.emplace_back();
        } else if (ev == json::parse_event_t::object_end) {
            if (!open.empty()) {
                open.pop_back();
            }
        } else if (ev == json::parse_event_t::key && !open.empty() && !dup) {
            const std::string & k = parsed.get_ref<const std::string &>();
            if (!open.back().insert(k).second) {
                dup = true;
                key = k;
            }
        }
        return true;
    }
};

std::string short_quote(std::string_view s) {
    constexpr size_t kMax = 200; // a 50 MB key must not become a 50 MB message
    std::string      q    = "\"";
    q += s.substr(0, std::min(s.size(), kMax));
    q += s.size() > kMax ? "...\"" : "\"";
    return q;
}

} // namespace

uint64_t JsonDoc::key_offset(std::string_view key) const {
    std::string needle;
    needle.reserve(key.size() + 2);
    needle += '"';
    needle += key;
    needle += '"';
    for (size_t pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + 1)) {
        size_t j = pos + needle.size();
        while (j < text.size() && is_ws(text[j])) {
            j++;
        }
        if (j < text.size() && text[j] == ':') {
            return pos;
        }
    }
    return 0;
}

Error JsonDoc::error_at(std::string_view key, std::string what) const {
    return Error{ path, key_offset(key), std::move(what) };
}

Result<JsonDoc> parse_json_text(const std::string & name, std::string text, const JsonReadOptions & opt) {
    if (text.size() > opt.max_bytes) {
        return Error{ name, 0,
                      "JSON file is " + std::to_string(text.size()) + " bytes, over the limit of " +
                          std::to_string(opt.max_bytes) };
    }
    if (const size_t at = too_deep_at(text, kJsonMaxDepth); at != std::string::npos) {
        return Error{ name, at, "JSON nests deeper than kJsonMaxDepth = " + std::to_string(kJsonMaxDepth) };
    }
    JsonDoc doc;
    doc.path = name;
    DupTracker dups;
    try {
        if (opt.reject_duplicate_keys) {
            doc.root = json::parse(
                text.begin(), text.end(),
                [&dups](int, json::parse_event_t ev, json & parsed) { return dups.on_event(ev, parsed); },
                /*allow_exceptions=*/true, /*ignore_comments=*/false);
        } else {
            doc.root = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/true,
                                   /*ignore_comments=*/false);
        }
    } catch (const json::parse_error & e) {
        // e.byte counts characters read, so the offending one is at byte - 1.
        const uint64_t pos = e.byte > 0 ? std::min<uint64_t>(e.byte - 1, text.size()) : 0;
        return Error{ name, pos, std::string("invalid JSON: ") + e.what() };
    } catch (const std::exception & e) {
        return Error{ name, 0, std::string("invalid JSON: ") + e.what() };
    }
    doc.text = std::move(text);
    if (dups.dup) {
        return doc.error_at(dups.key, "duplicate key " + short_quote(dups.key) + " in a JSON object");
    }
    return doc;
}

Result<JsonDoc> read_json_file(const std::string & path, const JsonReadOptions & opt) {
    // stat first: a FIFO or a device would otherwise block or stream forever.
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        return Error{ path, 0, std::string("cannot stat: ") + std::strerror(errno) };
    }
    if (!S_ISREG(st.st_mode)) {
        return Error{ path, 0, "not a regular file" };
    }
    if (uint64_t(st.st_size) > opt.max_bytes) {
        return Error{ path, 0,
                      "JSON file is " + std::to_string(uint64_t(st.st_size)) + " bytes, over the limit of " +
                          std::to_string(opt.max_bytes) };
    }
    std::FILE * f = std::fopen(path.c_str(), "rb");
    if (f == nullptr) {
        return Error{ path, 0, std::string("cannot open: ") + std::strerror(errno) };
    }
    // A file that shrank after stat just reads short; one that grew is read up to its stat size.
    std::string text;
    text.resize(size_t(st.st_size));
    const size_t got        = text.empty() ? 0 : std::fread(text.data(), 1, text.size(), f);
    const bool   read_error = std::ferror(f) != 0;
    std::fclose(f);
    if (read_error) {
        return Error{ path, got, "read error" };
    }
    text.resize(got);
    return parse_json_text(path, std::move(text), opt);
}

} // namespace nibble
