// JSON writer output (exact text) and the strict reader, including round trips.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

#include "json_writer.h"

using namespace gmm::vmm;

namespace {
void write_sample(JsonWriter& w) {
    w.begin_object();
    w.key("name");
    w.string("gmm");
    w.key("vcpus");
    w.u64(4);
    w.key("delta");
    w.i64(-7);
    w.key("ratio");
    w.number(0.25);
    w.key("ok");
    w.boolean(true);
    w.key("none");
    w.null();
    w.key("list");
    w.begin_array();
    w.u64(1);
    w.begin_object();
    w.end_object();
    w.begin_array();
    w.end_array();
    w.end_array();
    w.end_object();
}

std::string parse_error(std::string_view text) {
    auto r = parse_json(text);
    INFO(text);
    REQUIRE_FALSE(r.ok());
    return r.error().what;
}
}  // namespace

TEST_CASE("JSON writer: compact output is exact", "[json]") {
    JsonWriter w(JsonStyle::Compact);
    write_sample(w);
    CHECK(w.complete());
    CHECK(w.str() ==
          R"({"name":"gmm","vcpus":4,"delta":-7,"ratio":0.25,"ok":true,"none":null,"list":[1,{},[]]})");
}

TEST_CASE("JSON writer: pretty output indents by two spaces", "[json]") {
    JsonWriter w(JsonStyle::Pretty);
    write_sample(w);
    CHECK(w.str() == "{\n"
                     "  \"name\": \"gmm\",\n"
                     "  \"vcpus\": 4,\n"
                     "  \"delta\": -7,\n"
                     "  \"ratio\": 0.25,\n"
                     "  \"ok\": true,\n"
                     "  \"none\": null,\n"
                     "  \"list\": [\n"
                     "    1,\n"
                     "    {},\n"
                     "    []\n"
                     "  ]\n"
                     "}");
}

TEST_CASE("JSON writer: extreme integers and non-finite doubles", "[json]") {
    JsonWriter w(JsonStyle::Compact);
    w.begin_array();
    w.u64(UINT64_MAX);
    w.i64(INT64_MIN);
    w.number(std::numeric_limits<double>::quiet_NaN());
    w.number(INFINITY);
    w.number(1e300);
    w.number(0.1);
    w.end_array();
    CHECK(w.str() == "[18446744073709551615,-9223372036854775808,null,null,1e+300,0.1]");
    CHECK_FALSE(JsonWriter(JsonStyle::Compact).complete());
}

TEST_CASE("JSON writer: strings are escaped", "[json]") {
    std::string out;
    static const char kIn[] = "q\" b\\ n\n t\t c\x01 del\x7f \xc3\xa9";
    json_escape_to(out, std::string_view(kIn, sizeof kIn - 1));
    CHECK(out == "\"q\\\" b\\\\ n\\n t\\t c\\u0001 del\x7f \xc3\xa9\"");
    out.clear();
    json_escape_to(out, "bad \xff \xc3 \xed\xa0\x80 end");  // invalid byte, truncated, surrogate
    CHECK(out == "\"bad \\ufffd \\ufffd \\ufffd\\ufffd\\ufffd end\"");
}

