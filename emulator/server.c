/*
 * server.c: the emulator's network side (see server.h): the listening socket and its address
 * rules (loopback unless told otherwise), the port file, the TLS context and ALPN choice, each
 * connection's life (accept, telling HTTP/2 from HTTP/1.1 by the preface, graceful, lingering and
 * abortive closes), the cached Date header, the graceful drain, and dps__emu_run with its signal
 * handling and exit summary. The protocols themselves live in h1.c and h2.c.
 */
#include "emulator/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/error.h"
#include "emulator/conn.h"

static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
#define PREFACE_LEN (sizeof preface - 1)
#define LINGER_SECONDS 2
#define IDLE_SECONDS 120

/* ------------------------------------------------------------------------------------------ */
/* Date header */

const char *dps__emu_date(dps__emu_server *srv) {
  struct timeval tv;
  event_base_gettimeofday_cached(srv->base, &tv);
  if (tv.tv_sec != srv->date_sec || !srv->date[0]) {
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct tm tm;
    time_t t = tv.tv_sec;
    if (!gmtime_r(&t, &tm)) memset(&tm, 0, sizeof tm);
    /* "Sun, 06 Nov 1994 08:49:37 GMT", digit by digit: no locale, no truncation doubts. */
    char *d = srv->date;
    int year = tm.tm_year + 1900;
    memcpy(d, days[(unsigned)tm.tm_wday % 7], 3);
    d[3] = ',';
    d[4] = ' ';
    d[5] = (char)('0' + tm.tm_mday / 10 % 10);
    d[6] = (char)('0' + tm.tm_mday % 10);
    d[7] = ' ';
    memcpy(d + 8, months[(unsigned)tm.tm_mon % 12], 3);
    d[11] = ' ';
    d[12] = (char)('0' + year / 1000 % 10);
    d[13] = (char)('0' + year / 100 % 10);
    d[14] = (char)('0' + year / 10 % 10);
    d[15] = (char)('0' + year % 10);
    d[16] = ' ';
    d[17] = (char)('0' + tm.tm_hour / 10 % 10);
    d[18] = (char)('0' + tm.tm_hour % 10);
    d[19] = ':';
    d[20] = (char)('0' + tm.tm_min / 10 % 10);
    d[21] = (char)('0' + tm.tm_min % 10);
    d[22] = ':';
    d[23] = (char)('0' + tm.tm_sec / 10 % 10);
    d[24] = (char)('0' + tm.tm_sec % 10);
    memcpy(d + 25, " GMT", 5);
    srv->date_sec = tv.tv_sec;
  }
  return srv->date;
}

const char *dps__emu_zero_body(dps__emu_server *srv) {
  if (!srv->zero_body) srv->zero_body = calloc(1, srv->cfg.max_body_bytes + 1);
  return srv->zero_body;
}

/* ------------------------------------------------------------------------------------------ */
/* Connections */

static void conn_free(dps__emu_conn *c) {
  dps__emu_server *srv = c->srv;
  if (c->proto == DPS__EMU_H1) dps__emu_h1_free(c);
  if (c->proto == DPS__EMU_H2) dps__emu_h2_free(c);
  if (c->bev) bufferevent_free(c->bev);
  if (c->prev)
    c->prev->next = c->next;
  else
    srv->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  srv->n_conns--;
  dps__emu_service_note_connection(srv->svc, -1);
  free(c);
  if (srv->draining && srv->n_conns == 0 && srv->drained) {
    void (*done)(void *) = srv->drained;
    srv->drained = NULL;
    if (srv->drain_timer) event_del(srv->drain_timer);
    done(srv->drained_arg);
  }
}

/* The drop fault: RST instead of FIN, the way a crashed or overloaded peer looks. */
static void conn_abort(dps__emu_conn *c) {
  evutil_socket_t fd = bufferevent_getfd(c->bev);
  struct linger lg = {1, 0};
  if (fd >= 0) setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  conn_free(c);
}

static void linger_read(struct bufferevent *bev, void *arg) {
  struct evbuffer *in = bufferevent_get_input(bev);
  evbuffer_drain(in, evbuffer_get_length(in));
}

static void linger_event(struct bufferevent *bev, short what, void *arg) { conn_free(arg); }

