// virtio-blk end to end (issue 5): the blkcheck workload on default and
// user-made images, with and without --disk-latency-us; the data path makes
// no exit to the VMM per request; written data is in the image after exit; an
// image truncated underneath gives the guest I/O errors, not a hang; bad
// --disk / --disk-latency-us are usage errors naming the value.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "control_protocol.h"
#include "disk_image.h"
#include "gmm_runner.h"

using gmm::test::describe;
using gmm::test::GmmRun;
using gmm::test::result_u64;
using gmm::test::run_gmm;
using gmm::test::run_gmm_command;

namespace {

constexpr auto kHardLimit = std::chrono::seconds(40);
constexpr int kExitOk = 0, kExitUsage = 2, kExitDiskDiffers = 3, kExitGuestFailed = 10;

std::string temp_image(const char* what) {
    const char* dir = std::getenv("TMPDIR");
    return std::string(dir && *dir ? dir : "/tmp") + "/gmm-blktest-" + std::to_string(getpid()) + "-" + what + ".img";
}

struct Image {
    std::string path;
    // 4 files of 256 KiB (what `gmm disk create --files 4 --file-size 256K` writes).
    explicit Image(const char* what) : path(temp_image(what)) {
        REQUIRE(gmm::vmm::create_disk_image(path, gmm::vmm::DiskSpec{4, 256 * 1024}, gmm::vmm::Overwrite::Yes).ok());
    }
    ~Image() { unlink(path.c_str()); }
};

GmmRun blkcheck(const std::vector<std::string>& extra, int vcpus = 2) {
    std::vector<std::string> args = {"--vcpus", std::to_string(vcpus), "--workload", "blkcheck", "--timeout", "30"};
    args.insert(args.end(), extra.begin(), extra.end());
    return run_gmm(args, kHardLimit);
}

uint64_t disk_stat(const GmmRun& r, const char* key) { return (*r.json)["disk"][key].as_u64(); }

}  // namespace

TEST_CASE("blkcheck verifies every checked page of the default image and writes through", "[blk]") {
    const GmmRun r = blkcheck({});
    INFO(describe(r));
    REQUIRE(r.exit_code == kExitOk);
    REQUIRE(r.json);
    CHECK(result_u64(r, 0, "blk_present") == 1);
    CHECK(result_u64(r, 0, "blk_files") == 8);
    CHECK(result_u64(r, 0, "blk_capacity_bytes") == 4096 + 8 * (8ull << 20));
    CHECK(result_u64(r, 0, "blk_pages_ok") == 8 * 4 + 0);
    CHECK(result_u64(r, 0, "blk_pages_bad") == 0);
    CHECK(result_u64(r, 0, "blk_write_ok") == 1);
    CHECK(result_u64(r, 1, "blk_pages_checked") == 16);  // vCPU 1 read its files concurrently
    // The data path: the guest's kicks and acks are ioeventfds, completions irqfds.
    const uint64_t requests = disk_stat(r, "requests");
    CHECK(requests == result_u64(r, 0, "blk_completed"));
    CHECK(requests >= 32 + 32 + 16);
    CHECK(disk_stat(r, "notify_exits") == 0);
    CHECK(disk_stat(r, "mmio_exits") < 40);  // device set-up only, independent of the request count
    CHECK(disk_stat(r, "kicks") > 0);
    CHECK(disk_stat(r, "interrupts") > 0);
    CHECK(disk_stat(r, "io_errors") == 0);
    CHECK(disk_stat(r, "flushes") == 1);
}

TEST_CASE("with --disk-latency-us every request waits, and concurrent requests overlap", "[blk]") {
    const uint64_t latency_us = 20000;
    const GmmRun r = blkcheck({"--disk-latency-us", std::to_string(latency_us), "--param", "reads=5", "--param",
                               "burst=16", "--param", "pages=1"},
                              1);
    INFO(describe(r));
    REQUIRE(r.exit_code == kExitOk);
    CHECK(result_u64(r, 0, "blk_rt_min_ns") >= latency_us * 1000);
    // 16 requests in flight: far less than 16 latencies one after another.
    CHECK(result_u64(r, 0, "blk_burst_ns") >= latency_us * 1000);
    CHECK(result_u64(r, 0, "blk_burst_ns") < 8 * latency_us * 1000);
    CHECK(result_u64(r, 0, "blk_pages_bad") == 0);
}

