// The queue parser and request execution against hostile queues: every bad
// address, length, index or chain ends as an I/O error (or no completion for
// an index outside the ring), and nothing outside guest RAM is touched (the
// translator refuses it; these tests check the statuses and that the disk and
// the guest's other memory are unchanged).
#include <catch2/catch.hpp>

#include "queue_fixture.h"
#include "virtio/blk_request.h"

using namespace gmm;
using namespace gmm::vmm::virtio;
using gmm::test::MemfdDisk;
using gmm::test::QueueFixture;

namespace {

BlkBackend backend(const MemfdDisk& d) {
    BlkBackend b;
    b.fd = d.fd;
    b.capacity_bytes = d.bytes;
    std::memcpy(b.id, "test-id", 7);
    return b;
}

// Pops one head, runs it, completes it; returns the outcome.
BlkOutcome serve_one(QueueFixture& f, SplitQueue& q, const MemfdDisk& d) {
    auto head = q.pop_avail();
    REQUIRE(head.ok());
    REQUIRE(head->has_value());
    const Chain c = q.read_chain(**head);
    BlkOutcome r = process_blk_request(f.mem, c, backend(d));
    if (!(c.error && *c.error == ChainError::HeadOutOfRange)) q.push_used(c.head, r.written_bytes);
    return r;
}

bool disk_unchanged(const MemfdDisk& d) {
    std::vector<uint8_t> b(d.bytes);
    REQUIRE(pread(d.fd, b.data(), b.size(), 0) == ssize_t(b.size()));
    for (uint64_t i = 0; i < d.bytes; ++i)
        if (b[i] != MemfdDisk::expected(i)) return false;
    return true;
}

}  // namespace

TEST_CASE("a read request copies the sectors into guest RAM and reports OK", "[virtio]") {
    QueueFixture f;
    MemfdDisk d(64 * 1024);
    auto q = f.queue();
    f.request(VIRTIO_BLK_T_IN, 3, 1024, true);
    f.make_avail(0);
    const BlkOutcome r = serve_one(f, q, d);
    CHECK(r.status == VIRTIO_BLK_S_OK);
    CHECK(f.status() == VIRTIO_BLK_S_OK);
    CHECK(f.used_idx() == 1);
    CHECK(f.used(0).id == 0);
    CHECK(f.used(0).len == 1025);
    const uint8_t* data = f.mem.translate(Gpa(QueueFixture::kData), 1024);
    for (uint64_t i = 0; i < 1024; ++i) REQUIRE(data[i] == MemfdDisk::expected(3 * 512 + i));
}

TEST_CASE("a write request lands in the image; flush and get-id succeed", "[virtio]") {
    QueueFixture f;
    MemfdDisk d(64 * 1024);
    auto q = f.queue();
    std::vector<uint8_t> payload(512, 0x5a);
    REQUIRE(f.mem.write(Gpa(QueueFixture::kData), payload).ok());
    f.request(VIRTIO_BLK_T_OUT, 10, 512, false);
    f.make_avail(0);
    CHECK(serve_one(f, q, d).status == VIRTIO_BLK_S_OK);
    CHECK(f.used(0).len == 1);  // only the status byte was written
    uint8_t b[512];
    REQUIRE(pread(d.fd, b, 512, 10 * 512) == 512);
    CHECK(std::all_of(b, b + 512, [](uint8_t v) { return v == 0x5a; }));

    f.header(VIRTIO_BLK_T_FLUSH, 0);
    f.desc(0, QueueFixture::kHdr, 16, VIRTQ_DESC_F_NEXT, 2);
    f.make_avail(0);
    CHECK(serve_one(f, q, d).status == VIRTIO_BLK_S_OK);

    f.request(VIRTIO_BLK_T_GET_ID, 0, 20, true);
    f.make_avail(0);
    CHECK(serve_one(f, q, d).status == VIRTIO_BLK_S_OK);
    CHECK(std::memcmp(f.mem.translate(Gpa(QueueFixture::kData), 7), "test-id", 7) == 0);
}

