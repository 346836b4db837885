#include "boot_info.h"

#include "assert.h"
#include "kernel.h"

namespace gmm::kernel {

const gmm_boot_info& boot_info_validate(Gpa boot_info_gpa, uint32_t cpu_index) {
    GMM_ASSERT_EQ(boot_info_gpa.value(), GMM_BOOT_INFO_GPA);
    const gmm_boot_info& bi = *direct_map<const gmm_boot_info>(boot_info_gpa);
    GMM_ASSERT_EQ(bi.magic, GMM_BOOT_MAGIC);
    GMM_ASSERT_EQ(bi.abi_version, GMM_ABI_VERSION);
    GMM_ASSERT_EQ(bi.size_bytes, sizeof(gmm_boot_info));
    GMM_ASSERT(bi.vcpu_count >= 1 && bi.vcpu_count <= GMM_MAX_VCPUS);
    GMM_ASSERT_LT(cpu_index, bi.vcpu_count);
    GMM_ASSERT(bi.reserved_end_gpa % kPageSize == 0 && bi.reserved_end_gpa < bi.ram_size_bytes);
    // The user runtime: page-aligned, inside the user range, entry and gate inside it.
    GMM_ASSERT(bi.user_image_gpa % kPageSize == 0 && bi.user_image_gva % kPageSize == 0);
    GMM_ASSERT(bi.user_image_size_bytes % kPageSize == 0 && bi.user_image_size_bytes != 0);
    GMM_ASSERT(bi.user_image_gva >= kPageSize && bi.user_image_gva < GMM_USER_TOP_GVA &&
               bi.user_image_size_bytes <= GMM_USER_TOP_GVA - bi.user_image_gva);
    GMM_ASSERT_LE(bi.user_image_gpa + bi.user_image_size_bytes, bi.reserved_end_gpa);
    const uint64_t user_end = bi.user_image_gva + bi.user_image_size_bytes;
    GMM_ASSERT(bi.user_entry_gva >= bi.user_image_gva && bi.user_entry_gva < user_end);
    GMM_ASSERT(bi.user_gate_gva >= bi.user_image_gva && bi.user_gate_gva + 2 <= user_end);
    // Optional payload and results areas: page-aligned, after the image, inside the reserved range.
    const uint64_t image_end_gpa = bi.user_image_gpa + bi.user_image_size_bytes;
    GMM_ASSERT((bi.payload_size_bytes == 0) == (bi.payload_gpa == 0));
    GMM_ASSERT(bi.payload_gpa % kPageSize == 0 && bi.results_gpa % kPageSize == 0);
    GMM_ASSERT(bi.payload_gpa == 0 || (bi.payload_gpa >= image_end_gpa &&
                                       bi.payload_size_bytes <= bi.reserved_end_gpa - bi.payload_gpa));
    GMM_ASSERT((bi.results_size_bytes == 0) == (bi.results_gpa == 0) && bi.results_size_bytes % kPageSize == 0);
    GMM_ASSERT(bi.results_gpa == 0 || (bi.results_gpa >= image_end_gpa &&
                                       bi.results_size_bytes <= bi.reserved_end_gpa - bi.results_gpa));
    GMM_ASSERT(bi.payload_gpa == 0 || bi.results_gpa == 0 ||
               bi.payload_gpa + ((bi.payload_size_bytes + kPageSize - 1) & ~(kPageSize - 1)) <= bi.results_gpa);
    return bi;
}

}  // namespace gmm::kernel
