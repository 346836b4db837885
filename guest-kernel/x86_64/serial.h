// 8250 UART transmit. The VMM's LSR always reads "transmitter empty", so the
// kernel writes THR directly: one OUT (one exit) per byte, no polling.
#pragma once

#include "cpu.h"

namespace gmm::kernel::x86 {

constexpr uint16_t kSerialThrPort = 0x3f8;

inline void serial_put(char c) { outb(kSerialThrPort, static_cast<uint8_t>(c)); }

}  // namespace gmm::kernel::x86
