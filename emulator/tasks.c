/* tasks.c: the task store, worker-group queues and tasks-file loader (see tasks.h). */
#include "emulator/tasks.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/utf8.h"

struct dps__emu_arena_block {
  dps__emu_arena_block *next;
  size_t used, cap;
  char data[];
};

#define ARENA_BLOCK ((size_t)1 << 20)

const char *dps__emu_tasks_strdup(dps__emu_tasks *t, const char *s, size_t len) {
  dps__emu_arena_block *b = t->arena;
  if (!b || b->cap - b->used < len + 1) {
    size_t cap = len + 1 > ARENA_BLOCK ? len + 1 : ARENA_BLOCK;
    dps__emu_arena_block *nb = malloc(sizeof *nb + cap);
    if (!nb) return NULL;
    nb->next = b;
    nb->used = 0;
    nb->cap = cap;
    t->arena = b = nb;
  }
  char *p = b->data + b->used;
  memcpy(p, s, len);
  p[len] = '\0';
  b->used += len + 1;
  return p;
}

/* A word-at-a-time multiply-xorshift hash: task ids are tens of bytes and this is on the hot
 * path of every SetTaskStatus; quality only needs to spread the slots. */
static uint64_t hash_bytes(const char *s, size_t n) {
  uint64_t h = 0x9E3779B97F4A7C15ULL ^ (n * 0xff51afd7ed558ccdULL);
  while (n >= 8) {
    uint64_t w;
    memcpy(&w, s, 8);
    h = (h ^ w) * 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 29;
    s += 8;
    n -= 8;
  }
  uint64_t w = 0;
  memcpy(&w, s, n);
  h = (h ^ w) * 0x94d049bb133111ebULL;
  h ^= h >> 32;
  h *= 0xbf58476d1ce4e5b9ULL;
  return h ^ (h >> 29);
}

int dps__emu_tasks_init(dps__emu_tasks *t) {
  memset(t, 0, sizeof *t);
  t->cap = 1024;
  t->slots = calloc(t->cap, sizeof *t->slots);
  t->groups = calloc(1, sizeof *t->groups);
  if (!t->slots || !t->groups) {
    dps__emu_tasks_free(t);
    return DPS_ENOMEM;
  }
  t->n_groups = 1;
  return DPS_OK;
}

void dps__emu_tasks_free(dps__emu_tasks *t) {
  if (!t) return;
  free(t->slots);
  free(t->entries);
  for (size_t i = 0; i < t->n_groups; i++) {
    free(t->groups[i].name);
    free(t->groups[i].queue);
  }
  free(t->groups);
  for (dps__emu_arena_block *b = t->arena, *next; b; b = next) {
    next = b->next;
    free(b);
  }
  memset(t, 0, sizeof *t);
}

/*
 * Slots are 64-bit: the upper half of the key's hash (the tag) over the entry index + 1 (0: an
 * empty slot). The home slot is taken from the tag too, so growing never looks at an entry (each
 * a cache miss when millions of tasks were reported). Linear probing only needs lookups and
 * growth to agree on the home slot; past 2^32 slots (billions of tasks) the home slots would
 * cluster in the lower 2^32, slower but still correct.
 */
static size_t home(uint64_t tag_bits, size_t mask) { return (size_t)(tag_bits >> 32) & mask; }

/* The slot holding @p id, or the empty slot where it would go. */
static size_t probe(const dps__emu_tasks *t, const char *id, size_t len, uint64_t h) {
  uint64_t tag = h >> 32 << 32, mask = t->cap - 1;
  for (size_t i = home(tag, mask);; i = (i + 1) & mask) {
    uint64_t s = t->slots[i];
    if (s == 0) return i;
    if ((s & 0xFFFFFFFF00000000ULL) == tag) {
      const dps__emu_task *e = &t->entries[(s & 0xFFFFFFFFu) - 1];
      if (e->id_len == len && memcmp(e->id, id, len) == 0) return i;
    }
  }
}

void dps__emu_tasks_prefetch(const dps__emu_tasks *t, const char *id, size_t len) {
  uint64_t h = hash_bytes(id, len);
  __builtin_prefetch(&t->slots[home(h >> 32 << 32, t->cap - 1)]);
}

dps__emu_task *dps__emu_tasks_find(dps__emu_tasks *t, const char *id, size_t len) {
  uint64_t s = t->slots[probe(t, id, len, hash_bytes(id, len))];
  return s ? &t->entries[(s & 0xFFFFFFFFu) - 1] : NULL;
}

