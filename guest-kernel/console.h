// The serial console (8250 THR). Every byte is a VM exit (6-11 us), so output
// is kept to a line or two per run. No lock: lines from different CPUs may
// interleave, which is acceptable for a debug console.
#pragma once

#include <stdint.h>

namespace gmm::kernel {

void console_write(const char* text, uint64_t len);
void console_puts(const char* text);
void console_put_u64(uint64_t value);

}  // namespace gmm::kernel
