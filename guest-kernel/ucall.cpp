#include "ucall.h"

#include "gmm/abi/boot.h"
#include "gmm/abi/ucall.h"
#include "percpu.h"

namespace gmm::kernel {

namespace {

uint32_t copy_text(char* dst, const char* src, uint32_t max_len) {
    uint32_t n = 0;
    while (n < max_len && src[n] != '\0') {
        dst[n] = src[n];
        ++n;
    }
    return n;
}

gmm_ucall& begin(gmm_ucall_cmd cmd) {
    PerCpu& me = this_cpu();
    me.ucall.cmd = cmd;
    me.ucall.cpu = me.cpu_index;
    return me.ucall;
}

void set_text(gmm_ucall& u, unsigned index, const char* text, uint32_t len) {
    if (len > GMM_UCALL_TEXT_BYTES) len = GMM_UCALL_TEXT_BYTES;
    for (uint32_t i = 0; i < len; ++i) u.text[index][i] = text[i];
    u.text_len[index] = len;
}

void set_text(gmm_ucall& u, unsigned index, const char* text) {
    u.text_len[index] = copy_text(u.text[index], text, GMM_UCALL_TEXT_BYTES);
}

// The buffer lives in the kernel image, mapped at GMM_KERNEL_IMAGE_GVA + GPA.
void send(gmm_ucall& u) {
    const uint64_t gpa = reinterpret_cast<uint64_t>(&u) - GMM_KERNEL_IMAGE_GVA;
    asm volatile("outb %%al, %%dx" ::"D"(gpa), "d"(uint16_t(GMM_UCALL_PORT)), "a"(0) : "memory");
}

}  // namespace

void ucall_done(uint64_t status) {
    gmm_ucall& u = begin(GMM_UCALL_DONE);
    u.args[0] = status;
    send(u);
}

void ucall_cpu_online(uint64_t apic_id, uint64_t tsc) {
    gmm_ucall& u = begin(GMM_UCALL_CPU_ONLINE);
    u.args[0] = apic_id;
    u.args[1] = tsc;
    send(u);
}

void ucall_result(const char* key, uint32_t key_len, uint64_t value) {
    gmm_ucall& u = begin(GMM_UCALL_RESULT);
    set_text(u, 0, key, key_len);
    u.text_len[1] = 0;
    u.args[0] = value;
    u.args[1] = u.cpu;
    send(u);
}

void ucall_result(const char* key, uint64_t value) {
    gmm_ucall& u = begin(GMM_UCALL_RESULT);
    set_text(u, 0, key);
    u.text_len[1] = 0;
    u.args[0] = value;
    u.args[1] = u.cpu;
    send(u);
}

void ucall_result_for(uint32_t vcpu, const char* key, uint64_t value) {
    gmm_ucall& u = begin(GMM_UCALL_RESULT);
    set_text(u, 0, key);
    u.text_len[1] = 0;
    u.args[0] = value;
    u.args[1] = vcpu;
    send(u);
}

void ucall_probe(uint64_t phase, uint64_t iterations) {
    gmm_ucall& u = begin(GMM_UCALL_PROBE);
    u.args[0] = phase;
    u.args[1] = iterations;
    send(u);
}

void ucall_print(const char* message) {
    gmm_ucall& u = begin(GMM_UCALL_PRINT);
    set_text(u, 0, message);
    u.text_len[1] = 0;
    send(u);
}

void ucall_exception(const ExceptionReport& r) {
    gmm_ucall& u = begin(GMM_UCALL_EXCEPTION);
    u.args[0] = r.vector;
    u.args[1] = r.error_code;
    u.args[2] = r.rip;
    u.args[3] = r.cr2;
    u.args[4] = r.rsp;
    u.args[5] = r.cs;
    u.args[6] = r.rflags;
    set_text(u, 0, r.description, r.description_len);
    u.text_len[1] = 0;
    send(u);
}

void ucall_assert(const char* file, uint64_t line, const char* expression, uint64_t a, uint64_t b,
                  bool values_meaningful) {
    gmm_ucall& u = begin(GMM_UCALL_ASSERT);
    set_text(u, 0, file);
    set_text(u, 1, expression);
    u.args[0] = line;
    u.args[1] = a;
    u.args[2] = b;
    u.args[3] = values_meaningful ? 1 : 0;
    send(u);
}

}  // namespace gmm::kernel
