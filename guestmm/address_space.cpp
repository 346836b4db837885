// Argument validation, lifecycle and dispatch to the policy implementations.
#include "address_space.h"

#include "internal.h"
#include "pte.h"

namespace gmm::mm {

const char* errno_name(Errno e) {
    switch (e) {
    case Errno::Ok: return "ok";
    case Errno::NoMem: return "ENOMEM";
    case Errno::Inval: return "EINVAL";
    case Errno::Fault: return "EFAULT";
    }
    return "?";
}

const char* segv_reason_name(SegvReason r) {
    switch (r) {
    case SegvReason::NotMapped: return "not-mapped";
    case SegvReason::AccessDenied: return "access-denied";
    case SegvReason::OutOfRange: return "out-of-range";
    }
    return "?";
}

const char* counter_name(Counter c) {
    static const char* const names[] = {"faults", "faults_installed", "faults_segv", "faults_need_io",
                                        "fault_retries", "revalidation_failures", "cow_copies", "pushdowns",
                                        "tlb_flush_requests", "frames_allocated", "frames_freed",
                                        "page_table_pages"};
    static_assert(sizeof(names) / sizeof(names[0]) == uint32_t(Counter::Count));
    return names[uint32_t(c)];
}

AddressSpace::AddressSpace() = default;

Status AddressSpace::init(Platform& platform, const Options& o) {
    uint64_t s = o.user_start.value(), e = o.user_end.value();
    if (live_ || s >= e || (s & (kPageSize - 1)) || (e & (kPageSize - 1)) || s == 0 || e > (1ull << 47))
        return Err{Errno::Inval};
    p_ = &platform;
    opts_ = o;
    if (o.policy == Policy::Global) {  // knobs belong to the extents policy
        opts_.placement = Placement::Leaf;
        opts_.free_cache = FreeCache::None;
    }
    user_start_ = s;
    user_end_ = e;
    if (!pt_.init(platform, large_slab_, counters_, o.kernel_pml4)) return Err{Errno::NoMem};
    if (!free_.init(platform, small_slab_, s, e, opts_.free_cache)) {
        pt_.destroy(platform, small_slab_);
        return Err{Errno::NoMem};
    }
    live_ = true;
    return Ok{};
}

void AddressSpace::destroy() {
    if (!live_) return;
    if (opts_.policy == Policy::Global) GlobalOps::destroy(*this);
    pt_.destroy(*p_, small_slab_);
    free_.destroy(*p_);
    small_slab_.destroy(*p_);
    large_slab_.destroy(*p_);
    live_ = false;
}

uint64_t AddressSpace::next_generation() {
    // Unique without a shared counter: per-CPU sequence, CPU id in the low bits.
    uint32_t cpu = p_->cpu_id() % kMaxCpus;
    uint64_t n = rmw_add_fetch(&generations_.at(cpu), 1, __ATOMIC_RELAXED);
    return n * kMaxCpus + cpu;
}

Res<Gva> AddressSpace::map(Gva addr, uint64_t length, Prot prot, MapFlags flags, BackingObject* object,
                           uint64_t page_index) {
    uint32_t f = uint32_t(flags);
    bool shared = has(flags, MapFlags::Shared), priv = has(flags, MapFlags::Private);
    if (length == 0 || (uint32_t(prot) & ~kProtKnownBits) || (f & ~kMapKnownBits) || shared == priv)
        return Err{Errno::Inval};
    uint64_t len = align_up_or_zero(length, kPageSize);
    if (len == 0) return Err{Errno::Inval};
    if (object) {
        uint64_t last = 0;
        if (__builtin_add_overflow(page_index, len >> kPageShift, &last)) return Err{Errno::Inval};
    }
    if (len > user_end_ - user_start_) return Err{Errno::NoMem};
    ExtentAttrs a{0, object, object ? page_index : 0, next_generation(), prot, shared};
    bool fixed = has(flags, MapFlags::Fixed);
    uint64_t s = addr.value(), e = 0;
    if (fixed) {
        if (!addr.is_aligned(kPageSize) || s < user_start_) return Err{Errno::Inval};
        if (__builtin_add_overflow(s, len, &e)) return Err{Errno::Inval};
        if (e > user_end_) return Err{Errno::NoMem};
    } else {
        s = addr.align_down(kPageSize).value();  // a hint: where to start looking
        e = len;                                 // policies allocate the range
    }
    a.start = s;
    return opts_.policy == Policy::Global ? GlobalOps::map(*this, s, e, fixed, a)
                                          : ExtentsOps::map(*this, s, e, fixed, a);
}

Status AddressSpace::unmap(Gva addr, uint64_t length) {
    uint64_t len = align_up_or_zero(length, kPageSize), e = 0;
    if (length == 0 || len == 0 || !addr.is_aligned(kPageSize)) return Err{Errno::Inval};
    if (__builtin_add_overflow(addr.value(), len, &e) || !in_user(addr.value(), e)) return Err{Errno::Inval};
    return opts_.policy == Policy::Global ? GlobalOps::unmap(*this, addr.value(), e)
                                          : ExtentsOps::unmap(*this, addr.value(), e);
}

Status AddressSpace::protect(Gva addr, uint64_t length, Prot prot) {
    uint64_t len = align_up_or_zero(length, kPageSize), e = 0;
    if (length == 0 || len == 0 || !addr.is_aligned(kPageSize) || (uint32_t(prot) & ~kProtKnownBits))
        return Err{Errno::Inval};
    if (__builtin_add_overflow(addr.value(), len, &e)) return Err{Errno::Inval};
    if (!in_user(addr.value(), e)) return Err{Errno::NoMem};  // like mprotect: not mapped
    return opts_.policy == Policy::Global ? GlobalOps::protect(*this, addr.value(), e, prot)
                                          : ExtentsOps::protect(*this, addr.value(), e, prot);
}

// current_cpu(), not p_->cpu_id(): one GS load instead of a virtual call in the guest.
__attribute__((always_inline)) inline FaultResult AddressSpace::fault_impl(Gva addr, Access access,
                                                                          const FaultToken* revalidate, uint32_t cpu) {
    uint64_t va = addr.align_down(kPageSize).value();
    // One result object for every outcome, so it is built in the caller's
    // slot (a 48-byte copy per layer otherwise).
    const bool in_range = __builtin_expect(va >= user_start_ && va < user_end_, 1);
    FaultResult r = !in_range                         ? fault_result(FaultKind::Segv, SegvReason::OutOfRange)
                    : opts_.policy == Policy::Global ? GlobalOps::fault(*this, va, access, revalidate)
                                                      : ExtentsOps::fault(*this, va, access, revalidate, cpu);
    if (__builtin_expect(r.kind != FaultKind::Installed, 0)) {
        if (r.kind == FaultKind::Segv) counters_.add(cpu, Counter::FaultsSegv);
        else if (r.kind == FaultKind::NeedsIo) counters_.add(cpu, Counter::FaultsNeedIo);
    }
    return r;
}

FaultResult AddressSpace::fault(Gva addr, Access access) {
    const uint32_t cpu = current_cpu(*p_);
    counters_.add(cpu, Counter::Faults);
    return fault_impl(addr, access, nullptr, cpu);
}

FaultResult AddressSpace::complete_fault(const FaultToken& token) {
    const uint32_t cpu = current_cpu(*p_);
    FaultResult r = fault_impl(token.address, token.access, &token, cpu);
    if (r.kind == FaultKind::Retry) counters_.add(cpu, Counter::RevalidationFailures);
    else if (r.kind == FaultKind::NeedsIo) counters_.add(cpu, Counter::FaultRetries);
    object_put(token.object);  // the pin taken when the token was issued
    return r;
}

void AddressSpace::abandon_fault(const FaultToken& token) { object_put(token.object); }

namespace {
struct QueryMerge {
    uint64_t qs, qe;
    void (*fn)(const MappingInfo&, void*);
    void* ctx;
    bool have = false;
    MappingInfo cur{};
    void flush() {
        if (have) fn(cur, ctx);
        have = false;
    }
    static void piece(const Extent& x, void* self) {
        auto* m = static_cast<QueryMerge*>(self);
        uint64_t s = x.start > m->qs ? x.start : m->qs;
        uint64_t e = x.end < m->qe ? x.end : m->qe;
        if (s >= e) return;
        uint64_t pi = x.object ? x.page_index + ((s - x.start) >> kPageShift) : 0;
        MappingInfo& c = m->cur;
        if (m->have && c.end.value() == s && c.prot == x.prot && c.shared == x.shared && c.object == x.object &&
            (!x.object || c.page_index + ((c.end.value() - c.start.value()) >> kPageShift) == pi)) {
            c.end = Gva(e);
            return;
        }
        m->flush();
        c = MappingInfo{Gva(s), Gva(e), x.prot, x.shared, x.object, pi};
        m->have = true;
    }
};
}  // namespace

void AddressSpace::query(Gva start, Gva end, void (*fn)(const MappingInfo&, void*), void* ctx) {
    QueryMerge m{start.value(), end.value(), fn, ctx};
    if (opts_.policy == Policy::Global) GlobalOps::query(*this, m.qs, m.qe, &QueryMerge::piece, &m);
    else ExtentsOps::query(*this, m.qs, m.qe, &QueryMerge::piece, &m);
    m.flush();
}

uint64_t AddressSpace::pte_at(Gva addr) const {
    PtDesc* d = pt_.find_leaf(addr.value());
    if (!d) return 0;
    return __atomic_load_n(&d->table[slot_index(1, addr.value())], __ATOMIC_ACQUIRE);
}

void AddressSpace::trim_quiescent() { pt_.trim_quiescent(*p_); }

}  // namespace gmm::mm
