/* buf.c: the growable byte buffer (see buf.h). */
#include "core/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void dps__buf_init(dps__buf *b) { *b = (dps__buf)DPS__BUF_INIT; }

void dps__buf_free(dps__buf *b) {
  free(b->data);
  dps__buf_init(b);
}

void dps__buf_reset(dps__buf *b) {
  b->len = 0;
  b->oom = false;
  if (b->data) b->data[0] = '\0';
}

bool dps__buf_reserve(dps__buf *b, size_t extra) {
  if (b->oom) return false;
  if (extra >= (size_t)-1 - b->len - 1) goto fail;
  size_t need = b->len + extra + 1;
  if (need <= b->cap) return true;
  size_t cap = b->cap ? b->cap : 64;
  while (cap < need) cap = cap > ((size_t)-1) / 2 ? need : cap * 2;
  char *p = realloc(b->data, cap);
  if (!p) goto fail;
  b->data = p;
  b->cap = cap;
  return true;
fail:
  b->oom = true;
  return false;
}

void dps__buf_append(dps__buf *b, const void *p, size_t n) {
  if (!dps__buf_reserve(b, n)) return;
  if (n) memcpy(b->data + b->len, p, n);
  b->len += n;
  b->data[b->len] = '\0';
}

void dps__buf_puts(dps__buf *b, const char *s) { dps__buf_append(b, s, strlen(s)); }

void dps__buf_putc(dps__buf *b, char c) { dps__buf_append(b, &c, 1); }

void dps__buf_printf(dps__buf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char small[256];
  int n = vsnprintf(small, sizeof small, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n < sizeof small) {
    dps__buf_append(b, small, (size_t)n);
    return;
  }
  if (!dps__buf_reserve(b, (size_t)n)) return;
  va_start(ap, fmt);
  vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

size_t dps__u64_decimal(char *out, uint64_t v) {
  char rev[DPS__U64_DECIMAL_MAX - 1]; /* 2^64 - 1 has 20 digits */
  size_t n = 0;
  do rev[n++] = (char)('0' + v % 10);
  while ((v /= 10) != 0);
  for (size_t k = 0; k < n; k++) out[k] = rev[n - 1 - k];
  out[n] = '\0';
  return n;
}

void dps__buf_hex(dps__buf *b, const unsigned char *p, size_t n) {
  static const char digits[] = "0123456789abcdef";
  if (!dps__buf_reserve(b, 2 * n)) return;
  char *o = b->data + b->len;
  for (size_t i = 0; i < n; i++) {
    *o++ = digits[p[i] >> 4];
    *o++ = digits[p[i] & 15];
  }
  b->len += 2 * n;
  b->data[b->len] = '\0';
}
