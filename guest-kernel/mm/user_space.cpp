#include "mm/user_space.h"

#include <new>

#include "assert.h"
#include "kernel.h"
#include "frame_alloc.h"
#include "gmm/abi/mmstate.h"
#include "mm/guest_platform.h"
#include "mm/safepoint.h"
#include "percpu.h"
#include "ucall.h"

namespace gmm::kernel {

mm::AddressSpace* g_mm_space;

namespace {

// Static storage without a static constructor (the kernel has none): built in place.
alignas(mm::AddressSpace) unsigned char g_as_storage[sizeof(mm::AddressSpace)];

// The user image as a backing object: page i is the image's own frame.
bool image_lookup(mm::BackingObject*, uint64_t page_index, uint64_t* phys) {
    *phys = g_kernel.boot_info->user_image_gpa + page_index * kPageSize;
    return true;
}
void image_ref(mm::BackingObject*) {}
constexpr mm::BackingOps kImageOps = {image_lookup, image_ref, image_ref};
mm::BackingObject g_image = {&kImageOps, 0};

mm::Options options_from(const BootArgs& args) {
    mm::Options o;
    const StrView* v = args.find("mm");
    if (v && v->equals("global")) o.policy = mm::Policy::Global;
    else GMM_ASSERT(!v || v->equals("extents"));
    v = args.find("placement");
    if (v && v->equals("hier")) o.placement = mm::Placement::Hier;
    else GMM_ASSERT(!v || v->equals("leaf"));
    v = args.find("freecache");
    if (v && v->equals("percpu")) o.free_cache = mm::FreeCache::PerCpu;
    else GMM_ASSERT(!v || v->equals("none"));
    o.kernel_pml4 = direct_map<const uint64_t>(Gpa(g_kernel.boot_info->kernel_pml4_gpa));
    return o;
}

// What the host-side checker reads (abi/gmm/abi/mmstate.h); published once.
gmm_mm_roots g_roots;

void publish_roots(uint64_t inject) {
    g_mm_space->describe(g_roots);
    const FrameStats f = frame_stats();
    g_roots.cpu_count = g_kernel.cpu_count;
    g_roots.frame_pool_lock_gva = frame_pool_lock_gva();
    g_roots.frames_meta_gpa = f.meta_gpa;
    g_roots.frames_meta_count = f.meta_count;
    g_roots.frames_managed_gpa = f.first_managed_gpa;
    g_roots.safepoint_gpa = safepoint_gpa();
    g_roots.inject = inject;
    g_roots.size_bytes = sizeof(g_roots);
    g_roots.version = GMM_MMSTATE_ABI_VERSION;
    __atomic_store_n(&g_roots.magic, GMM_MM_ROOTS_MAGIC, __ATOMIC_RELEASE);
    ucall_result("mm_roots_gpa", reinterpret_cast<uint64_t>(&g_roots) - GMM_KERNEL_IMAGE_GVA);
}

void map_fixed(uint64_t va, uint64_t len, mm::Prot prot, mm::MapFlags flags, mm::BackingObject* obj) {
    auto r = g_mm_space->map(Gva(va), len, prot, flags | mm::MapFlags::Fixed, obj, 0);
    GMM_ASSERT(r.ok() && r->value() == va);
}

}  // namespace

void* mm_space_build(const BootArgs& args, uint32_t threads) {
    const gmm_boot_info& bi = *g_kernel.boot_info;
    g_mm_space = new (g_as_storage) mm::AddressSpace();
    GMM_ASSERT(g_mm_space->init(guest_platform(), options_from(args)).ok());
    using mm::Prot;
    g_image.size_pages = bi.user_image_size_bytes / kPageSize;
    // Shared: writes to .data/.bss land in the image's frames (one process, one boot).
    map_fixed(bi.user_image_gva, bi.user_image_size_bytes, Prot::Read | Prot::Write | Prot::Exec, mm::MapFlags::Shared,
              &g_image);
    map_fixed(kMmParamsGva, kPageSize, Prot::Read | Prot::Write, mm::MapFlags::Private, nullptr);
    for (uint32_t t = 0; t < threads; ++t)
        map_fixed(kMmStacksGva + kPageSize + t * kMmStackStrideBytes, kMmStackBytes, Prot::Read | Prot::Write,
                  mm::MapFlags::Private, nullptr);
    void* params = mm_user_ptr(Gva(kMmParamsGva), true, true);
    GMM_ASSERT(params != nullptr);
    publish_roots(0);
    return params;
}

namespace {
// Reserved RAM as backing objects: page i of object k is frame base + i.
struct ReservedObject {
    mm::BackingObject object;  // first member: the core hands this pointer back
    uint64_t base_gpa;
};
ReservedObject g_reserved[kMaxReservedMappings];
uint32_t g_reserved_count;

bool reserved_lookup(mm::BackingObject* obj, uint64_t page_index, uint64_t* phys) {
    *phys = reinterpret_cast<ReservedObject*>(obj)->base_gpa + page_index * kPageSize;
    return true;
}
constexpr mm::BackingOps kReservedOps = {reserved_lookup, image_ref, image_ref};
}  // namespace

void mm_map_reserved(Gva va, Gpa gpa, uint64_t bytes, bool writable) {
    GMM_ASSERT(g_mm_space != nullptr && g_reserved_count < kMaxReservedMappings);
    GMM_ASSERT(bytes != 0 && bytes % kPageSize == 0 && gpa.value() % kPageSize == 0);
    GMM_ASSERT(gpa.value() + bytes <= g_kernel.boot_info->reserved_end_gpa);  // never the allocator's frames
    ReservedObject& r = g_reserved[g_reserved_count++];
    r.object.ops = &kReservedOps;
    r.object.size_pages = bytes / kPageSize;
    r.base_gpa = gpa.value();
    const mm::Prot prot = writable ? mm::Prot::Read | mm::Prot::Write : mm::Prot::Read;
    map_fixed(va.value(), bytes, prot, mm::MapFlags::Shared, &r.object);
}

void mm_roots_set_inject(uint64_t which) { g_roots.inject = which; }

uint64_t mm_space_cr3() { return g_mm_space->root_table_phys(); }
Gva mm_stack_top(uint32_t thread) {
    return Gva(kMmStacksGva + kPageSize + thread * kMmStackStrideBytes + kMmStackBytes);
}

void* mm_user_ptr(Gva va, bool write, bool fault_in) {
    if (!g_mm_space || va.value() >= GMM_USER_TOP_GVA) return nullptr;
    MmOpScope op;
    const uint64_t need = mm::pte::kPresent | mm::pte::kUser | (write ? mm::pte::kWrite : 0);
    uint64_t pte = g_mm_space->pte_at(va.align_down(kPageSize));
    if ((pte & need) != need && fault_in) {
        if (g_mm_space->fault(va, write ? mm::Access::Write : mm::Access::Read).kind != mm::FaultKind::Installed)
            return nullptr;
        pte = g_mm_space->pte_at(va.align_down(kPageSize));
    }
    if ((pte & need) != need) return nullptr;
    return direct_map<char>(Gpa(mm::pte::frame_of(pte))) + (va.value() & (kPageSize - 1));
}

bool mm_copy_from_user(Gva src, uint64_t len, char* out) {
    const uint64_t start = src.value();
    if (start + len < start) return false;
    for (uint64_t i = 0; i < len;) {
        const char* p = static_cast<const char*>(mm_user_ptr(Gva(start + i), false, true));
        if (!p) return false;
        const uint64_t in_page = kPageSize - ((start + i) & (kPageSize - 1));
        for (uint64_t k = 0; k < in_page && i < len; ++k) out[i++] = p[k];
    }
    return true;
}

// --- PTL tracking -----------------------------------------------------------

namespace {

constexpr uint32_t kPtlSlots = 32;
struct alignas(64) PtlTrack {
    bool on;
    uint32_t count;
    uint64_t acquisitions, overflow;
    const void* locks[kPtlSlots];
};
PtlTrack g_ptl[GMM_MAX_VCPUS];

void on_acquire(mm::LockClass c, mm::LockSide, const void* lock) {
    if (c != mm::LockClass::PtLock) return;
    PtlTrack& t = g_ptl[this_cpu().cpu_index];
    if (!t.on) return;
    ++t.acquisitions;
    for (uint32_t i = 0; i < t.count; ++i)
        if (t.locks[i] == lock) return;
    if (t.count < kPtlSlots) t.locks[t.count++] = lock;
    else ++t.overflow;
}
void no_hook(mm::LockClass, mm::LockSide, const void*) {}
constexpr mm::LockHooks kHooks = {on_acquire, no_hook, no_hook, no_hook};

}  // namespace

void mm_ptl_track_install() { mm::set_lock_hooks(&kHooks); }
void mm_ptl_track(bool on) { g_ptl[this_cpu().cpu_index].on = on; }

PtlTrackResult mm_ptl_track_result(uint32_t cpu, uint32_t cpu_count) {
    const PtlTrack& t = g_ptl[cpu];
    PtlTrackResult r{t.count, 0, t.acquisitions, t.overflow};
    for (uint32_t i = 0; i < t.count; ++i) {
        bool shared = false;
        for (uint32_t o = 0; o < cpu_count && !shared; ++o) {
            if (o == cpu) continue;
            for (uint32_t k = 0; k < g_ptl[o].count; ++k) shared |= g_ptl[o].locks[k] == t.locks[i];
        }
        r.shared += shared;
    }
    return r;
}

}  // namespace gmm::kernel
