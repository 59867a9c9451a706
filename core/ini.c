/*
 * ini.c: the AWS shared config/credentials file parser (see ini.h for the format as botocore
 * reads it). The files are small, so sections and keys live in plain arrays searched linearly.
 */
#include "core/ini.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/error.h"

typedef struct kv {
  char *key; /* lowercase */
  dps__buf val;
} kv;

typedef struct section {
  char *name;
  kv *kvs;
  size_t n, cap;
} section;

struct dps__ini {
  char *name;
  section *secs;
  size_t n, cap;
  section defaults; /* [DEFAULT]: not listed, but consulted by every lookup */
};

/* configparser strips with str.strip(); the ASCII part of that set is what matters here. */
static bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

/* Overwrites @p n bytes so that secrets do not linger in freed memory. */
static void wipe(void *p, size_t n) {
  volatile unsigned char *v = p;
  while (n--) *v++ = 0;
}

static void section_free(section *s) {
  for (size_t i = 0; i < s->n; i++) {
    if (s->kvs[i].val.data) wipe(s->kvs[i].val.data, s->kvs[i].val.cap);
    dps__buf_free(&s->kvs[i].val);
    free(s->kvs[i].key);
  }
  free(s->kvs);
  free(s->name);
}

void dps__ini_free(dps__ini *ini) {
  if (!ini) return;
  for (size_t i = 0; i < ini->n; i++) section_free(&ini->secs[i]);
  section_free(&ini->defaults);
  free(ini->secs);
  free(ini->name);
  free(ini);
}

static char *dup_range(const char *p, size_t n) {
  char *s = malloc(n + 1);
  if (!s) return NULL;
  memcpy(s, p, n);
  s[n] = '\0';
  return s;
}

static section *find_section(dps__ini *ini, const char *name, size_t n) {
  if (n == 7 && memcmp(name, "DEFAULT", 7) == 0) return &ini->defaults;
  for (size_t i = 0; i < ini->n; i++)
    if (strlen(ini->secs[i].name) == n && memcmp(ini->secs[i].name, name, n) == 0)
      return &ini->secs[i];
  return NULL;
}

static section *add_section(dps__ini *ini, const char *name, size_t n) {
  section *s = find_section(ini, name, n);
  if (s) return s; /* a repeated section continues the first one */
  if (ini->n == ini->cap) {
    size_t cap = ini->cap ? ini->cap * 2 : 8;
    section *p = realloc(ini->secs, cap * sizeof *p);
    if (!p) return NULL;
    ini->secs = p;
    ini->cap = cap;
  }
  s = &ini->secs[ini->n];
  *s = (section){0};
  if (!(s->name = dup_range(name, n))) return NULL;
  ini->n++;
  return s;
}

static kv *find_key(const section *s, const char *key) {
  for (size_t i = 0; i < s->n; i++)
    if (strcmp(s->kvs[i].key, key) == 0) return &s->kvs[i];
  return NULL;
}

/* Sets @p key (already lowercase) to empty, adding it when new; the caller appends the value. */
static kv *reset_key(section *s, const char *key, size_t n) {
  for (size_t i = 0; i < s->n; i++) {
    kv *e = &s->kvs[i];
    if (strlen(e->key) == n && memcmp(e->key, key, n) == 0) {
      if (e->val.data) wipe(e->val.data, e->val.cap);
      dps__buf_reset(&e->val);
      return e;
    }
  }
  if (s->n == s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 8;
    kv *p = realloc(s->kvs, cap * sizeof *p);
    if (!p) return NULL;
    s->kvs = p;
    s->cap = cap;
  }
  kv *e = &s->kvs[s->n];
  dps__buf_init(&e->val);
  if (!(e->key = dup_range(key, n))) return NULL;
  s->n++;
  return e;
}

static int line_error(dps_error *err, const char *name, size_t lineno, const char *what) {
  return dps__error_set(err, DPS_ECONFIG, NULL, "%s line %zu: %s", name, lineno, what);
}

static int oom(dps_error *err, const char *name) {
  return dps__error_set(err, DPS_ENOMEM, NULL, "%s: out of memory while parsing", name);
}

/* Parses one line, already cut from its line end. *cur and *key carry the parser's state across
 * lines, *indent the indentation of the line that opened the current key or section. */
