// libFuzzer entry for the virtio-blk queue parser (virtio_fuzz_input.h).
#include "virtio_fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const unsigned char* data, unsigned long size) {
    gmm::vmm::virtio::fuzz::run_input(data, size);
    return 0;
}
