#include "disk_image.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <set>
#include <sys/stat.h>
#include <unistd.h>

namespace gmm::vmm {

namespace {

Error bad(const std::string& what, const std::string& advice = {}) { return input_error(what, advice); }

std::string table_entry_name(const gmm_disk_file_entry& e) {
    size_t n = 0;
    while (n < GMM_DISK_NAME_BYTES && e.name[n] != '\0') ++n;
    return std::string(e.name, n);
}

// Prints a name safely (it may hold any bytes).
std::string printable(const std::string& s) {
    std::string out;
    for (unsigned char c : s) {
        if (c >= 0x20 && c < 0x7f) out += char(c);
        else out += "\\x" + hex(c).substr(2);
    }
    return out;
}

bool read_all(int fd, void* buf, size_t len, uint64_t off) {
    auto* p = static_cast<uint8_t*>(buf);
    while (len > 0) {
        const ssize_t n = pread(fd, p, len, off_t(off));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        p += n;
        len -= size_t(n);
        off += uint64_t(n);
    }
    return true;
}

bool write_all(int fd, const void* buf, size_t len, uint64_t off) {
    const auto* p = static_cast<const uint8_t*>(buf);
    while (len > 0) {
        const ssize_t n = pwrite(fd, p, len, off_t(off));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        p += n;
        len -= size_t(n);
        off += uint64_t(n);
    }
    return true;
}

}  // namespace

Result<DiskLayout> validate_disk_table(const gmm_disk_table& t, uint64_t image_bytes) {
    if (t.magic != GMM_DISK_MAGIC)
        return Err{bad("bad magic " + hex(t.magic) + " in the file table (expected " + hex(GMM_DISK_MAGIC) + ")",
                       "create images with `gmm disk create`")};
    if (t.version != GMM_DISK_VERSION)
        return Err{bad("file table version " + std::to_string(t.version) + " is not supported (accepted: " +
                       std::to_string(GMM_DISK_VERSION) + ")")};
    if (t.file_count > GMM_DISK_MAX_FILES)
        return Err{bad("file count " + std::to_string(t.file_count) + " exceeds the limit of " +
                       std::to_string(GMM_DISK_MAX_FILES))};
    DiskLayout layout;
    layout.image_bytes = image_bytes;
    std::set<std::string> names;
    for (uint32_t i = 0; i < t.file_count; ++i) {
        const gmm_disk_file_entry& e = t.files[i];
        const std::string name = table_entry_name(e);
        const std::string who = "file " + std::to_string(i) + " \"" + printable(name) + "\"";
        if (name.empty() || name.size() >= GMM_DISK_NAME_BYTES)
            return Err{bad("file " + std::to_string(i) + " has a bad name length " + std::to_string(name.size()) +
                           " (accepted: 1.." + std::to_string(GMM_DISK_NAME_BYTES - 1) + " characters, NUL-terminated)")};
        for (char c : name)
            if (!gmm_disk_name_char_ok(c))
                return Err{bad(who + " has a bad name character (accepted: [A-Za-z0-9_.-])")};
        for (size_t k = name.size(); k < GMM_DISK_NAME_BYTES; ++k)
            if (e.name[k] != '\0') return Err{bad(who + ": name is not NUL-padded")};
        if (!names.insert(name).second) return Err{bad(who + ": duplicate name")};
        if (e.offset_bytes % GMM_DISK_PAGE_BYTES != 0 || e.offset_bytes < GMM_DISK_TABLE_BYTES)
            return Err{bad(who + ": offset " + std::to_string(e.offset_bytes) +
                           " is not a multiple of 4096 after the 4096-byte table")};
        if (e.size_bytes == 0 || e.size_bytes % GMM_DISK_PAGE_BYTES != 0)
            return Err{bad(who + ": size " + std::to_string(e.size_bytes) + " is not a non-zero multiple of 4096")};
        uint64_t end = 0;
        if (__builtin_add_overflow(e.offset_bytes, e.size_bytes, &end) || end > image_bytes)
            return Err{bad(who + ": bytes [" + std::to_string(e.offset_bytes) + ", +" + std::to_string(e.size_bytes) +
                           ") lie outside the " + std::to_string(image_bytes) + "-byte image")};
        for (uint32_t j = 0; j < i; ++j) {
            const DiskFile& o = layout.files[j];
            if (e.offset_bytes < o.offset_bytes + o.size_bytes && o.offset_bytes < end)
                return Err{bad(who + " overlaps file " + std::to_string(j) + " \"" + o.name + "\"")};
        }
        layout.files.push_back(DiskFile{name, e.offset_bytes, e.size_bytes});
    }
    return layout;
}

Result<OpenDisk> open_disk_image(const std::string& path) {
    const std::string who = "--disk " + path;
    int fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        const int err = errno;
        return Err{Error{who + ": cannot open the image read-write", err, "", ErrorKind::BadInput}};
    }
    auto fail = [&](Error e) {
        close(fd);
        return Err{std::move(e)};
    };
    struct stat st {};
    if (fstat(fd, &st) != 0) return fail(Error{who + ": fstat", errno, "", ErrorKind::BadInput});
    if (!S_ISREG(st.st_mode)) return fail(bad(who + ": not a regular file"));
    const uint64_t size = uint64_t(st.st_size);
    if (size < GMM_DISK_TABLE_BYTES)
        return fail(bad(who + ": image of " + std::to_string(size) + " bytes is too small for its 4096-byte file table"));
    if (size % 512 != 0) return fail(bad(who + ": image size " + std::to_string(size) + " is not a multiple of 512"));
    gmm_disk_table table;
    if (!read_all(fd, &table, sizeof table, 0)) return fail(Error{who + ": cannot read the file table", errno, "", ErrorKind::BadInput});
    auto layout = validate_disk_table(table, size);
    if (!layout) {
        Error e = layout.error();
        e.what = who + ": " + e.what;
        return fail(std::move(e));
    }
    return OpenDisk{fd, std::move(*layout)};
}

