#include "error.h"

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace gmm::vmm {

const char* errno_name(int err) {
    switch (err) {
#define X(e) case e: return #e;
        X(EPERM) X(ENOENT) X(ESRCH) X(EINTR) X(EIO) X(ENXIO) X(E2BIG) X(ENOEXEC) X(EBADF)
        X(ECHILD) X(EAGAIN) X(ENOMEM) X(EACCES) X(EFAULT) X(EBUSY) X(EEXIST) X(ENODEV)
        X(ENOTDIR) X(EISDIR) X(EINVAL) X(ENFILE) X(EMFILE) X(ENOTTY) X(EFBIG) X(ENOSPC)
        X(ESPIPE) X(EROFS) X(EPIPE) X(ERANGE) X(ENOSYS) X(ENOTSUP) X(ETIMEDOUT)
        X(ECONNREFUSED) X(EADDRINUSE) X(ENAMETOOLONG) X(ELOOP) X(EOVERFLOW) X(ENOTSOCK)
#undef X
        default: {
            static thread_local char buf[16];
            std::snprintf(buf, sizeof buf, "E%d", err);
            return buf;
        }
    }
}

std::string Error::message() const {
    std::string out = what;
    if (errno_value != 0) {
        out += ": ";
        out += errno_name(errno_value);
        out += " (";
        out += std::strerror(errno_value);
        out += ")";
    }
    if (!advice.empty()) {
        out += "; ";
        out += advice;
    }
    return out;
}

std::string hex(uint64_t value) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(value));
    return buf;
}

Error sys_error(std::string what, int err, std::string advice) {
    return Error{std::move(what), err, std::move(advice)};
}

Error plain_error(std::string what, std::string advice) {
    return Error{std::move(what), 0, std::move(advice)};
}

Error input_error(std::string what, std::string advice) {
    return Error{std::move(what), 0, std::move(advice), ErrorKind::BadInput};
}

}  // namespace gmm::vmm