static int grow_slots(dps__emu_tasks *t) {
  size_t cap = t->cap * 2;
  uint64_t *slots = calloc(cap, sizeof *slots);
  if (!slots) return DPS_ENOMEM;
  for (size_t i = 0; i < t->cap; i++) {
    uint64_t s = t->slots[i];
    if (!s) continue;
    size_t j = home(s, cap - 1);
    while (slots[j]) j = (j + 1) & (cap - 1);
    slots[j] = s;
  }
  free(t->slots);
  t->slots = slots;
  t->cap = cap;
  return DPS_OK;
}

int dps__emu_tasks_upsert(dps__emu_tasks *t, const char *id, size_t len, dps__emu_task **out,
                          bool *created) {
  uint64_t h = hash_bytes(id, len);
  size_t i = probe(t, id, len, h);
  if (t->slots[i]) {
    *out = &t->entries[(t->slots[i] & 0xFFFFFFFFu) - 1];
    if (created) *created = false;
    return DPS_OK;
  }
  if (t->n >= 0xFFFFFFFEu) return DPS_ENOMEM;
  /* Keep the load under 3/4: linear probing degrades fast beyond. */
  if ((t->n + 1) * 4 > t->cap * 3) {
    if (grow_slots(t) != DPS_OK) return DPS_ENOMEM;
    i = probe(t, id, len, h);
  }
  if (t->n == t->entries_cap) {
    size_t cap = t->entries_cap ? t->entries_cap * 2 : 1024;
    dps__emu_task *e = realloc(t->entries, cap * sizeof *e);
    if (!e) return DPS_ENOMEM;
    t->entries = e;
    t->entries_cap = cap;
  }
  const char *copy = dps__emu_tasks_strdup(t, id, len);
  if (!copy) return DPS_ENOMEM;
  dps__emu_task *e = &t->entries[t->n];
  memset(e, 0, sizeof *e);
  e->id = copy;
  e->id_len = (uint32_t)len;
  t->slots[i] = (h >> 32 << 32) | (uint64_t)(t->n + 1);
  t->n++;
  *out = e;
  if (created) *created = true;
  return DPS_OK;
}

/* The group's index + 1, adding it when absent; 0 on out of memory. */
static uint32_t group_index(dps__emu_tasks *t, const char *name, size_t len, bool add) {
  for (size_t i = 1; i < t->n_groups; i++)
    if (t->groups[i].name_len == len && memcmp(t->groups[i].name, name, len) == 0)
      return (uint32_t)i;
  if (!add) return 0;
  dps__emu_group *g = realloc(t->groups, (t->n_groups + 1) * sizeof *g);
  if (!g) return 0;
  t->groups = g;
  g = &t->groups[t->n_groups];
  memset(g, 0, sizeof *g);
  if (!(g->name = malloc(len + 1))) return 0;
  memcpy(g->name, name, len);
  g->name[len] = '\0';
  g->name_len = len;
  return (uint32_t)t->n_groups++;
}

static int queue_push(dps__emu_group *g, uint32_t idx) {
  if (g->n == g->cap) {
    size_t cap = g->cap ? g->cap * 2 : 256;
    uint32_t *q = realloc(g->queue, cap * sizeof *q);
    if (!q) return DPS_ENOMEM;
    g->queue = q;
    g->cap = cap;
  }
  g->queue[g->n++] = idx;
  return DPS_OK;
}

/* Skips entries handed out, finished or not ACTIVE; returns the head index or UINT32_MAX. */
static uint32_t queue_head(const dps__emu_tasks *t, dps__emu_group *g) {
  while (g->head < g->n) {
    const dps__emu_task *e = &t->entries[g->queue[g->head]];
    if (!e->handed_out && !e->status && e->pipeline == DPS__EMU_PSTATE_ACTIVE)
      return g->queue[g->head];
    g->head++;
  }
  return UINT32_MAX;
}

dps__emu_task *dps__emu_tasks_next_pending(dps__emu_tasks *t, const char *group, size_t len) {
  uint32_t gi = group_index(t, group, len, false);
  uint32_t any = queue_head(t, &t->groups[0]);
  uint32_t own = gi ? queue_head(t, &t->groups[gi]) : UINT32_MAX;
  /* Indices grow in file order, so the smaller head is the earlier line. */
  uint32_t pick = own < any ? own : any;
  if (pick == UINT32_MAX) return NULL;
  dps__emu_task *e = &t->entries[pick];
  e->handed_out = true;
  return e;
}

