#include "json_reader.h"

namespace gmm::test {

namespace {
[[noreturn]] void fail(const std::string& what) { throw std::runtime_error("json: " + what); }
}  // namespace

class JsonParser {
public:
    explicit JsonParser(std::string_view t) : t_(t) {}

    JsonValue document() {
        JsonValue v = value();
        skip_ws();
        if (pos_ != t_.size()) fail("trailing characters at offset " + std::to_string(pos_));
        return v;
    }

private:
    std::string_view t_;
    size_t pos_ = 0;

    void skip_ws() {
        while (pos_ < t_.size() && (t_[pos_] == ' ' || t_[pos_] == '\n' || t_[pos_] == '\r' || t_[pos_] == '\t')) ++pos_;
    }
    char peek() {
        skip_ws();
        if (pos_ >= t_.size()) fail("unexpected end of input");
        return t_[pos_];
    }
    void expect(char c) {
        if (peek() != c) fail(std::string("expected '") + c + "' at offset " + std::to_string(pos_));
        ++pos_;
    }
    bool literal(std::string_view word) {
        if (t_.substr(pos_, word.size()) != word) return false;
        pos_ += word.size();
        return true;
    }

    JsonValue value() {
        JsonValue v;
        const char c = peek();
        if (c == '{') {
            v.kind_ = JsonValue::Kind::Object;
            ++pos_;
            if (peek() == '}') { ++pos_; return v; }
            for (;;) {
                if (peek() != '"') fail("expected a key at offset " + std::to_string(pos_));
                std::string key = string();
                expect(':');
                v.object_[key] = value();
                if (peek() == ',') { ++pos_; continue; }
                expect('}');
                return v;
            }
        }
        if (c == '[') {
            v.kind_ = JsonValue::Kind::Array;
            ++pos_;
            if (peek() == ']') { ++pos_; return v; }
            for (;;) {
                v.array_.push_back(value());
                if (peek() == ',') { ++pos_; continue; }
                expect(']');
                return v;
            }
        }
        if (c == '"') {
            v.kind_ = JsonValue::Kind::String;
            v.string_ = string();
            return v;
        }
        if (literal("true")) { v.kind_ = JsonValue::Kind::Bool; v.bool_ = true; return v; }
        if (literal("false")) { v.kind_ = JsonValue::Kind::Bool; return v; }
        if (literal("null")) return v;
        if (c == '-' || (c >= '0' && c <= '9')) {
            v.kind_ = JsonValue::Kind::Number;
            if (c == '-') { v.negative_ = true; ++pos_; }
            const size_t start = pos_;
            while (pos_ < t_.size() && t_[pos_] >= '0' && t_[pos_] <= '9') v.magnitude_ = v.magnitude_ * 10 + uint64_t(t_[pos_++] - '0');
            if (pos_ == start) fail("bad number at offset " + std::to_string(start));
            while (pos_ < t_.size() && (t_[pos_] == '.' || t_[pos_] == 'e' || t_[pos_] == 'E' || t_[pos_] == '+' ||
                                        t_[pos_] == '-' || (t_[pos_] >= '0' && t_[pos_] <= '9')))
                ++pos_;
            return v;
        }
        fail(std::string("unexpected '") + c + "' at offset " + std::to_string(pos_));
    }

    static void append_utf8(std::string& out, uint32_t cp) {
        if (cp < 0x80) out += char(cp);
        else if (cp < 0x800) { out += char(0xc0 | (cp >> 6)); out += char(0x80 | (cp & 0x3f)); }
        else { out += char(0xe0 | (cp >> 12)); out += char(0x80 | ((cp >> 6) & 0x3f)); out += char(0x80 | (cp & 0x3f)); }
    }

    std::string string() {
        expect('"');
        std::string out;
        while (pos_ < t_.size() && t_[pos_] != '"') {
            char c = t_[pos_++];
            if (c != '\\') { out += c; continue; }
            if (pos_ >= t_.size()) break;
            c = t_[pos_++];
            switch (c) {
                case 'n': out += '\n'; break;
                case 't': out += '\t'; break;
                case 'r': out += '\r'; break;
                case 'b': out += '\b'; break;
                case 'f': out += '\f'; break;
                case 'u': {
                    if (pos_ + 4 > t_.size()) fail("short \\u escape");
                    append_utf8(out, uint32_t(std::stoul(std::string(t_.substr(pos_, 4)), nullptr, 16)));
                    pos_ += 4;
                    break;
                }
                default: out += c; break;  // \" \\ \/
            }
        }
        if (pos_ >= t_.size()) fail("unterminated string");
        ++pos_;
        return out;
    }
};

JsonValue JsonValue::parse(std::string_view text) { return JsonParser(text).document(); }

const JsonValue& JsonValue::operator[](const std::string& key) const {
    if (kind_ != Kind::Object) fail("not an object (looking up '" + key + "')");
    auto it = object_.find(key);
    if (it == object_.end()) fail("missing key '" + key + "'");
    return it->second;
}
const JsonValue& JsonValue::operator[](size_t index) const {
    if (kind_ != Kind::Array) fail("not an array");
    if (index >= array_.size()) fail("index " + std::to_string(index) + " out of range");
    return array_[index];
}
size_t JsonValue::size() const {
    if (kind_ == Kind::Array) return array_.size();
    if (kind_ == Kind::Object) return object_.size();
    fail("size() of a scalar");
}
bool JsonValue::as_bool() const {
    if (kind_ != Kind::Bool) fail("not a boolean");
    return bool_;
}
uint64_t JsonValue::as_u64() const {
    if (kind_ != Kind::Number || negative_) fail("not an unsigned number");
    return magnitude_;
}
int64_t JsonValue::as_i64() const {
    if (kind_ != Kind::Number) fail("not a number");
    return negative_ ? -int64_t(magnitude_) : int64_t(magnitude_);
}
const std::string& JsonValue::as_string() const {
    if (kind_ != Kind::String) fail("not a string");
    return string_;
}
const std::map<std::string, JsonValue>& JsonValue::as_object() const {
    if (kind_ != Kind::Object) fail("not an object");
    return object_;
}

}  // namespace gmm::test