TEST_CASE("data the guest wrote is in the image after exit, byte-exactly where it wrote", "[blk]") {
    Image img("written");
    const GmmRun r = blkcheck({"--disk", img.path, "--param", "keep_write=1"});
    INFO(describe(r));
    REQUIRE(r.exit_code == kExitOk);
    CHECK(result_u64(r, 0, "blk_files") == 4);
    const GmmRun v = run_gmm_command("disk", {"verify", img.path}, kHardLimit);
    INFO(describe(v));
    REQUIRE(v.exit_code == kExitDiskDiffers);
    REQUIRE(v.json);
    const auto diffs = (*v.json)["differing_pages"];
    REQUIRE(diffs.size() == 1);
    CHECK(diffs[0]["file"].as_string() == "file3");
    CHECK(diffs[0]["page"].as_u64() == 256 * 1024 / 4096 - 1);
    CHECK(diffs[0]["first_diff_byte"].as_u64() == 0);
    CHECK(diffs[0]["diff_bytes"].as_u64() <= 64);  // the first 8 words, inverted
    // A second run sees the modified page (its signature no longer matches).
    const GmmRun r2 = blkcheck({"--disk", img.path});
    CHECK(r2.exit_code == kExitGuestFailed);
    CHECK(result_u64(r2, 0, "blk_pages_bad") == 1);
    // Without keep_write the page is restored: the image verifies clean.
    Image clean("clean");
    REQUIRE(blkcheck({"--disk", clean.path}).exit_code == kExitOk);
    CHECK(run_gmm_command("disk", {"verify", clean.path}, kHardLimit).exit_code == kExitOk);
}

TEST_CASE("an image truncated underneath the VM gives the guest I/O errors, not a hang", "[blk]") {
    Image img("truncated");
    const std::string name = "blktest-" + std::to_string(getpid());
    const std::string sock = gmm::vmm::control_socket_path(gmm::vmm::default_control_dir(), name);
    std::atomic<bool> truncated{false};
    // The VMM has opened and validated the image once its control socket exists;
    // the guest waits delay_ms before reading, long enough for this thread.
    std::thread cutter([&] {
        for (int i = 0; i < 3000 && !truncated; ++i) {
            struct stat st {};
            if (stat(sock.c_str(), &st) == 0) {
                truncated = truncate(img.path.c_str(), 8192) == 0;
                return;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
    });
    const GmmRun r = blkcheck({"--disk", img.path, "--name", name, "--param", "delay_ms=1500", "--param", "allow_errors=1",
                               "--param", "pages=2"});
    cutter.join();
    INFO(describe(r));
    REQUIRE(truncated);
    REQUIRE(r.exit_code == kExitOk);
    CHECK(result_u64(r, 0, "blk_pages_ioerr") > 0);
    CHECK(result_u64(r, 0, "blk_pages_bad") == 0);
    CHECK(result_u64(r, 0, "blk_io_errors") > 0);
    CHECK(disk_stat(r, "io_errors") > 0);
    CHECK(r.stderr_text.find("end of image (was it truncated?)") != std::string::npos);
}

TEST_CASE("bad --disk and --disk-latency-us values are usage errors naming the value", "[blk_usage]") {
    SECTION("missing image") {
        const GmmRun r = run_gmm({"--disk", "/nonexistent/gmm.img"}, kHardLimit);
        CHECK(r.exit_code == kExitUsage);
        CHECK(r.stderr_text.find("/nonexistent/gmm.img") != std::string::npos);
        CHECK(r.stderr_text.find("ENOENT") != std::string::npos);
    }
    SECTION("corrupt table") {
        Image img("corrupt");
        const int fd = open(img.path.c_str(), O_WRONLY);
        REQUIRE(fd >= 0);
        REQUIRE(pwrite(fd, "XXXX", 4, 0) == 4);
        close(fd);
        const GmmRun r = run_gmm({"--disk", img.path}, kHardLimit);
        CHECK(r.exit_code == kExitUsage);
        CHECK(r.stderr_text.find("bad magic") != std::string::npos);
        CHECK(r.stderr_text.find(img.path) != std::string::npos);
    }
    SECTION("image smaller than its table") {
        const std::string p = temp_image("tiny");
        REQUIRE(close(open(p.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0644)) == 0);
        const GmmRun r = run_gmm({"--disk", p}, kHardLimit);
        unlink(p.c_str());
        CHECK(r.exit_code == kExitUsage);
        CHECK(r.stderr_text.find("too small") != std::string::npos);
    }
    SECTION("latency out of range") {
        const GmmRun r = run_gmm({"--disk-latency-us", "1000001"}, kHardLimit);
        CHECK(r.exit_code == kExitUsage);
        CHECK(r.stderr_text.find("1000001") != std::string::npos);
    }
    SECTION("latency not a number") {
        const GmmRun r = run_gmm({"--disk-latency-us", "-5"}, kHardLimit);
        CHECK(r.exit_code == kExitUsage);
        CHECK(r.stderr_text.find("-5") != std::string::npos);
    }
    SECTION("file size not a multiple of 4K") {
        const GmmRun r = run_gmm({"--disk-file-size", "4095K"}, kHardLimit);
        CHECK(r.exit_code == kExitUsage);
        CHECK(r.stderr_text.find("4095K") != std::string::npos);
    }
}

TEST_CASE("without a disk the kernel runs its workloads; blkcheck reports no device", "[blk_usage]") {
    const GmmRun boot = run_gmm({"--disk", "none", "--timeout", "20"}, kHardLimit);
    INFO(describe(boot));
    CHECK(boot.exit_code == kExitOk);
    CHECK_FALSE(boot.json->has("disk"));
    const GmmRun r = blkcheck({"--disk", "none"});
    CHECK(r.exit_code == kExitGuestFailed);
    CHECK(result_u64(r, 0, "blk_present") == 0);
}
