// Guest -> host calls (abi/gmm/abi/ucall.h). The guest is not trusted: the
// struct is bounds-checked through the GPA translator, copied out once (the
// guest may rewrite it while we look), and every field validated.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "error.h"
#include "gmm/abi/ucall.h"
#include "gmm/addr.h"
#include "guest_memory.h"

namespace gmm::vmm {

enum class UcallCommand : uint32_t {
    Done = GMM_UCALL_DONE,
    Assert = GMM_UCALL_ASSERT,
    Print = GMM_UCALL_PRINT,
    CpuOnline = GMM_UCALL_CPU_ONLINE,
    Exception = GMM_UCALL_EXCEPTION,
    Result = GMM_UCALL_RESULT,
    Probe = GMM_UCALL_PROBE,
    FreeFrames = GMM_UCALL_FREE_FRAMES,
    Mark = GMM_UCALL_MARK,
};

// "DONE", "ASSERT", ...
const char* ucall_command_name(UcallCommand command);

struct Ucall {
    UcallCommand command;
    uint32_t cpu;
    std::array<uint64_t, GMM_UCALL_ARGS> args;
    // Up to the first NUL within text_len, with bytes other than printable
    // ASCII, tab and newline removed (the host prints these to a terminal).
    std::array<std::string, 2> text;
};

// Decodes the gmm_ucall at `gpa` (the guest's RDI). `vcpu_count` bounds `cpu`.
Result<Ucall> decode_ucall(const GuestMemory& mem, Gpa gpa, uint32_t vcpu_count);

// Pure part of decode_ucall, for a struct already copied out of the guest.
Result<Ucall> validate_ucall(const gmm_ucall& raw, uint32_t vcpu_count);

}  // namespace gmm::vmm
