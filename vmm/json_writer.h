// JSON for run reports: a small streaming writer (compact or pretty) and a
// small strict reader into a value tree (used by tests and tools). The reader
// rejects malformed input with the byte offset, line and column.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "error.h"

namespace gmm::vmm {

enum class JsonStyle { Compact, Pretty };

// Usage: inside an object, key() then exactly one value (or container);
// inside an array, values directly. Misuse is a programming error and aborts
// with a message (it would otherwise produce invalid JSON silently).
class JsonWriter {
public:
    explicit JsonWriter(JsonStyle style);

    void begin_object();
    void end_object();
    void begin_array();
    void end_array();
    void key(std::string_view name);
    void string(std::string_view value);
    void u64(uint64_t value);
    void i64(int64_t value);
    void number(double value);  // NaN and infinities are written as null
    void boolean(bool value);
    void null();

    // The text so far; a complete document once the top-level value is closed.
    const std::string& str() const { return out_; }
    // True when exactly one top-level value has been written and closed.
    bool complete() const { return stack_.empty() && top_written_; }

private:
    enum class Frame { Object, Array };
    struct Level {
        Frame frame;
        uint64_t count;      // members / elements written
        bool key_pending;    // object: a key was written, its value not yet
    };
    void before_value(const char* what);
    void open(Frame frame, char c);
    void close(Frame frame, char c);
    void newline_indent(size_t depth);
    [[noreturn]] void misuse(const char* what) const;

    JsonStyle style_;
    std::string out_;
    std::vector<Level> stack_;
    bool top_written_ = false;
};

// Appends `s` as a JSON string literal (quotes included) to `out`. Invalid
// UTF-8 bytes become U+FFFD; control characters are escaped.
void json_escape_to(std::string& out, std::string_view s);

struct JsonValue {
    enum class Type { Null, Bool, Number, String, Array, Object };
    Type type = Type::Null;
    bool boolean = false;
    double number = 0;                // every number
    std::optional<uint64_t> as_u64;   // exact, when the text is a non-negative integer that fits
    std::optional<int64_t> as_i64;    // exact, when the text is an integer that fits
    std::string string;
    std::vector<JsonValue> items;     // array elements, or object member values
    std::vector<std::string> keys;    // object member names, parallel to items

    // Object member by name, or nullptr (also for non-objects).
    const JsonValue* find(std::string_view key) const;
};

// Strict RFC 8259 parsing of one value (surrounding whitespace allowed).
// Rejects duplicate keys and nesting deeper than kJsonMaxDepth.
constexpr uint32_t kJsonMaxDepth = 256;
Result<JsonValue> parse_json(std::string_view text);

}  // namespace gmm::vmm
