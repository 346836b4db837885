#include "x86_64/page_walk.h"

#include <cstdio>

namespace gmm::vmm::x86_64 {

namespace {

constexpr uint64_t kAddrMask = 0x000ffffffffff000ull;  // bits 51:12
constexpr const char* kLevelNames[] = {"", "PT", "PD", "PDPT", "PML4"};


std::string size_text(uint64_t bytes) {
    if (bytes == kHugePageSize) return "1 GiB";
    if (bytes == kLargePageSize) return "2 MiB";
    return "4 KiB";
}

}  // namespace

PteFlags decode_pte_flags(uint64_t e) {
    auto bit = [e](int n) { return ((e >> n) & 1) != 0; };
    return PteFlags{bit(0), bit(1), bit(2), bit(3), bit(4), bit(5), bit(6), bit(7), bit(8), bit(63)};
}

std::string format_pte_flags(const PteFlags& f) {
    std::string s;
    auto add = [&s](bool on, const char* name) {
        if (!on) return;
        if (!s.empty()) s += ' ';
        s += name;
    };
    add(f.p, "P");
    add(f.rw, "RW");
    add(f.us, "US");
    add(f.pwt, "PWT");
    add(f.pcd, "PCD");
    add(f.a, "A");
    add(f.d, "D");
    add(f.ps, "PS");
    add(f.g, "G");
    add(f.nx, "NX");
    return s;
}

Walk walk_page_tables(const GuestMemory& mem, Gpa cr3, Gva gva) {
    Walk w;
    w.gva = gva;
    w.cr3 = Gpa(cr3.value() & kAddrMask);
    if (!is_canonical(gva)) {
        w.outcome = WalkOutcome::NonCanonical;
        return w;
    }
    bool writable = true, user = true, executable = true;
    Gpa table = w.cr3;
    for (int level = 4; level >= 1; --level) {
        if (!mem.contains(table, kPageSize)) {
            w.outcome = WalkOutcome::TableOutsideRam;
            w.bad_table = table;
            return w;
        }
        WalkStep step{};
        step.level = level;
        step.index = static_cast<uint32_t>((gva.value() >> (12 + 9 * (level - 1))) & 511);
        step.entry_gpa = table.plus(uint64_t{step.index} * 8);
        step.entry = mem.read_u64(step.entry_gpa).value();  // inside the table page checked above
        step.flags = decode_pte_flags(step.entry);
        step.next = Gpa(step.entry & kAddrMask);
        step.leaf = level == 1 || ((level == 3 || level == 2) && step.flags.ps);
        w.steps.push_back(step);
        if (!step.flags.p) {
            w.outcome = WalkOutcome::NotPresent;
            return w;
        }
        if (level == 4 && step.flags.ps) {
            w.outcome = WalkOutcome::ReservedPs;
            return w;
        }
        writable = writable && step.flags.rw;
        user = user && step.flags.us;
        executable = executable && !step.flags.nx;
        if (step.leaf) {
            const uint64_t size = level == 3 ? kHugePageSize : level == 2 ? kLargePageSize : kPageSize;
            // PAT sits at bit 12 in large-page entries: not part of the frame.
            const uint64_t frame = (step.entry & kAddrMask) & ~(size - 1);
            w.steps.back().next = Gpa(frame);
            w.outcome = WalkOutcome::Mapped;
            w.page_size_bytes = size;
            w.gpa = Gpa(frame | (gva.value() & (size - 1)));
            w.frame_in_ram = mem.contains(w.gpa, 1);
            w.writable = writable;
            w.user = user;
            w.executable = executable;
            return w;
        }
        table = step.next;
    }
    return w;  // unreachable: level 1 is always a leaf
}

std::string format_walk(const Walk& w) {
    std::string out = "    GVA " + hex(w.gva.value()) + " with CR3 " + hex(w.cr3.value());
    if (w.outcome == WalkOutcome::NonCanonical) return out + ": not canonical\n";
    out += "\n";
    for (const WalkStep& s : w.steps) {
        char buf[160];
        std::snprintf(buf, sizeof buf, "    %-4s[%3u] at %-12s = %016llx", kLevelNames[s.level], s.index,
                      hex(s.entry_gpa.value()).c_str(), static_cast<unsigned long long>(s.entry));
        out += buf;
        if (!s.flags.p) {
            out += " not present\n";
            continue;
        }
        out += " " + format_pte_flags(s.flags);
        if (s.level == 4 && s.flags.ps) out += " (PS is reserved here)";
        else if (s.leaf) out += " -> " + size_text(s.level == 3 ? kHugePageSize : s.level == 2 ? kLargePageSize : kPageSize) +
                                " page " + hex(s.next.value());
        else out += " -> table " + hex(s.next.value());
        out += "\n";
    }
    switch (w.outcome) {
        case WalkOutcome::Mapped:
            out += "    => GPA " + hex(w.gpa.value()) + " (" + size_text(w.page_size_bytes) + " page, " +
                   (w.writable ? "writable" : "read-only") + ", " + (w.user ? "user" : "supervisor") + ", " +
                   (w.executable ? "executable" : "no-execute") + (w.frame_in_ram ? "" : ", not RAM") + ")\n";
            break;
        case WalkOutcome::NotPresent: out += "    => not mapped\n"; break;
        case WalkOutcome::TableOutsideRam:
            out += "    => table at GPA " + hex(w.bad_table.value()) + " is outside guest RAM (not followed)\n";
            break;
        case WalkOutcome::ReservedPs: out += "    => reserved bit set: the walk faults\n"; break;
        case WalkOutcome::NonCanonical: break;
    }
    return out;
}

}  // namespace gmm::vmm::x86_64
