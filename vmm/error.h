// Host-side errors: what failed, the errno (by name) and advice for the user.
#pragma once

#include <cstdint>
#include <string>

#include "gmm/result.h"

namespace gmm::vmm {

// Which exit code a failure maps to in the CLI.
enum class ErrorKind { Host, NoKvm, BadInput };

struct Error {
    std::string what;     // "KVM_CREATE_VM", "open /dev/kvm", "ELF segment 2: ..."
    int errno_value = 0;  // 0 when not a system-call failure
    std::string advice;   // optional: what the user can do about it
    ErrorKind kind = ErrorKind::Host;

    // "what: ENOENT (No such file or directory); advice"
    std::string message() const;
};

template <typename T>
using Result = gmm::Result<T, Error>;
using Status = gmm::Status<Error>;

// "ENOENT", "EACCES", ... ("E123" for unknown values).
const char* errno_name(int err);

// "0x1f00": how addresses and sizes appear in messages.
std::string hex(uint64_t value);

// Builds an Error for a failed system call.
Error sys_error(std::string what, int err, std::string advice = {});
// Builds an Error that is not a system-call failure.
Error plain_error(std::string what, std::string advice = {});
// A failure caused by what the user supplied (file, size, count).
Error input_error(std::string what, std::string advice = {});

}  // namespace gmm::vmm
