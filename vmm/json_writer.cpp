#include "json_writer.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace gmm::vmm {

// ---- Writer -------------------------------------------------------------------

namespace {

// Length of the valid UTF-8 sequence starting at s[i], or 0 if invalid.
size_t utf8_sequence_length(std::string_view s, size_t i) {
    const auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
    const unsigned char c = b(i);
    size_t n = 0;
    uint32_t cp = 0;
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf) n = 2, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef) n = 3, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4) n = 4, cp = c & 0x07;
    else return 0;
    if (i + n > s.size()) return 0;
    for (size_t k = 1; k < n; ++k) {
        if ((b(i + k) & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (b(i + k) & 0x3f);
    }
    // Overlong forms, surrogates and values beyond U+10FFFF are invalid.
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

}  // namespace

void json_escape_to(std::string& out, std::string_view s) {
    out.push_back('"');
    for (size_t i = 0; i < s.size();) {
        const unsigned char c = static_cast<unsigned char>(s[i]);
        switch (c) {
            case '"': out += "\\\""; ++i; continue;
            case '\\': out += "\\\\"; ++i; continue;
            case '\n': out += "\\n"; ++i; continue;
            case '\r': out += "\\r"; ++i; continue;
            case '\t': out += "\\t"; ++i; continue;
            case '\b': out += "\\b"; ++i; continue;
            case '\f': out += "\\f"; ++i; continue;
            default: break;
        }
        if (c < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            out += buf;
            ++i;
            continue;
        }
        const size_t n = utf8_sequence_length(s, i);
        if (n == 0) {
            out += "\\ufffd";
            ++i;
            continue;
        }
        out.append(s.substr(i, n));
        i += n;
    }
    out.push_back('"');
}

JsonWriter::JsonWriter(JsonStyle style) : style_(style) {}

void JsonWriter::misuse(const char* what) const {
    std::fprintf(stderr, "JsonWriter misuse: %s (after: %.80s)\n", what,
                 out_.size() > 80 ? out_.c_str() + out_.size() - 80 : out_.c_str());
    std::abort();
}

void JsonWriter::newline_indent(size_t depth) {
    if (style_ != JsonStyle::Pretty) return;
    out_.push_back('\n');
    out_.append(depth * 2, ' ');
}

void JsonWriter::before_value(const char* what) {
    if (stack_.empty()) {
        if (top_written_) misuse("a second top-level value");
        top_written_ = true;
        return;
    }
    Level& top = stack_.back();
    if (top.frame == Frame::Object) {
        if (!top.key_pending) misuse(what);
        top.key_pending = false;
        return;
    }
    if (top.count++ > 0) out_.push_back(',');
    newline_indent(stack_.size());
}

void JsonWriter::key(std::string_view name) {
    if (stack_.empty() || stack_.back().frame != Frame::Object) misuse("key() outside an object");
    Level& top = stack_.back();
    if (top.key_pending) misuse("key() twice without a value");
    if (top.count++ > 0) out_.push_back(',');
    newline_indent(stack_.size());
    json_escape_to(out_, name);
    out_ += style_ == JsonStyle::Pretty ? ": " : ":";
    top.key_pending = true;
}

void JsonWriter::open(Frame frame, char c) {
    before_value("a container without a key inside an object");
    out_.push_back(c);
    stack_.push_back(Level{frame, 0, false});
}

void JsonWriter::close(Frame frame, char c) {
    if (stack_.empty() || stack_.back().frame != frame) misuse("closing a container that is not open");
    if (stack_.back().key_pending) misuse("closing an object after a key without a value");
    const bool empty = stack_.back().count == 0;
    stack_.pop_back();
    if (!empty) newline_indent(stack_.size());
    out_.push_back(c);
}

void JsonWriter::begin_object() { open(Frame::Object, '{'); }
void JsonWriter::end_object() { close(Frame::Object, '}'); }
void JsonWriter::begin_array() { open(Frame::Array, '['); }
void JsonWriter::end_array() { close(Frame::Array, ']'); }

void JsonWriter::string(std::string_view value) {
    before_value("a string without a key inside an object");
    json_escape_to(out_, value);
}

void JsonWriter::u64(uint64_t value) {
    before_value("a number without a key inside an object");
    out_ += std::to_string(value);
}

void JsonWriter::i64(int64_t value) {
    before_value("a number without a key inside an object");
    out_ += std::to_string(value);
}

void JsonWriter::number(double value) {
    before_value("a number without a key inside an object");
    if (!std::isfinite(value)) {
        out_ += "null";
        return;
    }
    char buf[32];
    const auto r = std::to_chars(buf, buf + sizeof buf, value);  // shortest round-trip form
    out_.append(buf, r.ptr);
}

void JsonWriter::boolean(bool value) {
    before_value("a boolean without a key inside an object");
    out_ += value ? "true" : "false";
}

void JsonWriter::null() {
    before_value("null without a key inside an object");
    out_ += "null";
}

// ---- Reader -------------------------------------------------------------------

const JsonValue* JsonValue::find(std::string_view key) const {
    if (type != Type::Object) return nullptr;
    for (size_t i = 0; i < keys.size(); ++i)
        if (keys[i] == key) return &items[i];
    return nullptr;
}

namespace {

class JsonParser {
public:
    explicit JsonParser(std::string_view text) : s_(text) {}

    Result<JsonValue> parse_document() {
        JsonValue v;
        skip_ws();
        if (!parse_value(v, 0)) return Err{error_};
        skip_ws();
        if (pos_ != s_.size()) {
            fail("unexpected text after the value");
            return Err{error_};
        }
        return v;
    }

private:
    bool fail(const std::string& what) {
        size_t line = 1, col = 1;
        for (size_t i = 0; i < pos_ && i < s_.size(); ++i) {
            if (s_[i] == '\n') ++line, col = 1;
            else ++col;
        }
        error_ = input_error("JSON: " + what + " at offset " + std::to_string(pos_) + " (line " +
                             std::to_string(line) + ", column " + std::to_string(col) + ")");
        return false;
    }
    bool at_end() const { return pos_ >= s_.size(); }
    char peek() const { return at_end() ? '\0' : s_[pos_]; }
    void skip_ws() {
        while (!at_end() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) ++pos_;
    }
    bool literal(std::string_view word) {
        if (s_.substr(pos_, word.size()) != word) return fail("invalid literal");
        pos_ += word.size();
        return true;
    }

    bool parse_value(JsonValue& v, uint32_t depth) {
        if (depth > kJsonMaxDepth) return fail("nesting deeper than " + std::to_string(kJsonMaxDepth));
        switch (peek()) {
            case '{': return parse_object(v, depth);
            case '[': return parse_array(v, depth);
            case '"': v.type = JsonValue::Type::String; return parse_string(v.string);
            case 't': v.type = JsonValue::Type::Bool; v.boolean = true; return literal("true");
            case 'f': v.type = JsonValue::Type::Bool; v.boolean = false; return literal("false");
            case 'n': v.type = JsonValue::Type::Null; return literal("null");
            default:
                if (peek() == '-' || (peek() >= '0' && peek() <= '9')) return parse_number(v);
                return fail(at_end() ? "unexpected end of input" : "unexpected character");
        }
    }

    bool parse_object(JsonValue& v, uint32_t depth) {
        v.type = JsonValue::Type::Object;
        ++pos_;  // '{'
        skip_ws();
        if (peek() == '}') return ++pos_, true;
        for (;;) {
            skip_ws();
            if (peek() != '"') return fail("expected a string key");
            std::string key;
            const size_t key_pos = pos_;
            if (!parse_string(key)) return false;
            if (v.find(key)) {
                pos_ = key_pos;
                return fail("duplicate key \"" + key.substr(0, 64) + "\"");
            }
            skip_ws();
            if (peek() != ':') return fail("expected ':'");
            ++pos_;
            skip_ws();
            JsonValue member;
            if (!parse_value(member, depth + 1)) return false;
            v.keys.push_back(std::move(key));
            v.items.push_back(std::move(member));
            skip_ws();
            if (peek() == ',') {
                ++pos_;
                continue;
            }
            if (peek() == '}') return ++pos_, true;
            return fail("expected ',' or '}'");
        }
    }

    bool parse_array(JsonValue& v, uint32_t depth) {
        v.type = JsonValue::Type::Array;
        ++pos_;  // '['
        skip_ws();
        if (peek() == ']') return ++pos_, true;
        for (;;) {
            skip_ws();
            JsonValue item;
            if (!parse_value(item, depth + 1)) return false;
            v.items.push_back(std::move(item));
            skip_ws();
            if (peek() == ',') {
                ++pos_;
                continue;
            }
            if (peek() == ']') return ++pos_, true;
            return fail("expected ',' or ']'");
        }
    }

    bool hex4(uint32_t& out) {
        if (pos_ + 4 > s_.size()) return fail("truncated \\u escape");
        uint32_t v = 0;
        for (int i = 0; i < 4; ++i) {
            const char c = s_[pos_++];
            v <<= 4;
            if (c >= '0' && c <= '9') v |= c - '0';
            else if (c >= 'a' && c <= 'f') v |= c - 'a' + 10;
            else if (c >= 'A' && c <= 'F') v |= c - 'A' + 10;
            else return --pos_, fail("bad hex digit in \\u escape");
        }
        out = v;
        return true;
    }

    static void append_utf8(std::string& out, uint32_t cp) {
        if (cp < 0x80) {
            out.push_back(static_cast<char>(cp));
        } else if (cp < 0x800) {
            out.push_back(static_cast<char>(0xc0 | (cp >> 6)));
            out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
        } else if (cp < 0x10000) {
            out.push_back(static_cast<char>(0xe0 | (cp >> 12)));
            out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
            out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
        } else {
            out.push_back(static_cast<char>(0xf0 | (cp >> 18)));
            out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3f)));
            out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
            out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
        }
    }

    bool parse_string(std::string& out) {
        ++pos_;  // opening quote
        for (;;) {
            if (at_end()) return fail("unterminated string");
            const unsigned char c = static_cast<unsigned char>(s_[pos_]);
            if (c == '"') return ++pos_, true;
            if (c < 0x20) return fail("control character in string");
            if (c != '\\') {
                const size_t n = utf8_sequence_length(s_, pos_);
                if (n == 0) return fail("invalid UTF-8 in string");
                out.append(s_.substr(pos_, n));
                pos_ += n;
                continue;
            }
            ++pos_;
            if (at_end()) return fail("unterminated escape");
            const char e = s_[pos_++];
            switch (e) {
                case '"': out.push_back('"'); break;
                case '\\': out.push_back('\\'); break;
                case '/': out.push_back('/'); break;
                case 'b': out.push_back('\b'); break;
                case 'f': out.push_back('\f'); break;
                case 'n': out.push_back('\n'); break;
                case 'r': out.push_back('\r'); break;
                case 't': out.push_back('\t'); break;
                case 'u': {
                    uint32_t cp = 0;
                    if (!hex4(cp)) return false;
                    if (cp >= 0xdc00 && cp <= 0xdfff) return fail("lone low surrogate");
                    if (cp >= 0xd800 && cp <= 0xdbff) {
                        uint32_t lo = 0;
                        if (s_.substr(pos_, 2) != "\\u") return fail("high surrogate without a low surrogate");
                        pos_ += 2;
                        if (!hex4(lo)) return false;
                        if (lo < 0xdc00 || lo > 0xdfff) return fail("high surrogate without a low surrogate");
                        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                    }
                    append_utf8(out, cp);
                    break;
                }
                default: --pos_; return fail("invalid escape");
            }
        }
    }

    bool parse_number(JsonValue& v) {
        const size_t start = pos_;
        bool integral = true;
        if (peek() == '-') ++pos_;
        if (peek() == '0') {
            ++pos_;
        } else if (peek() >= '1' && peek() <= '9') {
            while (peek() >= '0' && peek() <= '9') ++pos_;
        } else {
            return fail("expected a digit");
        }
        if (peek() == '.') {
            integral = false;
            ++pos_;
            if (!(peek() >= '0' && peek() <= '9')) return fail("expected a digit after '.'");
            while (peek() >= '0' && peek() <= '9') ++pos_;
        }
        if (peek() == 'e' || peek() == 'E') {
            integral = false;
            ++pos_;
            if (peek() == '+' || peek() == '-') ++pos_;
            if (!(peek() >= '0' && peek() <= '9')) return fail("expected a digit in the exponent");
            while (peek() >= '0' && peek() <= '9') ++pos_;
        }
        const char* b = s_.data() + start;
        const char* e = s_.data() + pos_;
        v.type = JsonValue::Type::Number;
        const auto r = std::from_chars(b, e, v.number);
        if (r.ec == std::errc::result_out_of_range) {
            pos_ = start;
            return fail("number out of range");
        }
        if (integral) {
            uint64_t u = 0;
            int64_t i = 0;
            if (*b != '-' && std::from_chars(b, e, u).ec == std::errc{}) v.as_u64 = u;
            if (std::from_chars(b, e, i).ec == std::errc{}) v.as_i64 = i;
        }
        return true;
    }

    std::string_view s_;
    size_t pos_ = 0;
    Error error_;
};

}  // namespace

Result<JsonValue> parse_json(std::string_view text) { return JsonParser(text).parse_document(); }

}  // namespace gmm::vmm
