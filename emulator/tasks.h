/*
 * tasks.h: the emulator's task store. Owns the open-addressing hash table keyed by taskId (sized
 * for millions of tasks: 8-byte slots holding a hash tag and an entry index, entries in one
 * array, strings in an arena), each task's state (pipeline state, first final status, report
 * count, handed out or not), the worker-group queues strict PollForTask draws from, and the
 * --tasks-file loader.
 */
#ifndef DPS_EMULATOR_TASKS_H
#define DPS_EMULATOR_TASKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dpstatus.h"

typedef enum dps__emu_pipeline_state {
  DPS__EMU_PSTATE_ACTIVE = 0,
  DPS__EMU_PSTATE_DELETED,
  DPS__EMU_PSTATE_MISSING
} dps__emu_pipeline_state;

typedef struct dps__emu_task {
  const char *id; /* in the arena, NUL-terminated */
  const char *pipeline_id;
  uint32_t id_len, pipeline_id_len;
  uint32_t count;   /* accepted SetTaskStatus calls so far */
  uint32_t group;   /* worker group index + 1; 0: any group */
  uint8_t status;   /* dps_task_status of the first accepted report, 0: none yet */
  uint8_t pipeline; /* dps__emu_pipeline_state */
  bool listed;      /* from the tasks file or handed out by PollForTask */
  bool handed_out;
} dps__emu_task;

typedef struct dps__emu_group {
  char *name;
  size_t name_len;
  uint32_t *queue; /* entry indices in file order */
  size_t n, cap, head;
} dps__emu_group;

typedef struct dps__emu_arena_block dps__emu_arena_block;

typedef struct dps__emu_tasks {
  uint64_t *slots; /* 0: empty; else (hash >> 32) << 32 | (index + 1) */
  size_t cap;      /* power of two */
  dps__emu_task *entries;
  size_t n, entries_cap;
  size_t finished; /* tasks with a final status */
  dps__emu_arena_block *arena;
  dps__emu_group *groups; /* groups[0] is "any": tasks without a workerGroup */
  size_t n_groups;
} dps__emu_tasks;

int dps__emu_tasks_init(dps__emu_tasks *t);
void dps__emu_tasks_free(dps__emu_tasks *t);

/* Starts loading the cache line where @p id's lookup begins, so that work done between this and
 * the lookup (validating the rest of the request) hides the memory latency: with millions of
 * tasks the table is far larger than the caches, and each new task's lookup a miss. A hint
 * only: nothing changes. */
void dps__emu_tasks_prefetch(const dps__emu_tasks *t, const char *id, size_t len);

/* The task with this id, or NULL. The pointer is valid until the next insert. */
dps__emu_task *dps__emu_tasks_find(dps__emu_tasks *t, const char *id, size_t len);

/* Finds or adds the task (a new one is ACTIVE, unlisted, no pipeline id). *@p created tells
 * which. @return DPS_OK or DPS_ENOMEM. */
int dps__emu_tasks_upsert(dps__emu_tasks *t, const char *id, size_t len, dps__emu_task **out,
                          bool *created);

/* Copies @p s into the arena (NUL-terminated). NULL when out of memory. */
const char *dps__emu_tasks_strdup(dps__emu_tasks *t, const char *s, size_t len);

/* Loads NDJSON lines {"taskId","pipelineId","pipelineState"?,"workerGroup"?} from @p path.
 * @return DPS_OK, DPS_EIO (unreadable), DPS_ECONFIG (a bad line; @p err names file:line). */
int dps__emu_tasks_load(dps__emu_tasks *t, const char *path, dps_error *err);

/* The next ACTIVE task not yet handed out for @p group (tasks of that group and tasks of any
 * group, in file order), marked handed out; NULL when none. */
dps__emu_task *dps__emu_tasks_next_pending(dps__emu_tasks *t, const char *group, size_t len);

#endif
