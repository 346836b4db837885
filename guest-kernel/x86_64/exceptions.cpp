#include "exceptions.h"

#include "cpu.h"
#include "text.h"
#include "ucall.h"

namespace gmm::kernel::x86 {

namespace {

constexpr const char* kExceptionNames[32] = {
    "#DE divide error",        "#DB debug",
    "NMI",                     "#BP breakpoint",
    "#OF overflow",            "#BR bound range exceeded",
    "#UD invalid opcode",      "#NM device not available",
    "#DF double fault",        "coprocessor segment overrun",
    "#TS invalid TSS",         "#NP segment not present",
    "#SS stack-segment fault", "#GP general protection",
    "#PF page fault",          "reserved vector 15",
    "#MF x87 floating point",  "#AC alignment check",
    "#MC machine check",       "#XM SIMD floating point",
    "#VE virtualization",      "#CP control protection",
    "reserved vector 22",      "reserved vector 23",
    "reserved vector 24",      "reserved vector 25",
    "reserved vector 26",      "reserved vector 27",
    "#HV hypervisor injection", "#VC VMM communication",
    "#SX security",            "reserved vector 31",
};

// Page-fault error code bits.
constexpr uint64_t kPfPresent = 1u << 0, kPfWrite = 1u << 1, kPfReserved = 1u << 3, kPfFetch = 1u << 4;
// Selector error code bits (#GP, #NP, #SS, #TS): bit 1 = the index is an IDT vector.
constexpr uint64_t kSelErrIdt = 1u << 1;
constexpr bool has_selector_error(uint64_t v) { return v == 10 || v == 11 || v == 12 || v == 13; }

}  // namespace

void report_exception(const TrapFrame& f) {
    const uint64_t cr2 = f.vector == uint64_t(Vector::PageFault) ? read_cr2() : 0;
    TextBuffer<120> text;
    if (f.vector < 32) text.put(kExceptionNames[f.vector]);
    else text.put("unexpected interrupt vector ").put_u64(f.vector);
    text.put(f.from_user() ? " (user" : " (kernel");
    if (f.vector == uint64_t(Vector::PageFault)) {
        text.put(f.error_code & kPfFetch ? ", exec" : (f.error_code & kPfWrite ? ", write" : ", read"));
        text.put(f.error_code & kPfPresent ? ", protection" : ", not-present");
        if (f.error_code & kPfReserved) text.put(", reserved bit");
        text.put(", address ").put_hex(cr2);
    } else if (has_selector_error(f.vector) && f.error_code != 0) {
        if (f.error_code & kSelErrIdt) text.put(", IDT vector ").put_u64(f.error_code >> 3);
        else text.put(", selector ").put_hex(f.error_code & ~uint64_t(7));
    }
    text.put(")");
    ucall_exception(ExceptionReport{f.vector, f.error_code, f.rip, cr2, f.rsp, f.cs, f.rflags, text.data(), text.size()});
    halt_forever();
}

}  // namespace gmm::kernel::x86