static int parse_line(dps__ini *ini, const char *line, size_t len, size_t lineno, section **cur,
                      kv **key, size_t *indent, dps_error *err) {
  if (memchr(line, '\0', len)) return line_error(err, ini->name, lineno, "contains a NUL byte");
  size_t b = 0, e = len;
  while (b < e && is_space(line[b])) b++;
  while (e > b && is_space(line[e - 1])) e--;
  const char *s = line + b;
  size_t n = e - b;

  if (n > 0 && (s[0] == '#' || s[0] == ';')) return 0; /* comments never end a value */
  if (n == 0) {
    /* configparser keeps blank lines inside a multi-line value; trailing ones are trimmed once
     * the file is read. */
    if (!*key) return 0;
    dps__buf_putc(&(*key)->val, '\n');
    return dps__buf_failed(&(*key)->val) ? oom(err, ini->name) : 0;
  }
  if (*key && b > *indent) {
    dps__buf_putc(&(*key)->val, '\n');
    dps__buf_append(&(*key)->val, s, n);
    return dps__buf_failed(&(*key)->val) ? oom(err, ini->name) : 0;
  }
  *indent = b;
  *key = NULL;

  if (s[0] == '[') {
    const char *close = NULL;
    for (size_t i = n; i-- > 1;)
      if (s[i] == ']') {
        close = s + i;
        break;
      }
    if (!close) return line_error(err, ini->name, lineno, "section header without a closing \"]\"");
    const char *nb = s + 1, *ne = close;
    while (nb < ne && is_space(*nb)) nb++;
    while (ne > nb && is_space(ne[-1])) ne--;
    if (nb == ne) return line_error(err, ini->name, lineno, "empty section name");
    if (!(*cur = add_section(ini, nb, (size_t)(ne - nb)))) return oom(err, ini->name);
    return 0;
  }
  if (!*cur) return line_error(err, ini->name, lineno, "expected a [section] header first");

  size_t d = 0;
  while (d < n && s[d] != '=' && s[d] != ':') d++;
  if (d == n) return line_error(err, ini->name, lineno, "expected \"key = value\"");
  size_t ke = d;
  while (ke > 0 && is_space(s[ke - 1])) ke--;
  if (ke == 0) {
    return dps__error_set(err, DPS_ECONFIG, NULL, "%s line %zu: no key before \"%c\"", ini->name,
                          lineno, s[d]);
  }
  char lower[256];
  if (ke >= sizeof lower) return line_error(err, ini->name, lineno, "key longer than 255 bytes");
  for (size_t i = 0; i < ke; i++) lower[i] = (char)tolower((unsigned char)s[i]);
  size_t v = d + 1;
  while (v < n && is_space(s[v])) v++;
  if (!(*key = reset_key(*cur, lower, ke))) return oom(err, ini->name);
  dps__buf_append(&(*key)->val, s + v, n - v); /* allocates even for "": never NULL */
  return dps__buf_failed(&(*key)->val) ? oom(err, ini->name) : 0;
}

static void trim_values(section *s) {
  for (size_t i = 0; i < s->n; i++) {
    dps__buf *v = &s->kvs[i].val;
    while (v->len > 0 && is_space(v->data[v->len - 1])) v->data[--v->len] = '\0';
  }
}

int dps__ini_parse(const char *data, size_t len, const char *name, dps__ini **out, dps_error *err) {
  *out = NULL;
  dps__ini *ini = calloc(1, sizeof *ini);
  if (!ini || !(ini->name = dup_range(name, strlen(name)))) {
    free(ini);
    return dps__error_set(err, DPS_ENOMEM, NULL, "%s: out of memory while parsing", name);
  }
  section *cur = NULL;
  kv *key = NULL;
  size_t indent = 0, lineno = 0, pos = 0;
  while (pos < len) {
    size_t end = pos;
    while (end < len && data[end] != '\n' && data[end] != '\r') end++;
    int rc = parse_line(ini, data + pos, end - pos, ++lineno, &cur, &key, &indent, err);
    if (rc < 0) {
      dps__ini_free(ini);
      return rc;
    }
    /* Python reads text with universal newlines: "\r\n", "\n" and a lone "\r" each end a line. */
    if (end < len && data[end] == '\r' && end + 1 < len && data[end + 1] == '\n') end++;
    pos = end + 1;
  }
  for (size_t i = 0; i < ini->n; i++) trim_values(&ini->secs[i]);
  trim_values(&ini->defaults);
  *out = ini;
  return 0;
}

