#include "serial.h"

namespace gmm::vmm {

namespace {
constexpr uint16_t kThr = 0;            // transmit holding register
constexpr uint16_t kLsr = 5;            // line status register
constexpr uint8_t kLsrThrEmpty = 0x20;  // THR empty
constexpr uint8_t kLsrIdle = 0x40;      // transmitter idle
constexpr size_t kMaxLineBytes = 1024;  // a guest that never sends '\n' still gets printed
}  // namespace

void Serial8250::out(uint16_t port, uint8_t value) {
    if (port - kBasePort != kThr) return;  // configuration registers: accepted and ignored
    std::string done;
    {
        std::lock_guard<std::mutex> lock(mu_);
        if (transcript_.size() < kTranscriptCapBytes) transcript_.push_back(static_cast<char>(value));
        if (value == '\r') return;
        if (value != '\n') {
            // Never pass control characters from the guest to the terminal.
            line_.push_back((value >= 0x20 && value < 0x7f) || value == '\t' ? static_cast<char>(value) : '?');
            if (line_.size() < kMaxLineBytes) return;
        }
        done.swap(line_);
    }
    sink_(done);
}

uint8_t Serial8250::in(uint16_t port) const {
    if (port - kBasePort == kLsr) return kLsrThrEmpty | kLsrIdle;
    return 0;
}

std::string Serial8250::transcript() const {
    std::lock_guard<std::mutex> lock(mu_);
    return transcript_;
}

void Serial8250::flush() {
    std::string done;
    {
        std::lock_guard<std::mutex> lock(mu_);
        if (line_.empty()) return;
        done.swap(line_);
    }
    sink_(done);
}

}  // namespace gmm::vmm