TEST_CASE("hostile descriptors end in IOERR and touch neither the disk nor other RAM", "[virtio]") {
    QueueFixture f;
    MemfdDisk d(64 * 1024);
    auto q = f.queue();
    SECTION("data buffer outside guest RAM") {
        f.request(VIRTIO_BLK_T_IN, 0, 4096, true);
        f.desc(1, QueueFixture::kRamBytes - 512, 4096, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2);
    }
    SECTION("data buffer in the MMIO hole") {
        f.request(VIRTIO_BLK_T_OUT, 0, 4096, false);
        f.desc(1, 0xd0000000ull, 4096, VIRTQ_DESC_F_NEXT, 2);
    }
    SECTION("address + length wraps around 2^64") {
        f.request(VIRTIO_BLK_T_IN, 0, 4096, true);
        f.desc(1, ~0ull - 100, 4096, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2);
    }
    SECTION("sector beyond the capacity") { f.request(VIRTIO_BLK_T_IN, 64 * 1024 / 512, 512, true); }
    SECTION("sector * 512 overflows") { f.request(VIRTIO_BLK_T_OUT, ~0ull / 256, 512, false); }
    SECTION("the last sector plus one more") { f.request(VIRTIO_BLK_T_OUT, 64 * 1024 / 512 - 1, 1024, false); }
    SECTION("data length not a multiple of 512") { f.request(VIRTIO_BLK_T_IN, 0, 100, true); }
    SECTION("zero-length data descriptor") { f.request(VIRTIO_BLK_T_IN, 0, 0, true); }
    SECTION("read whose data descriptor is device-readable (the device may not write it)") {
        f.request(VIRTIO_BLK_T_IN, 0, 4096, false);
    }
    SECTION("write whose data descriptor is device-writable (a write has no data to read)") {
        f.request(VIRTIO_BLK_T_OUT, 0, 4096, true);
    }
    SECTION("header descriptor device-writable: no header to read") {
        f.request(VIRTIO_BLK_T_IN, 0, 512, true);
        f.desc(0, QueueFixture::kHdr, 16, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 1);
    }
    SECTION("header shorter than 16 bytes") {
        f.request(VIRTIO_BLK_T_IN, 0, 512, true);
        f.desc(0, QueueFixture::kHdr, 8, VIRTQ_DESC_F_NEXT, 1);
    }
    SECTION("device-readable descriptor after a writable one") {
        f.request(VIRTIO_BLK_T_IN, 0, 512, true);
        f.desc(2, QueueFixture::kStatus, 1, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 3);
        f.desc(3, QueueFixture::kHdr, 16, 0);
    }
    SECTION("descriptor loop") {
        f.request(VIRTIO_BLK_T_IN, 0, 512, true);
        f.desc(2, QueueFixture::kStatus, 1, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 0);
    }
    SECTION("next index outside the ring") {
        f.request(VIRTIO_BLK_T_IN, 0, 512, true);
        f.desc(1, QueueFixture::kData, 512, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, QueueFixture::kSize);
    }
    SECTION("indirect descriptor (not negotiated)") {
        f.request(VIRTIO_BLK_T_IN, 0, 512, true);
        f.desc(1, QueueFixture::kData, 512, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_INDIRECT, 2);
    }
    f.make_avail(0);
    const BlkOutcome r = serve_one(f, q, d);
    INFO(r.problem);
    CHECK(r.status == VIRTIO_BLK_S_IOERR);
    CHECK_FALSE(r.problem.empty());
    CHECK(f.used_idx() == 1);
    CHECK(disk_unchanged(d));
    // Guest RAM outside the named buffers is untouched (the data page stays zero unless it is the buffer).
    const uint8_t* other = f.mem.translate(Gpa(0x40000), 4096);
    CHECK(std::all_of(other, other + 4096, [](uint8_t v) { return v == 0; }));
}

TEST_CASE("a chain longer than the segment limit is refused even without a loop", "[virtio]") {
    QueueFixture f;
    MemfdDisk d(64 * 1024);
    auto q = f.queue(4);  // at most 4 descriptors per chain
    f.header(VIRTIO_BLK_T_IN, 0);
    f.desc(0, QueueFixture::kHdr, 16, VIRTQ_DESC_F_NEXT, 1);
    for (uint16_t i = 1; i < 6; ++i) f.desc(i, QueueFixture::kData + 512 * i, 512, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, i + 1);
    f.desc(6, QueueFixture::kStatus, 1, VIRTQ_DESC_F_WRITE);
    f.make_avail(0);
    auto head = q.pop_avail();
    REQUIRE(head.ok());
    const Chain c = q.read_chain(**head);
    REQUIRE(c.error);
    CHECK(*c.error == ChainError::TooLong);
    CHECK(c.segments.size() == 4);
    CHECK(process_blk_request(f.mem, c, backend(d)).status == VIRTIO_BLK_S_IOERR);
}

