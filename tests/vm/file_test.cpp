// End-to-end tests of file-backed mappings and sleeping faults (issue 5): the
// disk image after MAP_SHARED / MAP_PRIVATE writes (compared byte-exactly by
// the host), the file workloads on both policies, io_race (no page of the
// wrong file, revalidation really failed) and a thread blocked on I/O that
// does not stop the other thread of its vCPU.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <thread>

#include <unistd.h>
#include <string>
#include <vector>

#include "gmm/abi/disk.h"
#include "gmm/abi/syscall.h"
#include "gmm_runner.h"

using gmm::test::describe;
using gmm::test::GmmRun;
using gmm::test::result_u64;
using gmm::test::run_gmm;

namespace {

constexpr auto kHardLimit = std::chrono::seconds(60);
constexpr int kExitOk = 0;

GmmRun run_file(const std::string& workload, int vcpus, const std::string& mm, const std::vector<std::string>& params,
                const std::vector<std::string>& extra = {}) {
    return gmm::test::run_workload(workload, vcpus, mm, params, extra, std::chrono::seconds(50), kHardLimit);
}

std::string temp_image_path(const char* tag) {
    return std::string("/tmp/gmm-file-test-") + tag + "-" + std::to_string(::getpid()) + ".img";
}

// A default image from the tool (its files carry page signatures).
void create_image(const std::string& path) {
    const std::string cmd = std::string(GMM_TEST_GMM_BINARY) + " disk create " + path + " >/dev/null";
    REQUIRE(std::system(cmd.c_str()) == 0);
}

std::vector<unsigned char> read_all(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::vector<unsigned char>(std::istreambuf_iterator<char>(in), {});
}

struct Differences {
    uint64_t pages_checked = 0, pages_differing = 0;
    std::string first;  // description of the first unexpected difference
};

// Compares every page of every file against its default content, except that
// the pages in `written` (file 0, page index) must carry byte 64 == 1 on top
// of it.
Differences compare_image(const std::vector<unsigned char>& img, uint64_t written_pages_of_file0) {
    Differences d;
    REQUIRE(img.size() >= sizeof(gmm_disk_table));
    gmm_disk_table table;
    std::memcpy(&table, img.data(), sizeof table);
    REQUIRE(table.magic == GMM_DISK_MAGIC);
    std::vector<uint64_t> expect(GMM_DISK_PAGE_BYTES / 8);
    for (uint32_t f = 0; f < table.file_count; ++f) {
        const gmm_disk_file_entry& e = table.files[f];
        REQUIRE(e.offset_bytes + e.size_bytes <= img.size());
        for (uint64_t p = 0; p < e.size_bytes / GMM_DISK_PAGE_BYTES; ++p) {
            gmm_disk_fill_page(expect.data(), f, p);
            auto* bytes = reinterpret_cast<unsigned char*>(expect.data());
            if (f == 0 && p < written_pages_of_file0) bytes[64] = 1;
            ++d.pages_checked;
            if (std::memcmp(bytes, img.data() + e.offset_bytes + p * GMM_DISK_PAGE_BYTES, GMM_DISK_PAGE_BYTES) != 0) {
                if (d.pages_differing++ == 0) d.first = "file " + std::to_string(f) + " page " + std::to_string(p);
            }
        }
    }
    return d;
}

}  // namespace

TEST_CASE("files: MAP_SHARED writes are in the disk image after exit, MAP_PRIVATE writes are not", "[files_image]") {
    for (const std::string mm : {"global", "extents"}) {
        DYNAMIC_SECTION("page_fault3 (shared) --mm " << mm) {
            const std::string path = temp_image_path("shared");
            create_image(path);
            const GmmRun r = run_file("page_fault3", 1, mm, {"size=64K", "iterations=2", "threads=1"}, {"--disk", path});
            INFO(describe(r));
            REQUIRE(r.exit_code == kExitOk);
            CHECK(result_u64(r, 0, "writeback_ok") == 1);
            // Each munmap wrote its 16 dirty pages, and the end of the run all 16 again.
            CHECK(result_u64(r, 0, "page_cache_pages_written") >= 3 * 16);
            const Differences d = compare_image(read_all(path), 16);  // 64 KiB = 16 pages of file 0 written
            INFO("first difference: " << d.first);
            CHECK(d.pages_checked > 16);
            CHECK(d.pages_differing == 0);
            std::remove(path.c_str());
        }
        DYNAMIC_SECTION("page_fault2 (private) --mm " << mm) {
            const std::string path = temp_image_path("private");
            create_image(path);
            const GmmRun r = run_file("page_fault2", 1, mm, {"size=64K", "iterations=2", "threads=1"}, {"--disk", path});
            INFO(describe(r));
            REQUIRE(r.exit_code == kExitOk);
            CHECK(result_u64(r, 0, "mm_cow_copies") >= 32);  // every write copied the cached page
            const Differences d = compare_image(read_all(path), 0);  // untouched
            INFO("first difference: " << d.first);
            CHECK(d.pages_differing == 0);
            std::remove(path.c_str());
        }
    }
}

