#include "options.h"

namespace gmm::mm {

namespace {
bool tok_eq(const char* s, size_t n, const char* lit) {
    size_t i = 0;
    for (; i < n; ++i)
        if (lit[i] != s[i]) return false;
    return lit[i] == '\0';
}

void append(char* buf, size_t cap, size_t& at, const char* s) {
    while (*s && at + 1 < cap) buf[at++] = *s++;
    if (cap) buf[at < cap ? at : cap - 1] = '\0';
}
}  // namespace

const char* policy_name(Policy p) { return p == Policy::Global ? "global" : "extents"; }
const char* placement_name(Placement p) { return p == Placement::Leaf ? "leaf" : "hier"; }
const char* free_cache_name(FreeCache f) { return f == FreeCache::None ? "none" : "percpu"; }

bool parse_options(const char* text, Options* out, ParseError* err) {
    Options o;
    const char* s = text;
    size_t n = 0;
    while (s[n] && s[n] != ',') ++n;
    if (tok_eq(s, n, "global")) o.policy = Policy::Global;
    else if (tok_eq(s, n, "extents")) o.policy = Policy::Extents;
    else {
        *err = ParseError{"policy", s, n};
        return false;
    }
    s += n;
    while (*s == ',') {
        ++s;
        n = 0;
        while (s[n] && s[n] != ',') ++n;
        size_t eq = 0;
        while (eq < n && s[eq] != '=') ++eq;
        const char* v = s + eq + 1;
        size_t vn = eq < n ? n - eq - 1 : 0;
        if (o.policy == Policy::Extents && eq < n && tok_eq(s, eq, "placement")) {
            if (tok_eq(v, vn, "leaf")) o.placement = Placement::Leaf;
            else if (tok_eq(v, vn, "hier")) o.placement = Placement::Hier;
            else {
                *err = ParseError{"placement", v, vn};
                return false;
            }
        } else if (o.policy == Policy::Extents && eq < n && tok_eq(s, eq, "freecache")) {
            if (tok_eq(v, vn, "none")) o.free_cache = FreeCache::None;
            else if (tok_eq(v, vn, "percpu")) o.free_cache = FreeCache::PerCpu;
            else {
                *err = ParseError{"freecache", v, vn};
                return false;
            }
        } else {
            *err = ParseError{"knob", s, n};
            return false;
        }
        s += n;
    }
    if (*s) {
        *err = ParseError{"knob", s, 0};
        return false;
    }
    *out = o;
    return true;
}

void format_options(const Options& o, char* buf, size_t cap) {
    size_t at = 0;
    append(buf, cap, at, policy_name(o.policy));
    if (o.policy == Policy::Extents) {
        append(buf, cap, at, ",placement=");
        append(buf, cap, at, placement_name(o.placement));
        append(buf, cap, at, ",freecache=");
        append(buf, cap, at, free_cache_name(o.free_cache));
    }
}

}  // namespace gmm::mm
