/*
 * bench_e2e_curl.c: the peer of bench_e2e for bench/bench_e2e.sh: what a C developer would write
 * instead of linking libdpstatus, a plain libcurl-multi HTTP/2 client. One multi handle with
 * CURLPIPE_MULTIPLEX, CURLMOPT_MAX_HOST_CONNECTIONS = CONNS, CURLMOPT_MAX_CONCURRENT_STREAMS =
 * STREAMS, and CONNS x STREAMS easy handles (CURLOPT_PIPEWAIT: wait to multiplex rather than open
 * more connections), each POSTing a SetTaskStatus body with a distinct taskId (the same 55-byte
 * shape as the library's) and re-added as soon as it completes. No signing, no retries, no JSON
 * parsing of the answer: only the HTTP status is checked, so this is a generous baseline.
 *
 *   bench_e2e_curl URL [-n N] [-c CONNS] [-m STREAMS] [--ca-bundle FILE] [--max-seconds S]
 *
 * https:// negotiates h2 by ALPN (CURL_HTTP_VERSION_2TLS); http:// uses h2c with prior knowledge.
 * A warm-up of 1,000 requests opens the connections first; then N requests are timed. Output:
 * key=value lines on stdout. Exit 0 when all N were answered 200 within the time bound.
 */
#include <curl/curl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WARMUP 1000

typedef struct req {
  CURL *easy;
  char body[64];
  size_t body_len;
} req;

typedef struct run {
  CURLM *multi;
  size_t issued, done, ok, errors, not_h2, connects;
  char first_error[256];
} run;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static size_t sink(char *p, size_t size, size_t n, void *ud) {
  (void)p, (void)ud;
  return size * n;
}

static void arm(run *ru, req *q, size_t index) {
  int len =
      snprintf(q->body, sizeof q->body,
               "{\"taskId\":\"bench-task-%07zu\",\"taskStatus\":\"FINISHED\"}", index % 10000000);
  q->body_len = (size_t)len;
  curl_easy_setopt(q->easy, CURLOPT_POSTFIELDS, q->body);
  curl_easy_setopt(q->easy, CURLOPT_POSTFIELDSIZE, (long)q->body_len);
  curl_multi_add_handle(ru->multi, q->easy);
  ru->issued++;
}

/* Runs until @p target requests completed (or @p deadline_ns); keeps every handle busy. */
static void drive(run *ru, size_t target, size_t first_index, uint64_t deadline_ns) {
  int running = 0;
  while (ru->done < target && now_ns() < deadline_ns) {
    curl_multi_perform(ru->multi, &running);
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(ru->multi, &left))) {
      if (m->msg != CURLMSG_DONE) continue;
      CURL *e = m->easy_handle;
      req *q;
      curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&q);
      long code = 0, version = 0, connects = 0;
      curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
      curl_easy_getinfo(e, CURLINFO_HTTP_VERSION, &version);
      curl_easy_getinfo(e, CURLINFO_NUM_CONNECTS, &connects);
      ru->connects += (size_t)connects;
      ru->done++;
      if (m->data.result == CURLE_OK && code == 200) {
        ru->ok++;
        if (version != CURL_HTTP_VERSION_2_0) ru->not_h2++;
      } else {
        ru->errors++;
        if (!ru->first_error[0])
          snprintf(ru->first_error, sizeof ru->first_error, "%s (HTTP %ld)",
                   curl_easy_strerror(m->data.result), code);
      }
      curl_multi_remove_handle(ru->multi, e);
      if (ru->issued < target) arm(ru, q, first_index + ru->issued);
    }
    if (ru->done < target) curl_multi_poll(ru->multi, NULL, 0, 100, NULL);
  }
}

static int usage(void) {
  fprintf(stderr,
          "usage: bench_e2e_curl URL [-n N] [-c CONNS] [-m STREAMS] [--ca-bundle FILE] "
          "[--max-seconds S]\n");
  return 2;
}

