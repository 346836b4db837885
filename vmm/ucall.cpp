#include "ucall.h"

#include <cstdio>

namespace gmm::vmm {

namespace {

std::string clean_text(const char* text, uint32_t len) {
    std::string out;
    for (uint32_t i = 0; i < len && text[i] != '\0'; ++i) {
        const unsigned char c = static_cast<unsigned char>(text[i]);
        if ((c >= 0x20 && c < 0x7f) || c == '\n' || c == '\t') out.push_back(static_cast<char>(c));
    }
    return out;
}

}  // namespace

const char* ucall_command_name(UcallCommand command) {
    switch (command) {
        case UcallCommand::Done: return "DONE";
        case UcallCommand::Assert: return "ASSERT";
        case UcallCommand::Print: return "PRINT";
        case UcallCommand::CpuOnline: return "CPU_ONLINE";
        case UcallCommand::Exception: return "EXCEPTION";
        case UcallCommand::Result: return "RESULT";
        case UcallCommand::Probe: return "PROBE";
        case UcallCommand::FreeFrames: return "FREE_FRAMES";
        case UcallCommand::Mark: return "MARK";
    }
    return "?";
}

Result<Ucall> validate_ucall(const gmm_ucall& raw, uint32_t vcpu_count) {
    if (raw.cmd < GMM_UCALL_DONE || raw.cmd > GMM_UCALL_MARK)
        return Err{plain_error("ucall: unknown command " + std::to_string(raw.cmd) + " from cpu " +
                               std::to_string(raw.cpu))};
    if (raw.cpu >= vcpu_count)
        return Err{plain_error("ucall: cpu " + std::to_string(raw.cpu) + " is out of range (" +
                               std::to_string(vcpu_count) + " vCPUs)")};
    Ucall u;
    u.command = static_cast<UcallCommand>(raw.cmd);
    u.cpu = raw.cpu;
    for (uint32_t i = 0; i < GMM_UCALL_ARGS; ++i) u.args[i] = raw.args[i];
    for (uint32_t t = 0; t < 2; ++t) {
        if (raw.text_len[t] > GMM_UCALL_TEXT_BYTES)
            return Err{plain_error("ucall " + std::string(ucall_command_name(u.command)) + " from cpu " +
                                   std::to_string(raw.cpu) + ": text_len[" + std::to_string(t) + "] = " +
                                   std::to_string(raw.text_len[t]) + " exceeds " +
                                   std::to_string(GMM_UCALL_TEXT_BYTES))};
        u.text[t] = clean_text(raw.text[t], raw.text_len[t]);
    }
    return u;
}

Result<Ucall> decode_ucall(const GuestMemory& mem, Gpa gpa, uint32_t vcpu_count) {
    gmm_ucall raw;
    // One bounds-checked copy: later validation sees a stable snapshot.
    Status st = mem.read(gpa, std::span<uint8_t>(reinterpret_cast<uint8_t*>(&raw), sizeof raw));
    if (!st)
        return Err{plain_error("ucall: struct at GPA " + hex(gpa.value()) + " (" + std::to_string(sizeof raw) +
                               " bytes) is not inside guest RAM")};
    return validate_ucall(raw, vcpu_count);
}

}  // namespace gmm::vmm
