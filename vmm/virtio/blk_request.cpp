#include "blk_request.h"

#include <cerrno>
#include <climits>
#include <cstring>
#include <sys/uio.h>
#include <unistd.h>

#include "error.h"

namespace gmm::vmm::virtio {

namespace {

// The device-readable or device-writable bytes of a chain as one stream.
struct Stream {
    std::vector<Segment> segs;
    uint64_t bytes = 0;
    void add(const Segment& s) {
        segs.push_back(s);
        bytes += s.len_bytes;
    }
    // iovecs for [off, off + len) of the stream (host pointers through the translator).
    bool iov(GuestMemory& mem, uint64_t off, uint64_t len, std::vector<iovec>& out) const {
        for (const Segment& s : segs) {
            if (len == 0) break;
            if (off >= s.len_bytes) {
                off -= s.len_bytes;
                continue;
            }
            const uint64_t n = std::min<uint64_t>(s.len_bytes - off, len);
            uint8_t* p = mem.translate(Gpa(s.gpa.value() + off), n);
            if (!p) return false;
            out.push_back(iovec{p, n});
            off = 0;
            len -= n;
        }
        return len == 0;
    }
    bool copy_out(GuestMemory& mem, uint64_t off, void* dst, uint64_t len) const {
        std::vector<iovec> v;
        if (!iov(mem, off, len, v)) return false;
        auto* d = static_cast<uint8_t*>(dst);
        for (const iovec& e : v) {
            std::memcpy(d, e.iov_base, e.iov_len);
            d += e.iov_len;
        }
        return true;
    }
    bool copy_in(GuestMemory& mem, uint64_t off, const void* src, uint64_t len) const {
        std::vector<iovec> v;
        if (!iov(mem, off, len, v)) return false;
        const auto* s = static_cast<const uint8_t*>(src);
        for (const iovec& e : v) {
            std::memcpy(e.iov_base, s, e.iov_len);
            s += e.iov_len;
        }
        return true;
    }
};

// Moves all of [file_off, file_off + total) between the image and `iov`;
// a short transfer (EOF: the image shrank underneath) is an error.
bool transfer(int fd, std::vector<iovec> iov, uint64_t file_off, bool write, std::string& problem) {
    size_t first = 0;
    while (first < iov.size()) {
        const int cnt = int(std::min<size_t>(iov.size() - first, IOV_MAX));
        const ssize_t n = write ? pwritev(fd, &iov[first], cnt, off_t(file_off)) : preadv(fd, &iov[first], cnt, off_t(file_off));
        if (n < 0) {
            if (errno == EINTR) continue;
            problem = std::string(write ? "pwritev" : "preadv") + " at byte " + std::to_string(file_off) + ": " +
                      errno_name(errno);
            return false;
        }
        if (n == 0) {
            problem = std::string(write ? "pwritev" : "preadv") + " at byte " + std::to_string(file_off) +
                      ": end of image (was it truncated?)";
            return false;
        }
        file_off += uint64_t(n);
        uint64_t left = uint64_t(n);
        while (left > 0 && first < iov.size()) {
            if (left >= iov[first].iov_len) {
                left -= iov[first].iov_len;
                ++first;
            } else {
                iov[first].iov_base = static_cast<uint8_t*>(iov[first].iov_base) + left;
                iov[first].iov_len -= left;
                left = 0;
            }
        }
    }
    return true;
}

}  // namespace

BlkOutcome process_blk_request(GuestMemory& mem, const Chain& chain, const BlkBackend& disk) {
    BlkOutcome out;
    Stream rd, wr;
    bool order_ok = true;
    for (const Segment& s : chain.segments) {
        if (s.device_writes) wr.add(s);
        else if (wr.bytes > 0) order_ok = false;  // readable after writable: the spec forbids it
        else rd.add(s);
    }
    // Where the status goes: the last writable byte of the valid prefix.
    auto finish = [&](uint8_t status, uint64_t data_written, std::string problem) {
        out.status = status;
        out.problem = std::move(problem);
        if (wr.bytes > 0 && wr.copy_in(mem, wr.bytes - 1, &status, 1)) {
            out.status_written = true;
            out.written_bytes = uint32_t(data_written + 1);
        }
        return out;
    };
    if (chain.error) return finish(VIRTIO_BLK_S_IOERR, 0, std::string("bad descriptor chain: ") + chain_error_name(*chain.error));
    if (!order_ok) return finish(VIRTIO_BLK_S_IOERR, 0, "device-readable descriptor after a device-writable one");
    if (wr.bytes == 0) return finish(VIRTIO_BLK_S_IOERR, 0, "no device-writable status byte");
    virtio_blk_req_hdr hdr;
    if (rd.bytes < sizeof hdr || !rd.copy_out(mem, 0, &hdr, sizeof hdr))
        return finish(VIRTIO_BLK_S_IOERR, 0, "request header shorter than 16 bytes");
    out.type = hdr.type;
    const uint64_t wr_data = wr.bytes - 1;  // writable bytes before the status byte
    const uint64_t rd_data = rd.bytes - sizeof hdr;

    switch (hdr.type) {
        case VIRTIO_BLK_T_IN:
        case VIRTIO_BLK_T_OUT: {
            const bool is_write = hdr.type == VIRTIO_BLK_T_OUT;
            const uint64_t len = is_write ? rd_data : wr_data;
            if (len == 0 || len % VIRTIO_BLK_SECTOR_BYTES != 0)
                return finish(VIRTIO_BLK_S_IOERR, 0, "data length " + std::to_string(len) + " is not a non-zero multiple of 512");
            if (len > GMM_VIRTIO_BLK_SIZE_MAX)
                return finish(VIRTIO_BLK_S_IOERR, 0, "data length " + std::to_string(len) + " exceeds size_max");
            uint64_t off = 0, end = 0;
            if (__builtin_mul_overflow(hdr.sector, uint64_t(VIRTIO_BLK_SECTOR_BYTES), &off) ||
                __builtin_add_overflow(off, len, &end) || end > disk.capacity_bytes)
                return finish(VIRTIO_BLK_S_IOERR, 0, "sector " + std::to_string(hdr.sector) + " + " + std::to_string(len) +
                                                         " bytes is beyond the capacity (" + std::to_string(disk.capacity_bytes) + " bytes)");
            std::vector<iovec> iov;
            const bool mapped = is_write ? rd.iov(mem, sizeof hdr, len, iov) : wr.iov(mem, 0, len, iov);
            if (!mapped) return finish(VIRTIO_BLK_S_IOERR, 0, "data buffer not in guest RAM");
            std::string problem;
            if (!transfer(disk.fd, std::move(iov), off, is_write, problem))
                return finish(VIRTIO_BLK_S_IOERR, 0, "host I/O error: " + problem);
            out.data_bytes = len;
            return finish(VIRTIO_BLK_S_OK, is_write ? 0 : len, {});
        }
        case VIRTIO_BLK_T_FLUSH:
            if (fdatasync(disk.fd) != 0)
                return finish(VIRTIO_BLK_S_IOERR, 0, std::string("host I/O error: fdatasync: ") + errno_name(errno));
            return finish(VIRTIO_BLK_S_OK, 0, {});
        case VIRTIO_BLK_T_GET_ID: {
            const uint64_t n = std::min<uint64_t>(wr_data, VIRTIO_BLK_ID_BYTES);
            if (n == 0) return finish(VIRTIO_BLK_S_IOERR, 0, "GET_ID without a data buffer");
            if (!wr.copy_in(mem, 0, disk.id, n)) return finish(VIRTIO_BLK_S_IOERR, 0, "GET_ID buffer not in guest RAM");
            return finish(VIRTIO_BLK_S_OK, n, {});
        }
        default:
            return finish(VIRTIO_BLK_S_UNSUPP, 0, "unsupported request type " + std::to_string(hdr.type));
    }
}

}  // namespace gmm::vmm::virtio
