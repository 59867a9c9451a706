/*
 * tls.c: the client side of TLS for the pool: one SSL_CTX per pool (system CA store or a CA
 * bundle, ALPN h2 + http/1.1, TLS 1.2 at least), one SSL per connection (SNI, host-name or
 * IP-address verification), and the wording of handshake failures.
 */
#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "transport/conn.h"

/* ALPN wire format: length-prefixed names, preferred first. */
static const unsigned char alpn_h2_h1[] = "\x02h2\x08http/1.1";
static const unsigned char alpn_h1[] = "\x08http/1.1";

int dps__tls_ctx_new(const dps__pool_config *cfg, SSL_CTX **out, dps_error *err) {
  *out = NULL;
  SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
  if (!ctx) return dps__error_set(err, DPS_ENOMEM, "tls", "cannot create the TLS context");
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  /* RFC 9113 9.2.2: no renegotiation, no compression for HTTP/2 */
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  if (cfg->ca_bundle && cfg->ca_bundle[0]) {
    if (SSL_CTX_load_verify_locations(ctx, cfg->ca_bundle, NULL) != 1) {
      unsigned long e = ERR_get_error();
      char why[200];
      ERR_error_string_n(e, why, sizeof why);
      ERR_clear_error();
      SSL_CTX_free(ctx);
      return dps__error_set(err, DPS_ECONFIG, "ca_bundle", "ca_bundle: cannot load \"%s\": %s",
                            cfg->ca_bundle, why);
    }
  } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
    ERR_clear_error(); /* no system store: every verification will fail, and say so */
  }
  SSL_CTX_set_verify(ctx, cfg->no_verify ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, NULL);
  const unsigned char *alpn = cfg->http1_only ? alpn_h1 : alpn_h2_h1;
  size_t alpn_len = cfg->http1_only ? sizeof alpn_h1 - 1 : sizeof alpn_h2_h1 - 1;
  if (SSL_CTX_set_alpn_protos(ctx, alpn, (unsigned)alpn_len) != 0) {
    SSL_CTX_free(ctx);
    return dps__error_set(err, DPS_ENOMEM, "tls", "cannot set ALPN");
  }
  *out = ctx;
  return DPS_OK;
}

static bool is_ip_literal(const char *host) {
  unsigned char tmp[16];
  return inet_pton(AF_INET, host, tmp) == 1 || inet_pton(AF_INET6, host, tmp) == 1;
}

SSL *dps__tls_ssl_new(SSL_CTX *ctx, const dps__url *url, bool verify) {
  SSL *ssl = SSL_new(ctx);
  if (!ssl) return NULL;
  bool ip = is_ip_literal(url->host);
  /* RFC 6066: SNI carries DNS names only */
  if (!ip && SSL_set_tlsext_host_name(ssl, url->host) != 1) goto fail;
  if (verify) {
    X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);
    X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(vp, url->host)
                : X509_VERIFY_PARAM_set1_host(vp, url->host, 0);
    if (ok != 1) goto fail;
  }
  return ssl;
fail:
  SSL_free(ssl);
  return NULL;
}

bool dps__tls_error(SSL *ssl, bool verify, unsigned long err, char *buf, size_t bufsz) {
  /* without verification OpenSSL still records what it found: not a reason to fail */
  long vr = ssl && verify ? SSL_get_verify_result(ssl) : X509_V_OK;
  if (vr != X509_V_OK) {
    snprintf(buf, bufsz, "TLS: certificate verify failed: %s", X509_verify_cert_error_string(vr));
    return true;
  }
  if (err) {
    char why[200];
    ERR_error_string_n(err, why, sizeof why);
    /* "error:0A000086:SSL routines::certificate verify failed" without a verify result is
     * still a refused certificate (e.g. a callback said no) */
    bool fatal =
        ERR_GET_LIB(err) == ERR_LIB_SSL && ERR_GET_REASON(err) == SSL_R_CERTIFICATE_VERIFY_FAILED;
    snprintf(buf, bufsz, "TLS: %s", why);
    return fatal;
  }
  snprintf(buf, bufsz, "TLS handshake failed");
  return false;
}

dps__proto dps__tls_alpn(SSL *ssl) {
  const unsigned char *p = NULL;
  unsigned n = 0;
  SSL_get0_alpn_selected(ssl, &p, &n);
  if (n == 2 && memcmp(p, "h2", 2) == 0) return DPS__PROTO_H2;
  return DPS__PROTO_H1;
}
