/* SPDX-License-Identifier: MIT */
/* fuzz.h: the entry points libFuzzer calls in a harness (it ships no header
 * for them). Declared here so each harness defines them against a prototype,
 * as -Wmissing-prototypes wants of every external function. */
#ifndef SWAT_FUZZ_H
#define SWAT_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
