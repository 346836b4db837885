// The virtio-mmio register file (feature negotiation, queue set-up, reset)
// and the whole device without KVM: a request kicked through the notify
// eventfd completes through the interrupt eventfd, after --disk-latency-us.
#include <catch2/catch.hpp>

#include <poll.h>

#include <chrono>

#include "queue_fixture.h"
#include "virtio/blk_device.h"

using namespace gmm;
using namespace gmm::vmm::virtio;
using gmm::test::MemfdDisk;
using gmm::test::QueueFixture;

namespace {

struct Driver {
    MmioTransport& t;
    uint32_t rd(uint32_t off) { return uint32_t(t.read(off, 4)); }
    void wr(uint32_t off, uint32_t v) { t.write(off, 4, v); }
    void set_features(uint64_t f) {
        wr(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
        wr(VIRTIO_MMIO_DRIVER_FEATURES, uint32_t(f));
        wr(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
        wr(VIRTIO_MMIO_DRIVER_FEATURES, uint32_t(f >> 32));
    }
    void setup_queue(const QueueLayout& l) {
        wr(VIRTIO_MMIO_QUEUE_SEL, 0);
        wr(VIRTIO_MMIO_QUEUE_NUM, l.size);
        wr(VIRTIO_MMIO_QUEUE_DESC_LOW, uint32_t(l.desc.value()));
        wr(VIRTIO_MMIO_QUEUE_DESC_HIGH, uint32_t(l.desc.value() >> 32));
        wr(VIRTIO_MMIO_QUEUE_DRIVER_LOW, uint32_t(l.avail.value()));
        wr(VIRTIO_MMIO_QUEUE_DRIVER_HIGH, uint32_t(l.avail.value() >> 32));
        wr(VIRTIO_MMIO_QUEUE_DEVICE_LOW, uint32_t(l.used.value()));
        wr(VIRTIO_MMIO_QUEUE_DEVICE_HIGH, uint32_t(l.used.value() >> 32));
        wr(VIRTIO_MMIO_QUEUE_READY, 1);
    }
    // The driver's start-up sequence (spec 3.1.1); returns the final status.
    uint32_t bring_up(const QueueLayout& l, uint64_t features) {
        wr(VIRTIO_MMIO_STATUS, 0);
        wr(VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
        set_features(features);
        wr(VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
        setup_queue(l);
        wr(VIRTIO_MMIO_STATUS, rd(VIRTIO_MMIO_STATUS) | VIRTIO_STATUS_DRIVER_OK);
        return rd(VIRTIO_MMIO_STATUS);
    }
};

constexpr uint64_t kVersion1 = 1ull << VIRTIO_F_VERSION_1;

bool wait_readable(int fd, int timeout_ms) {
    pollfd p{fd, POLLIN, 0};
    return poll(&p, 1, timeout_ms) == 1;
}

}  // namespace

TEST_CASE("the register file identifies a modern virtio-mmio block device", "[virtio_device]") {
    QueueFixture f;
    MmioTransport t(VIRTIO_ID_BLOCK, kVersion1, std::vector<uint8_t>{1, 2, 3, 4, 5, 6, 7, 8}, {});
    Driver d{t};
    CHECK(d.rd(VIRTIO_MMIO_MAGIC_VALUE) == VIRTIO_MMIO_MAGIC);
    CHECK(d.rd(VIRTIO_MMIO_VERSION) == 2);
    CHECK(d.rd(VIRTIO_MMIO_DEVICE_ID) == VIRTIO_ID_BLOCK);
    d.wr(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
    CHECK(d.rd(VIRTIO_MMIO_DEVICE_FEATURES) == 1);  // bit 32
    CHECK(d.rd(VIRTIO_MMIO_QUEUE_NUM_MAX) == GMM_VIRTIO_QUEUE_NUM_MAX);
    CHECK(t.read(VIRTIO_MMIO_CONFIG, 8) == 0x0807060504030201ull);
    CHECK(t.read(VIRTIO_MMIO_CONFIG + 6, 4) == 0);  // past the end of the config space
}

TEST_CASE("feature negotiation refuses a driver without VERSION_1 or with unoffered bits", "[virtio_device]") {
    QueueFixture f;
    bool started = false;
    MmioTransport::Hooks h;
    h.start = [&](const QueueLayout&, uint64_t) { started = true; };
    MmioTransport t(VIRTIO_ID_BLOCK, kVersion1 | (1ull << VIRTIO_BLK_F_FLUSH), {}, h);
    Driver d{t};
    SECTION("legacy driver (no VERSION_1)") {
        CHECK_FALSE(d.bring_up(f.layout(), 1ull << VIRTIO_BLK_F_FLUSH) & VIRTIO_STATUS_FEATURES_OK);
        CHECK_FALSE(started);
    }
    SECTION("a bit the device did not offer") {
        CHECK_FALSE(d.bring_up(f.layout(), kVersion1 | (1ull << 5)) & VIRTIO_STATUS_FEATURES_OK);
        CHECK_FALSE(started);
    }
    SECTION("a subset of the offer") {
        CHECK(d.bring_up(f.layout(), kVersion1 | (1ull << VIRTIO_BLK_F_FLUSH)) & VIRTIO_STATUS_FEATURES_OK);
        CHECK(started);
        CHECK(t.driver_features() == (kVersion1 | (1ull << VIRTIO_BLK_F_FLUSH)));
    }
}

TEST_CASE("a queue outside guest RAM is refused; reset stops the data path", "[virtio_device]") {
    QueueFixture f;
    int resets = 0;
    MmioTransport::Hooks h;
    h.check_queue = [&](const QueueLayout& l) { return SplitQueue::create(f.mem, l, 8).ok(); };
    h.reset = [&] { ++resets; };
    MmioTransport t(VIRTIO_ID_BLOCK, kVersion1, {}, h);
    Driver d{t};
    d.setup_queue(QueueLayout{16, Gpa(QueueFixture::kRamBytes), Gpa(0x2000), Gpa(0x3000)});
    CHECK(d.rd(VIRTIO_MMIO_QUEUE_READY) == 0);
    d.setup_queue(f.layout());
    CHECK(d.rd(VIRTIO_MMIO_QUEUE_READY) == 1);
    d.wr(VIRTIO_MMIO_STATUS, 0);
    CHECK(resets == 1);
    CHECK(d.rd(VIRTIO_MMIO_QUEUE_READY) == 0);
    CHECK(d.rd(VIRTIO_MMIO_STATUS) == 0);
}

TEST_CASE("the device serves a kicked request and interrupts after the configured latency", "[virtio_device]") {
    QueueFixture f;
    MemfdDisk disk(64 * 1024);
    const int fd = dup(disk.fd);
    BlkDeviceConfig c;
    c.image_fd = fd;
    c.capacity_bytes = disk.bytes;
    c.latency_us = GENERATE(0u, 30000u);
    c.mmio_base = Gpa(GMM_VIRTIO_BLK_MMIO_GPA);
    c.msi_vector = 0x34;
    auto dev = BlkDevice::create(f.mem, -1, c);
    REQUIRE(dev.ok());
    Driver d{(*dev)->transport()};
    REQUIRE(d.bring_up(f.layout(), kVersion1) & VIRTIO_STATUS_DRIVER_OK);

    f.request(VIRTIO_BLK_T_IN, 1, 512, true);
    f.make_avail(0);
    const auto t0 = std::chrono::steady_clock::now();
    uint8_t notify[4] = {0, 0, 0, 0};
    (*dev)->mmio(GMM_VIRTIO_BLK_MMIO_GPA + VIRTIO_MMIO_QUEUE_NOTIFY, notify, 4, true);  // as a user-space exit would
    REQUIRE(wait_readable((*dev)->interrupt_eventfd(), 5000));
    const auto waited = std::chrono::steady_clock::now() - t0;
    CHECK(waited >= std::chrono::microseconds(c.latency_us));  // never completes before its latency
    CHECK(f.used_idx() == 1);
    CHECK(f.status() == VIRTIO_BLK_S_OK);
    CHECK(*f.mem.translate(Gpa(QueueFixture::kData), 1) == MemfdDisk::expected(512));
    CHECK(((*dev)->transport().interrupt_status() & VIRTIO_MMIO_INT_VRING) != 0);
    const BlkDeviceCounters k = (*dev)->counters();
    CHECK(k.requests == 1);
    CHECK(k.ok == 1);
    CHECK(k.notify_exits == 1);
    CHECK(k.interrupts == 1);
    (*dev)->shutdown();
}

TEST_CASE("a corrupt avail index disables the queue and flags DEVICE_NEEDS_RESET", "[virtio_device]") {
    QueueFixture f;
    MemfdDisk disk(64 * 1024);
    BlkDeviceConfig c;
    c.image_fd = dup(disk.fd);
    c.capacity_bytes = disk.bytes;
    c.mmio_base = Gpa(GMM_VIRTIO_BLK_MMIO_GPA);
    auto dev = BlkDevice::create(f.mem, -1, c);
    REQUIRE(dev.ok());
    Driver d{(*dev)->transport()};
    REQUIRE(d.bring_up(f.layout(), kVersion1) & VIRTIO_STATUS_DRIVER_OK);
    const uint16_t idx = 1000;
    REQUIRE(f.mem.write(Gpa(QueueFixture::kAvail + 2), {reinterpret_cast<const uint8_t*>(&idx), 2}).ok());
    const uint64_t one = 1;
    REQUIRE(write((*dev)->notify_eventfd(), &one, 8) == 8);
    for (int i = 0; i < 500 && !(d.rd(VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DEVICE_NEEDS_RESET); ++i) usleep(10000);
    CHECK(d.rd(VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
    CHECK(f.used_idx() == 0);
}
