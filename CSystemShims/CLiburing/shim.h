#ifndef SLUICE_CLIBURING_SHIM_H
#define SLUICE_CLIBURING_SHIM_H
/* features.h must come before liburing.h: liburing defines _XOPEN_SOURCE/_GNU_SOURCE when unset,
   which changes glibc's fd_set and breaks the Clang module import next to Glibc/Dispatch. */
#include <features.h>
#include <liburing.h>
#endif
