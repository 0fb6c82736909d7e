#define _GNU_SOURCE
#include <sys/mman.h>
#include "CFuzzSupport.h"

int peerpull_fuzz_memfd(void) {
    return memfd_create("peerpull-fuzz-settings", 0);
}