/* Closes after the answer is out. Over plain TCP the write side is shut first and the input
 * drained for a moment: closing with unread input (an unread too-large body) would send a RST
 * that can destroy the answer before the client reads it. */
static void conn_close_gracefully(dps__emu_conn *c) {
  evutil_socket_t fd = bufferevent_getfd(c->bev);
  if (c->tls || fd < 0 || shutdown(fd, SHUT_WR) != 0) {
    conn_free(c);
    return;
  }
  c->lingering = true;
  struct timeval tv = {LINGER_SECONDS, 0};
  bufferevent_setcb(c->bev, linger_read, NULL, linger_event, c);
  bufferevent_set_timeouts(c->bev, &tv, NULL);
  bufferevent_enable(c->bev, EV_READ);
  linger_read(c->bev, c);
}

void dps__emu_conn_settle(dps__emu_conn *c) {
  if (c->lingering) return;
  if (c->close_now) {
    conn_free(c);
    return;
  }
  if (!c->close_on_flush && !c->abort_on_flush) return;
  if (evbuffer_get_length(bufferevent_get_output(c->bev)) > 0) return; /* write_cb comes back */
  if (c->abort_on_flush)
    conn_abort(c);
  else
    conn_close_gracefully(c);
}

void dps__emu_conn_write(dps__emu_conn *c, struct evbuffer *data) {
  struct evbuffer *out = bufferevent_get_output(c->bev);
  /* Through the bufferevent every write costs a loop turn and two epoll_ctl calls (watch for
   * writability, then stop watching): write directly when nothing is queued before. An error
   * leaves the data here; the bufferevent then meets it again and reports it (event_cb). SIGPIPE
   * is ignored (dps__emu_server_start). */
  if (!c->tls && evbuffer_get_length(out) == 0) evbuffer_write(data, bufferevent_getfd(c->bev));
  /* Over TLS, OpenSSL's bufferevent makes a record (and a write(2)) of every chain: one chain,
   * records of up to 16 KiB, instead of one per few frames. */
  if (c->tls) evbuffer_pullup(data, -1);
  if (evbuffer_get_length(data)) evbuffer_add_buffer(out, data);
}

size_t dps__emu_conn_backlog(dps__emu_conn *c) {
  return evbuffer_get_length(bufferevent_get_output(c->bev));
}

void dps__emu_conn_pause_read(dps__emu_conn *c, bool pause) {
  if (pause == c->read_paused) return;
  c->read_paused = pause;
  if (pause)
    bufferevent_disable(c->bev, EV_READ);
  else
    bufferevent_enable(c->bev, EV_READ);
}

bool dps__emu_conn_count_request(dps__emu_conn *c) {
  c->requests++;
  return c->srv->drop_every && c->requests == c->srv->drop_every;
}

/* Picks the protocol: ALPN when TLS negotiated one, else the first bytes (the HTTP/2 preface
 * or anything else, which is HTTP/1.1). Returns false while more bytes are needed. */
static bool choose_protocol(dps__emu_conn *c) {
  if (c->tls) {
    const unsigned char *p = NULL;
    unsigned int len = 0;
    SSL_get0_alpn_selected(bufferevent_openssl_get_ssl(c->bev), &p, &len);
    if (len == 2 && !memcmp(p, "h2", 2)) return dps__emu_h2_start(c) ? (c->close_now = true) : true;
    if (len == 8 && !memcmp(p, "http/1.1", 8))
      return dps__emu_h1_start(c) ? (c->close_now = true) : true;
  }
  struct evbuffer *in = bufferevent_get_input(c->bev);
  unsigned char buf[PREFACE_LEN];
  size_t n = evbuffer_get_length(in);
  if (n > PREFACE_LEN) n = PREFACE_LEN;
  if (evbuffer_copyout(in, buf, n) != (ev_ssize_t)n) return false;
  int rc;
  if (memcmp(buf, preface, n) != 0)
    rc = dps__emu_h1_start(c);
  else if (n == PREFACE_LEN)
    rc = dps__emu_h2_start(c);
  else
    return false;
  if (rc) c->close_now = true;
  return true;
}