Status validate_disk_spec(const DiskSpec& s) {
    if (s.files == 0 || s.files > GMM_DISK_MAX_FILES)
        return Err{bad("file count " + std::to_string(s.files) + " is out of range (accepted: 1.." +
                       std::to_string(GMM_DISK_MAX_FILES) + ")")};
    if (s.file_size_bytes < GMM_DISK_PAGE_BYTES || s.file_size_bytes > kDiskMaxFileBytes ||
        s.file_size_bytes % GMM_DISK_PAGE_BYTES != 0)
        return Err{bad("file size " + std::to_string(s.file_size_bytes) +
                       " bytes is out of range (accepted: a multiple of 4 KiB in 4K..1G)")};
    return Ok{};
}

DiskLayout default_disk_layout(const DiskSpec& s) {
    DiskLayout l;
    uint64_t off = GMM_DISK_TABLE_BYTES;
    for (uint32_t i = 0; i < s.files; ++i) {
        l.files.push_back(DiskFile{"file" + std::to_string(i), off, s.file_size_bytes});
        off += s.file_size_bytes;
    }
    l.image_bytes = off;
    return l;
}

Status write_disk_image(int fd, const DiskSpec& s, const std::string& what) {
    if (Status st = validate_disk_spec(s); !st) return st;
    const DiskLayout l = default_disk_layout(s);
    if (ftruncate(fd, off_t(l.image_bytes)) != 0) return Err{sys_error(what + ": ftruncate", errno)};
    gmm_disk_table t{};
    t.magic = GMM_DISK_MAGIC;
    t.version = GMM_DISK_VERSION;
    t.file_count = s.files;
    for (uint32_t i = 0; i < s.files; ++i) {
        std::strncpy(t.files[i].name, l.files[i].name.c_str(), GMM_DISK_NAME_BYTES - 1);
        t.files[i].offset_bytes = l.files[i].offset_bytes;
        t.files[i].size_bytes = l.files[i].size_bytes;
    }
    if (!write_all(fd, &t, sizeof t, 0)) return Err{sys_error(what + ": writing the file table", errno)};
    // 1 MiB at a time: few system calls, bounded memory.
    constexpr uint64_t kChunkPages = 256;
    std::vector<uint64_t> buf(kChunkPages * GMM_DISK_PAGE_BYTES / 8);
    for (uint32_t f = 0; f < s.files; ++f) {
        const uint64_t pages = l.files[f].size_bytes / GMM_DISK_PAGE_BYTES;
        for (uint64_t p0 = 0; p0 < pages; p0 += kChunkPages) {
            const uint64_t n = std::min(kChunkPages, pages - p0);
            for (uint64_t k = 0; k < n; ++k) gmm_disk_fill_page(&buf[k * 512], f, p0 + k);
            if (!write_all(fd, buf.data(), n * GMM_DISK_PAGE_BYTES, l.files[f].offset_bytes + p0 * GMM_DISK_PAGE_BYTES))
                return Err{sys_error(what + ": writing file " + l.files[f].name, errno)};
        }
    }
    return Ok{};
}

