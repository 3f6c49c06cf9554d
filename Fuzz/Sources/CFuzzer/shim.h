// libFuzzer's driver, for a harness whose `main` is its own (SwiftPM names executables' entry
// points): linked from the compiler's runtime by `-sanitize=fuzzer`.
#include <stddef.h>
#include <stdint.h>
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));