/*
 * libevent 2.1 reads at most 4096 bytes per read event (EVBUFFER_MAX_READ; 2.2 makes it settable):
 * a dozen signed requests. Answering each dozen with its own write, and the client each answer
 * with its own dozen, locks both sides into batches of that size: a read, a write and a loop
 * turn per dozen on each side (measured: 16 requests per write for `dpstatus load`'s requests,
 * 48 for h2load's smaller ones). When that read came back full, take what else is there now,
 * up to READ_MORE_MAX, in one more read, as servers with a larger read buffer do: a batch is then
 * what arrived meanwhile. Plain TCP only (TLS reads go through OpenSSL's bufferevent), and not
 * while reading is paused.
 */
#define LIBEVENT_READ_MAX 4096
#define READ_MORE_MAX (256 * 1024)

static void read_more(dps__emu_conn *c) {
  struct evbuffer *in = bufferevent_get_input(c->bev);
  if (c->tls || c->read_paused || evbuffer_get_length(in) < LIBEVENT_READ_MAX) return;
  /* The bufferevent keeps its input's end frozen but while it reads itself: the same here. */
  evbuffer_unfreeze(in, 0);
  struct evbuffer_iovec v;
  if (evbuffer_reserve_space(in, READ_MORE_MAX, &v, 1) == 1) {
    ssize_t n;
    while ((n = recv(bufferevent_getfd(c->bev), v.iov_base, v.iov_len, MSG_DONTWAIT)) < 0 &&
           errno == EINTR) {
    }
    /* EOF or an error: left for the bufferevent's next read, which reports it as always. */
    v.iov_len = n > 0 ? (size_t)n : 0;
    evbuffer_commit_space(in, &v, 1);
  }
  evbuffer_freeze(in, 0);
}

static void read_cb(struct bufferevent *bev, void *arg) {
  dps__emu_conn *c = arg;
  read_more(c);
  if (c->proto == DPS__EMU_SNIFF && !choose_protocol(c)) return;
  if (c->close_now) {
    conn_free(c);
    return;
  }
  if (c->proto == DPS__EMU_H1)
    dps__emu_h1_read(c);
  else
    dps__emu_h2_read(c);
  dps__emu_conn_settle(c);
}

static void write_cb(struct bufferevent *bev, void *arg) {
  dps__emu_conn *c = arg;
  if (!c->close_now && !c->close_on_flush && !c->abort_on_flush) {
    if (c->proto == DPS__EMU_H1)
      dps__emu_h1_written(c);
    else if (c->proto == DPS__EMU_H2)
      dps__emu_h2_written(c);
  }
  dps__emu_conn_settle(c);
}

