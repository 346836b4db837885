// A fixed-size text buffer for short messages (no heap, silently truncates).
#pragma once

#include <stdint.h>

namespace gmm::kernel {

template <uint32_t Capacity>
class TextBuffer {
public:
    TextBuffer& put(const char* s) {
        while (*s && len_ < Capacity) data_[len_++] = *s++;
        return *this;
    }
    TextBuffer& put_hex(uint64_t v) {
        put("0x");
        int shift = 60;
        while (shift > 0 && ((v >> shift) & 0xf) == 0) shift -= 4;
        for (; shift >= 0; shift -= 4) put_char("0123456789abcdef"[(v >> shift) & 0xf]);
        return *this;
    }
    TextBuffer& put_u64(uint64_t v) {
        char digits[20];
        int n = 0;
        do {
            digits[n++] = char('0' + v % 10);
            v /= 10;
        } while (v);
        while (n > 0) put_char(digits[--n]);
        return *this;
    }
    TextBuffer& put_char(char c) {
        if (len_ < Capacity) data_[len_++] = c;
        return *this;
    }
    const char* data() const { return data_; }
    uint32_t size() const { return len_; }

private:
    char data_[Capacity];
    uint32_t len_ = 0;
};

}  // namespace gmm::kernel
