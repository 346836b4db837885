// Backing objects of file mappings (the core's view of an inode's page cache).
// lookup() never sleeps: it either returns a resident page or reports that I/O
// is needed; the caller of fault() does the I/O (and may sleep) outside every
// page-table lock, then calls AddressSpace::complete_fault().
#pragma once

#include <stdint.h>

namespace gmm::mm {

struct BackingObject;

struct BackingOps {
    // Physical address of resident page `page_index`, or false if it must be read.
    bool (*lookup)(BackingObject* obj, uint64_t page_index, uint64_t* phys);
    // Reference counting: each extent referring to the object holds one, and a
    // fault waiting for I/O holds one (the "pin").
    void (*get)(BackingObject* obj);
    void (*put)(BackingObject* obj);
};

struct BackingObject {
    const BackingOps* ops;
    uint64_t size_pages;  // faults beyond the end are SEGV (SIGBUS in POSIX)
};

inline void object_get(BackingObject* o) {
    if (o) o->ops->get(o);
}
inline void object_put(BackingObject* o) {
    if (o) o->ops->put(o);
}

}  // namespace gmm::mm
