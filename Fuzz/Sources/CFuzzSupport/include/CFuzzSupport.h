#include <stddef.h>
#include <stdint.h>

/// libFuzzer's driver (compiler-rt `FuzzerInterface.h`): runs the fuzzing loop with
/// `callback`, taking libFuzzer's flags from `argc`/`argv`.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

/// An anonymous in-memory file (`memfd_create`), or -1: the settings target hands its
/// input to the CLI's file reader as `/proc/self/fd/<fd>`, leaving nothing on disk.
int peerpull_fuzz_memfd(void);
