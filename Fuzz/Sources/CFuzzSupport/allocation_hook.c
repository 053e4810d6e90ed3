#include "CFuzzSupport.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

// Provided by the sanitizer runtimes (compiler-rt sanitizer_common). Weak, so that a build
// without a sanitizer still links and simply watches nothing.
extern int __sanitizer_install_malloc_and_free_hooks(
    void (*malloc_hook)(const volatile void *, size_t),
    void (*free_hook)(const volatile void *)) __attribute__((weak));

static atomic_int armed;
static atomic_size_t largest;
static atomic_size_t allowed;

static void on_malloc(const volatile void *ptr, size_t size) {
    (void)ptr;
    if (!atomic_load_explicit(&armed, memory_order_relaxed)) return;
    size_t current = atomic_load_explicit(&largest, memory_order_relaxed);
    while (size > current &&
           !atomic_compare_exchange_weak_explicit(&largest, &current, size,
                                                  memory_order_relaxed, memory_order_relaxed)) {
    }
    size_t limit = atomic_load_explicit(&allowed, memory_order_relaxed);
    if (size > limit) {
        atomic_store(&armed, 0);
        fprintf(stderr,
                "==ProtocolFuzzer== allocation of %zu bytes while decoding; this input allows at most %zu "
                "(\"never an allocation larger than the frame\")\n",
                size, limit);
        abort();
    }
}

static void on_free(const volatile void *ptr) { (void)ptr; }

int sluice_fuzz_install_allocation_hook(void) {
    if (!__sanitizer_install_malloc_and_free_hooks) return 0;
    return __sanitizer_install_malloc_and_free_hooks(on_malloc, on_free);
}

void sluice_fuzz_arm(size_t limit) {
    atomic_store(&largest, 0);
    atomic_store(&allowed, limit);
    atomic_store(&armed, 1);
}

size_t sluice_fuzz_disarm(void) {
    atomic_store(&armed, 0);
    return atomic_load(&largest);
}
