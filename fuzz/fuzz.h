/*
 * fuzz.h - what every libFuzzer target in fuzz/ shares: the entry point's prototype and
 * PROMISE(), which aborts (a crash libFuzzer reports and saves) when a parser breaks one
 * of the promises its header makes. A target that only called the parser would find
 * memory errors; PROMISE() makes it find wrong answers too.
 */
#ifndef DD_FUZZ_H
#define DD_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PROMISE(cond)                                                                   \
    do {                                                                                \
        if (!(cond)) {                                                                  \
            fprintf(stderr, "%s:%d: broken promise: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                    \
        }                                                                               \
    } while (0)

#endif
