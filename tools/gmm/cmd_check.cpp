// gmm check NAME: attach the invariant checker to a running VM over its
// control socket (docs/checker.md). Guest RAM arrives as a read-only memfd;
// each check stops the guest (safepoint or pause), verifies, and resumes it.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

#include "check_runner.h"
#include "commands.h"
#include "control_client.h"
#include "gmm/abi/mmstate.h"
#include "walk.h"

namespace gmm::cli {

namespace {

using check::CheckMode;
using vmm::ControlCommand;
using vmm::JsonValue;

void print_help(FILE* out) {
    std::fprintf(out,
                 "usage: gmm check NAME [--mode safepoint|async] [--interval MS] [--count N] [--json FILE]\n"
                 "       gmm check NAME --walk GVA [--vcpu N]\n\n"
                 "Attach the invariant checker to the running VM NAME (see gmm list).\n"
                 "  --mode safepoint  every vCPU parks where it holds no memory-manager lock; all is checked (default)\n"
                 "  --mode async      vCPUs are paused wherever they are; state under a held lock is skipped\n"
                 "  --count N         checks to run (default 1); --interval MS between them (default 100)\n"
                 "  --json FILE       write the result as JSON (checks, violations, skipped)\n"
                 "  --walk GVA        print the two-dimensional walk of one user address: guest levels,\n"
                 "                    then memory slot, host virtual address and host page; --vcpu N walks\n"
                 "                    from that vCPU's CR3 instead of the address space's root\n\n"
                 "Invariants I1-I8 are described in docs/checker.md. I7 (writes to free frames) uses the VMM's\n"
                 "dirty log from the second check on (one dirty-log reader per VM at a time).\n"
                 "exit codes: 0 no violation, 12 violations found, 2 usage or unknown VM, 1 the VM refused or failed\n");
}

bool parse_u64(const char* s, uint64_t& out, int base = 10) {
    if (!s || !*s || *s == '-') return false;
    char* end = nullptr;
    errno = 0;
    const unsigned long long v = std::strtoull(s, &end, base);
    if (errno || *end) return false;
    out = v;
    return true;
}

const JsonValue* member(const JsonValue& v, const char* k) { return v.find(k); }
uint64_t u64_or(const JsonValue& v, const char* k, uint64_t dflt) {
    const JsonValue* m = member(v, k);
    return m && m->as_u64 ? *m->as_u64 : dflt;
}

std::optional<uint64_t> roots_gpa_of(const JsonValue& info) {
    const JsonValue* pub = member(info, "published");
    if (!pub || pub->type != JsonValue::Type::Array) return std::nullopt;
    for (const JsonValue& cpu : pub->items)
        if (const JsonValue* r = cpu.find("mm_roots_gpa"); r && r->as_u64) return *r->as_u64;
    return std::nullopt;
}

struct Options {
    std::string name;
    CheckMode mode = CheckMode::Safepoint;
    uint64_t interval_ms = 100;
    uint64_t count = 1;
    std::string json_path;
    std::optional<uint64_t> walk_gva;
    std::optional<uint32_t> walk_vcpu;
};

int parse(int argc, char** argv, Options& o) {
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&](const char* what) -> const char* {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "gmm check: %s needs a value (see gmm check --help)\n", what);
                return nullptr;
            }
            return argv[++i];
        };
        if (a == "--help" || a == "-h") {
            print_help(stdout);
            return -1;
        } else if (a == "--mode") {
            const char* v = value("--mode");
            if (!v) return kExitUsage;
            if (!parse_check_mode(v, o.mode)) {
                std::fprintf(stderr, "gmm check: --mode \"%s\" is not a mode (accepted: safepoint, async)\n", v);
                return kExitUsage;
            }
        } else if (a == "--interval" || a == "--count") {
            const char* v = value(a.c_str());
            uint64_t n = 0;
            if (!v) return kExitUsage;
            if (!parse_u64(v, n) || n > 3600000 || (a == "--count" && n == 0)) {
                std::fprintf(stderr, "gmm check: %s \"%s\" is out of range (accepted: %s)\n", a.c_str(), v,
                             a == "--count" ? "1 to 3600000" : "0 to 3600000 ms");
                return kExitUsage;
            }
            (a == "--count" ? o.count : o.interval_ms) = n;
        } else if (a == "--json") {
            const char* v = value("--json");
            if (!v) return kExitUsage;
            o.json_path = v;
        } else if (a == "--walk") {
            const char* v = value("--walk");
            uint64_t g = 0;
            if (!v) return kExitUsage;
            const bool hex = !std::strncmp(v, "0x", 2) || !std::strncmp(v, "0X", 2);
            if (!parse_u64(hex ? v + 2 : v, g, hex ? 16 : 10) || g >= (1ull << 47)) {
                std::fprintf(stderr, "gmm check: --walk \"%s\" is not a user address (accepted: 0 to 0x7fffffffffff, "
                                     "decimal or 0x-hex)\n", v);
                return kExitUsage;
            }
            o.walk_gva = g;
        } else if (a == "--vcpu") {
            const char* v = value("--vcpu");
            uint64_t n = 0;
            if (!v) return kExitUsage;
            if (!parse_u64(v, n) || n >= 64) {
                std::fprintf(stderr, "gmm check: --vcpu \"%s\" is out of range (accepted: 0 to 63)\n", v);
                return kExitUsage;
            }
            o.walk_vcpu = uint32_t(n);
        } else if (a.size() > 1 && a[0] == '-') {
            std::fprintf(stderr, "gmm check: unknown option '%s' (see gmm check --help)\n", a.c_str());
            return kExitUsage;
        } else if (o.name.empty()) {
            o.name = a;
        } else {
            std::fprintf(stderr, "gmm check: unexpected argument '%s' (one VM name)\n", a.c_str());
            return kExitUsage;
        }
    }
    if (o.walk_vcpu && !o.walk_gva) {
        std::fprintf(stderr, "gmm check: --vcpu goes with --walk GVA\n");
        return kExitUsage;
    }
    if (o.name.empty()) {
        std::fprintf(stderr, "gmm check: which VM? (usage: gmm check NAME; see gmm list)\n");
        return kExitUsage;
    }
    if (Status st = vmm::validate_vm_name(o.name); !st) {
        std::fprintf(stderr, "gmm check: %s\n", st.error().message().c_str());
        return kExitUsage;
    }
    return 0;
}

