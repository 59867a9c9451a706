/*
 * utf8.c: the UTF-8 checker behind validation (see utf8.h). Follows the well-formed byte
 * sequences table of Unicode 15, chapter 3 (Table 3-7): each lead byte fixes the range of the
 * second byte, which is how overlong forms, surrogates and values past U+10FFFF are refused
 * without decoding first.
 */
#include "core/utf8.h"

/* Extra bytes of the JSON escape for each byte: control characters become \uXXXX (5 extra) except
 * the five with a short form (1 extra); '"' and '\\' take a backslash (1 extra). Bytes >= 0x80 are
 * UTF-8 and pass through. */
#define E6 5
const uint8_t dps__json_escape_extra[256] = {
    E6, E6, E6, E6, E6, E6, E6, E6, 1,  1,  1,  E6, 1,  1,  E6, E6, /* 0x00: \b \t \n \f \r short */
    E6, E6, E6, E6, E6, E6, E6, E6, E6, E6, E6, E6, E6, E6, E6, E6, /* 0x10 */
    0,  0,  1,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  /* 0x20: '"' */
    0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  /* 0x30 */
    0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  /* 0x40 */
    0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  1,  0,  0,  0,  /* 0x50: '\\' */
};
#undef E6

static bool allowed_by_model(uint32_t cp) {
  if (cp >= 0x20) return cp <= 0xD7FF || (cp >= 0xE000 && cp <= 0xFFFD) || cp >= 0x10000;
  return cp == '\t' || cp == '\n' || cp == '\r';
}

static bool fail(dps__utf8_scan *out, dps__utf8_fault_kind k, size_t at, uint32_t cp) {
  out->fault = k;
  out->fault_byte = at;
  out->fault_cp = cp;
  return false;
}

bool dps__utf8_scan_str(const char *str, size_t n, bool model_pattern, dps__utf8_scan *out) {
  const unsigned char *s = (const unsigned char *)str;
  size_t i = 0, chars = 0, extra = 0;
  *out = (dps__utf8_scan){0};
  while (i < n) {
    if (n - i >= 8 && dps__ascii8_plain(s + i)) {
      chars += 8;
      i += 8;
      continue;
    }
    unsigned c = s[i];
    if (c < 0x80) {
      /* ASCII: the common case for task ids and most messages. */
      if (c < 0x20 && model_pattern && !allowed_by_model(c)) {
        out->chars = chars;
        return fail(out, DPS__UTF8_DISALLOWED, i, c);
      }
      extra += dps__json_escape_extra[c];
      chars++;
      i++;
      continue;
    }
    size_t len;
    unsigned lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    uint32_t cp;
    if (c < 0xC2) {
      out->chars = chars;
      /* 0xC0/0xC1 can only start an overlong two-byte form; 0x80-0xBF start nothing. */
      return fail(out, c >= 0xC0 ? DPS__UTF8_OVERLONG : DPS__UTF8_BAD_BYTE, i, 0);
    } else if (c < 0xE0) {
      len = 2, cp = c & 0x1F;
    } else if (c < 0xF0) {
      len = 3, cp = c & 0x0F;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (c < 0xF5) {
      len = 4, cp = c & 0x07;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    } else {
      out->chars = chars;
      return fail(out, c <= 0xF7 ? DPS__UTF8_TOO_LARGE : DPS__UTF8_BAD_BYTE, i, 0);
    }
    if (n - i < len) {
      out->chars = chars;
      return fail(out, DPS__UTF8_TRUNCATED, i, 0);
    }
    unsigned c1 = s[i + 1];
    if (c1 < lo || c1 > hi) {
      out->chars = chars;
      if (c1 < 0x80 || c1 > 0xBF) return fail(out, DPS__UTF8_TRUNCATED, i, 0);
      /* A continuation byte, but outside the lead byte's range: say which rule it broke. */
      if (c == 0xED) {
        /* len is 3 and n - i >= 3 here, so the third byte is readable. */
        uint32_t sur = 0xD000u | ((c1 & 0x3Fu) << 6) | (s[i + 2] & 0x3Fu);
        return fail(out, DPS__UTF8_SURROGATE, i, sur);
      }
      if (c == 0xF4) return fail(out, DPS__UTF8_TOO_LARGE, i, 0);
      return fail(out, DPS__UTF8_OVERLONG, i, 0);
    }
    cp = (cp << 6) | (c1 & 0x3F);
    for (size_t k = 2; k < len; k++) {
      unsigned ck = s[i + k];
      if ((ck & 0xC0) != 0x80) {
        out->chars = chars;
        return fail(out, DPS__UTF8_TRUNCATED, i, 0);
      }
      cp = (cp << 6) | (ck & 0x3F);
    }
    if (model_pattern && !allowed_by_model(cp)) {
      out->chars = chars;
      return fail(out, DPS__UTF8_DISALLOWED, i, cp);
    }
    chars++;
    i += len;
  }
  out->chars = chars;
  out->escaped_len = n + extra;
  return true;
}

const char *dps__utf8_fault_name(dps__utf8_fault_kind k) {
  switch (k) {
    case DPS__UTF8_OK: return "valid";
    case DPS__UTF8_BAD_BYTE: return "a byte that cannot start a UTF-8 sequence";
    case DPS__UTF8_TRUNCATED: return "a truncated UTF-8 sequence";
    case DPS__UTF8_OVERLONG: return "an overlong UTF-8 encoding";
    case DPS__UTF8_SURROGATE: return "an encoded UTF-16 surrogate";
    case DPS__UTF8_TOO_LARGE: return "a code point beyond U+10FFFF";
    case DPS__UTF8_DISALLOWED: return "a character the model forbids";
  }
  return "?";
}