int main(int argc, char **argv) {
  const char *url = NULL, *ca = NULL;
  size_t n = 200000;
  long conns = 2, streams = 100;
  double max_s = 60;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "-n") == 0 && v)
      n = strtoul(v, NULL, 10), i++;
    else if (strcmp(a, "-c") == 0 && v)
      conns = strtol(v, NULL, 10), i++;
    else if (strcmp(a, "-m") == 0 && v)
      streams = strtol(v, NULL, 10), i++;
    else if (strcmp(a, "--ca-bundle") == 0 && v)
      ca = v, i++;
    else if (strcmp(a, "--max-seconds") == 0 && v)
      max_s = strtod(v, NULL), i++;
    else if (a[0] != '-' && !url)
      url = a;
    else
      return usage();
  }
  if (!url || n == 0 || conns < 1 || streams < 1 || max_s <= 0) return usage();
  int tls = strncmp(url, "https://", 8) == 0;
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) return 1;

  run ru = {0};
  ru.multi = curl_multi_init();
  curl_multi_setopt(ru.multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
  curl_multi_setopt(ru.multi, CURLMOPT_MAX_HOST_CONNECTIONS, conns);
  curl_multi_setopt(ru.multi, CURLMOPT_MAX_CONCURRENT_STREAMS, streams);
  struct curl_slist *hdrs = NULL;
  hdrs = curl_slist_append(hdrs, "Content-Type: application/x-amz-json-1.1");
  hdrs = curl_slist_append(hdrs, "X-Amz-Target: DataPipeline.SetTaskStatus");
  hdrs = curl_slist_append(hdrs, "Expect:");

  size_t nreq = (size_t)(conns * streams);
  req *qs = calloc(nreq, sizeof *qs);
  for (size_t i = 0; i < nreq; i++) {
    CURL *e = qs[i].easy = curl_easy_init();
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(
        e, CURLOPT_HTTP_VERSION,
        tls ? (long)CURL_HTTP_VERSION_2TLS : (long)CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
    curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(e, CURLOPT_PRIVATE, &qs[i]);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 10000L);
    if (ca) curl_easy_setopt(e, CURLOPT_CAINFO, ca);
  }

  uint64_t bound = now_ns() + (uint64_t)(max_s * 1e9);
  /* Warm-up: connections open, TLS handshakes done. */
  size_t w = WARMUP < nreq ? nreq : WARMUP;
  for (size_t i = 0; i < nreq && i < w; i++) arm(&ru, &qs[i], 9000000 + i);
  drive(&ru, w, 9000000, bound);
  int warm_ok = ru.ok == w;
  size_t warm_errors = ru.errors, warm_connects = ru.connects;
  char warm_error[256];
  snprintf(warm_error, sizeof warm_error, "%s", ru.first_error);

  ru.issued = ru.done = ru.ok = ru.errors = ru.not_h2 = ru.connects = 0;
  ru.first_error[0] = '\0';
  uint64_t t0 = now_ns();
  if (warm_ok) {
    for (size_t i = 0; i < nreq && i < n; i++) arm(&ru, &qs[i], i);
    drive(&ru, n, 0, bound);
  }
  double secs = (double)(now_ns() - t0) / 1e9;

  printf(
      "requests=%zu\nwarmup_ok=%d\nwarmup_errors=%zu\nok=%zu\nerrors=%zu\nnot_h2=%zu\n"
      "connects=%zu\nseconds=%.4f\nrate=%.0f\n",
      n, warm_ok, warm_errors, ru.ok, ru.errors, ru.not_h2, warm_connects + ru.connects, secs,
      secs > 0 ? (double)ru.ok / secs : 0.0);
  if (warm_error[0])
    printf("first_error=%s\n", warm_error);
  else if (ru.first_error[0])
    printf("first_error=%s\n", ru.first_error);

  for (size_t i = 0; i < nreq; i++) {
    curl_multi_remove_handle(ru.multi, qs[i].easy);
    curl_easy_cleanup(qs[i].easy);
  }
  curl_multi_cleanup(ru.multi);
  curl_slist_free_all(hdrs);
  curl_global_cleanup();
  free(qs);
  return warm_ok && ru.ok == n ? 0 : 1;
}
