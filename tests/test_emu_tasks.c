/* test_emu_tasks.c: the emulator's task store at load-test scale (a million tasks), its growth,
 * lookups of absent ids, and the worker-group queues. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "emulator/tasks.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void test_million_tasks(void **state) {
  (void)state;
  enum { N = 1000000 };
  dps__emu_tasks t;
  assert_int_equal(dps__emu_tasks_init(&t), DPS_OK);
  char id[64];
  double t0 = now_s();
  for (uint32_t i = 0; i < N; i++) {
    int n = snprintf(id, sizeof id, "task-%08u-d0c5a1e7", i);
    dps__emu_task *e;
    bool created;
    assert_int_equal(dps__emu_tasks_upsert(&t, id, (size_t)n, &e, &created), DPS_OK);
    if (!created) fail_msg("%s already there", id);
    e->count = i + 1;
  }
  double t1 = now_s();
  assert_int_equal(t.n, N);
  assert_true(t.n * 4 <= t.cap * 3); /* the load factor stays under 3/4 */
  for (uint32_t i = 0; i < N; i++) {
    int n = snprintf(id, sizeof id, "task-%08u-d0c5a1e7", i);
    dps__emu_task *e = dps__emu_tasks_find(&t, id, (size_t)n);
    if (!e || e->count != i + 1 || e->id_len != (uint32_t)n || memcmp(e->id, id, (size_t)n))
      fail_msg("%s lost", id);
    bool created = true;
    assert_int_equal(dps__emu_tasks_upsert(&t, id, (size_t)n, &e, &created), DPS_OK);
    assert_false(created);
  }
  /* Absent ids, including prefixes and extensions of present ones. */
  assert_null(dps__emu_tasks_find(&t, "task-00000001-d0c5a1e", 21));
  assert_null(dps__emu_tasks_find(&t, "task-00000001-d0c5a1e7x", 23));
  assert_null(dps__emu_tasks_find(&t, "", 0));
  double t2 = now_s();
  /* Generous bounds (sanitizer builds are slow); a quadratic table would take minutes. */
  if (t1 - t0 > 20 || t2 - t1 > 20) fail_msg("insert %.2fs, lookup %.2fs", t1 - t0, t2 - t1);
  print_message("1M inserts %.3fs, 1M lookups+upserts %.3fs\n", t1 - t0, t2 - t1);
  dps__emu_tasks_free(&t);
}

static void test_binary_ids(void **state) {
  (void)state;
  dps__emu_tasks t;
  assert_int_equal(dps__emu_tasks_init(&t), DPS_OK);
  dps__emu_task *a, *b;
  bool created;
  /* Ids are byte strings: an embedded NUL is part of the key. */
  assert_int_equal(dps__emu_tasks_upsert(&t, "a\0b", 3, &a, &created), DPS_OK);
  assert_true(created);
  assert_int_equal(dps__emu_tasks_upsert(&t, "a\0c", 3, &b, &created), DPS_OK);
  assert_true(created);
  assert_int_equal(t.n, 2);
  assert_null(dps__emu_tasks_find(&t, "a", 1));
  dps__emu_tasks_free(&t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_million_tasks),
      cmocka_unit_test(test_binary_ids),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
