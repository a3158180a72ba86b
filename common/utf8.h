/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
#ifndef PINGFOLD_UTF8_H
#define PINGFOLD_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Well-formed UTF-8 (no overlongs, surrogates, code points > U+10FFFF) without NUL. */
bool utf8_valid(const void *s, size_t n);

#endif /* PINGFOLD_UTF8_H */