int fail(const std::string& dir, const std::string& name, const vmm::ControlError& e) {
    if (e.failure == vmm::ControlFailure::NoSuchVm) {
        std::fprintf(stderr, "gmm check: no VM named '%s' (see gmm list; control directory %s)\n", name.c_str(),
                     dir.c_str());
        return kExitUsage;
    }
    std::fprintf(stderr, "gmm check: VM '%s': %s\n", name.c_str(), e.message.c_str());
    return kExitHostError;
}

int walk(const std::string& dir, const Options& o, const JsonValue& info, const check::VmRamView& view,
         uint64_t roots_gpa, const vmm::GuestRamView& ram) {
    gmm_mm_roots roots{};
    auto root_desc = view.phys<gmm_mm_roots>(roots_gpa);
    if (!root_desc || root_desc->magic != GMM_MM_ROOTS_MAGIC) {
        std::fprintf(stderr, "gmm check: the guest's mm roots are unreadable\n");
        return kExitHostError;
    }
    roots = *root_desc;
    auto desc = view.virt<gmm_ptdesc>(roots.root_desc_gva);
    if (!desc) {
        std::fprintf(stderr, "gmm check: the root page-table descriptor is outside guest RAM\n");
        return kExitHostError;
    }
    const JsonValue* mode = member(info, "kvm_mode");
    const std::string kvm_mode = mode && mode->type == JsonValue::Type::String ? mode->string : "unknown";
    uint64_t root = desc->table_phys;
    if (o.walk_vcpu) {
        auto c = vmm::control_request(dir, o.name, ControlCommand::Cr3);
        if (!c) return fail(dir, o.name, c.error());
        const JsonValue* list = member(c->json, "cr3");
        if (!list || list->type != JsonValue::Type::Array || *o.walk_vcpu >= list->items.size() ||
            !list->items[*o.walk_vcpu].as_u64) {
            std::fprintf(stderr, "gmm check: VM '%s' has no vCPU %u\n", o.name.c_str(), *o.walk_vcpu);
            return kExitUsage;
        }
        root = *list->items[*o.walk_vcpu].as_u64 & 0x000ffffffffff000ull;
        std::printf("walk of GVA 0x%" PRIx64 " from vCPU %u's CR3 (root table GPA 0x%" PRIx64 "%s)\n", *o.walk_gva,
                    *o.walk_vcpu, root, root == desc->table_phys ? ", the user address space" : ", not the user address space");
    } else {
        std::printf("walk of GVA 0x%" PRIx64 " in the user address space (root table GPA 0x%" PRIx64 ")\n", *o.walk_gva,
                    root);
    }
    check::WalkResult w = check::walk_gva(view, root, *o.walk_gva);
    for (const check::WalkStep& s : w.steps) {
        std::printf("  guest L%d  table 0x%-12" PRIx64 " index %3u  entry 0x%016" PRIx64 "  [%s]", s.level,
                    s.table_gpa, s.index, s.entry, check::entry_flags(s.entry).c_str());
        if (s.entry & 1) std::printf(" -> GPA 0x%" PRIx64, uint64_t(s.entry & 0x000ffffffffff000ull));
        std::printf("\n");
    }
    if (!w.mapped) {
        std::printf("  stops: %s\n", w.stopped.c_str());
        return kExitOk;
    }
    std::printf("  guest-physical 0x%" PRIx64 "\n", w.gpa);
    const vmm::MemorySlot* slot = nullptr;
    for (const vmm::MemorySlot& s : ram.slots())
        if (w.gpa >= s.gpa.value() && w.gpa - s.gpa.value() < s.size_bytes) slot = &s;
    if (!slot) {
        std::printf("  second stage: GPA is in no RAM slot (I6 violation)\n");
        return kExitViolation;
    }
    const uint64_t base = u64_or(*member(info, "layout"), "host_base_hva", 0);
    const uint64_t hva = base + w.gpa;
    std::printf("  memory slot %u [0x%" PRIx64 ", 0x%" PRIx64 ") -> host virtual 0x%" PRIx64 " in VMM pid %" PRIu64 "\n",
                slot->slot_id, slot->gpa.value(), slot->gpa.value() + slot->size_bytes, hva, u64_or(info, "pid", 0));
    const std::string path = "/proc/" + std::to_string(u64_or(info, "pid", 0)) + "/pagemap";
    vmm::Fd pm(open(path.c_str(), O_RDONLY | O_CLOEXEC));
    uint64_t e = 0;
    if (pm.valid() && pread(pm.get(), &e, 8, off_t(hva / 4096 * 8)) == 8) {
        if (e & (1ull << 63))
            std::printf("  host page: present, PFN 0x%" PRIx64 "%s\n", uint64_t(e & ((1ull << 55) - 1)),
                        (e & ((1ull << 55) - 1)) ? "" : " (PFNs need CAP_SYS_ADMIN)");
        else if (e & (1ull << 62)) std::printf("  host page: swapped out\n");
        else std::printf("  host page: not populated yet (the guest has not touched it since it was zeroed)\n");
    } else {
        std::printf("  host page: %s unreadable\n", path.c_str());
    }
    std::printf("  kvm_mode: %s — %s\n", kvm_mode.c_str(),
                kvm_mode == "emulated"
                    ? "this KVM emulates guest supervisor mode and uses shadow page tables: the hardware walks "
                      "KVM's shadow of the guest tables, not a two-stage EPT/NPT walk; the GPA -> host steps "
                      "above are what EPT/NPT would do"
                    : "on hardware with EPT/NPT the GPA -> host steps above are the second stage");
    return kExitOk;
}

}  // namespace

