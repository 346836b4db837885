#include "json_reader.h"

#include <stdexcept>

namespace gmm::test {

namespace {
[[noreturn]] void fail(const std::string& what) { throw std::runtime_error("json: " + what); }
using Type = vmm::JsonValue::Type;
}  // namespace

JsonValue JsonValue::parse(std::string_view text) {
    auto parsed = vmm::parse_json(text);
    if (!parsed) fail(parsed.error().message());
    auto root = std::make_shared<const vmm::JsonValue>(std::move(*parsed));
    const vmm::JsonValue* v = root.get();
    return JsonValue(std::move(root), v);
}

bool JsonValue::has(const std::string& key) const { return v_->find(key) != nullptr; }

JsonValue JsonValue::operator[](const std::string& key) const {
    if (v_->type != Type::Object) fail("not an object (looking up '" + key + "')");
    const vmm::JsonValue* c = v_->find(key);
    if (!c) fail("missing key '" + key + "'");
    return JsonValue(root_, c);
}

JsonValue JsonValue::operator[](size_t index) const {
    if (v_->type != Type::Array) fail("not an array");
    if (index >= v_->items.size()) fail("index " + std::to_string(index) + " out of range");
    return JsonValue(root_, &v_->items[index]);
}

size_t JsonValue::size() const {
    if (v_->type != Type::Array && v_->type != Type::Object) fail("size() of a scalar");
    return v_->items.size();
}

bool JsonValue::as_bool() const {
    if (v_->type != Type::Bool) fail("not a boolean");
    return v_->boolean;
}

uint64_t JsonValue::as_u64() const {
    if (v_->type != Type::Number || !v_->as_u64) fail("not an unsigned integer");
    return *v_->as_u64;
}

const std::string& JsonValue::as_string() const {
    if (v_->type != Type::String) fail("not a string");
    return v_->string;
}

}  // namespace gmm::test