static void event_cb(struct bufferevent *bev, short what, void *arg) {
  dps__emu_conn *c = arg;
  if (what & BEV_EVENT_CONNECTED) return; /* TLS handshake done; ALPN is read on first data */
  if ((what & BEV_EVENT_EOF) && !(what & BEV_EVENT_ERROR) && c->proto == DPS__EMU_H1) {
    /* Half-close: the client may still read answers to what it sent. */
    if (evbuffer_get_length(bufferevent_get_input(bev))) dps__emu_h1_read(c);
    dps__emu_h1_eof(c);
    dps__emu_conn_settle(c);
    return;
  }
  conn_free(c); /* errors, timeouts, and EOF on HTTP/2 or before a byte: the client is gone */
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
                      void *arg) {
  dps__emu_server *srv = arg;
  dps__emu_conn *c = calloc(1, sizeof *c);
  if (!c) {
    evutil_closesocket(fd);
    return;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* small answers must not wait */
  c->srv = srv;
  c->id = ++srv->next_conn_id;
  if (srv->ssl_ctx) {
    SSL *ssl = SSL_new(srv->ssl_ctx);
    if (ssl)
      c->bev = bufferevent_openssl_socket_new(srv->base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                              BEV_OPT_CLOSE_ON_FREE);
    if (c->bev)
      bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
    else if (ssl)
      SSL_free(ssl);
    c->tls = true;
  } else {
    c->bev = bufferevent_socket_new(srv->base, fd, BEV_OPT_CLOSE_ON_FREE);
  }
  if (!c->bev) {
    evutil_closesocket(fd);
    free(c);
    return;
  }
  c->next = srv->conns;
  if (srv->conns) srv->conns->prev = c;
  srv->conns = c;
  srv->n_conns++;
  dps__emu_service_note_connection(srv->svc, +1);
  struct timeval idle = {IDLE_SECONDS, 0};
  bufferevent_set_timeouts(c->bev, &idle, NULL);
  bufferevent_setcb(c->bev, read_cb, write_cb, event_cb, c);
  bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

static void relisten_cb(evutil_socket_t fd, short what, void *arg) {
  dps__emu_server *srv = arg;
  if (!srv->draining) evconnlistener_enable(srv->listener);
}

/* Out of descriptors (EMFILE) and the like: pause accepting briefly instead of spinning. */
static void accept_error_cb(struct evconnlistener *l, void *arg) {
  dps__emu_server *srv = arg;
  int e = EVUTIL_SOCKET_ERROR();
  fprintf(stderr, "dpstatus serve: accept: %s\n", evutil_socket_error_to_string(e));
  evconnlistener_disable(l);
  struct timeval tv = {0, 100 * 1000};
  event_add(srv->relisten, &tv);
}

/* ------------------------------------------------------------------------------------------ */
/* Configuration: address, TLS, port file */

static int parse_listen(const char *s, bool allow_remote, struct sockaddr_storage *ss,
                        socklen_t *len, dps_error *err) {
  const char *colon = s ? strrchr(s, ':') : NULL;
  if (!colon || colon == s || !colon[1])
    return dps__error_set(err, DPS_EINVAL, "--listen", "\"%s\" is not HOST:PORT", s ? s : "");
  unsigned long port = 0;
  for (const char *p = colon + 1; *p; p++) {
    if (*p < '0' || *p > '9' || port > 65535)
      return dps__error_set(err, DPS_EINVAL, "--listen", "\"%s\": the port must be 0-65535", s);
    port = port * 10 + (unsigned long)(*p - '0');
  }
  if (port > 65535 || colon - s > 64)
    return dps__error_set(err, DPS_EINVAL, "--listen", "\"%s\": the port must be 0-65535", s);
  char host[72];
  size_t hl = (size_t)(colon - s);
  memcpy(host, s, hl);
  host[hl] = '\0';
  memset(ss, 0, sizeof *ss);
  bool loopback;
  if (host[0] == '[' && host[hl - 1] == ']') {
    host[hl - 1] = '\0';
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET6, host + 1, &a6->sin6_addr) != 1)
      return dps__error_set(err, DPS_EINVAL, "--listen", "\"%s\": not an IPv6 address", s);
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons((uint16_t)port);
    *len = sizeof *a6;
    const uint8_t *b = a6->sin6_addr.s6_addr;
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    loopback = IN6_IS_ADDR_LOOPBACK(&a6->sin6_addr) || (!memcmp(b, mapped, 12) && b[12] == 127);
  } else {
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    const char *h = strcmp(host, "localhost") ? host : "127.0.0.1";
    if (inet_pton(AF_INET, h, &a4->sin_addr) != 1)
      return dps__error_set(err, DPS_EINVAL, "--listen",
                            "\"%s\": the host must be an IPv4 address, [IPv6] or localhost", s);
    a4->sin_family = AF_INET;
    a4->sin_port = htons((uint16_t)port);
    *len = sizeof *a4;
    loopback = (ntohl(a4->sin_addr.s_addr) >> 24) == 127;
  }
  if (!loopback && !allow_remote)
    return dps__error_set(err, DPS_EINVAL, "--listen",
                          "\"%s\" is not a loopback address; the emulator listens beyond this "
                          "machine only with --allow-remote",
                          s);
  return DPS_OK;
}

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg) {
  dps__emu_server *srv = arg;
  /* Our preference order; with --alpn http/1.1, h2 is never chosen (as AWS endpoints do). */
  static const unsigned char both[] = "\x02h2\x08http/1.1";
  static const unsigned char h1[] = "\x08http/1.1";
  const unsigned char *ours = srv->alpn_h2 ? both : h1;
  unsigned int ours_len = srv->alpn_h2 ? sizeof both - 1 : sizeof h1 - 1;
  unsigned char *sel;
  if (SSL_select_next_proto(&sel, outlen, ours, ours_len, in, inlen) != OPENSSL_NPN_NEGOTIATED)
    return SSL_TLSEXT_ERR_NOACK;
  *out = sel;
  return SSL_TLSEXT_ERR_OK;
}

