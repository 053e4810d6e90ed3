#ifndef SLUICE_CFUZZSUPPORT_H
#define SLUICE_CFUZZSUPPORT_H

#include <stddef.h>

/// Installs a sanitizer malloc hook that watches single allocations while armed. Returns 0
/// when no sanitizer runtime is linked (plain builds): nothing is watched then.
int sluice_fuzz_install_allocation_hook(void);

/// Starts watching: an allocation larger than `limit` bytes prints its size and aborts right
/// there, so that the crash's stack trace shows the allocation site.
void sluice_fuzz_arm(size_t limit);

/// Stops watching; returns the largest single allocation since `sluice_fuzz_arm`.
size_t sluice_fuzz_disarm(void);

#endif
