/*
 * utf8.h: one pass over a field of an update that checks its UTF-8, counts its code points and
 * measures its JSON-escaped size, so validation and body sizing never walk a string twice.
 */
#ifndef DPS_CORE_UTF8_H
#define DPS_CORE_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Why a scan stopped. */
typedef enum dps__utf8_fault_kind {
  DPS__UTF8_OK = 0,
  DPS__UTF8_BAD_BYTE,  /* a byte that starts no sequence (0x80-0xC1, 0xF5-0xFF) */
  DPS__UTF8_TRUNCATED, /* a sequence cut short by the end or by a non-continuation byte */
  DPS__UTF8_OVERLONG,  /* a code point encoded in more bytes than it needs */
  DPS__UTF8_SURROGATE, /* U+D800-U+DFFF encoded directly (CESU-8 / WTF-8) */
  DPS__UTF8_TOO_LARGE, /* beyond U+10FFFF */
  DPS__UTF8_DISALLOWED /* a valid scalar value the model's pattern forbids */
} dps__utf8_fault_kind;

typedef struct dps__utf8_scan {
  size_t chars;       /* code points (up to the fault, when there is one) */
  size_t escaped_len; /* bytes the string takes inside a JSON string literal, quotes excluded */
  /* Filled on a fault: */
  dps__utf8_fault_kind fault;
  size_t fault_byte; /* offset of the first byte of the offending sequence */
  uint32_t fault_cp; /* the code point, for SURROGATE, TOO_LARGE and DISALLOWED */
} dps__utf8_scan;

/*
 * Scans @p n bytes at @p s. With @p model_pattern, code points outside the service model's
 * pattern (tab, CR, LF, U+0020-U+D7FF, U+E000-U+FFFD, U+10000-U+10FFFF) are faults too; without
 * it, any Unicode scalar value is accepted. Stops at the first fault. Returns true when clean.
 */
bool dps__utf8_scan_str(const char *s, size_t n, bool model_pattern, dps__utf8_scan *out);

/* A short phrase for a fault kind ("overlong encoding"). */
const char *dps__utf8_fault_name(dps__utf8_fault_kind k);

/* True when the 8 bytes at @p p are all printable ASCII other than '"' and '\\': no escape, no
 * multi-byte sequence, nothing the model forbids. Lets the scanner and the encoder move a word at
 * a time through the plain text that makes up most messages (SWAR, as in simdjson's fallback). */
static inline bool dps__ascii8_plain(const unsigned char *p) {
  uint64_t x;
  __builtin_memcpy(&x, p, 8);
  const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
  /* A byte of y is zero iff the matching byte of x equals the probed value; (y - ones) & ~y
   * sets the high bit of such bytes. For bytes below 0x80, x - 0x20*ones & ~x flags those < 0x20.
   */
  uint64_t q = x ^ (ones * '"'), b = x ^ (ones * '\\');
  uint64_t bad = (x | ((x - ones * 0x20) & ~x) | ((q - ones) & ~q) | ((b - ones) & ~b)) & high;
  return bad == 0;
}

/* Bytes a JSON escape adds for byte @p c (0 for bytes copied as they are). Shared with json.c
 * so that measuring and writing can never disagree. */
extern const uint8_t dps__json_escape_extra[256];

#endif
