// Disk image validation: each corruption class gets its own one-line error
// naming the problem; created images verify clean; a changed byte is found.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "disk_image.h"

using namespace gmm::vmm;

namespace {

struct TempDir {
    std::string path;
    TempDir() {
        char t[] = "/tmp/gmm-disk-test-XXXXXX";
        path = mkdtemp(t);
    }
    ~TempDir() { std::system(("rm -rf " + path).c_str()); }
    std::string file(const std::string& n) const { return path + "/" + n; }
};

gmm_disk_table read_table(const std::string& p) {
    gmm_disk_table t;
    const int fd = open(p.c_str(), O_RDONLY);
    REQUIRE(pread(fd, &t, sizeof t, 0) == ssize_t(sizeof t));
    close(fd);
    return t;
}

void write_table(const std::string& p, const gmm_disk_table& t) {
    const int fd = open(p.c_str(), O_WRONLY);
    REQUIRE(pwrite(fd, &t, sizeof t, 0) == ssize_t(sizeof t));
    close(fd);
}

std::string open_error(const std::string& p) {
    auto r = open_disk_image(p);
    if (r) {
        close(r->fd);
        return "";
    }
    CHECK(r.error().kind == ErrorKind::BadInput);
    const std::string m = r.error().message();
    CHECK(m.find('\n') == std::string::npos);
    return m;
}

}  // namespace

TEST_CASE("a created image validates and every page carries its signature", "[disk_image]") {
    TempDir d;
    const std::string img = d.file("a.img");
    REQUIRE(create_disk_image(img, DiskSpec{3, 64 * 1024}, Overwrite::No).ok());
    auto r = verify_disk_image(img);
    REQUIRE(r.ok());
    CHECK(r->layout.files.size() == 3);
    CHECK(r->layout.files[1].name == "file1");
    CHECK(r->layout.files[1].offset_bytes == 4096 + 64 * 1024);
    CHECK(r->pages_checked == 3 * 16);
    CHECK(r->diffs.empty());
    // Refuses to overwrite without --force.
    CHECK_FALSE(create_disk_image(img, DiskSpec{3, 64 * 1024}, Overwrite::No).ok());
}

TEST_CASE("verify reports exactly the pages that differ from the default pattern", "[disk_image]") {
    TempDir d;
    const std::string img = d.file("a.img");
    REQUIRE(create_disk_image(img, DiskSpec{2, 32 * 1024}, Overwrite::No).ok());
    const int fd = open(img.c_str(), O_WRONLY);
    const uint8_t junk[3] = {1, 2, 3};
    REQUIRE(pwrite(fd, junk, 3, 4096 + 32 * 1024 + 5 * 4096 + 100) == 3);  // file1 page 5, byte 100
    REQUIRE(pwrite(fd, junk, 1, 4096 + 2 * 4096 + 8) == 1);                // file0 page 2, signature byte 8
    close(fd);
    auto r = verify_disk_image(img);
    REQUIRE(r.ok());
    REQUIRE(r->diffs.size() == 2);
    CHECK(r->diffs[0].file_index == 0);
    CHECK(r->diffs[0].page_index == 2);
    CHECK(r->diffs[0].first_diff_byte == 8);
    CHECK_FALSE(r->diffs[0].signature_ok);
    CHECK(r->diffs[1].file_index == 1);
    CHECK(r->diffs[1].page_index == 5);
    CHECK(r->diffs[1].first_diff_byte == 100);
    CHECK(r->diffs[1].diff_bytes >= 1);
    CHECK(r->diffs[1].signature_ok);
}

TEST_CASE("missing, unreadable, too small and oddly sized images are refused", "[disk_image]") {
    TempDir d;
    CHECK(open_error(d.file("missing.img")).find("cannot open") != std::string::npos);
    const std::string small = d.file("small.img");
    REQUIRE(std::system(("truncate -s 2048 " + small).c_str()) == 0);
    CHECK(open_error(small).find("too small for its 4096-byte file table") != std::string::npos);
    const std::string odd = d.file("odd.img");
    REQUIRE(std::system(("truncate -s 5000 " + odd).c_str()) == 0);
    CHECK(open_error(odd).find("not a multiple of 512") != std::string::npos);
    CHECK(open_error(d.path).find("EISDIR") != std::string::npos);  // a directory
}