static int tls_setup(dps__emu_server *srv, dps_error *err) {
  const dps__emu_config *cfg = &srv->cfg;
  if (!cfg->tls_cert && !cfg->tls_key) return DPS_OK;
  if (!cfg->tls_cert || !cfg->tls_key)
    return dps__error_set(err, DPS_EINVAL, cfg->tls_cert ? "--tls-key" : "--tls-cert",
                          "--tls-cert and --tls-key go together");
  SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
  if (!ctx) return dps__error_set(err, DPS_ENOMEM, NULL, "cannot create a TLS context");
  srv->ssl_ctx = ctx;
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  char why[160];
  if (SSL_CTX_use_certificate_chain_file(ctx, cfg->tls_cert) != 1) {
    ERR_error_string_n(ERR_get_error(), why, sizeof why);
    ERR_clear_error();
    return dps__error_set(err, DPS_EIO, "--tls-cert", "cannot use \"%s\": %s", cfg->tls_cert, why);
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, cfg->tls_key, SSL_FILETYPE_PEM) != 1) {
    ERR_error_string_n(ERR_get_error(), why, sizeof why);
    ERR_clear_error();
    return dps__error_set(err, DPS_EIO, "--tls-key", "cannot use \"%s\": %s", cfg->tls_key, why);
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    ERR_clear_error();
    return dps__error_set(err, DPS_EINVAL, "--tls-key", "\"%s\" does not match the certificate",
                          cfg->tls_key);
  }
  SSL_CTX_set_alpn_select_cb(ctx, alpn_select, srv);
  return DPS_OK;
}

/* Written whole under a temporary name, then renamed: a reader sees no file or the whole port. */
static int write_port_file(const char *path, uint16_t port, dps_error *err) {
  size_t n = strlen(path) + 32;
  char *tmp = malloc(n);
  if (!tmp) return dps__error_set(err, DPS_ENOMEM, NULL, "out of memory");
  snprintf(tmp, n, "%s.tmp.%ld", path, (long)getpid());
  FILE *f = fopen(tmp, "w");
  int ok = f && fprintf(f, "%u\n", port) > 0;
  if (f && fclose(f) != 0) ok = 0;
  if (ok && rename(tmp, path) != 0) ok = 0;
  int e = errno;
  if (!ok) remove(tmp);
  free(tmp);
  if (!ok)
    return dps__error_set(err, DPS_EIO, "--port-file", "cannot write \"%s\": %s", path,
                          strerror(e));
  return DPS_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* Start, drain, stop */

int dps__emu_server_start(struct event_base *base, const dps__emu_config *cfg,
                          dps__emu_server **out, dps_error *err) {
  struct sockaddr_storage ss;
  socklen_t sl = 0;
  int rc = parse_listen(cfg->listen, cfg->allow_remote, &ss, &sl, err);
  if (rc) return rc;
  const char *alpn = cfg->alpn ? cfg->alpn : "h2,http/1.1";
  bool h2;
  if (!strcmp(alpn, "h2,http/1.1"))
    h2 = true;
  else if (!strcmp(alpn, "http/1.1"))
    h2 = false;
  else
    return dps__error_set(err, DPS_EINVAL, "--alpn", "\"%s\" is not h2,http/1.1 or http/1.1", alpn);
  if (cfg->max_streams == 0)
    return dps__error_set(err, DPS_EINVAL, "--max-streams", "must be at least 1");
  if (cfg->max_body_bytes == 0 || cfg->max_body_bytes > ((size_t)1 << 30))
    return dps__error_set(err, DPS_EINVAL, "--max-body-bytes", "must be 1 to 1073741824");

  /* A peer closing while we write must be an error return, not a fatal signal. */
  struct sigaction sa = {.sa_handler = SIG_IGN};
  sigemptyset(&sa.sa_mask);
  sigaction(SIGPIPE, &sa, NULL);

  dps__emu_server *srv = calloc(1, sizeof *srv);
  if (!srv) return dps__error_set(err, DPS_ENOMEM, NULL, "out of memory");
  srv->base = base;
  srv->cfg = *cfg;
  srv->cfg.alpn = alpn;
  srv->alpn_h2 = h2;
  if ((rc = tls_setup(srv, err))) goto fail;
  if (!(srv->out_batch = evbuffer_new())) {
    rc = dps__error_set(err, DPS_ENOMEM, NULL, "out of memory");
    goto fail;
  }
  if ((rc = dps__emu_h2_callbacks_new(&srv->h2_callbacks))) {
    dps__error_set(err, rc, NULL, "out of memory");
    goto fail;
  }
  if ((rc = dps__emu_service_new(&srv->cfg, &srv->svc, err))) goto fail;
  srv->goaway_every = dps__emu_service_goaway_every(srv->svc);
  srv->drop_every = dps__emu_service_drop_every(srv->svc);
  srv->relisten = evtimer_new(base, relisten_cb, srv);
  if (!srv->relisten) {
    rc = dps__error_set(err, DPS_ENOMEM, NULL, "out of memory");
    goto fail;
  }
  srv->listener = evconnlistener_new_bind(
      base, accept_cb, srv, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC, 1024,
      (struct sockaddr *)&ss, (int)sl);
  if (!srv->listener) {
    int e = EVUTIL_SOCKET_ERROR();
    rc = dps__error_set(err, DPS_EIO, "--listen", "cannot listen on %s: %s", cfg->listen,
                        evutil_socket_error_to_string(e));
    goto fail;
  }
  evconnlistener_set_error_cb(srv->listener, accept_error_cb);
  struct sockaddr_storage bound;
  socklen_t bl = sizeof bound;
  if (getsockname(evconnlistener_get_fd(srv->listener), (struct sockaddr *)&bound, &bl) == 0)
    srv->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                  : ((struct sockaddr_in *)&bound)->sin_port);
  if (cfg->port_file && (rc = write_port_file(cfg->port_file, srv->port, err))) goto fail;
  *out = srv;
  return DPS_OK;
fail:
  dps__emu_server_stop(srv);
  return rc;
}

