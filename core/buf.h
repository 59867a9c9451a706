/*
 * buf.h: a growable byte buffer, the one way the core builds strings (JSON bodies, canonical
 * requests, HTTP dumps). Always NUL-terminated after a successful append, so data can be printed.
 * An allocation failure is sticky: later appends do nothing and dps__buf_failed() tells.
 */
#ifndef DPS_CORE_BUF_H
#define DPS_CORE_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct dps__buf {
  char *data; /* NULL until the first append; owned by the buffer */
  size_t len; /* bytes used, excluding the terminating NUL */
  size_t cap; /* bytes allocated */
  bool oom;   /* an allocation failed; the contents are incomplete */
} dps__buf;

#define DPS__BUF_INIT \
  { NULL, 0, 0, false }

void dps__buf_init(dps__buf *b);
void dps__buf_free(dps__buf *b);
/* Forgets the contents, keeps the allocation. */
void dps__buf_reset(dps__buf *b);
/* Makes room for @p extra more bytes (plus the NUL). Returns false when out of memory. */
bool dps__buf_reserve(dps__buf *b, size_t extra);
void dps__buf_append(dps__buf *b, const void *p, size_t n);
void dps__buf_puts(dps__buf *b, const char *s);
void dps__buf_putc(dps__buf *b, char c);
void dps__buf_printf(dps__buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends the lowercase hex of @p n bytes. */
void dps__buf_hex(dps__buf *b, const unsigned char *p, size_t n);
static inline bool dps__buf_failed(const dps__buf *b) { return b->oom; }

/* Writes @p v in decimal at @p out (room for DPS__U64_DECIMAL_MAX bytes), NUL-terminated, and
 * returns the digits' count: what sprintf("%" PRIu64) does, at a tenth of its cost, for strings
 * built once per update (a Content-Length, a load test's task ids). */
#define DPS__U64_DECIMAL_MAX 21
size_t dps__u64_decimal(char *out, uint64_t v);

#endif
