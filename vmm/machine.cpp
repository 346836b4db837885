#include "machine.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <fcntl.h>
#include <sys/ioctl.h>

#include "elf_loader.h"
#include "disk_image.h"
#include "fdt_builder.h"
#include "gmm/abi/virtio.h"
#include "virtio/blk_device.h"
#include "gmm/abi/boot.h"
#include "gmm/abi/ucall.h"
#include "kvm_stats.h"
#include "safepoint_state.h"
#include "serial.h"
#include "ucall.h"
#include "x86_64/boot_tables.h"
#include "x86_64/cpu_setup.h"
#include "x86_64/exit_report.h"

namespace gmm::vmm {

namespace {

constexpr uint64_t kKernelMinGpa = 1ull << 20;
constexpr uint64_t kBootStackBytes = 24 * 1024;
constexpr uint64_t kIstStackBytes = 8 * 1024;
constexpr uint64_t kPerCpuStackBytes = kBootStackBytes + kIstStackBytes;
constexpr uint64_t kFdtMaxBytes = 64 * 1024;
constexpr uint64_t kTssAddrForVmx = 0xfffbd000;  // 3 pages KVM wants on VMX; in the MMIO hole

uint64_t page_up(uint64_t v) { return (v + kPageSize - 1) & ~(kPageSize - 1); }

Gva direct_map(Gpa gpa) { return Gva(GMM_DIRECT_MAP_GVA + gpa.value()); }


uint64_t now_ns() {
    return static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
            .count());
}

}  // namespace

const char* kvm_mode_name(KvmMode m) {
    switch (m) {
        case KvmMode::Emulated: return "emulated";
        case KvmMode::Native: return "native";
        default: return "unknown";
    }
}

const char* run_end_name(RunEnd e) {
    switch (e) {
        case RunEnd::Done: return "done";
        case RunEnd::Assert: return "assert";
        case RunEnd::Exception: return "exception";
        case RunEnd::Timeout: return "timeout";
        case RunEnd::Stopped: return "stopped";
        default: return "error";
    }
}

struct Machine::Impl {
    std::mutex mu;
    RunReport report;
    bool ended = false;  // the first end wins
    std::unique_ptr<Serial8250> serial;
    std::vector<std::optional<KvmStatsReader>> stats;
    std::vector<uint64_t> probe_start;  // insn_emulation at PROBE(0), per vCPU
    std::vector<std::array<uint64_t, GMM_MARK_COUNT>> mark_start;  // insn_emulation at MARK begin
    std::vector<uint16_t> warned_ports;
    bool started = false;
};

Machine::Machine(GuestMemory memory)
    : memory_(std::move(memory)), impl_(std::make_unique<Impl>()), safepoint_(std::make_unique<SafepointState>()) {}

KvmMode Machine::kvm_mode() const {
    std::lock_guard<std::mutex> lock(impl_->mu);
    return impl_->report.kvm_mode;
}

bool Machine::all_vcpus_online() const {
    std::lock_guard<std::mutex> lock(impl_->mu);
    for (const VcpuReport& v : impl_->report.vcpus)
        if (!v.online) return false;
    return !impl_->report.vcpus.empty();
}

Machine::~Machine() {
    if (runner_) runner_->stop_all();
}

