#include <dnnl.h>

// Pointer-sized atomics for Swift (the Synchronization module needs macOS 15): a tensor's plain
// buffer is made on first use, possibly from several threads at once.
static inline void *loupe_atomic_load_pointer(void *const *address) {
    return __atomic_load_n(address, __ATOMIC_ACQUIRE);
}

static inline void loupe_atomic_store_pointer(void **address, void *value) {
    __atomic_store_n(address, value, __ATOMIC_RELEASE);
}

#if defined(__linux__)
// libgomp's entry point for a parallel region (what `#pragma omp parallel` compiles to). Loupe's
// own loops run on the OpenMP threads oneDNN uses, rather than on a second pool of threads that
// would compete with them for the cores (and with OpenMP's spinning idle workers).
void GOMP_parallel(void (*function)(void *), void *data, unsigned threads, unsigned flags);
int omp_get_thread_num(void);
int omp_get_num_threads(void);
#endif
