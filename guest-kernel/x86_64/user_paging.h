// The user address space's 4-level page table: a fresh PML4 whose upper half
// (entries 256..511) repeats the kernel's, so kernel code keeps running after
// the CR3 switch; user pages are 4 KiB with P|RW|US.
#pragma once

#include <stdint.h>

#include "gmm/addr.h"

namespace gmm::kernel::x86 {

enum class UserAccess { ReadWriteExecute, ReadWrite };

class UserPageTable {
public:
    // Takes a zero PML4 frame from the frame allocator and copies the kernel half.
    void create(Gpa kernel_pml4);
    // Maps one 4 KiB page, allocating (zero) table frames as needed; asserts
    // if the address is not a user address or is already mapped.
    void map_page(Gva gva, Gpa gpa, UserAccess access);
    // Translates a user address: every level must be present and user-accessible.
    bool translate(Gva gva, Gpa& out) const;
    uint64_t cr3() const { return pml4_.value(); }

private:
    Gpa pml4_{};
};

}  // namespace gmm::kernel::x86
