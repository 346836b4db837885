/* gmm guest<->host ABI: the layout of a gmm disk image (the file behind the
 * virtio-blk device, docs/virtio-blk.md).
 *
 * The image starts with a 4 KiB file table (struct gmm_disk_table); files are
 * named, non-overlapping, 4 KiB-aligned byte ranges after it. The host tool
 * (`gmm disk create`, or `gmm run` without --disk) writes the table and fills
 * every page with a signature so tests can verify data byte-exactly:
 *   page p of file f = { struct gmm_disk_page_sig (32 bytes),
 *                        then u64 words w = 4..511: gmm_disk_pattern_word(f, p, w) }.
 * Limits: at most GMM_DISK_MAX_FILES files; names 1..31 characters of
 * [A-Za-z0-9_.-], NUL-padded, unique; offsets and sizes multiples of 4096,
 * size >= 4096, offset >= GMM_DISK_TABLE_BYTES, every file inside the image.
 * All integers little-endian. Versioned: any layout change bumps
 * GMM_DISK_VERSION. The functions below are pure and freestanding (host and guest). */
#ifndef GMM_ABI_DISK_H
#define GMM_ABI_DISK_H

#include <stdint.h>

#define GMM_DISK_MAGIC 0x4b534944204d4d47ull /* "GMM DISK" */
#define GMM_DISK_VERSION 1u
#define GMM_DISK_MAX_FILES 64u
#define GMM_DISK_NAME_BYTES 32u /* name + at least one NUL */
#define GMM_DISK_TABLE_BYTES 4096u
#define GMM_DISK_PAGE_BYTES 4096u
#define GMM_DISK_SIG_MAGIC 0x4749535045474150ull /* "PAGESIG" + 'G' */

struct gmm_disk_file_entry {
    char name[GMM_DISK_NAME_BYTES]; /* NUL-padded */
    uint64_t offset_bytes;          /* from the start of the image; 4 KiB aligned */
    uint64_t size_bytes;            /* multiple of 4 KiB, >= 4 KiB */
};

struct gmm_disk_table {
    uint64_t magic;      /* GMM_DISK_MAGIC */
    uint32_t version;    /* GMM_DISK_VERSION */
    uint32_t file_count; /* 0..GMM_DISK_MAX_FILES; entries past it are ignored */
    uint64_t reserved[2];
    struct gmm_disk_file_entry files[GMM_DISK_MAX_FILES];
    uint8_t pad[GMM_DISK_TABLE_BYTES - 32 - GMM_DISK_MAX_FILES * 48];
};

/* The first 32 bytes of every page of a default image. */
struct gmm_disk_page_sig {
    uint64_t magic;      /* GMM_DISK_SIG_MAGIC */
    uint32_t file_index; /* index in the table */
    uint32_t reserved;   /* 0 */
    uint64_t page_index; /* page within the file */
    uint64_t checksum;   /* gmm_disk_sig_checksum(file_index, page_index) */
};

#ifdef __cplusplus
static_assert(sizeof(struct gmm_disk_file_entry) == 48, "gmm_disk_file_entry ABI size");
static_assert(sizeof(struct gmm_disk_table) == GMM_DISK_TABLE_BYTES, "gmm_disk_table ABI size");
static_assert(sizeof(struct gmm_disk_page_sig) == 32, "gmm_disk_page_sig ABI size");
#else
_Static_assert(sizeof(struct gmm_disk_file_entry) == 48, "gmm_disk_file_entry ABI size");
_Static_assert(sizeof(struct gmm_disk_table) == GMM_DISK_TABLE_BYTES, "gmm_disk_table ABI size");
_Static_assert(sizeof(struct gmm_disk_page_sig) == 32, "gmm_disk_page_sig ABI size");
#endif

/* splitmix64's finaliser: a cheap, well-mixed 64-bit hash. */
static inline uint64_t gmm_disk_mix64(uint64_t x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

static inline uint64_t gmm_disk_page_seed(uint32_t file_index, uint64_t page_index) {
    return gmm_disk_mix64(((uint64_t)file_index << 48) ^ page_index ^ 0x9e3779b97f4a7c15ull);
}

/* Checksum of a signature's identifying fields (detects a torn or foreign header). */
static inline uint64_t gmm_disk_sig_checksum(uint32_t file_index, uint64_t page_index) {
    return gmm_disk_mix64(GMM_DISK_SIG_MAGIC ^ gmm_disk_page_seed(file_index, page_index));
}

/* u64 word `word_index` (4..511) of page `page_index` of file `file_index`. */
static inline uint64_t gmm_disk_pattern_word(uint32_t file_index, uint64_t page_index, uint32_t word_index) {
    return gmm_disk_mix64(gmm_disk_page_seed(file_index, page_index) + word_index);
}

static inline void gmm_disk_make_sig(struct gmm_disk_page_sig* sig, uint32_t file_index, uint64_t page_index) {
    sig->magic = GMM_DISK_SIG_MAGIC;
    sig->file_index = file_index;
    sig->reserved = 0;
    sig->page_index = page_index;
    sig->checksum = gmm_disk_sig_checksum(file_index, page_index);
}

/* 1 when `sig` is the signature of page `page_index` of file `file_index`. */
static inline int gmm_disk_sig_matches(const struct gmm_disk_page_sig* sig, uint32_t file_index, uint64_t page_index) {
    return sig->magic == GMM_DISK_SIG_MAGIC && sig->file_index == file_index && sig->reserved == 0 &&
           sig->page_index == page_index && sig->checksum == gmm_disk_sig_checksum(file_index, page_index);
}

/* Fills a whole 4 KiB page (512 u64 words) with its default content. */
static inline void gmm_disk_fill_page(uint64_t* page_words, uint32_t file_index, uint64_t page_index) {
    gmm_disk_make_sig((struct gmm_disk_page_sig*)page_words, file_index, page_index);
    for (uint32_t w = 4; w < GMM_DISK_PAGE_BYTES / 8; ++w)
        page_words[w] = gmm_disk_pattern_word(file_index, page_index, w);
}

/* 1 for a valid file-name character: [A-Za-z0-9_.-]. */
static inline int gmm_disk_name_char_ok(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
           c == '-';
}

#endif