Result<std::unique_ptr<Machine>> Machine::create(const MachineConfig& config) {
    auto kvm = Kvm::open();
    if (!kvm) return Err{kvm.error()};
    const uint32_t max_vcpus = std::min<uint32_t>(GMM_MAX_VCPUS, kvm->max_vcpus());
    if (config.vcpus == 0 || config.vcpus > max_vcpus)
        return Err{input_error("--vcpus " + std::to_string(config.vcpus) + " is out of range",
                               "accepted: 1.." + std::to_string(max_vcpus))};

    auto mem = GuestMemory::create(config.ram_bytes);
    if (!mem) return Err{mem.error()};
    std::unique_ptr<Machine> m(new Machine(std::move(*mem)));
    m->config_ = config;
    m->kvm_.emplace(std::move(*kvm));

    auto vm = Vm::create(*m->kvm_);
    if (!vm) return Err{vm.error()};
    m->vm_.emplace(std::move(*vm));
    for (const MemorySlot& s : m->memory_.slots())
        if (Status st = m->vm_->set_memory_slot(s.slot_id, s.gpa, s.size_bytes,
                                                Hva(m->memory_.host_base().value() + s.gpa.value()));
            !st)
            return Err{st.error()};
    ioctl(m->vm_->fd(), KVM_SET_TSS_ADDR, kTssAddrForVmx);  // needed on some VMX hosts; harmless elsewhere
    if (Status st = m->vm_->create_irqchip(); !st) return Err{st.error()};

    // The disk (validated again here: the image may have changed since the CLI looked).
    std::vector<Gpa> mmio_pages;
    std::vector<VirtioMmioNode> virtio_nodes;
    if (!config.disk_path.empty()) {
        auto disk = open_disk_image(config.disk_path);
        if (!disk) return Err{disk.error()};
        virtio::BlkDeviceConfig bc;
        bc.image_fd = disk->fd;
        bc.capacity_bytes = disk->layout.image_bytes;
        bc.latency_us = config.disk_latency_us;
        bc.mmio_base = Gpa(GMM_VIRTIO_BLK_MMIO_GPA);
        bc.msi_vector = uint8_t(GMM_VIRTIO_BLK_VECTOR);
        bc.dest_apic_id = 0;
        auto dev = virtio::BlkDevice::create(m->memory_, m->vm_->fd(), bc);
        if (!dev) return Err{dev.error()};
        m->blk_ = std::move(*dev);
        mmio_pages.push_back(Gpa(GMM_VIRTIO_BLK_MMIO_GPA & ~(kLargePageSize - 1)));
        virtio_nodes.push_back(VirtioMmioNode{bc.mmio_base, VIRTIO_MMIO_REGION_BYTES, GMM_VIRTIO_BLK_VECTOR,
                                              GMM_VIRTIO_BLK_VECTOR, bc.dest_apic_id});
    }

    // Kernel image at its physical addresses.
    auto kernel_file = read_file(config.kernel_path);
    if (!kernel_file) return Err{input_error("kernel: " + kernel_file.error().message())};
    auto kernel = parse_elf64(*kernel_file);
    if (!kernel) return Err{input_error("kernel " + config.kernel_path + ": " + kernel.error().message())};
    auto kernel_loaded = load_segments(*kernel, *kernel_file, m->memory_, LoadPlacement::at_physical_address());
    if (!kernel_loaded)
        return Err{input_error("kernel " + config.kernel_path + ": " + kernel_loaded.error().message(),
                               "--mem may be too small for the kernel")};

    // Per-vCPU stacks, the FDT and the user image follow the kernel.
    BootLayoutInfo& L = m->layout_;
    L.kernel_start = kernel_loaded->gpa_start;
    L.kernel_end = Gpa(page_up(kernel_loaded->gpa_end.value()));
    const Gpa stacks = L.kernel_end;
    L.fdt = Gpa(stacks.value() + kPerCpuStackBytes * config.vcpus);
    L.user_image = Gpa(L.fdt.value() + kFdtMaxBytes);

    auto user_file = read_file(config.user_image_path);
    if (!user_file) return Err{input_error("user image: " + user_file.error().message())};
    auto user = parse_elf64(*user_file);
    if (!user) return Err{input_error("user image " + config.user_image_path + ": " + user.error().message())};
    auto gate = user->symbol("gmm_user_gate");
    if (!gate) return Err{input_error("user image " + config.user_image_path + " has no symbol gmm_user_gate")};
    auto user_loaded = load_segments(*user, *user_file, m->memory_, LoadPlacement::contiguous(L.user_image));
    if (!user_loaded)
        return Err{input_error("user image " + config.user_image_path + ": " + user_loaded.error().message(),
                               "--mem may be too small")};
    L.user_image_size_bytes = page_up(user_loaded->size_bytes);
    L.reserved_end = Gpa(page_up(L.user_image.value() + L.user_image_size_bytes));
    // Optional payload (read-only for the guest) and results area (zero), after the user image.
    if (!config.payload.empty()) {
        L.payload = L.reserved_end;
        L.payload_size_bytes = config.payload.size();
        if (L.payload.value() + page_up(L.payload_size_bytes) > m->memory_.slots().front().size_bytes)
            return Err{input_error("--mem " + std::to_string(config.ram_bytes >> 20) + " MiB is too small for a " +
                                   std::to_string(L.payload_size_bytes) + "-byte payload")};
        if (Status st = m->memory_.write(L.payload, config.payload); !st) return Err{st.error()};
        L.reserved_end = Gpa(L.payload.value() + page_up(L.payload_size_bytes));
    }
    if (config.results_size_bytes) {
        L.results = L.reserved_end;
        L.results_size_bytes = page_up(config.results_size_bytes);
        L.reserved_end = Gpa(L.results.value() + L.results_size_bytes);  // fresh memfd RAM: already zero
    }
    if (L.reserved_end.value() + (1ull << 20) > m->memory_.slots().front().size_bytes)
        return Err{input_error("--mem " + std::to_string(config.ram_bytes >> 20) + " MiB is too small: boot "
                               "structures alone need " + std::to_string((L.reserved_end.value() >> 20) + 2) + " MiB")};

    // Boot tables.
    namespace x86 = x86_64;
    const x86::BootTablesLayout tables;
    if (Status st = x86::write_gdt(m->memory_, tables.gdt, config.vcpus, direct_map(tables.tss_array)); !st)
        return Err{st.error()};
    gmm_boot_info info{};
    info.magic = GMM_BOOT_MAGIC;
    info.abi_version = GMM_ABI_VERSION;
    info.size_bytes = sizeof info;
    info.vcpu_count = config.vcpus;
    for (uint32_t i = 0; i < config.vcpus; ++i) {
        const Gpa stack_base(stacks.value() + kPerCpuStackBytes * i);
        const Gva stack_top = direct_map(Gpa(stack_base.value() + kBootStackBytes));
        const Gva ist_top = direct_map(Gpa(stack_base.value() + kPerCpuStackBytes));
        const Gpa tss(tables.tss_array.value() + x86::kTssSlotBytes * i);
        if (Status st = x86::write_tss(m->memory_, tss, stack_top, ist_top); !st) return Err{st.error()};
        info.cpus[i].apic_id = i;
        info.cpus[i].stack_top_gva = stack_top.value();
        info.cpus[i].ist_stack_top_gva = ist_top.value();
        info.cpus[i].tss_gva = direct_map(tss).value();
    }
    auto pt = x86::write_kernel_page_tables(m->memory_, tables.page_tables, tables.page_tables_max_bytes,
                                            m->memory_.slots(), mmio_pages);
    if (!pt) return Err{pt.error()};
    L.pml4 = pt->pml4;

    auto tsc_khz = m->vm_->tsc_khz();
    info.tsc_khz = tsc_khz ? *tsc_khz : 0;
    info.ram_size_bytes = config.ram_bytes;
    info.kernel_pml4_gpa = L.pml4.value();
    info.kernel_image_start_gpa = L.kernel_start.value();
    info.kernel_image_end_gpa = L.kernel_end.value();
    info.reserved_end_gpa = L.reserved_end.value();
    info.user_image_gpa = L.user_image.value();
    info.user_image_gva = user_loaded->gva_start.value();
    info.user_image_size_bytes = L.user_image_size_bytes;
    info.user_entry_gva = user->entry;
    info.user_gate_gva = *gate;
    info.payload_gpa = L.payload.value();
    info.payload_size_bytes = L.payload_size_bytes;
    info.results_gpa = L.results.value();
    info.results_size_bytes = L.results_size_bytes;

    // Device tree.
    FdtConfig fdt_config;
    for (const MemorySlot& s : m->memory_.slots()) fdt_config.memory.push_back({s.gpa, s.size_bytes});
    fdt_config.vcpus = config.vcpus;
    fdt_config.tsc_hz = info.tsc_khz * 1000;
    fdt_config.bootargs = config.bootargs;
    fdt_config.boot_info_gpa = Gpa(GMM_BOOT_INFO_GPA);
    fdt_config.reserved.push_back({Gpa(0), L.reserved_end.value()});
    fdt_config.virtio = virtio_nodes;
    auto fdt = build_fdt(fdt_config);
    if (!fdt) return Err{fdt.error()};
    if (fdt->size() > kFdtMaxBytes)
        return Err{plain_error("device tree of " + std::to_string(fdt->size()) + " bytes exceeds its 64 KiB slot")};
    if (Status st = m->memory_.write(L.fdt, *fdt); !st) return Err{st.error()};
    L.fdt_size_bytes = fdt->size();
    L.fdt_blob = *fdt;
    info.fdt_gpa = L.fdt.value();
    info.fdt_size_bytes = fdt->size();
    if (Status st = m->memory_.write(Gpa(GMM_BOOT_INFO_GPA), std::span<const uint8_t>(
                                                                reinterpret_cast<const uint8_t*>(&info), sizeof info));
        !st)
        return Err{st.error()};

    // vCPUs.
    auto cpuid = m->kvm_->supported_cpuid();
    if (!cpuid) return Err{cpuid.error()};
    m->impl_->stats.resize(config.vcpus);
    m->impl_->probe_start.assign(config.vcpus, 0);
    m->impl_->mark_start.assign(config.vcpus, {});
    m->impl_->report.vcpus.resize(config.vcpus);
    for (uint32_t i = 0; i < config.vcpus; ++i) {
        auto v = Vcpu::create(*m->kvm_, *m->vm_, i);
        if (!v) return Err{v.error()};
        m->vcpus_.push_back(std::make_unique<Vcpu>(std::move(*v)));
        x86::EntryState st{};
        st.cpu_index = i;
        st.entry = Gva(kernel->entry);
        st.stack_top = Gva(info.cpus[i].stack_top_gva);
        st.fdt = L.fdt;
        st.boot_info = Gpa(GMM_BOOT_INFO_GPA);
        st.pml4 = L.pml4;
        st.gdt = direct_map(tables.gdt);
        st.gdt_limit = x86::gdt_limit(config.vcpus);
        st.tss = Gva(info.cpus[i].tss_gva);
        if (Status s = x86::setup_vcpu(*m->vcpus_.back(), *cpuid, st); !s) return Err{s.error()};
        auto sfd = m->vcpus_.back()->stats_fd();
        if (sfd) {
            auto reader = KvmStatsReader::open(*sfd);
            if (reader) m->impl_->stats[i].emplace(std::move(*reader));
        }
    }
    Machine* self = m.get();
    m->impl_->serial = std::make_unique<Serial8250>([self](const std::string& line) {
        if (self->config_.console_line) self->config_.console_line(line);
    });
    std::vector<Vcpu*> raw;
    for (auto& v : m->vcpus_) raw.push_back(v.get());
    m->runner_ = std::make_unique<VcpuRunner>(
        raw, [self](Vcpu& v) { return self->handle_exit(v); },
        [self](Vcpu& v, int err) {
            self->fail("vCPU " + std::to_string(v.index()) + ": KVM_RUN failed: " + errno_name(err) + " (" +
                       std::strerror(err) + ")");
        });
    return m;
}

