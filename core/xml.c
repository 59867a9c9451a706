/* xml.c: a strict, non-expanding XML 1.0 reader (see xml.h): recursive descent over the bytes. */
#include "core/xml.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/utf8.h"

typedef struct parser {
  const char *s;
  size_t len, i;
  const char *const *path;
  size_t n;
  struct {
    const char *name; /* the qualified name, for the end tag */
    size_t len;
    bool on_path; /* this element and all above it match path */
  } stack[DPS__XML_MAX_DEPTH];
  size_t depth;
  bool capturing, found, too_long;
  char *out;
  size_t out_size, out_n;
  char *why;
  size_t why_len;
} parser;

static int fail(parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(parser *p, const char *fmt, ...) {
  if (p->why && p->why_len) {
    char m[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m, sizeof m, fmt, ap);
    va_end(ap);
    snprintf(p->why, p->why_len, "%s at byte %zu", m, p->i);
  }
  return -1;
}

static bool at(const parser *p, const char *lit) {
  size_t n = strlen(lit);
  return p->len - p->i >= n && memcmp(p->s + p->i, lit, n) == 0;
}

static bool blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

static void skip_blanks(parser *p) {
  while (p->i < p->len && blank(p->s[p->i])) p->i++;
}

static bool name_start(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' || c == ':' || c >= 0x80;
}
static bool name_char(unsigned char c) {
  return name_start(c) || (c >= '0' && c <= '9') || c == '-' || c == '.';
}

static int name(parser *p, const char **start, size_t *n) {
  if (p->i >= p->len || !name_start((unsigned char)p->s[p->i])) return fail(p, "expected a name");
  *start = p->s + p->i;
  while (p->i < p->len && name_char((unsigned char)p->s[p->i])) p->i++;
  *n = (size_t)(p->s + p->i - *start);
  return 0;
}

/* The local part of a qualified name: after the last ':'. */
static void local(const char *q, size_t n, const char **l, size_t *ln) {
  const char *c = memchr(q, ':', n), *last = NULL;
  while (c) {
    last = c;
    c = memchr(c + 1, ':', n - (size_t)(c + 1 - q));
  }
  *l = last ? last + 1 : q;
  *ln = n - (size_t)(*l - q);
}

static void emit(parser *p, const char *b, size_t n) {
  if (!p->capturing) return;
  if (p->out_n + n < p->out_size)
    memcpy(p->out + p->out_n, b, n);
  else
    p->too_long = true;
  p->out_n += n;
}

/* An XML Char (the Char production), as a scalar value. */
static bool xml_char(uint32_t c) {
  return c == 0x9 || c == 0xA || c == 0xD || (c >= 0x20 && c <= 0xD7FF) ||
         (c >= 0xE000 && c <= 0xFFFD) || (c >= 0x10000 && c <= 0x10FFFF);
}

/* At '&': a predefined entity or a character reference, decoded and emitted. */
static int reference(parser *p) {
  size_t start = p->i++;
  static const struct {
    const char *name;
    char c;
  } predefined[] = {{"lt;", '<'}, {"gt;", '>'}, {"amp;", '&'}, {"quot;", '"'}, {"apos;", '\''}};
  for (size_t k = 0; k < sizeof predefined / sizeof predefined[0]; k++)
    if (at(p, predefined[k].name)) {
      p->i += strlen(predefined[k].name);
      emit(p, &predefined[k].c, 1);
      return 0;
    }
  if (!at(p, "#")) {
    p->i = start;
    return fail(p, "an entity other than lt, gt, amp, quot, apos (none is ever expanded)");
  }
  p->i++;
  bool hex = p->i < p->len && p->s[p->i] == 'x';
  p->i += hex;
  uint32_t c = 0;
  size_t digits = 0;
  for (; p->i < p->len && p->s[p->i] != ';'; p->i++, digits++) {
    char d = p->s[p->i];
    unsigned v = d >= '0' && d <= '9'          ? (unsigned)(d - '0')
                 : hex && d >= 'a' && d <= 'f' ? (unsigned)(d - 'a' + 10)
                 : hex && d >= 'A' && d <= 'F' ? (unsigned)(d - 'A' + 10)
                                               : 99;
    if (v == 99 || digits >= 8) {
      p->i = start;
      return fail(p, "a malformed character reference");
    }
    c = c * (hex ? 16 : 10) + v;
  }
  if (p->i >= p->len || digits == 0 || !xml_char(c)) {
    p->i = start;
    return fail(p, "a character reference to U+%04X, which is not an XML character", c);
  }
  p->i++; /* ';' */
  char u[4];
  size_t n;
  if (c < 0x80) {
    u[0] = (char)c, n = 1;
  } else if (c < 0x800) {
    u[0] = (char)(0xC0 | c >> 6), u[1] = (char)(0x80 | (c & 0x3F)), n = 2;
  } else if (c < 0x10000) {
    u[0] = (char)(0xE0 | c >> 12), u[1] = (char)(0x80 | ((c >> 6) & 0x3F));
    u[2] = (char)(0x80 | (c & 0x3F)), n = 3;
  } else {
    u[0] = (char)(0xF0 | c >> 18), u[1] = (char)(0x80 | ((c >> 12) & 0x3F));
    u[2] = (char)(0x80 | ((c >> 6) & 0x3F)), u[3] = (char)(0x80 | (c & 0x3F)), n = 4;
  }
  emit(p, u, n);
  return 0;
}

/* At "<!--": to the end of the comment, which may not hold "--". */
static int comment(parser *p) {
  size_t start = p->i;
  for (p->i += 4; p->i + 1 < p->len; p->i++)
    if (p->s[p->i] == '-' && p->s[p->i + 1] == '-') {
      if (p->i + 2 < p->len && p->s[p->i + 2] == '>') {
        p->i += 3;
        return 0;
      }
      return fail(p, "\"--\" inside a comment");
    }
  p->i = start;
  return fail(p, "an unterminated comment");
}

/* At "<?": a processing instruction; "xml" as its target only where @p decl allows. */
static int pi(parser *p, bool decl) {
  size_t start = p->i;
  p->i += 2;
  const char *t;
  size_t tn;
  if (name(p, &t, &tn)) return -1;
  bool is_xml = tn == 3 && (t[0] | 0x20) == 'x' && (t[1] | 0x20) == 'm' && (t[2] | 0x20) == 'l';
  if (is_xml && !decl) {
    p->i = start;
    return fail(p, "an XML declaration that is not at the start");
  }
  for (; p->i + 1 < p->len; p->i++)
    if (p->s[p->i] == '?' && p->s[p->i + 1] == '>') {
      p->i += 2;
      return 0;
    }
  p->i = start;
  return fail(p, "an unterminated processing instruction");
}

/* Comments, processing instructions and blanks, outside the root. */
static int misc(parser *p) {
  for (;;) {
    skip_blanks(p);
    if (at(p, "<!--")) {
      if (comment(p)) return -1;
    } else if (at(p, "<?")) {
      if (pi(p, false)) return -1;
    } else if (at(p, "<!")) {
      return fail(p, "a DOCTYPE or other declaration (refused: no DTD is read)");
    } else {
      return 0;
    }
  }
}

static int element(parser *p);

/* The content of the element on top of the stack, up to and including its end tag. */
static int content(parser *p) {
  for (;;) {
    if (p->i >= p->len)
      return fail(p, "the document ends inside <%.*s>", (int)p->stack[p->depth - 1].len,
                  p->stack[p->depth - 1].name);
    char c = p->s[p->i];
    if (c == '&') {
      if (reference(p)) return -1;
    } else if (c != '<') {
      size_t start = p->i;
      while (p->i < p->len && p->s[p->i] != '<' && p->s[p->i] != '&') {
        if (p->s[p->i] == '>' && p->i >= start + 2 && p->s[p->i - 1] == ']' &&
            p->s[p->i - 2] == ']')
          return fail(p, "\"]]>\" in character data");
        p->i++;
      }
      emit(p, p->s + start, p->i - start);
    } else if (at(p, "</")) {
      p->i += 2;
      const char *q;
      size_t qn;
      if (name(p, &q, &qn)) return -1;
      skip_blanks(p);
      const char *want = p->stack[p->depth - 1].name;
      size_t wn = p->stack[p->depth - 1].len;
      if (qn != wn || memcmp(q, want, qn) != 0 || p->i >= p->len || p->s[p->i] != '>')
        return fail(p, "mismatched end tag </%.*s>; expected </%.*s>", (int)(qn > 64 ? 64 : qn), q,
                    (int)(wn > 64 ? 64 : wn), want);
      p->i++;
      return 0;
    } else if (at(p, "<!--")) {
      if (comment(p)) return -1;
    } else if (at(p, "<![CDATA[")) {
      size_t start = p->i;
      p->i += 9;
      const char *end = NULL;
      for (size_t k = p->i; k + 2 < p->len; k++)
        if (p->s[k] == ']' && p->s[k + 1] == ']' && p->s[k + 2] == '>') {
          end = p->s + k;
          break;
        }
      if (!end) {
        p->i = start;
        return fail(p, "an unterminated CDATA section");
      }
      emit(p, p->s + p->i, (size_t)(end - (p->s + p->i)));
      p->i = (size_t)(end - p->s) + 3;
    } else if (at(p, "<?")) {
      if (pi(p, false)) return -1;
    } else if (at(p, "<!")) {
      return fail(p, "a declaration inside an element");
    } else {
      if (p->capturing) return fail(p, "the element asked for has child elements");
      if (element(p)) return -1;
    }
  }
}

/* At '<' of a start tag: the element, its attributes, content and end tag. */
static int element(parser *p) {
  if (p->depth == DPS__XML_MAX_DEPTH)
    return fail(p, "elements nested deeper than %d", DPS__XML_MAX_DEPTH);
  p->i++;
  const char *q;
  size_t qn;
  if (name(p, &q, &qn)) return -1;
  /* Attributes: read, checked, unused; each name once. */
  struct {
    const char *n;
    size_t len;
  } seen[16];
  size_t n_seen = 0;
  for (;;) {
    size_t before = p->i;
    skip_blanks(p);
    if (p->i >= p->len) return fail(p, "the document ends inside a start tag");
    if (p->s[p->i] == '>' || at(p, "/>")) break;
    if (p->i == before) return fail(p, "expected a blank before an attribute");
    const char *an;
    size_t anl;
    if (name(p, &an, &anl)) return -1;
    for (size_t k = 0; k < n_seen; k++)
      if (seen[k].len == anl && memcmp(seen[k].n, an, anl) == 0)
        return fail(p, "attribute %.*s given twice", (int)(anl > 64 ? 64 : anl), an);
    if (n_seen == sizeof seen / sizeof seen[0]) return fail(p, "more than 16 attributes");
    seen[n_seen].n = an, seen[n_seen++].len = anl;
    skip_blanks(p);
    if (p->i >= p->len || p->s[p->i] != '=') return fail(p, "expected '=' after an attribute name");
    p->i++;
    skip_blanks(p);
    if (p->i >= p->len || (p->s[p->i] != '"' && p->s[p->i] != '\''))
      return fail(p, "an attribute value must be quoted");
    char quote = p->s[p->i++];
    bool was = p->capturing;
    p->capturing = false; /* attribute values are checked, never emitted */
    while (p->i < p->len && p->s[p->i] != quote) {
      if (p->s[p->i] == '<') {
        p->capturing = was;
        return fail(p, "'<' in an attribute value");
      }
      if (p->s[p->i] == '&') {
        if (reference(p)) {
          p->capturing = was;
          return -1;
        }
      } else {
        p->i++;
      }
    }
    p->capturing = was;
    if (p->i >= p->len) return fail(p, "an unterminated attribute value");
    p->i++;
  }
  bool empty = at(p, "/>");
  p->i += empty ? 2 : 1;
  const char *l;
  size_t ln;
  local(q, qn, &l, &ln);
  bool parent_on = p->depth == 0 || p->stack[p->depth - 1].on_path;
  bool on = parent_on && p->depth < p->n && strlen(p->path[p->depth]) == ln &&
            memcmp(p->path[p->depth], l, ln) == 0;
  bool target = on && p->depth + 1 == p->n && !p->found;
  p->stack[p->depth].name = q;
  p->stack[p->depth].len = qn;
  p->stack[p->depth].on_path = on;
  p->depth++;
  if (target) p->capturing = true;
  int rc = empty ? 0 : content(p);
  if (target) {
    p->capturing = false;
    if (rc == 0) p->found = true;
  }
  p->depth--;
  return rc;
}

int dps__xml_text(const char *xml, size_t len, const char *const *path, size_t n, char *out,
                  size_t out_size, size_t *out_len, char *why, size_t why_len) {
  parser p = {.s = xml ? xml : "",
              .len = xml ? len : 0,
              .path = path,
              .n = n,
              .out = out,
              .out_size = out_size,
              .why = why,
              .why_len = why_len};
  if (why && why_len) why[0] = '\0';
  if (out && out_size) out[0] = '\0';
  if (at(&p, "\xEF\xBB\xBF")) p.i = 3; /* a UTF-8 byte order mark */
  dps__utf8_scan scan;
  if (!dps__utf8_scan_str(p.s + p.i, p.len - p.i, true, &scan)) {
    p.i += scan.fault_byte;
    return fail(&p, "%s (every character must be an XML character in UTF-8)",
                scan.fault == DPS__UTF8_DISALLOWED ? "a character XML does not allow"
                                                   : dps__utf8_fault_name(scan.fault));
  }
  if (at(&p, "<?xml") && p.i + 5 < p.len && blank(p.s[p.i + 5]) && pi(&p, true)) return -1;
  if (misc(&p)) return -1;
  if (p.i >= p.len || p.s[p.i] != '<') return fail(&p, "expected the root element");
  if (element(&p) || misc(&p)) return -1;
  if (p.i != p.len) return fail(&p, "content after the root element");
  if (out_len) *out_len = p.out_n;
  if (!p.found) return DPS__XML_ABSENT;
  if (p.too_long) {
    if (out && out_size) out[0] = '\0';
    return DPS__XML_TOO_LONG;
  }
  if (out && out_size) out[p.out_n] = '\0';
  return 0;
}
