// Safepoints and dirty logging for the invariant checker (docs/checker.md).
//
// enter: bump request_seq in the guest's safepoint block, interrupt every vCPU
// with GMM_SAFEPOINT_VECTOR, wait until each wrote parked_seq = request_seq
// (it then waits in HLT), and pause them all. leave: write release_seq and
// checks_done, resume, and wake the vCPUs with GMM_WAKEUP_VECTOR. The block's
// address comes from the guest, so it is validated like any guest data.
#include <chrono>
#include <cstddef>
#include <thread>

#include "gmm/abi/frames.h"
#include "gmm/abi/mmstate.h"
#include "machine.h"
#include "safepoint_state.h"

namespace gmm::vmm {

namespace {

Result<Gpa> locate_block(const GuestMemory& mem, Gpa roots_gpa) {
    gmm_mm_roots roots{};
    if (Status st = mem.read(roots_gpa, std::span(reinterpret_cast<uint8_t*>(&roots), sizeof roots)); !st)
        return Err{st.error()};
    if (roots.magic != GMM_MM_ROOTS_MAGIC || roots.version != GMM_MMSTATE_ABI_VERSION)
        return Err{input_error("the guest's mm roots at GPA " + hex(roots_gpa.value()) + " are not valid (magic " +
                               hex(roots.magic) + ", version " + std::to_string(roots.version) + ")")};
    const Gpa block(roots.safepoint_gpa);
    if ((block.value() & 3) || !mem.contains(block, sizeof(gmm_safepoint)))
        return Err{input_error("the guest's safepoint block at GPA " + hex(block.value()) + " is not in guest RAM")};
    return block;
}

uint64_t field(Gpa block, size_t offset) { return block.value() + offset; }

Result<uint32_t> read_u32(const GuestMemory& mem, uint64_t gpa) {
    const uint8_t* p = mem.translate(Gpa(gpa), 4);
    if (!p) return Err{input_error("GPA " + hex(gpa) + " is outside guest RAM")};
    return __atomic_load_n(reinterpret_cast<const uint32_t*>(p), __ATOMIC_ACQUIRE);
}

Status write_u32(GuestMemory& mem, uint64_t gpa, uint32_t v) {
    uint8_t* p = mem.translate(Gpa(gpa), 4);
    if (!p) return Err{input_error("GPA " + hex(gpa) + " is outside guest RAM")};
    __atomic_store_n(reinterpret_cast<uint32_t*>(p), v, __ATOMIC_RELEASE);
    return Ok{};
}

}  // namespace

std::optional<Gpa> Machine::mm_roots_gpa() const {
    for (const auto& cpu : results_snapshot()) {
        auto it = cpu.find("mm_roots_gpa");
        if (it != cpu.end()) return Gpa(it->second);
    }
    return std::nullopt;
}

bool Machine::in_safepoint() const {
    std::lock_guard<std::mutex> lock(safepoint_->mu);
    return safepoint_->active;
}

Status Machine::interrupt_vcpu(uint32_t cpu, uint8_t vector) {
    if (cpu >= vcpus_.size()) return Err{input_error("no vCPU " + std::to_string(cpu))};
    return vm_->signal_msi(cpu, vector);  // boot protocol: APIC id == vCPU index
}

Status Machine::safepoint_enter(uint64_t timeout_ms) {
    std::lock_guard<std::mutex> lock(safepoint_->mu);
    SafepointState& s = *safepoint_;
    if (s.active) return Err{input_error("a safepoint is already in progress")};
    if (!started()) return Err{input_error("the VM is still booting")};
    auto roots = mm_roots_gpa();
    if (!roots)
        return Err{input_error("the guest published no memory-manager roots (mm_roots_gpa)",
                               "safepoints need an mm workload: page_fault1, mmap1, mixed, mmtest")};
    if (!all_vcpus_online()) return Err{input_error("not every vCPU is online yet")};
    auto block = locate_block(memory_, *roots);
    if (!block) return Err{block.error()};
    s.block = *block;
    const uint32_t seq = ++s.seq;
    if (Status st = write_u32(memory_, field(s.block, offsetof(gmm_safepoint, request_seq)), seq); !st) return st;
    const uint32_t n = vcpu_count();
    for (uint32_t c = 0; c < n; ++c)
        if (Status st = interrupt_vcpu(c, GMM_SAFEPOINT_VECTOR); !st) return st;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
        std::string missing;
        for (uint32_t c = 0; c < n; ++c) {
            auto parked = read_u32(memory_, field(s.block, offsetof(gmm_safepoint, parked_seq) + 4 * c));
            if (!parked) return Err{parked.error()};
            if (*parked != seq) {
                auto in_mm = read_u32(memory_, field(s.block, offsetof(gmm_safepoint, in_mm_op) + 4 * c));
                missing += " " + std::to_string(c) + (in_mm && *in_mm ? " (inside a memory-manager operation)" : "");
            }
        }
        if (missing.empty()) break;
        if (std::chrono::steady_clock::now() >= deadline) {
            (void)write_u32(memory_, field(s.block, offsetof(gmm_safepoint, release_seq)), seq);  // cancel
            for (uint32_t c = 0; c < n; ++c) (void)interrupt_vcpu(c, GMM_WAKEUP_VECTOR);
            return Err{input_error("vCPU(s)" + missing + " did not reach a safepoint within " +
                                   std::to_string(timeout_ms) + " ms")};
        }
        std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    pause_all();
    s.active = true;
    return Ok{};
}

Status Machine::safepoint_leave() {
    std::lock_guard<std::mutex> lock(safepoint_->mu);
    SafepointState& s = *safepoint_;
    if (!s.active) return Err{input_error("no safepoint is in progress")};
    s.active = false;
    auto done = read_u32(memory_, field(s.block, offsetof(gmm_safepoint, checks_done)));
    if (done) (void)write_u32(memory_, field(s.block, offsetof(gmm_safepoint, checks_done)), *done + 1);
    Status st = write_u32(memory_, field(s.block, offsetof(gmm_safepoint, release_seq)), s.seq);
    resume_all();
    for (uint32_t c = 0; c < vcpu_count(); ++c) (void)interrupt_vcpu(c, GMM_WAKEUP_VECTOR);
    return st;
}

Status Machine::note_check_done() {
    std::lock_guard<std::mutex> lock(safepoint_->mu);
    auto roots = mm_roots_gpa();
    if (!roots) return Err{input_error("the guest published no memory-manager roots")};
    auto block = locate_block(memory_, *roots);
    if (!block) return Err{block.error()};
    auto done = read_u32(memory_, field(*block, offsetof(gmm_safepoint, checks_done)));
    if (!done) return Err{done.error()};
    Status st = write_u32(memory_, field(*block, offsetof(gmm_safepoint, checks_done)), *done + 1);
    for (uint32_t c = 0; c < vcpu_count(); ++c) (void)interrupt_vcpu(c, GMM_WAKEUP_VECTOR);
    return st;
}

Result<std::vector<uint64_t>> Machine::vcpu_cr3s() const {
    std::vector<uint64_t> out;
    for (const auto& v : vcpus_) {
        auto s = v->get_sregs();
        if (!s) return Err{s.error()};
        out.push_back(s->cr3);
    }
    return out;
}

Result<std::pair<std::vector<uint64_t>, bool>> Machine::free_frames_among(const std::vector<uint64_t>& gpas,
                                                                          size_t max) const {
    auto roots_gpa = mm_roots_gpa();
    if (!roots_gpa) return Err{input_error("the guest published no memory-manager roots")};
    gmm_mm_roots roots{};
    if (Status st = memory_.read(*roots_gpa, std::span(reinterpret_cast<uint8_t*>(&roots), sizeof roots)); !st)
        return Err{st.error()};
    std::pair<std::vector<uint64_t>, bool> out{{}, false};
    for (uint64_t gpa : gpas) {
        const uint64_t i = gpa / 4096;
        if (i >= roots.frames_meta_count || gpa < roots.frames_managed_gpa) continue;
        const uint8_t* m = memory_.translate(Gpa(roots.frames_meta_gpa + i * sizeof(gmm_frame_meta)),
                                             sizeof(gmm_frame_meta));
        if (!m) continue;  // the guest's array does not fit: not our business here (the checker reports it)
        const uint8_t state = m[0];
        if (state != GMM_FRAME_FREE_ZERO && state != GMM_FRAME_FREE_DIRTY) continue;
        if (out.first.size() == max) {
            out.second = true;
            break;
        }
        out.first.push_back(gpa);
    }
    return out;
}

Status Machine::enable_dirty_logging() {
    std::lock_guard<std::mutex> lock(safepoint_->mu);
    if (safepoint_->dirty_logging) return Ok{};
    for (const MemorySlot& slot : memory_.slots()) {
        const Hva host(memory_.host_base().value() + slot.gpa.value());
        if (Status st = vm_->set_memory_slot(slot.slot_id, slot.gpa, slot.size_bytes, host, Vm::DirtyLogging::On); !st)
            return st;
    }
    safepoint_->dirty_logging = true;
    return Ok{};
}

Result<std::vector<uint64_t>> Machine::take_dirty_pages() {
    std::lock_guard<std::mutex> lock(safepoint_->mu);
    if (!safepoint_->dirty_logging) return Err{input_error("dirty logging is off")};
    std::vector<uint64_t> pages;
    for (const MemorySlot& slot : memory_.slots()) {
        auto bits = vm_->dirty_log(slot.slot_id, slot.size_bytes);
        if (!bits) return Err{bits.error()};
        for (size_t w = 0; w < bits->size(); ++w)
            for (uint64_t word = (*bits)[w]; word; word &= word - 1)
                pages.push_back(slot.gpa.value() + (w * 64 + uint64_t(__builtin_ctzll(word))) * 4096);
    }
    return pages;
}

}  // namespace gmm::vmm