Status create_disk_image(const std::string& path, const DiskSpec& s, Overwrite overwrite) {
    if (Status st = validate_disk_spec(s); !st) return st;
    const int flags = O_RDWR | O_CREAT | O_CLOEXEC | (overwrite == Overwrite::Yes ? O_TRUNC : O_EXCL);
    const int fd = open(path.c_str(), flags, 0644);
    if (fd < 0) {
        const int err = errno;
        return Err{Error{"cannot create " + path, err, err == EEXIST ? "it exists; pass --force to overwrite" : "",
                         ErrorKind::BadInput}};
    }
    Status st = write_disk_image(fd, s, path);
    if (st && fsync(fd) != 0) st = Err{sys_error(path + ": fsync", errno)};
    close(fd);
    return st;
}

Result<std::string> create_temp_disk_image(const DiskSpec& s) {
    if (Status st = validate_disk_spec(s); !st) return Err{st.error()};
    const char* dir = std::getenv("TMPDIR");
    std::string tmpl = std::string(dir && *dir ? dir : "/tmp") + "/gmm-disk-XXXXXX";
    std::vector<char> name(tmpl.begin(), tmpl.end());
    name.push_back('\0');
    const int fd = mkostemp(name.data(), O_CLOEXEC);
    if (fd < 0) return Err{sys_error("creating a temporary disk image " + tmpl, errno, "set TMPDIR to a writable directory")};
    const std::string path(name.data());
    Status st = write_disk_image(fd, s, path);
    close(fd);
    if (!st) {
        unlink(path.c_str());
        return Err{st.error()};
    }
    return path;
}

Result<VerifyReport> verify_disk_image(const std::string& path) {
    auto d = open_disk_image(path);
    if (!d) return Err{d.error()};
    VerifyReport r;
    r.layout = d->layout;
    std::vector<uint64_t> want(512), got(512);
    for (uint32_t f = 0; f < r.layout.files.size(); ++f) {
        const DiskFile& file = r.layout.files[f];
        for (uint64_t p = 0; p < file.size_bytes / GMM_DISK_PAGE_BYTES; ++p) {
            if (!read_all(d->fd, got.data(), GMM_DISK_PAGE_BYTES, file.offset_bytes + p * GMM_DISK_PAGE_BYTES)) {
                close(d->fd);
                return Err{sys_error(path + ": reading page " + std::to_string(p) + " of " + file.name, errno)};
            }
            ++r.pages_checked;
            gmm_disk_fill_page(want.data(), f, p);
            if (std::memcmp(want.data(), got.data(), GMM_DISK_PAGE_BYTES) == 0) continue;
            PageDiff diff{f, p, 0, 0, gmm_disk_sig_matches(reinterpret_cast<const gmm_disk_page_sig*>(got.data()), f, p) != 0};
            const auto* a = reinterpret_cast<const uint8_t*>(want.data());
            const auto* b = reinterpret_cast<const uint8_t*>(got.data());
            bool first = true;
            for (uint32_t i = 0; i < GMM_DISK_PAGE_BYTES; ++i)
                if (a[i] != b[i]) {
                    if (first) diff.first_diff_byte = i;
                    first = false;
                    ++diff.diff_bytes;
                }
            r.diffs.push_back(diff);
        }
    }
    close(d->fd);
    return r;
}

}  // namespace gmm::vmm
