// A minimal JSON reader for the VM tests (objects, arrays, strings, numbers,
// booleans, null): enough to read `gmm run --json` output. Integers keep full
// 64-bit precision (guest addresses do not fit a double).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace gmm::test {

class JsonValue {
public:
    enum class Kind { Null, Bool, Number, String, Array, Object };

    Kind kind() const { return kind_; }
    bool is_null() const { return kind_ == Kind::Null; }
    bool has(const std::string& key) const { return kind_ == Kind::Object && object_.count(key) != 0; }

    // Throw std::runtime_error naming the problem on a kind mismatch or a missing key.
    const JsonValue& operator[](const std::string& key) const;
    const JsonValue& operator[](size_t index) const;
    size_t size() const;
    bool as_bool() const;
    uint64_t as_u64() const;
    int64_t as_i64() const;
    const std::string& as_string() const;
    const std::map<std::string, JsonValue>& as_object() const;

    static JsonValue parse(std::string_view text);  // throws std::runtime_error

private:
    friend class JsonParser;
    Kind kind_ = Kind::Null;
    bool bool_ = false;
    bool negative_ = false;
    uint64_t magnitude_ = 0;  // integer part (numbers with fractions/exponents keep only this)
    std::string string_;
    std::vector<JsonValue> array_;
    std::map<std::string, JsonValue> object_;
};

}  // namespace gmm::test
