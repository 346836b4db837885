/* gmm guest->host calls ("ucall", after KVM selftests).
 * The guest kernel fills a struct gmm_ucall in its own memory, puts the struct's
 * GPA in RDI and executes `out %al, $GMM_UCALL_PORT` (an OUT to the port with
 * any width). The host reads RDI with KVM_GET_REGS, translates it through the
 * bounds-checked GPA translator, and validates every field: the guest is not
 * trusted. Text fields need not be NUL-terminated; text_len bounds them. */
#ifndef GMM_ABI_UCALL_H
#define GMM_ABI_UCALL_H

#include <stdint.h>

#define GMM_UCALL_PORT 0x5a0u
#define GMM_UCALL_TEXT_BYTES 256u
#define GMM_UCALL_ARGS 8u

enum gmm_ucall_cmd {
    GMM_UCALL_NONE = 0,
    /* args[0] = status (0 ok). Ends the run. */
    GMM_UCALL_DONE = 1,
    /* text[0] = file, text[1] = expression, args[0] = line, args[1], args[2] =
     * the two compared values (if any), args[3] = 1 when they are meaningful. Ends the run. */
    GMM_UCALL_ASSERT = 2,
    /* text[0] = message. */
    GMM_UCALL_PRINT = 3,
    /* A CPU reports in: args[0] = apic id, args[1] = TSC at report. */
    GMM_UCALL_CPU_ONLINE = 4,
    /* An exception the kernel could not handle. args: vector, error code, rip,
     * cr2, rsp, cs, rflags; text[0] = short description. Ends the run. */
    GMM_UCALL_EXCEPTION = 5,
    /* A named result value: text[0] = key, args[0] = value, args[1] = vcpu. */
    GMM_UCALL_RESULT = 6,
    /* Supervisor-mode probe: args[0] = 0 before, 1 after a ring-0 loop of
     * args[1] iterations of `dec; jnz` (2 instructions each). The host compares
     * KVM's insn_emulation across the pair to tell whether ring 0 is emulated. */
    GMM_UCALL_PROBE = 7,
    /* Freed frames for the VMM to return to zero (cleared through its mapping or
     * punched out of the RAM memfd, per gmm run --free-frames):
     * args[0] = GPA of an array of args[1] u64 frame GPAs (args[1] <= 512).
     * Every GPA must be 4 KiB aligned, in RAM and above reserved_end_gpa, or
     * the run fails and no frame is changed. The frames read as zero when the
     * call returns. */
    GMM_UCALL_FREE_FRAMES = 8,
    /* Instruction-count window: args[0] = window id (GMM_MARK_*), args[1] = 0
     * begin / 1 end. The host adds this vCPU's insn_emulation delta between
     * begin and end to the RESULT "insns_<window name>" of the vCPU. */
    GMM_UCALL_MARK = 9,
};

#define GMM_UCALL_FREE_FRAMES_MAX 512u
enum gmm_mark_window {
    GMM_MARK_MEASURED = 0, /* the workload's timed section: RESULT insns_measured */
    GMM_MARK_FAULTS = 1,   /* a page-touch phase (faults only): RESULT insns_faults */
    GMM_MARK_COUNT = 2,
};

struct gmm_ucall {
    uint32_t cmd;       /* enum gmm_ucall_cmd */
    uint32_t cpu;       /* reporting CPU index */
    uint64_t args[GMM_UCALL_ARGS];
    uint32_t text_len[2];
    char text[2][GMM_UCALL_TEXT_BYTES];
};

#ifdef __cplusplus
static_assert(sizeof(struct gmm_ucall) == 8 + 8 * GMM_UCALL_ARGS + 8 + 2 * GMM_UCALL_TEXT_BYTES, "gmm_ucall ABI size");
#else
_Static_assert(sizeof(struct gmm_ucall) == 8 + 8 * GMM_UCALL_ARGS + 8 + 2 * GMM_UCALL_TEXT_BYTES, "gmm_ucall ABI size");
#endif

#endif
