// Client side of the per-VM control socket: one request per connection, the
// reply checked before use, and the enumeration behind `gmm list` (which also
// removes the sockets of VMs that died without cleaning up).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "control_protocol.h"
#include "error.h"
#include "guest_memory.h"
#include "json_writer.h"
#include "kvm.h"  // Fd

namespace gmm::vmm {

struct ControlReply {
    JsonValue json;  // an object with "ok": true (error replies become Err)
    Fd fd;           // the descriptor the server passed (memfd), if any
};

// Why a request failed, so the CLI can pick an exit code and a message.
enum class ControlFailure { NoSuchVm, Refused, Transport, BadReply };
struct ControlError {
    ControlFailure failure;
    std::string message;  // one line, names the VM and what went wrong
};
template <typename T>
using ControlResult = gmm::Result<T, ControlError>;

// Sends `line` (no newline) to the socket at `path` and reads the reply.
// A reply with "ok": false becomes ControlFailure::Refused with its "error".
ControlResult<ControlReply> control_request_raw(const std::string& path, std::string_view line,
                                                uint32_t timeout_ms = 10000);
// The command, by VM name in `dir`. Pause waits for every vCPU, hence the
// generous default timeout.
ControlResult<ControlReply> control_request(const std::string& dir, std::string_view name, ControlCommand command,
                                            uint32_t timeout_ms = 10000);

// Names of live VMs in `dir` (sorted). Sockets nobody listens on are removed
// (under the name lock, so a VM that is just starting is never touched).
// A missing directory means no VMs.
Result<std::vector<std::string>> list_vms(const std::string& dir);

// Guest RAM received over SCM_RIGHTS, mapped read-only, with its slots.
class GuestRamView {
public:
    // Validates the reply's slots against the memfd's size before mapping.
    static Result<GuestRamView> map(ControlReply& memfd_reply);
    GuestRamView(GuestRamView&&) noexcept;
    GuestRamView& operator=(GuestRamView&&) = delete;
    GuestRamView(const GuestRamView&) = delete;
    ~GuestRamView();
    const std::vector<MemorySlot>& slots() const { return slots_; }
    // Where a slot's bytes are mapped (read-only) in this process.
    const uint8_t* slot_bytes(const MemorySlot& s) const { return base_ + s.memfd_offset; }
    // A u64 at `gpa` (read with a volatile load: the guest may be writing it).
    Result<uint64_t> read_u64(Gpa gpa) const;

private:
    GuestRamView() = default;
    const uint8_t* base_ = nullptr;  // memfd offset 0
    uint64_t size_bytes_ = 0;
    std::vector<MemorySlot> slots_;
};

}  // namespace gmm::vmm
