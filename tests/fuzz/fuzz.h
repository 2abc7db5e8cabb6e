/* SPDX-License-Identifier: Apache-2.0 */
/* The libFuzzer entry point every fuzz target defines; replay.c calls it on corpus files. */
#ifndef CAP_TESTS_FUZZ_H
#define CAP_TESTS_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
