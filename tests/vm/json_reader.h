// Throwing accessors over the VMM's JSON parser (vmm/json_writer.h), so the
// tests read `gmm run --json` reports as j["per_vcpu"][0]["results"]["key"].
// A missing key or a kind mismatch throws std::runtime_error naming it, which
// Catch2 reports as a failed test.
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

#include "json_writer.h"

namespace gmm::test {

class JsonValue {
public:
    bool has(const std::string& key) const;
    JsonValue operator[](const std::string& key) const;
    JsonValue operator[](size_t index) const;
    size_t size() const;
    bool as_bool() const;
    uint64_t as_u64() const;
    const std::string& as_string() const;

    static JsonValue parse(std::string_view text);  // throws std::runtime_error

private:
    explicit JsonValue(std::shared_ptr<const vmm::JsonValue> root, const vmm::JsonValue* v) : root_(std::move(root)), v_(v) {}
    std::shared_ptr<const vmm::JsonValue> root_;  // keeps the document alive
    const vmm::JsonValue* v_;
};

}  // namespace gmm::test
