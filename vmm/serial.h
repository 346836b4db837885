// A write-only 8250 UART at COM1 (0x3f8): bytes the guest writes to THR go to
// the console sink; LSR always reports "transmitter empty" so the guest never waits.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <string>

namespace gmm::vmm {

class Serial8250 {
public:
    static constexpr uint16_t kBasePort = 0x3f8;
    static constexpr uint16_t kPortCount = 8;

    // `sink` receives complete lines (without the newline) as they finish.
    explicit Serial8250(std::function<void(const std::string&)> sink) : sink_(std::move(sink)) {}

    static bool claims(uint16_t port) { return port >= kBasePort && port < kBasePort + kPortCount; }
    void out(uint16_t port, uint8_t value);
    uint8_t in(uint16_t port) const;
    // Everything written so far (capped), for reports.
    std::string transcript() const;
    void flush();

private:
    static constexpr size_t kTranscriptCapBytes = 64 * 1024;
    std::function<void(const std::string&)> sink_;
    mutable std::mutex mu_;
    std::string line_;
    std::string transcript_;
};

}  // namespace gmm::vmm
