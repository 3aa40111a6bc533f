#include <stddef.h>

// Pointer-sized atomics for Swift (the Synchronization module needs macOS 15): a tensor's plain
// buffer is made on first use, possibly from several threads at once.
static inline void *loupe_atomic_load_pointer(void *const *address) {
    return __atomic_load_n(address, __ATOMIC_ACQUIRE);
}

static inline void loupe_atomic_store_pointer(void **address, void *value) {
    __atomic_store_n(address, value, __ATOMIC_RELEASE);
}