uint16_t dps__emu_server_port(const dps__emu_server *srv) { return srv->port; }

dps__emu_service *dps__emu_server_service(dps__emu_server *srv) { return srv->svc; }

static void drain_timeout(evutil_socket_t fd, short what, void *arg) {
  dps__emu_server *srv = arg;
  void (*done)(void *) = srv->drained;
  srv->drained = NULL;
  while (srv->conns) conn_free(srv->conns);
  if (done) done(srv->drained_arg);
}

void dps__emu_server_drain(dps__emu_server *srv, uint32_t timeout_ms, void (*done)(void *arg),
                           void *arg) {
  if (srv->draining) return;
  srv->draining = true;
  srv->drained = done;
  srv->drained_arg = arg;
  if (srv->listener) evconnlistener_disable(srv->listener);
  if (srv->relisten) event_del(srv->relisten);
  srv->drain_timer = evtimer_new(srv->base, drain_timeout, srv);
  struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
  if (srv->drain_timer) event_add(srv->drain_timer, &tv);
  /* Each connection is told in turn; settling may free it, so take the next one first. */
  for (dps__emu_conn *c = srv->conns, *next; c; c = next) {
    next = c->next;
    if (c->lingering) continue;
    if (c->proto == DPS__EMU_H1)
      dps__emu_h1_shutdown(c);
    else if (c->proto == DPS__EMU_H2)
      dps__emu_h2_shutdown(c);
    else
      c->close_now = true;
    dps__emu_conn_settle(c);
  }
  if (srv->n_conns == 0 && srv->drained) {
    srv->drained = NULL;
    event_del(srv->drain_timer);
    done(arg);
  }
}

void dps__emu_server_stop(dps__emu_server *srv) {
  if (!srv) return;
  srv->drained = NULL;
  while (srv->conns) conn_free(srv->conns);
  if (srv->listener) evconnlistener_free(srv->listener);
  if (srv->relisten) event_free(srv->relisten);
  if (srv->drain_timer) event_free(srv->drain_timer);
  if (srv->h2_callbacks) dps__emu_h2_callbacks_free(srv->h2_callbacks);
  if (srv->out_batch) evbuffer_free(srv->out_batch);
  if (srv->ssl_ctx) SSL_CTX_free(srv->ssl_ctx);
  dps__emu_service_free(srv->svc); /* flushes the record */
  free(srv->zero_body);
  free(srv);
}