TEST_CASE("each corruption of the file table has its own error", "[disk_image]") {
    TempDir d;
    const std::string img = d.file("c.img");
    REQUIRE(create_disk_image(img, DiskSpec{3, 16 * 1024}, Overwrite::No).ok());
    gmm_disk_table t = read_table(img);
    std::string expect;
    SECTION("magic") { t.magic ^= 1; expect = "bad magic"; }
    SECTION("version") { t.version = 9; expect = "version 9 is not supported"; }
    SECTION("count") { t.file_count = GMM_DISK_MAX_FILES + 1; expect = "file count 65 exceeds"; }
    SECTION("name character") { t.files[1].name[2] = '/'; expect = "bad name character"; }
    SECTION("empty name") { std::memset(t.files[0].name, 0, sizeof t.files[0].name); expect = "bad name length 0"; }
    SECTION("name not NUL-terminated") { std::memset(t.files[0].name, 'a', sizeof t.files[0].name); expect = "bad name length 32"; }
    SECTION("garbage after the name") { t.files[0].name[20] = 'x'; expect = "not NUL-padded"; }
    SECTION("duplicate name") { std::strcpy(t.files[2].name, "file0"); expect = "duplicate name"; }
    SECTION("misaligned offset") { t.files[1].offset_bytes += 512; expect = "is not a multiple of 4096"; }
    SECTION("offset inside the table") { t.files[0].offset_bytes = 0; expect = "after the 4096-byte table"; }
    SECTION("zero size") { t.files[2].size_bytes = 0; expect = "size 0 is not a non-zero multiple"; }
    SECTION("outside the image") { t.files[2].size_bytes += 4096; expect = "outside the"; }
    SECTION("offset + size wraps") { t.files[2].offset_bytes = ~0ull & ~0xfffull; expect = "outside the"; }
    SECTION("overlap") { t.files[2].offset_bytes = t.files[1].offset_bytes + 4096; t.files[2].size_bytes = 4096; expect = "overlaps file 1"; }
    write_table(img, t);
    const std::string m = open_error(img);
    INFO(m);
    CHECK(m.find(expect) != std::string::npos);
    CHECK(m.find(img) != std::string::npos);  // names the image
}

TEST_CASE("disk specs outside the documented limits are refused", "[disk_image]") {
    CHECK_FALSE(validate_disk_spec(DiskSpec{0, 4096}).ok());
    CHECK_FALSE(validate_disk_spec(DiskSpec{65, 4096}).ok());
    CHECK_FALSE(validate_disk_spec(DiskSpec{1, 4095}).ok());
    CHECK_FALSE(validate_disk_spec(DiskSpec{1, 6000}).ok());
    CHECK_FALSE(validate_disk_spec(DiskSpec{1, 2ull << 30}).ok());
    CHECK(validate_disk_spec(DiskSpec{64, 4096}).ok());
}

TEST_CASE("the page signature helpers agree between fill and match", "[disk_image]") {
    uint64_t page[512];
    gmm_disk_fill_page(page, 3, 77);
    CHECK(gmm_disk_sig_matches(reinterpret_cast<const gmm_disk_page_sig*>(page), 3, 77));
    CHECK_FALSE(gmm_disk_sig_matches(reinterpret_cast<const gmm_disk_page_sig*>(page), 3, 78));
    CHECK_FALSE(gmm_disk_sig_matches(reinterpret_cast<const gmm_disk_page_sig*>(page), 4, 77));
    CHECK(page[100] == gmm_disk_pattern_word(3, 77, 100));
    uint64_t other[512];
    gmm_disk_fill_page(other, 4, 77);
    CHECK(other[100] != page[100]);
}
