// The sleeping-fault protocol: every branch of complete_fault(), including ABA.
#include "test_support.h"

using namespace gmm;
using namespace gmm::mm;
using namespace gmm::mm::test;

namespace {
const uint64_t kBase = 1 * GiB - 1 * MiB;  // straddles a 1 GiB boundary
const uint64_t kLen = 4 * MiB;

FaultResult fault_needs_io(AddressSpace& as, uint64_t va, Access a = Access::Read) {
    FaultResult f = as.fault(Gva(va), a);
    REQUIRE(f.kind == FaultKind::NeedsIo);
    return f;
}
}  // namespace

TEST_CASE("a fault on a non-resident file page pins the object, then completes after I/O", "[sleeping]") {
    auto spec = GENERATE(from_range(all_configs()));
    INFO(spec);
    Env env(spec);
    AddressSpace& as = env.as;
    TestFile file(env.platform, 4096);
    REQUIRE(as.map(Gva(kBase), kLen, Prot::Read | Prot::Write, MapFlags::Shared | MapFlags::Fixed, &file, 10).ok());
    const uint64_t va = kBase + 2 * MiB + 3 * kPageSize;  // file page 10 + 515
    FaultResult f = fault_needs_io(as, va, Access::Write);
    CHECK(f.token.page_index == 10 + 515);
    CHECK(f.token.object == &file);
    CHECK(file.refs.load() == int64_t(as.references_to(&file)) + 1);  // the pin
    require_consistent(as);
    file.make_resident(f.token.page_index);
    FaultResult done = as.complete_fault(f.token);
    CHECK(done.kind == FaultKind::Installed);
    CHECK(file.refs.load() == int64_t(as.references_to(&file)));
    uint64_t e = as.pte_at(Gva(va));
    CHECK(pte::frame_of(e) == file.resident[10 + 515]);  // shared: the file's own page
    CHECK((e & pte::kWrite));
    CHECK(!(e & pte::kOwned));
    CHECK(as.counter(Counter::RevalidationFailures) == 0);
    require_consistent(as);
    REQUIRE(as.unmap(Gva(kBase), kLen).ok());
    CHECK(file.refs.load() == 0);
}

TEST_CASE("completing after the range was unmapped during the sleep asks for a retry", "[sleeping]") {
    auto spec = GENERATE(from_range(all_configs()));
    INFO(spec);
    Env env(spec);
    AddressSpace& as = env.as;
    TestFile file(env.platform, 4096);
    REQUIRE(as.map(Gva(kBase), kLen, Prot::Read, MapFlags::Private | MapFlags::Fixed, &file).ok());
    FaultResult f = fault_needs_io(as, kBase + 5 * kPageSize);
    REQUIRE(as.unmap(Gva(kBase), kLen).ok());
    file.make_resident(5);
    FaultResult done = as.complete_fault(f.token);
    CHECK(done.kind == FaultKind::Retry);
    CHECK(as.counter(Counter::RevalidationFailures) == 1);
    CHECK(as.pte_at(Gva(kBase + 5 * kPageSize)) == 0);
    CHECK(as.fault(Gva(kBase + 5 * kPageSize), Access::Read).segv == SegvReason::NotMapped);
    CHECK(file.refs.load() == 0);
    require_consistent(as);
}

TEST_CASE("ABA: the same range unmapped and mapped to another object during the sleep is caught", "[sleeping]") {
    auto spec = GENERATE(from_range(all_configs()));
    INFO(spec);
    Env env(spec);
    AddressSpace& as = env.as;
    TestFile a(env.platform, 4096), b(env.platform, 4096);
    REQUIRE(as.map(Gva(kBase), kLen, Prot::Read, MapFlags::Shared | MapFlags::Fixed, &a).ok());
    FaultResult f = fault_needs_io(as, kBase + 7 * kPageSize);
    REQUIRE(as.unmap(Gva(kBase), kLen).ok());
    REQUIRE(as.map(Gva(kBase), kLen, Prot::Read, MapFlags::Shared | MapFlags::Fixed, &b).ok());
    a.make_resident(7);
    b.make_resident(7);
    FaultResult done = as.complete_fault(f.token);
    CHECK(done.kind == FaultKind::Retry);  // same address, same layout, different extent
    CHECK(as.pte_at(Gva(kBase + 7 * kPageSize)) == 0);  // a's page was not installed
    CHECK(as.counter(Counter::RevalidationFailures) == 1);
    CHECK(as.fault(Gva(kBase + 7 * kPageSize), Access::Read).kind == FaultKind::Installed);
    CHECK(pte::frame_of(as.pte_at(Gva(kBase + 7 * kPageSize))) == b.resident[7]);
    CHECK(a.refs.load() == 0);
    require_consistent(as);
    REQUIRE(as.unmap(Gva(kBase), kLen).ok());
}