/* Checks a tasks-file string member against the model: UTF-8, pattern, length. */
static const char *check_member(json_t *o, const char *name, bool required, size_t max, size_t *len,
                                char *why, size_t why_size) {
  json_t *v = json_object_get(o, name);
  if (!v || json_is_null(v)) {
    if (required) snprintf(why, why_size, "\"%s\" is required", name);
    return NULL;
  }
  if (!json_is_string(v)) {
    snprintf(why, why_size, "\"%s\" must be a string", name);
    return NULL;
  }
  const char *s = json_string_value(v);
  *len = json_string_length(v);
  dps__utf8_scan sc;
  if (!dps__utf8_scan_str(s, *len, true, &sc)) {
    snprintf(why, why_size, "\"%s\": %s at byte %zu", name, dps__utf8_fault_name(sc.fault),
             sc.fault_byte);
    return NULL;
  }
  if (sc.chars < 1 || sc.chars > max) {
    snprintf(why, why_size, "\"%s\": %zu characters, must be 1 to %zu", name, sc.chars, max);
    return NULL;
  }
  return s;
}

static int load_line(dps__emu_tasks *t, const char *line, size_t n, char *why, size_t why_size) {
  json_error_t je;
  json_t *o = json_loadb(line, n, JSON_ALLOW_NUL, &je);
  int rc = DPS_ECONFIG;
  if (!o) {
    snprintf(why, why_size, "not JSON: %.100s", je.text);
    return rc;
  }
  if (!json_is_object(o)) {
    snprintf(why, why_size, "expected a JSON object");
    goto done;
  }
  size_t id_len = 0, pid_len = 0, g_len = 0;
  const char *id = check_member(o, "taskId", true, 2048, &id_len, why, why_size);
  if (!id) goto done;
  const char *pid = check_member(o, "pipelineId", true, 1024, &pid_len, why, why_size);
  if (!pid) goto done;
  why[0] = '\0';
  const char *group = check_member(o, "workerGroup", false, 1024, &g_len, why, why_size);
  if (!group && why[0]) goto done;
  uint8_t state = DPS__EMU_PSTATE_ACTIVE;
  json_t *ps = json_object_get(o, "pipelineState");
  if (ps && !json_is_null(ps)) {
    const char *v = json_is_string(ps) ? json_string_value(ps) : "";
    if (strcmp(v, "ACTIVE") == 0)
      state = DPS__EMU_PSTATE_ACTIVE;
    else if (strcmp(v, "DELETED") == 0)
      state = DPS__EMU_PSTATE_DELETED;
    else if (strcmp(v, "MISSING") == 0)
      state = DPS__EMU_PSTATE_MISSING;
    else {
      snprintf(why, why_size, "\"pipelineState\" must be \"ACTIVE\", \"DELETED\" or \"MISSING\"");
      goto done;
    }
  }
  dps__emu_task *e;
  bool created;
  if (dps__emu_tasks_upsert(t, id, id_len, &e, &created) != DPS_OK) goto oom;
  if (!created) {
    snprintf(why, why_size, "taskId \"%.64s\" is listed twice", id);
    goto done;
  }
  e->listed = true;
  e->pipeline = state;
  if (!(e->pipeline_id = dps__emu_tasks_strdup(t, pid, pid_len))) goto oom;
  e->pipeline_id_len = (uint32_t)pid_len;
  uint32_t idx = (uint32_t)(e - t->entries);
  uint32_t gi = 0;
  if (group && !(gi = group_index(t, group, g_len, true))) goto oom;
  e->group = gi;
  if (queue_push(&t->groups[gi], idx) != DPS_OK) goto oom;
  rc = DPS_OK;
  goto done;
oom:
  rc = DPS_ENOMEM;
  snprintf(why, why_size, "out of memory");
done:
  json_decref(o);
  return rc;
}

int dps__emu_tasks_load(dps__emu_tasks *t, const char *path, dps_error *err) {
  FILE *f = fopen(path, "r");
  if (!f)
    return dps__error_set(err, DPS_EIO, "--tasks-file", "--tasks-file: %s: %s", path,
                          strerror(errno));
  char *line = NULL, why[160];
  size_t cap = 0;
  ssize_t n;
  unsigned long lineno = 0;
  int rc = DPS_OK;
  while ((n = getline(&line, &cap, f)) >= 0) {
    lineno++;
    size_t len = (size_t)n;
    while (len && (line[len - 1] == '\n' || line[len - 1] == '\r')) len--;
    size_t k = 0;
    while (k < len && (line[k] == ' ' || line[k] == '\t')) k++;
    if (k == len) continue; /* blank lines are allowed, as in most NDJSON readers */
    if ((rc = load_line(t, line, len, why, sizeof why)) != DPS_OK) {
      dps__error_set(err, rc, "--tasks-file", "--tasks-file: %s:%lu: %s", path, lineno, why);
      break;
    }
  }
  if (rc == DPS_OK && ferror(f))
    rc = dps__error_set(err, DPS_EIO, "--tasks-file", "--tasks-file: %s: read error", path);
  free(line);
  fclose(f);
  return rc;
}