int cmd_check(int argc, char** argv) {
    Options o;
    if (int rc = parse(argc, argv, o); rc != 0) return rc < 0 ? kExitOk : rc;
    const std::string dir = vmm::default_control_dir();
    auto memfd = vmm::control_request(dir, o.name, ControlCommand::Memfd);
    if (!memfd) return fail(dir, o.name, memfd.error());
    auto ram = vmm::GuestRamView::map(*memfd);
    if (!ram) {
        std::fprintf(stderr, "gmm check: VM '%s': %s\n", o.name.c_str(), ram.error().message().c_str());
        return kExitHostError;
    }
    const JsonValue info = memfd->json;
    std::vector<check::RamRegion> regions;
    for (const vmm::MemorySlot& s : ram->slots()) regions.push_back({s.gpa.value(), s.size_bytes, ram->slot_bytes(s)});
    const check::VmRamView view(regions);
    const auto roots_gpa = roots_gpa_of(info);
    if (!roots_gpa) {
        std::fprintf(stderr, "gmm check: VM '%s' has published no memory-manager roots (mm_roots_gpa): it runs "
                             "no mm workload yet (page_fault1, mmap1, mixed, mmtest)\n", o.name.c_str());
        return kExitHostError;
    }
    if (o.walk_gva) return walk(dir, o, info, view, *roots_gpa, *ram);

    const uint32_t vcpus = uint32_t(u64_or(info, "vcpus", 0));
    const pid_t pid = pid_t(u64_or(info, "pid", 0));
    const JsonValue* layout = member(info, "layout");
    const uint64_t host_base = layout ? u64_or(*layout, "host_base_hva", 0) : 0;
    CheckSummary summary(o.mode);
    DirtyFrameTracker dirty;
    int rc = kExitOk;
    for (uint64_t i = 1; i <= o.count; ++i) {
        if (i > 1) std::this_thread::sleep_for(std::chrono::milliseconds(o.interval_ms));
        auto stopped = vmm::control_request(dir, o.name, o.mode == CheckMode::Safepoint ? ControlCommand::Safepoint
                                                                                          : ControlCommand::Pause);
        if (!stopped) {
            if (stopped.error().failure == vmm::ControlFailure::NoSuchVm && summary.checks() > 0) {
                std::fprintf(stderr, "gmm check: VM '%s' ended after %" PRIu64 " check(s)\n", o.name.c_str(),
                             summary.checks());
                break;
            }
            summary.add_error(stopped.error().message);
            rc = fail(dir, o.name, stopped.error());
            break;
        }
        const auto t0 = std::chrono::steady_clock::now();
        auto result = check::check_mm(check::CheckInput{&view, *roots_gpa, o.mode, vcpus});
        if (result) check_second_stage(result->mapped_frames, ram->slots(), pid, host_base, *result);
        if (result) {
            // I7: frames written since the last check that are free now (the VMM's dirty log).
            auto d = vmm::control_request(dir, o.name, ControlCommand::Dirty);
            std::vector<uint64_t> dirty_free;
            const JsonValue* list = d ? member(d->json, "free_frames") : nullptr;
            if (list && list->type == JsonValue::Type::Array) {
                for (const JsonValue& g : list->items)
                    if (g.as_u64) dirty_free.push_back(*g.as_u64);
                dirty.observe(result->frames, dirty_free, *result);
                if (const JsonValue* t = member(d->json, "truncated"); t && t->boolean)
                    result->skipped.push_back("I7: more dirty free frames than one reply lists");
            } else {
                result->skipped.push_back("I7: " + (d ? std::string("bad dirty reply") : d.error().message));
            }
        }
        const uint64_t ns = uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                         std::chrono::steady_clock::now() - t0).count());
        auto resumed = vmm::control_request(dir, o.name, ControlCommand::Resume);
        if (!result) {
            summary.add_error(result.error());
            std::fprintf(stderr, "gmm check: %s\n", result.error().c_str());
            rc = kExitHostError;
            break;
        }
        summary.add(*result, ns);
        print_check_line(stdout, i, o.mode, *result, ns);
        std::fflush(stdout);
        if (!resumed) {
            summary.add_error("resume: " + resumed.error().message);
            rc = fail(dir, o.name, resumed.error());
            break;
        }
    }
    summary.print(stdout);
    if (!o.json_path.empty()) {
        vmm::JsonWriter j(vmm::JsonStyle::Pretty);
        summary.write_json(j);
        FILE* f = std::fopen(o.json_path.c_str(), "w");
        if (!f || std::fputs((j.str() + "\n").c_str(), f) < 0 || std::fclose(f) != 0) {
            std::fprintf(stderr, "gmm check: cannot write --json \"%s\": %s\n", o.json_path.c_str(), std::strerror(errno));
            return kExitHostError;
        }
    }
    if (rc != kExitOk) return rc;
    return summary.violation_count() ? kExitViolation : kExitOk;
}

}  // namespace gmm::cli
