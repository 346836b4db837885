#include "console.h"

#include "x86_64/serial.h"

namespace gmm::kernel {

void console_write(const char* text, uint64_t len) {
    for (uint64_t i = 0; i < len; ++i) x86::serial_put(text[i]);
}

void console_puts(const char* text) {
    while (*text) x86::serial_put(*text++);
}

void console_put_u64(uint64_t value) {
    char digits[20];
    int n = 0;
    do {
        digits[n++] = char('0' + value % 10);
        value /= 10;
    } while (value != 0);
    while (n > 0) x86::serial_put(digits[--n]);
}

}  // namespace gmm::kernel
