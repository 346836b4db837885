#include "bootargs.h"

#include "assert.h"

namespace gmm::kernel {

bool StrView::equals(const char* s) const {
    uint32_t i = 0;
    for (; i < len; ++i)
        if (s[i] != data[i]) return false;  // also stops at s's NUL
    return s[i] == '\0';
}

const StrView* BootArgs::find(const char* key) const {
    for (uint32_t i = 0; i < count; ++i)
        if (args[i].key.equals(key)) return &args[i].value;
    return nullptr;
}

uint64_t BootArgs::u64_or(const char* key, uint64_t fallback) const {
    const StrView* v = find(key);
    if (!v) return fallback;
    GMM_ASSERT(v->len > 0 && v->len <= 19);  // 19 digits cannot overflow
    uint64_t value = 0;
    for (uint32_t i = 0; i < v->len; ++i) {
        const char c = v->data[i];
        GMM_ASSERT(c >= '0' && c <= '9');
        value = value * 10 + uint64_t(c - '0');
    }
    return value;
}

void bootargs_parse(const char* text, uint32_t len, BootArgs& out) {
    // FDT strings include their NUL; stop there.
    uint32_t end = 0;
    while (end < len && text[end] != '\0') ++end;
    uint32_t i = 0;
    while (i < end) {
        while (i < end && text[i] == ' ') ++i;
        if (i == end) break;
        const uint32_t start = i;
        uint32_t eq = 0;
        while (i < end && text[i] != ' ') {
            if (text[i] == '=' && eq == 0) eq = i;
            ++i;
        }
        GMM_ASSERT(eq > start);  // every word is key=value
        const StrView key{text + start, eq - start};
        const StrView value{text + eq + 1, i - eq - 1};
        if (key.equals("workload")) {
            out.workload = value;
        } else {
            GMM_ASSERT_LT(out.count, kMaxBootArgs);
            out.args[out.count++] = BootArg{key, value};
        }
    }
}

}  // namespace gmm::kernel
