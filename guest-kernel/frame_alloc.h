// Physical frames for page tables and user stacks: a bump allocator over free
// RAM after reserved_end_gpa. That RAM has never been written, so it reads as
// zero and frames need no clearing (clearing a page in emulated ring 0 costs
// 150 us to 2.5 ms). Frames are never freed in this issue.
#pragma once

#include "gmm/addr.h"

namespace gmm::kernel {

void frame_alloc_init(Gpa free_start, Gpa free_end);
// A zero-filled 4 KiB frame; asserts when RAM is exhausted.
Gpa frame_alloc_zeroed();

}  // namespace gmm::kernel