TEST_CASE("JSON reader: parses every type and keeps integers exact", "[json]") {
    auto v = parse_json(R"( {"a": [1, -2, 3.5, 1e2, true, false, null, "x\u00e9\ud83d\ude00\n"],
                            "big": 18446744073709551615, "neg": -9223372036854775808, "o": {}} )");
    REQUIRE(v.ok());
    REQUIRE(v->type == JsonValue::Type::Object);
    const JsonValue* a = v->find("a");
    REQUIRE(a);
    REQUIRE(a->items.size() == 8);
    CHECK(a->items[0].as_u64 == std::optional<uint64_t>(1));
    CHECK(a->items[1].as_i64 == std::optional<int64_t>(-2));
    CHECK_FALSE(a->items[1].as_u64.has_value());
    CHECK(a->items[2].number == 3.5);
    CHECK_FALSE(a->items[2].as_u64.has_value());
    CHECK(a->items[3].number == 100);
    CHECK_FALSE(a->items[3].as_u64.has_value());
    CHECK(a->items[4].boolean);
    CHECK(a->items[5].type == JsonValue::Type::Bool);
    CHECK(a->items[6].type == JsonValue::Type::Null);
    CHECK(a->items[7].string == "x\xc3\xa9\xf0\x9f\x98\x80\n");
    CHECK(v->find("big")->as_u64 == std::optional<uint64_t>(UINT64_MAX));
    CHECK_FALSE(v->find("big")->as_i64.has_value());
    CHECK(v->find("neg")->as_i64 == std::optional<int64_t>(INT64_MIN));
    CHECK(v->find("o")->type == JsonValue::Type::Object);
    CHECK(v->find("missing") == nullptr);
    CHECK(a->find("x") == nullptr);
}

TEST_CASE("JSON reader: round trip of the writer's output", "[json]") {
    for (JsonStyle style : {JsonStyle::Compact, JsonStyle::Pretty}) {
        JsonWriter w(style);
        write_sample(w);
        auto v = parse_json(w.str());
        REQUIRE(v.ok());
        CHECK(v->keys == std::vector<std::string>{"name", "vcpus", "delta", "ratio", "ok", "none", "list"});
        CHECK(v->find("name")->string == "gmm");
        CHECK(v->find("vcpus")->as_u64 == std::optional<uint64_t>(4));
        CHECK(v->find("delta")->as_i64 == std::optional<int64_t>(-7));
        CHECK(v->find("ratio")->number == 0.25);
        CHECK(v->find("list")->items.size() == 3);
    }
    JsonWriter w(JsonStyle::Compact);
    const std::string nasty("\x01\"\\\n\t\xe2\x82\xac", 8);
    w.string(nasty);
    auto v = parse_json(w.str());
    REQUIRE(v.ok());
    CHECK(v->string == nasty);
}

TEST_CASE("JSON reader: rejects malformed input with its position", "[json]") {
    CHECK(parse_error("") .find("unexpected end of input at offset 0 (line 1, column 1)") != std::string::npos);
    CHECK(parse_error("{\"a\":1,}").find("expected a string key at offset 7") != std::string::npos);
    CHECK(parse_error("{\n  \"a\" 1}").find("expected ':' at offset 8 (line 2, column 7)") != std::string::npos);
    CHECK(parse_error("[1 2]").find("expected ',' or ']' at offset 3") != std::string::npos);
    CHECK(parse_error("{\"a\":1,\"a\":2}").find("duplicate key \"a\" at offset 7") != std::string::npos);
    CHECK(parse_error("1 2").find("unexpected text after the value") != std::string::npos);
    const char* bad[] = {"01", "-", "1.", ".5", "1e", "+1", "tru", "nul", "\"abc", "\"a\\x\"", "\"\\u12\"",
                         "\"\\udc00\"", "\"\\ud800x\"", "\"tab\there\"", "\"\xff\"", "1e999", "[", "{", "{\"a\"}",
                         "NaN", "Infinity", "'x'", "[1,]"};
    for (const char* text : bad) {
        auto r = parse_json(text);
        INFO(text);
        CHECK_FALSE(r.ok());
        if (!r.ok()) CHECK(r.error().kind == ErrorKind::BadInput);
    }
}

TEST_CASE("JSON reader: limits nesting depth", "[json]") {
    const std::string ok = std::string(kJsonMaxDepth, '[') + std::string(kJsonMaxDepth, ']');
    CHECK(parse_json(ok).ok());
    const std::string deep = std::string(100000, '[') + std::string(100000, ']');
    CHECK(parse_error(deep).find("nesting deeper") != std::string::npos);
}