void Machine::fail(const std::string& message) {
    std::lock_guard<std::mutex> lock(impl_->mu);
    if (impl_->ended) return;
    impl_->ended = true;
    impl_->report.end = RunEnd::Error;
    impl_->report.error = message;
}

ExitAction Machine::handle_exit(Vcpu& vcpu) {
    const kvm_run* run = vcpu.run_struct();
    if (run->exit_reason == KVM_EXIT_IO) return handle_io(vcpu);
    if (run->exit_reason == KVM_EXIT_MMIO) return handle_mmio(vcpu);
    fail(x86_64::describe_unexpected_exit(vcpu, memory_));
    return ExitAction::StopAll;
}

ExitAction Machine::handle_io(Vcpu& vcpu) {
    kvm_run* run = vcpu.run_struct();
    const uint16_t port = run->io.port;
    const uint64_t bytes = uint64_t{run->io.size} * run->io.count;
    // data_offset and the length come from KVM, but stay inside the mapping regardless.
    if (run->io.size == 0 || bytes == 0 || run->io.data_offset + bytes > kvm_->vcpu_mmap_size_bytes()) {
        fail("vCPU " + std::to_string(vcpu.index()) + ": malformed KVM_EXIT_IO");
        return ExitAction::StopAll;
    }
    uint8_t* data = reinterpret_cast<uint8_t*>(run) + run->io.data_offset;
    if (port == GMM_UCALL_PORT && run->io.direction == KVM_EXIT_IO_OUT) return handle_ucall(vcpu);
    if (Serial8250::claims(port)) {
        for (uint64_t i = 0; i < bytes; i += run->io.size) {
            if (run->io.direction == KVM_EXIT_IO_OUT) impl_->serial->out(port, data[i]);
            else std::memset(data + i, impl_->serial->in(port), run->io.size);
        }
        return ExitAction::Continue;
    }
    // Unclaimed ports read as all-ones and swallow writes, as on a PC; say so once.
    if (run->io.direction == KVM_EXIT_IO_IN) std::memset(data, 0xff, bytes);
    std::lock_guard<std::mutex> lock(impl_->mu);
    bool warned = false;
    for (uint16_t p : impl_->warned_ports) warned |= p == port;
    if (!warned) {
        impl_->warned_ports.push_back(port);
        std::fprintf(stderr, "gmm: guest accessed unclaimed I/O port %s (ignored)\n", hex(port).c_str());
    }
    return ExitAction::Continue;
}