TEST_CASE("completing while the page is still not resident sleeps again with a fresh pin", "[sleeping]") {
    auto spec = GENERATE(from_range(all_configs()));
    INFO(spec);
    Env env(spec);
    AddressSpace& as = env.as;
    TestFile file(env.platform, 4096);
    REQUIRE(as.map(Gva(kBase), kLen, Prot::Read, MapFlags::Shared | MapFlags::Fixed, &file).ok());
    FaultResult f = fault_needs_io(as, kBase);
    // The I/O "completed" but the page was evicted again before the re-walk.
    FaultResult again = as.complete_fault(f.token);
    REQUIRE(again.kind == FaultKind::NeedsIo);
    CHECK(as.counter(Counter::FaultRetries) == 1);
    CHECK(file.refs.load() == int64_t(as.references_to(&file)) + 1);
    file.make_resident(0);
    CHECK(as.complete_fault(again.token).kind == FaultKind::Installed);
    CHECK(file.refs.load() == int64_t(as.references_to(&file)));
    require_consistent(as);
    REQUIRE(as.unmap(Gva(kBase), kLen).ok());
}

TEST_CASE("a protection change during the sleep fails revalidation; abandoning drops the pin", "[sleeping]") {
    auto spec = GENERATE(from_range(all_configs()));
    INFO(spec);
    Env env(spec);
    AddressSpace& as = env.as;
    TestFile file(env.platform, 4096);
    REQUIRE(as.map(Gva(kBase), kLen, Prot::Read | Prot::Write, MapFlags::Shared | MapFlags::Fixed, &file).ok());
    FaultResult f = fault_needs_io(as, kBase + 3 * MiB, Access::Write);
    REQUIRE(as.protect(Gva(kBase + 2 * MiB), 2 * MiB, Prot::Read).ok());
    file.make_resident(f.token.page_index);
    CHECK(as.complete_fault(f.token).kind == FaultKind::Retry);
    CHECK(as.fault(Gva(kBase + 3 * MiB), Access::Write).segv == SegvReason::AccessDenied);
    FaultResult g = fault_needs_io(as, kBase + 4 * kPageSize);
    as.abandon_fault(g.token);
    CHECK(file.refs.load() == int64_t(as.references_to(&file)));
    require_consistent(as);
    REQUIRE(as.unmap(Gva(kBase), kLen).ok());
}

TEST_CASE("private file mappings read the file page and copy it on write", "[sleeping][cow]") {
    auto spec = GENERATE(from_range(all_configs()));
    INFO(spec);
    Env env(spec);
    AddressSpace& as = env.as;
    TestFile file(env.platform, 8);  // shorter than the 16-page mapping
    file.make_resident(1);
    REQUIRE(as.map(Gva(kBase), 64 * KiB, Prot::Read | Prot::Write, MapFlags::Private | MapFlags::Fixed, &file).ok());
    REQUIRE(as.fault(Gva(kBase + kPageSize), Access::Read).kind == FaultKind::Installed);
    uint64_t e = as.pte_at(Gva(kBase + kPageSize));
    CHECK(pte::frame_of(e) == file.resident[1]);
    CHECK(!(e & pte::kWrite));  // read-only until written
    REQUIRE(as.fault(Gva(kBase + kPageSize), Access::Write).kind == FaultKind::Installed);
    e = as.pte_at(Gva(kBase + kPageSize));
    CHECK(pte::frame_of(e) != file.resident[1]);
    CHECK((e & pte::kOwned));
    CHECK(page_of(as, Gva(kBase + kPageSize))[100] == 0x41);  // the file's bytes were copied
    CHECK(as.counter(Counter::CowCopies) == 1);
    // Beyond the end of the object: SIGBUS-like SEGV.
    CHECK(as.fault(Gva(kBase + 10 * kPageSize), Access::Read).kind == FaultKind::Segv);
    require_consistent(as);
    REQUIRE(as.unmap(Gva(kBase), 64 * KiB).ok());
    CHECK(file.refs.load() == 0);
}