TEST_CASE("files: page_fault2, page_fault3 and mmap2 x policy x 1 and 2 vCPUs run to completion", "[files_workloads]") {
    for (const std::string workload : {"page_fault2", "page_fault3", "mmap2"})
        for (const std::string mm : {"global", "extents"})
            for (int vcpus : {1, 2}) {
                DYNAMIC_SECTION(workload << " --mm " << mm << " --vcpus " << vcpus) {
                    const GmmRun r = run_file(workload, vcpus, mm, {"size=64K", "iterations=2"});
                    INFO(describe(r));
                    REQUIRE(r.exit_code == kExitOk);
                    const auto& j = *r.json;
                    uint64_t sum = 0;
                    for (int i = 0; i < vcpus; ++i) sum += j["per_vcpu"][i]["ops"].as_u64();
                    if (workload == "mmap2") CHECK(sum == uint64_t(vcpus) * 2);
                    else CHECK(sum == uint64_t(vcpus) * 2 * 16);
                    CHECK(result_u64(r, 0, "user_errors") == 0);
                    if (workload != "mmap2") CHECK(result_u64(r, 0, "page_cache_reads") > 0);
                }
            }
}

TEST_CASE("files: io_race never installs a page of the wrong file, and revalidation really failed", "[io_race]") {
    for (const std::string mm : {"global", "extents"}) {
        DYNAMIC_SECTION("--mm " << mm) {
            const GmmRun r = run_file("io_race", 2, mm, {"threads=3", "iterations=30"}, {"--disk-latency-us", "3000"});
            INFO(describe(r));
            REQUIRE(r.exit_code == kExitOk);
            CHECK(result_u64(r, 0, "wrong_pages") == 0);
            CHECK((*r.json)["ops_total"].as_u64() > result_u64(r, 0, "raced_reads") + 1000);  // reads were judged
            CHECK(result_u64(r, 0, "user_errors") == 0);
            CHECK(result_u64(r, 0, "mm_revalidation_failures") > 0);
            CHECK(result_u64(r, 0, "page_cache_reads") > 0);
        }
    }
}

TEST_CASE("files: a thread blocked on I/O does not stop the other thread of its vCPU", "[iowait]") {
    for (const std::string mm : {"global", "extents"}) {
        DYNAMIC_SECTION("--mm " << mm) {
            const GmmRun r = run_file("mmtest", 1, mm, {"test=iowait"}, {"--disk-latency-us", "50000"});
            INFO(describe(r));
            REQUIRE(r.exit_code == kExitOk);
            CHECK(result_u64(r, 0, "iowait_fault_ns") >= 40'000'000);  // it really slept for the disk
            CHECK(result_u64(r, 0, "iowait_progress") > 0);            // and the other thread ran meanwhile
            CHECK(result_u64(r, 0, "sched_blocks") >= 1);
        }
    }
}

TEST_CASE("files: an image truncated underneath turns the next file fault into a SIGBUS-like end, not a hang",
          "[files_ioerror]") {
    const std::string path = temp_image_path("truncated");
    create_image(path);
    // 256 cold pages at 20 ms each: the reads are still going when the image shrinks.
    std::thread shrink([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(1500));
        REQUIRE(::truncate(path.c_str(), GMM_DISK_TABLE_BYTES) == 0);
    });
    const GmmRun r = run_file("page_fault2", 1, "extents", {"size=1M", "iterations=1", "threads=1"},
                              {"--disk", path, "--disk-latency-us", "20000"});
    shrink.join();
    INFO(describe(r));
    REQUIRE(r.json);
    CHECK_FALSE(r.killed_at_limit);
    CHECK(result_u64(r, 0, "segv_reason") == GMM_SEGV_IO_ERROR);
    CHECK(result_u64(r, 0, "thread_exit_status") == 128 + 7);
    CHECK(result_u64(r, 0, "page_cache_read_errors") >= 1);
    std::remove(path.c_str());
}
