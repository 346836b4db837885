// Guest->host calls (abi/gmm/abi/ucall.h): fill this CPU's gmm_ucall and exit
// with an OUT to GMM_UCALL_PORT. Only the fields a command uses are written:
// clearing the 592-byte struct would cost hundreds of emulated instructions.
#pragma once

#include <stdint.h>

namespace gmm::kernel {

struct ExceptionReport {
    uint64_t vector, error_code, rip, cr2, rsp, cs, rflags;
    const char* description;
    uint32_t description_len;
};

void ucall_done(uint64_t status);
void ucall_cpu_online(uint64_t apic_id, uint64_t tsc);
void ucall_result(const char* key, uint64_t value);
void ucall_result(const char* key, uint32_t key_len, uint64_t value);
// A result filed under another vCPU's report (e.g. CPU 0 summarising per-CPU state).
void ucall_result_for(uint32_t vcpu, const char* key, uint64_t value);
void ucall_probe(uint64_t phase, uint64_t iterations);
void ucall_print(const char* message);
void ucall_exception(const ExceptionReport& report);
void ucall_assert(const char* file, uint64_t line, const char* expression, uint64_t a, uint64_t b,
                  bool values_meaningful);

}  // namespace gmm::kernel