// Register accesses of MMIO devices (the data path never comes here: see
// virtio/blk_device.h). An access no device claims is an unexpected exit.
ExitAction Machine::handle_mmio(Vcpu& vcpu) {
    kvm_run* run = vcpu.run_struct();
    const uint64_t gpa = run->mmio.phys_addr;
    if (blk_ && blk_->claims(gpa) && run->mmio.len <= sizeof run->mmio.data) {
        blk_->mmio(gpa, run->mmio.data, run->mmio.len, run->mmio.is_write != 0);
        return ExitAction::Continue;
    }
    fail(x86_64::describe_unexpected_exit(vcpu, memory_));
    return ExitAction::StopAll;
}

const char* freed_frames_name(FreedFrames f) { return f == FreedFrames::Punch ? "punch" : "zero"; }

// FREE_FRAMES: returns guest frames to zero (the guest reuses them without
// clearing them in its expensive ring 0), per MachineConfig::freed_frames:
// cleared through the VMM's mapping, or holes punched in the RAM memfd (KVM's
// MMU notifier drops its mappings; the next guest access reads zeros). Every
// GPA is checked first: aligned, inside one RAM slot, above the boot area.
Status Machine::release_frames(Gpa array_gpa, uint64_t count) {
    if (count == 0 || count > GMM_UCALL_FREE_FRAMES_MAX)
        return Err{plain_error("FREE_FRAMES: count " + std::to_string(count) + " out of range")};
    const uint8_t* raw = memory_.translate(array_gpa, count * 8);
    if (!raw) return Err{plain_error("FREE_FRAMES: array at GPA " + hex(array_gpa.value()) + " is not in RAM")};
    std::vector<uint64_t> gpas(count);
    std::memcpy(gpas.data(), raw, count * 8);  // copy first: the guest may change it
    std::sort(gpas.begin(), gpas.end());
    const uint64_t page = 4096;
    for (uint64_t gpa : gpas)
        if (gpa % page != 0 || gpa < layout_.reserved_end.value() || !memory_.contains(Gpa(gpa), page))
            return Err{plain_error("FREE_FRAMES: frame GPA " + hex(gpa) + " is not a free-able RAM frame")};
    if (config_.freed_frames == FreedFrames::Zero) {
        for (uint64_t gpa : gpas) std::memset(memory_.translate(Gpa(gpa), page), 0, page);
        return Ok{};
    }
    uint64_t run_off = 0, run_len = 0;
    auto flush = [&]() -> Status {
        if (run_len && fallocate(memory_.memfd(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off_t(run_off),
                                 off_t(run_len)) != 0)
            return Err{plain_error(std::string("FREE_FRAMES: fallocate(PUNCH_HOLE): ") + std::strerror(errno))};
        run_len = 0;
        return Ok{};
    };
    for (uint64_t gpa : gpas) {
        uint64_t off = 0;
        for (const MemorySlot& sl : memory_.slots())
            if (gpa >= sl.gpa.value() && gpa < sl.gpa.value() + sl.size_bytes) off = sl.memfd_offset + (gpa - sl.gpa.value());
        if (run_len && off == run_off + run_len) {
            run_len += page;
            continue;
        }
        if (Status st = flush(); !st) return st;
        run_off = off;
        run_len = page;
    }
    return flush();
}

ExitAction Machine::handle_ucall(Vcpu& vcpu) {
    auto regs = vcpu.get_regs();
    if (!regs) {
        fail(regs.error().message());
        return ExitAction::StopAll;
    }
    const uint32_t cpu = vcpu.index();
    auto uc = decode_ucall(memory_, Gpa(regs->rdi), vcpu_count());
    if (!uc) {
        fail("vCPU " + std::to_string(cpu) + ": bad guest call: " + uc.error().message());
        return ExitAction::StopAll;
    }
    std::unique_lock<std::mutex> lock(impl_->mu);
    RunReport& R = impl_->report;
    VcpuReport& V = R.vcpus[cpu];
    switch (uc->command) {
        case UcallCommand::CpuOnline:
            V.online = true;
            V.apic_id = uc->args[0];
            V.online_tsc = uc->args[1];
            return ExitAction::Continue;
        case UcallCommand::Result: {
            const uint64_t target = uc->args[1] < vcpu_count() ? uc->args[1] : cpu;
            R.vcpus[target].results[uc->text[0]] = uc->args[0];
            // Test support: the host itself reads guest memory at a GPA the guest names.
            if (uc->text[0] == "peek_gpa") {
                auto v = memory_.read_u64(Gpa(uc->args[0]));
                if (v) R.vcpus[target].results["peek_value"] = *v;
            }
            return ExitAction::Continue;
        }
        case UcallCommand::Print: {
            lock.unlock();
            if (config_.console_line) config_.console_line("[cpu" + std::to_string(cpu) + "] " + uc->text[0]);
            return ExitAction::Continue;
        }
        case UcallCommand::Probe: {
            uint64_t insns = 0;
            if (impl_->stats[cpu]) {
                auto v = impl_->stats[cpu]->read("insn_emulation");
                if (v) insns = *v;
            }
            if (uc->args[0] == 0) {
                impl_->probe_start[cpu] = insns;
            } else {
                const uint64_t delta = insns - impl_->probe_start[cpu];
                const uint64_t loop_insns = 2 * uc->args[1];
                R.probe_insns = delta;
                // Emulated ring 0 counts every instruction of the loop; native counts ~none.
                R.kvm_mode = loop_insns > 0 && delta >= loop_insns / 2 ? KvmMode::Emulated : KvmMode::Native;
            }
            return ExitAction::Continue;
        }
        case UcallCommand::FreeFrames: {
            lock.unlock();
            if (Status st = release_frames(Gpa(uc->args[0]), uc->args[1]); !st) {
                fail("vCPU " + std::to_string(cpu) + ": " + st.error().message());
                return ExitAction::StopAll;
            }
            return ExitAction::Continue;
        }
        case UcallCommand::Mark: {
            static constexpr const char* kNames[GMM_MARK_COUNT] = {"insns_measured", "insns_faults"};
            if (uc->args[0] >= GMM_MARK_COUNT || !impl_->stats[cpu]) return ExitAction::Continue;
            auto v = impl_->stats[cpu]->read("insn_emulation");
            if (!v) return ExitAction::Continue;
            if (uc->args[1] == 0) impl_->mark_start[cpu][uc->args[0]] = *v;
            else V.results[kNames[uc->args[0]]] += *v - impl_->mark_start[cpu][uc->args[0]];
            return ExitAction::Continue;
        }
        case UcallCommand::Done:
            if (!impl_->ended) {
                impl_->ended = true;
                R.end = RunEnd::Done;
                R.done_status = uc->args[0];
            }
            return ExitAction::StopAll;
        case UcallCommand::Assert:
            if (!impl_->ended) {
                impl_->ended = true;
                R.end = RunEnd::Assert;
                R.assertion = AssertInfo{cpu, uc->text[0], uc->args[0], uc->text[1], uc->args[3] != 0,
                                         uc->args[1], uc->args[2]};
            }
            return ExitAction::StopAll;
        case UcallCommand::Exception:
            if (!impl_->ended) {
                impl_->ended = true;
                R.end = RunEnd::Exception;
                R.exception = ExceptionInfo{cpu, uc->args[0], uc->args[1], uc->args[2], uc->args[3],
                                            uc->args[4], uc->args[5], uc->args[6], uc->text[0]};
            }
            return ExitAction::StopAll;
    }
    return ExitAction::Continue;
}

RunReport Machine::run(uint64_t timeout_ms) {
    const uint64_t start = now_ns();
    {
        std::lock_guard<std::mutex> lock(impl_->mu);
        impl_->started = true;
    }
    if (Status st = runner_->start(); !st) fail(st.error().message());
    const bool stop_requested = runner_->wait_for_stop_request(timeout_ms);
    if (!stop_requested) {
        // Timeout: stop every vCPU where it is and say where that was.
        runner_->pause_all();
        std::string where;
        for (auto& v : vcpus_) {
            auto r = v->get_regs();
            if (r) where += " vcpu" + std::to_string(v->index()) + " rip=" + hex(r->rip);
        }
        std::lock_guard<std::mutex> lock(impl_->mu);
        if (!impl_->ended) {
            impl_->ended = true;
            impl_->report.end = RunEnd::Timeout;
            impl_->report.error = "timed out after " + std::to_string(timeout_ms) + " ms;" + where;
        }
    }
    runner_->stop_all();
    impl_->serial->flush();
    if (blk_) {
        blk_->shutdown();  // the I/O thread stops and the image is synced before the report
        const virtio::BlkDeviceCounters c = blk_->counters();
        std::lock_guard<std::mutex> lock(impl_->mu);
        impl_->report.disk = {{"requests", c.requests},     {"ok", c.ok},
                              {"io_errors", c.io_errors},   {"unsupported", c.unsupported},
                              {"bad_requests", c.bad_requests}, {"bytes_read", c.bytes_read},
                              {"bytes_written", c.bytes_written}, {"flushes", c.flushes},
                              {"kicks", c.kicks},           {"interrupts", c.interrupts},
                              {"mmio_exits", c.mmio_exits}, {"notify_exits", c.notify_exits}};
    }
    {
        std::lock_guard<std::mutex> lock(impl_->mu);
        if (!impl_->ended) {
            impl_->ended = true;
            impl_->report.end = RunEnd::Stopped;
            impl_->report.error = "stopped by the host";
        }
    }
    std::lock_guard<std::mutex> lock(impl_->mu);
    RunReport& R = impl_->report;
    R.duration_ns = now_ns() - start;
    for (uint32_t i = 0; i < vcpu_count(); ++i) {
        if (!impl_->stats[i]) continue;
        auto all = impl_->stats[i]->read_all();
        if (all) R.vcpus[i].kvm = *all;
    }
    R.console = impl_->serial->transcript();
    return R;
}

void Machine::pause_all() { runner_->pause_all(); }
void Machine::resume_all() { runner_->resume_all(); }
uint64_t Machine::pauses_acknowledged() const { return runner_->pauses_acknowledged(); }
void Machine::request_stop() { runner_->request_stop(); }

std::optional<uint64_t> Machine::result_snapshot(uint32_t cpu, const std::string& key) const {
    std::lock_guard<std::mutex> lock(impl_->mu);
    if (cpu >= impl_->report.vcpus.size()) return std::nullopt;
    const auto& results = impl_->report.vcpus[cpu].results;
    auto it = results.find(key);
    if (it == results.end()) return std::nullopt;
    return it->second;
}

std::vector<std::map<std::string, uint64_t>> Machine::results_snapshot() const {
    std::lock_guard<std::mutex> lock(impl_->mu);
    std::vector<std::map<std::string, uint64_t>> out;
    for (const auto& v : impl_->report.vcpus) out.push_back(v.results);
    return out;
}

std::vector<std::map<std::string, uint64_t>> Machine::kvm_stats_snapshot() const {
    // The readers are built before run() and never change; pread needs no lock.
    std::vector<std::map<std::string, uint64_t>> out(impl_->stats.size());
    for (size_t i = 0; i < impl_->stats.size(); ++i) {
        if (!impl_->stats[i]) continue;
        auto all = impl_->stats[i]->read_all();
        if (!all) continue;
        for (const KvmStatDescriptor& d : impl_->stats[i]->layout().descriptors)
            if (d.type == KvmStatType::Cumulative)
                if (auto it = all->find(d.name); it != all->end()) out[i].emplace(d.name, it->second);
    }
    return out;
}

bool Machine::started() const {
    std::lock_guard<std::mutex> lock(impl_->mu);
    return impl_->started;
}

}  // namespace gmm::vmm
