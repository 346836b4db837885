#include "assert.h"
#include "workload.h"

namespace gmm::kernel {

namespace {
constexpr const Workload* kWorkloads[] = {&kBootWorkload,      &kIpiWorkload,  &kTimerWorkload, &kRing3Workload,
                                          &kExceptionWorkload, &kSpinWorkload, &kPanicWorkload,
                                          &kPageFault1Workload, &kMmap1Workload, &kMixedWorkload, &kMmTestWorkload,
                                          &kLockHammerWorkload, &kStormWorkload,
                                          &kBlkCheckWorkload,
                                          &kPageFault2Workload, &kPageFault3Workload, &kMmap2Workload,
                                          &kIoRaceWorkload};
// Keys every workload accepts (machine-wide switches).
constexpr const char* kGlobalKeys[] = {"lockstat"};
}  // namespace

const Workload& workload_select(const BootArgs& args) {
    const Workload* chosen = args.workload.len == 0 ? &kBootWorkload : nullptr;
    for (const Workload* w : kWorkloads)
        if (!chosen && args.workload.equals(w->name)) chosen = w;
    GMM_ASSERT(chosen != nullptr && "unknown workload in bootargs");
    for (uint32_t i = 0; i < args.count; ++i) {
        bool known = false;
        for (uint32_t k = 0; k < chosen->key_count; ++k) known |= args.args[i].key.equals(chosen->keys[k]);
        for (const char* g : kGlobalKeys) known |= args.args[i].key.equals(g);
        GMM_ASSERT(known && "unknown bootargs key for this workload");
    }
    return *chosen;
}

}  // namespace gmm::kernel