TEST_CASE("a head index outside the ring is skipped; the next request is still served", "[virtio]") {
    QueueFixture f;
    MemfdDisk d(64 * 1024);
    auto q = f.queue();
    f.request(VIRTIO_BLK_T_IN, 0, 512, true);
    f.make_avail(QueueFixture::kSize + 3);  // bad head
    f.make_avail(0);
    auto bad = q.pop_avail();
    REQUIRE(bad.ok());
    const Chain c = q.read_chain(**bad);
    REQUIRE(c.error);
    CHECK(*c.error == ChainError::HeadOutOfRange);
    CHECK(serve_one(f, q, d).status == VIRTIO_BLK_S_OK);
    CHECK(f.used_idx() == 1);
}

TEST_CASE("avail.idx running more than the queue size ahead is a corrupt ring", "[virtio]") {
    QueueFixture f;
    auto q = f.queue();
    const uint16_t idx = QueueFixture::kSize + 1;
    REQUIRE(f.mem.write(Gpa(QueueFixture::kAvail + 2), {reinterpret_cast<const uint8_t*>(&idx), 2}).ok());
    auto r = q.pop_avail();
    REQUIRE_FALSE(r.ok());
    CHECK(r.error() == QueueError::IndexJump);
}

TEST_CASE("queue layouts outside RAM, misaligned or of a bad size are refused", "[virtio]") {
    QueueFixture f;
    using L = QueueLayout;
    CHECK(SplitQueue::create(f.mem, L{16, Gpa(0x1000), Gpa(0x2000), Gpa(0x3000)}, 8).ok());
    CHECK(SplitQueue::create(f.mem, L{12, Gpa(0x1000), Gpa(0x2000), Gpa(0x3000)}, 8).error() == QueueError::BadSize);
    CHECK(SplitQueue::create(f.mem, L{0, Gpa(0x1000), Gpa(0x2000), Gpa(0x3000)}, 8).error() == QueueError::BadSize);
    CHECK(SplitQueue::create(f.mem, L{16, Gpa(0x1008), Gpa(0x2000), Gpa(0x3000)}, 8).error() == QueueError::Misaligned);
    CHECK(SplitQueue::create(f.mem, L{16, Gpa(0x1000), Gpa(0x2001), Gpa(0x3000)}, 8).error() == QueueError::Misaligned);
    CHECK(SplitQueue::create(f.mem, L{16, Gpa(QueueFixture::kRamBytes - 64), Gpa(0x2000), Gpa(0x3000)}, 8).error() ==
          QueueError::AreaNotInRam);
    CHECK(SplitQueue::create(f.mem, L{16, Gpa(0x1000), Gpa(0x2000), Gpa(~0ull & ~0xfull)}, 8).error() ==
          QueueError::AreaNotInRam);
}

TEST_CASE("an image truncated underneath turns a read into IOERR", "[virtio]") {
    QueueFixture f;
    MemfdDisk d(64 * 1024);
    auto q = f.queue();
    BlkBackend b = backend(d);  // capacity as validated at start
    REQUIRE(ftruncate(d.fd, 8192) == 0);
    f.request(VIRTIO_BLK_T_IN, 32, 4096, true);
    f.make_avail(0);
    auto head = q.pop_avail();
    const BlkOutcome r = process_blk_request(f.mem, q.read_chain(**head), b);
    CHECK(r.status == VIRTIO_BLK_S_IOERR);
    CHECK(r.problem.find("host I/O error") != std::string::npos);
}

TEST_CASE("an unknown request type is UNSUPP", "[virtio]") {
    QueueFixture f;
    MemfdDisk d(64 * 1024);
    auto q = f.queue();
    f.request(77, 0, 512, true);
    f.make_avail(0);
    CHECK(serve_one(f, q, d).status == VIRTIO_BLK_S_UNSUPP);
    CHECK(f.status() == VIRTIO_BLK_S_UNSUPP);
}