/* ------------------------------------------------------------------------------------------ */
/* dpstatus serve */

#define SHUTDOWN_GRACE_MS 5000

typedef struct run_state {
  struct event_base *base;
  dps__emu_server *srv;
} run_state;

static void drained(void *arg) { event_base_loopexit(((run_state *)arg)->base, NULL); }

static void on_signal(evutil_socket_t sig, short what, void *arg) {
  run_state *rs = arg;
  if (rs->srv->draining) { /* a second signal: stop waiting */
    event_base_loopexit(rs->base, NULL);
    return;
  }
  fprintf(stderr, "dpstatus serve: %s: finishing in-flight requests\n",
          sig == SIGINT ? "SIGINT" : "SIGTERM");
  dps__emu_server_drain(rs->srv, SHUTDOWN_GRACE_MS, drained, rs);
}

struct event_base *dps__emu_base_new(bool locking) {
  struct event_config *ec = event_config_new();
  if (!ec) return NULL;
  /* A precise monotonic clock for timers: libevent's default coarse clock (4 ms steps here) made
   * --fault latency=5..5 answer after 5-9 ms, and early against a precise client clock. */
  event_config_set_flag(ec, EVENT_BASE_FLAG_PRECISE_TIMER);
  if (!locking) event_config_set_flag(ec, EVENT_BASE_FLAG_NOLOCK);
  struct event_base *base = event_base_new_with_config(ec);
  event_config_free(ec);
  return base;
}

int dps__emu_run(const dps__emu_config *cfg, dps_error *err) {
  struct event_base *base = dps__emu_base_new(false); /* one thread: no locks */
  if (!base) return dps__error_set(err, DPS_ENOMEM, NULL, "cannot create the event loop");
  run_state rs = {.base = base};
  /* The handlers before the server starts: it writes the port file, and whoever waits for that
   * file may signal at once (a test stopping it). Nothing dispatches them before the loop runs,
   * and by then rs.srv is set. */
  struct event *sigint = evsignal_new(base, SIGINT, on_signal, &rs);
  struct event *sigterm = evsignal_new(base, SIGTERM, on_signal, &rs);
  if (sigint) evsignal_add(sigint, NULL);
  if (sigterm) evsignal_add(sigterm, NULL);
  int rc = dps__emu_server_start(base, cfg, &rs.srv, err);
  if (rc) {
    if (sigint) event_free(sigint);
    if (sigterm) event_free(sigterm);
    event_base_free(base);
    return rc;
  }
  const dps__emu_config *c = &rs.srv->cfg;
  char host[72];
  snprintf(host, sizeof host, "%.*s", (int)(strrchr(cfg->listen, ':') - cfg->listen), cfg->listen);
  dps__buf limits = DPS__BUF_INIT;
  dps__emu_service_describe_limits(rs.srv->svc, &limits);
  fprintf(stderr, "dpstatus serve: listening on %s://%s:%u (%s; auth %s, tasks %s; limits %s)\n",
          rs.srv->ssl_ctx ? "https" : "http", host, rs.srv->port,
          rs.srv->ssl_ctx ? (rs.srv->alpn_h2 ? "TLS, ALPN h2 and http/1.1" : "TLS, ALPN http/1.1")
                          : "h2c and HTTP/1.1",
          c->auth_mode == DPS__EMU_AUTH_NONE ? "none" : "sigv4",
          c->tasks_mode == DPS__EMU_TASKS_STRICT ? "strict" : "auto",
          limits.data ? limits.data : "none");
  dps__buf_free(&limits);

  event_base_dispatch(base);

  dps__buf summary = DPS__BUF_INIT;
  dps__emu_service_summary(rs.srv->svc, &summary);
  if (dps__emu_service_flush(rs.srv->svc))
    fprintf(stderr, "dpstatus serve: flushing the record failed\n");
  dps__emu_server_stop(rs.srv);
  fprintf(stderr, "dpstatus serve: %s\n", summary.data ? summary.data : "done");
  fflush(stderr);
  dps__buf_free(&summary);
  if (sigint) event_free(sigint);
  if (sigterm) event_free(sigterm);
  event_base_free(base);
  return DPS_OK;
}