int dps__ini_load(const char *path, const char *what, dps__ini **out, dps_error *err) {
  *out = NULL;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT || errno == ENOTDIR) return 0;
    char msg[128];
    if (strerror_r(errno, msg, sizeof msg) != 0) snprintf(msg, sizeof msg, "errno %d", errno);
    return dps__error_set(err, DPS_EIO, NULL, "%s %s: cannot open: %s", what, path, msg);
  }
  dps__buf b = DPS__BUF_INIT;
  int rc = 0;
  for (;;) {
    if (!dps__buf_reserve(&b, 4096)) {
      rc = dps__error_set(err, DPS_ENOMEM, NULL, "%s %s: out of memory", what, path);
      break;
    }
    ssize_t got = read(fd, b.data + b.len, b.cap - b.len - 1);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      char msg[128];
      if (strerror_r(errno, msg, sizeof msg) != 0) snprintf(msg, sizeof msg, "errno %d", errno);
      rc = dps__error_set(err, DPS_EIO, NULL, "%s %s: cannot read: %s", what, path, msg);
      break;
    }
    if (got == 0) break;
    b.len += (size_t)got;
    b.data[b.len] = '\0';
    if (b.len > DPS__INI_MAX_BYTES) {
      rc = dps__error_set(err, DPS_EIO, NULL, "%s %s: larger than %zu bytes", what, path,
                          DPS__INI_MAX_BYTES);
      break;
    }
  }
  close(fd);
  if (rc == 0) {
    dps__buf label = DPS__BUF_INIT;
    dps__buf_printf(&label, "%s %s", what, path);
    if (dps__buf_failed(&label))
      rc = dps__error_set(err, DPS_ENOMEM, NULL, "%s %s: out of memory", what, path);
    else
      rc = dps__ini_parse(b.data ? b.data : "", b.len, label.data, out, err);
    dps__buf_free(&label);
  }
  if (b.data) wipe(b.data, b.cap);
  dps__buf_free(&b);
  return rc;
}

const char *dps__ini_name(const dps__ini *ini) { return ini->name; }

size_t dps__ini_section_count(const dps__ini *ini) { return ini->n; }

const char *dps__ini_section_name(const dps__ini *ini, size_t i) {
  return i < ini->n ? ini->secs[i].name : NULL;
}

/* Lookups take the key in any case, as configparser folds it on the way in and out. */
static const char *get_in(const section *s, const section *defaults, const char *key) {
  char lower[256];
  size_t n = strlen(key);
  if (n >= sizeof lower) return NULL;
  for (size_t i = 0; i <= n; i++) lower[i] = (char)tolower((unsigned char)key[i]);
  const kv *e = find_key(s, lower);
  if (!e && defaults) e = find_key(defaults, lower);
  return e ? (e->val.data ? e->val.data : "") : NULL;
}

const char *dps__ini_section_get(const dps__ini *ini, size_t i, const char *key) {
  return i < ini->n ? get_in(&ini->secs[i], &ini->defaults, key) : NULL;
}

long dps__ini_find(const dps__ini *ini, const char *name) {
  for (size_t i = 0; i < ini->n; i++)
    if (strcmp(ini->secs[i].name, name) == 0) return (long)i;
  return -1;
}

const char *dps__ini_get(const dps__ini *ini, const char *name, const char *key) {
  long i = dps__ini_find(ini, name);
  return i < 0 ? NULL : dps__ini_section_get(ini, (size_t)i, key);
}

int dps__ini_get_nested(const dps__ini *ini, const char *name, const char *key, const char *subkey,
                        char *out, size_t outsz, dps_error *err) {
  const char *v = dps__ini_get(ini, name, key);
  /* botocore treats a value as a sub-section only when it starts on the line after "key =". */
  if (!v || v[0] != '\n') return 0;
  int found = 0;
  for (const char *p = v + 1; *p;) {
    const char *eol = strchr(p, '\n');
    if (!eol) eol = p + strlen(p);
    const char *b = p, *e = eol;
    while (b < e && is_space(*b)) b++;
    while (e > b && is_space(e[-1])) e--;
    p = *eol ? eol + 1 : eol;
    if (b == e) continue;
    const char *eq = memchr(b, '=', (size_t)(e - b));
    if (!eq) {
      return dps__error_set(err, DPS_ECONFIG, NULL, "%s [%s] %s: sub-section line without \"=\"",
                            ini->name, name, key);
    }
    const char *ke = eq;
    while (ke > b && is_space(ke[-1])) ke--;
    const char *vb = eq + 1;
    while (vb < e && is_space(*vb)) vb++;
    /* Sub-section keys are not case-folded by botocore; later lines win as in a dict. */
    if ((size_t)(ke - b) != strlen(subkey) || memcmp(b, subkey, (size_t)(ke - b)) != 0) continue;
    size_t vn = (size_t)(e - vb);
    if (vn >= outsz) {
      return dps__error_set(err, DPS_ECONFIG, NULL, "%s [%s] %s: %s longer than %zu bytes",
                            ini->name, name, key, subkey, outsz - 1);
    }
    memcpy(out, vb, vn);
    out[vn] = '\0';
    found = 1;
  }
  return found;
}
