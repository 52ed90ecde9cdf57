/* C tests of libzkha against secured ZooKeeper servers of the test kit (c-api/tests/run.sh
 * starts them): TLS-only with client certificates (ZKHA_TEST_TLS_*), SASL DIGEST-MD5 required
 * with users zkha:secret and other:pw2 (ZKHA_TEST_DIGEST_*), Kerberos with the kit's KDC
 * (ZKHA_TEST_KRB_*, KRB5_CONFIG) and a plain one for auth credentials (ZKHA_TEST_CONNECT).
 * Usage: test_security options|tls|tls_errors|tls_replace|digest|auth_acl|kerberos */
#define _GNU_SOURCE
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

/* Checks a refused call: its status, the error's code, and each needle in the message. */
static bool says(zkha_status got, zkha_status want, zkha_error *err, const char *const *needles) {
  const char *m = zkha_error_message(err);
  bool ok = got == want && zkha_error_code(err) == want;
  for (; *needles; needles++) ok = ok && strstr(m, *needles) != NULL;
  if (!ok) fprintf(stderr, "  got %s: \"%s\" (wanted %s)\n", zkha_status_name(got), m, zkha_status_name(want));
  zkha_error_free(err);
  return ok;
}

/* REFUSED(status, call using &err_, needle...): the call fails with status, naming each needle. */
#define REFUSED(want, call, ...)                                  \
  do {                                                            \
    zkha_error *err_ = NULL;                                      \
    zkha_status got_ = (call);                                    \
    const char *const needles_[] = {__VA_ARGS__, NULL};           \
    CHECK(says(got_, want, err_, needles_), "%s", #call);         \
  } while (0)

/* STEP(helper(...)): a helper whose CHECKs failed fails the calling test too. */
#define STEP(call)                                                \
  do {                                                            \
    int before_ = failures;                                       \
    call;                                                         \
    CHECK(failures == before_, "%s", #call);                      \
  } while (0)

static const char *env(const char *name) {
  const char *v = getenv(name);
  if (!v || !*v) {
    fprintf(stderr, "%s is not set: run c-api/tests/run.sh, which starts the secured servers\n", name);
    exit(2);
  }
  return v;
}

/* `dir/file` in one of four rotating buffers (enough for one call's arguments). */
static const char *in(const char *dir, const char *file) {
  static char bufs[4][512];
  static int next;
  char *b = bufs[next++ % 4];
  snprintf(b, sizeof bufs[0], "%s/%s", dir, file);
  return b;
}

/* A file's whole text (free it), or NULL. */
static char *slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *s = calloc(1, (size_t)n + 1);
  if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
    free(s);
    s = NULL;
  }
  fclose(f);
  return s;
}

static const char *tls_dir(void) { return env("ZKHA_TEST_TLS_DIR"); }

/* Options for the TLS server with the kit's CA and client certificate. */
static zkha_status tls_options(zkha_options **o, zkha_error **err) {
  zkha_status s = zkha_options_new(env("ZKHA_TEST_TLS_CONNECT"), o, err);
  if (s == ZKHA_STATUS_OK)
    s = zkha_options_set_tls(*o, in(tls_dir(), "ca.pem"), in(tls_dir(), "client.pem"),
                                   in(tls_dir(), "client.key"), err);
  return s;
}

/* Connects with options `o` (freed here); NULL and the error printed if that fails. */
static zkha_client *connect_with(zkha_options *o) {
  zkha_client *c = NULL;
  zkha_error *err = NULL;
  if (zkha_client_connect_with(o, &c, &err) != ZKHA_STATUS_OK) {
    fprintf(stderr, "  connect: %s\n", zkha_error_message(err));
    zkha_error_free(err);
  }
  zkha_options_free(o);
  return c;
}

/* Options with SASL DIGEST-MD5 as `user` and the creator ACL, for the DIGEST-MD5 server. */
static zkha_status digest_options(const char *user, const char *password, zkha_options **o,
                                  zkha_error **err) {
  zkha_status s = zkha_options_new(env("ZKHA_TEST_DIGEST_CONNECT"), o, err);
  if (s == ZKHA_STATUS_OK) s = zkha_options_set_session_timeout(*o, 10000, err);
  if (s == ZKHA_STATUS_OK) s = zkha_options_set_sasl_digest_md5(*o, user, password, err);
  if (s == ZKHA_STATUS_OK) s = zkha_options_set_acl(*o, ZKHA_ACL_MODE_CREATOR, err);
  return s;
}

/* Options with an addAuth credential and an ACL mode, for the plain server. */
static zkha_status auth_options(const char *credential, zkha_acl_mode acl, zkha_options **o,
                                zkha_error **err) {
  zkha_status s = zkha_options_new(env("ZKHA_TEST_CONNECT"), o, err);
  if (s == ZKHA_STATUS_OK) s = zkha_options_add_auth(*o, credential, err);
  if (s == ZKHA_STATUS_OK) s = zkha_options_set_acl(*o, acl, err);
  return s;
}

/* Options with a Kerberos keytab login of client `name` of the kit's realm, creator ACL. */
static zkha_status krb_options(const char *name, zkha_options **o, zkha_error **err) {
  char keytab[256], principal[128];
  snprintf(keytab, sizeof keytab, "%s.keytab", name);
  snprintf(principal, sizeof principal, "%s@%s", name, env("ZKHA_TEST_KRB_REALM"));
  zkha_status s = zkha_options_new(env("ZKHA_TEST_KRB_CONNECT"), o, err);
  if (s == ZKHA_STATUS_OK)
    s = zkha_options_set_sasl_kerberos_keytab(*o, in(env("ZKHA_TEST_KRB_DIR"), keytab), principal, err);
  if (s == ZKHA_STATUS_OK) s = zkha_options_set_acl(*o, ZKHA_ACL_MODE_CREATOR, err);
  return s;
}

/* Elects, locks and publishes fenced leader information under `base` with client `c`. */
static void elect_lock_publish(zkha_client *c, const char *base) {
  char latch[160], lock[160], info[160];
  snprintf(latch, sizeof latch, "%s/latch", base);
  snprintf(lock, sizeof lock, "%s/lock", base);
  snprintf(info, sizeof info, "%s/leader", base);
  zkha_election *e = NULL;
  zkha_lock *l = NULL;
  int64_t token = -1;
  OK(zkha_election_join(c, latch, "c", &e, &e_));
  OK(zkha_election_wait(e, 20000, &token, &e_));
  CHECK(token > 0 && zkha_election_has_leadership(e), "leads with token %lld", (long long)token);
  OK(zkha_election_publish_leader_info(e, info, (const uint8_t *)"me", 2, &e_));
  OK(zkha_lock_acquire(c, lock, ZKHA_LOCK_KIND_MUTEX, 0, 10000, &l, &e_));
  CHECK(zkha_lock_is_held(l) && zkha_lock_fencing_token(l) > 0, "lock held");
  OK(zkha_lock_release(l, &e_));
  zkha_bytes got = {0};
  OK(zkha_get_data(c, info, &got, &e_));
  CHECK(got.len == 2 && memcmp(got.data, "me", 2) == 0, "leader information");
  zkha_bytes_free(got);
  zkha_election_free(e);
}

/* Writes `base`/data and `base`/dir/child with `owner`, then checks that `intruder` can
 * neither read, change, delete nor lock there (NO_AUTH) and that the owner can delete. */
static void owner_only(zkha_client *owner, zkha_client *intruder, const char *base) {
  char data[160], child[160], lock[160], parent[180];
  snprintf(data, sizeof data, "%s/data", base);
  snprintf(parent, sizeof parent, "(path %s)", base);
  snprintf(child, sizeof child, "%s/dir/child", base);
  snprintf(lock, sizeof lock, "%s/lock", base);
  OK(zkha_put(owner, data, (const uint8_t *)"v1", 2, &e_));
  OK(zkha_put(owner, child, (const uint8_t *)"c", 1, &e_));
  zkha_lock *l = NULL;
  OK(zkha_lock_acquire(owner, lock, ZKHA_LOCK_KIND_MUTEX, 0, 10000, &l, &e_));
  OK(zkha_lock_release(l, &e_));
  zkha_bytes got = {0};
  REFUSED(ZKHA_STATUS_NO_AUTH, zkha_get_data(intruder, data, &got, &err_), data);
  /* The refusal names the node written and the parent that refused it. */
  REFUSED(ZKHA_STATUS_NO_AUTH, zkha_put(intruder, data, (const uint8_t *)"x", 1, &err_), data, parent);
  REFUSED(ZKHA_STATUS_NO_AUTH, zkha_delete(intruder, child, -1, &err_), child);
  REFUSED(ZKHA_STATUS_NO_AUTH, zkha_lock_acquire(intruder, lock, ZKHA_LOCK_KIND_MUTEX, 0, 5000, &l, &err_), lock);
  OK(zkha_get_data(owner, data, &got, &e_));
  CHECK(got.len == 2 && memcmp(got.data, "v1", 2) == 0, "the owner's data is unchanged");
  zkha_bytes_free(got);
  OK(zkha_delete(owner, child, -1, &e_));
}

/* Two identities connected (`owner` and `other`): the owner elects, locks and publishes
 * under a new `base` with the creator ACL, and `other` can touch none of it. */
static void owner_works_other_is_kept_out(zkha_client *owner, zkha_client *other, const char *prefix,
                                          char *base, size_t n) {
  CHECK(owner && other, "connected as both identities");
  unique(base, n, prefix);
  STEP(elect_lock_publish(owner, base));
  STEP(owner_only(owner, other, base));
}

/* Bad input to the options and the new calls: clear errors, no connection needed. */
static void test_options(void) {
  const char *plain = env("ZKHA_TEST_CONNECT");
  zkha_options *o = NULL;
  zkha_client *c = NULL;
  REFUSED(ZKHA_STATUS_NULL_ARGUMENT, zkha_options_new(NULL, &o, &err_), "connect");
  REFUSED(ZKHA_STATUS_NULL_ARGUMENT, zkha_options_new(plain, NULL, &err_), "out_options");
  REFUSED(ZKHA_STATUS_NULL_ARGUMENT, zkha_options_set_session_timeout(NULL, 1000, &err_), "options");
  REFUSED(ZKHA_STATUS_NULL_ARGUMENT, zkha_client_connect_with(NULL, &c, &err_), "options");
  REFUSED(ZKHA_STATUS_IO, zkha_options_from_flink_config("/nonexistent/flink-conf.yaml", &o, &err_),
          "/nonexistent/flink-conf.yaml");
  OK(zkha_options_new(plain, &o, &e_));
  const char bad_utf8[] = {'z', (char)0xff, 'k', 0};
  REFUSED(ZKHA_STATUS_INVALID_ARGUMENT, zkha_options_set_sasl_digest_md5(o, bad_utf8, "pw", &err_),
          "username", "UTF-8");
  REFUSED(ZKHA_STATUS_NULL_ARGUMENT, zkha_options_set_sasl_digest_md5(o, "zkha", NULL, &err_), "password");
  REFUSED(ZKHA_STATUS_NULL_ARGUMENT, zkha_options_set_tls(o, NULL, NULL, NULL, &err_), "ca must not be NULL");
  REFUSED(ZKHA_STATUS_INVALID_ARGUMENT, zkha_options_set_tls(o, "-----BEGIN", "-----BEGIN", NULL, &err_),
          "cert and key go together");
  REFUSED(ZKHA_STATUS_INVALID_ARGUMENT, zkha_options_set_tls_hostname_verification(o, false, &err_),
          "hostname verification", "zkha_options_set_tls");
  REFUSED(ZKHA_STATUS_INVALID_ARGUMENT, zkha_options_set_tls_reload_every(o, 0, &err_), "zkha_options_set_tls first");
  REFUSED(ZKHA_STATUS_NULL_ARGUMENT, zkha_options_set_sasl_kerberos_keytab(o, NULL, "a@B", &err_), "keytab");
  REFUSED(ZKHA_STATUS_INVALID_ARGUMENT, zkha_options_set_kerberos_service(o, "zk", &err_),
          "service name", "zkha_options_set_sasl_kerberos_keytab");
  OK(zkha_options_set_sasl_kerberos_ticket_cache(o, NULL, NULL, &e_));
  REFUSED(ZKHA_STATUS_INVALID_ARGUMENT, zkha_options_set_kerberos_service(o, "", &err_), "service", "empty");
  OK(zkha_options_set_kerberos_server_principal(o, "zookeeper/zk1@EXAMPLE.COM", &e_));
  OK(zkha_options_set_kerberos_canonicalize_hostname(o, false, &e_));
  zkha_error *err = NULL;
  CHECK(zkha_options_add_auth(o, "nocolon-supersecret", &err) == ZKHA_STATUS_INVALID_ARGUMENT, "malformed");
  CHECK(strstr(zkha_error_message(err), "scheme:credential") && !strstr(zkha_error_message(err), "supersecret"),
        "names the form, hides the secret: %s", zkha_error_message(err));
  zkha_error_free(err);
  REFUSED(ZKHA_STATUS_INVALID_ARGUMENT, zkha_options_add_acl_entry(o, "sasl:flink:rwz", &err_), "sasl:flink:rwz");
  REFUSED(ZKHA_STATUS_NULL_ARGUMENT, zkha_options_add_acl_entry(o, NULL, &err_), "entry");
  zkha_options_free(o);
  zkha_options_free(NULL);

  /* Creator without an identity: refused before connecting, naming Flink's key. */
  OK(zkha_options_new(plain, &o, &e_));
  OK(zkha_options_set_acl(o, ZKHA_ACL_MODE_CREATOR, &e_));
  REFUSED(ZKHA_STATUS_INVALID_ARGUMENT, zkha_client_connect_with(o, &c, &err_), "creator",
          "high-availability.zookeeper.client.acl");
  zkha_options_free(o);

  /* A plain client: nothing to replace; NULL client; delete's statuses. */
  OK(zkha_options_new(plain, &o, &e_));
  OK(zkha_options_set_session_timeout(o, 4000, &e_));
  OK(zkha_options_set_connection_timeout(o, 2000, &e_));
  c = connect_with(o);
  CHECK(c != NULL, "a plain client from options");
  REFUSED(ZKHA_STATUS_INVALID_ARGUMENT, zkha_client_replace_tls(c, "/x.pem", NULL, NULL, &err_), "does not use TLS");
  REFUSED(ZKHA_STATUS_NULL_ARGUMENT, zkha_client_replace_tls(NULL, "x", NULL, NULL, &err_), "client");
  char p[128];
  unique(p, sizeof p, "c-delete");
  REFUSED(ZKHA_STATUS_NO_NODE, zkha_delete(c, p, -1, &err_), p);
  OK(zkha_put(c, p, (const uint8_t *)"x", 1, &e_));
  REFUSED(ZKHA_STATUS_BAD_VERSION, zkha_delete(c, p, 7, &err_), p);
  OK(zkha_delete(c, p, 0, &e_));
  REFUSED(ZKHA_STATUS_NULL_ARGUMENT, zkha_delete(c, NULL, -1, &err_), "path");
  zkha_client_free(c);
  printf("ok options\n");
}

/* TLS with a client certificate: elect, lock, publish fenced; files and PEM text. */
static void test_tls(void) {
  zkha_options *o = NULL;
  OK(tls_options(&o, &e_));
  OK(zkha_options_set_session_timeout(o, 10000, &e_));
  OK(zkha_options_set_tls_hostname_verification(o, true, &e_));
  OK(zkha_options_set_tls_reload_every(o, 1000, &e_));
  /* The certificate's identity (x509:O=zkha,CN=zkha-client) is the creator. */
  OK(zkha_options_set_acl(o, ZKHA_ACL_MODE_CREATOR, &e_));
  zkha_client *c = connect_with(o);
  CHECK(c != NULL, "a TLS client with certificate files");
  char base[128];
  unique(base, sizeof base, "c-tls");
  STEP(elect_lock_publish(c, base));
  zkha_client_free(c);

  char *ca = slurp(in(tls_dir(), "ca.pem")), *cert = slurp(in(tls_dir(), "client.pem")),
       *key = slurp(in(tls_dir(), "client.key"));
  CHECK(ca && cert && key, "the kit's PEM files");
  OK(zkha_options_new(env("ZKHA_TEST_TLS_CONNECT"), &o, &e_));
  zkha_status s = zkha_options_set_tls(o, ca, cert, key, NULL);
  free(ca);
  free(cert);
  free(key);
  CHECK(s == ZKHA_STATUS_OK, "PEM text");
  c = connect_with(o);
  CHECK(c != NULL, "a TLS client with PEM text");
  zkha_lock *l = NULL;
  char lock[160];
  snprintf(lock, sizeof lock, "%s/pem-lock", base);
  OK(zkha_lock_acquire(c, lock, ZKHA_LOCK_KIND_MUTEX, 0, 10000, &l, &e_));
  OK(zkha_lock_release(l, &e_));
  zkha_client_free(c);
  printf("ok tls\n");
}

/* A refused TLS connect, `ca`, `cert`, `key` in the kit's TLS directory (NULL: none). */
static zkha_status tls_refused(const char *connect, const char *ca, const char *cert, const char *key,
                               double *took, zkha_error **err) {
  zkha_options *o = NULL;
  zkha_client *c = NULL;
  zkha_status s = zkha_options_new(connect, &o, err);
  if (s == ZKHA_STATUS_OK) s = zkha_options_set_session_timeout(o, 2000, err);
  if (s == ZKHA_STATUS_OK && ca)
    s = zkha_options_set_tls(o, ca, cert ? in(tls_dir(), cert) : NULL, key ? in(tls_dir(), key) : NULL, err);
  double t = now_s();
  if (s == ZKHA_STATUS_OK) s = zkha_client_connect_with(o, &c, err);
  *took = now_s() - t;
  zkha_client_free(c);
  zkha_options_free(o);
  return s;
}

/* Each TLS misconfiguration fails fast with its cause and the file named. */
static void test_tls_errors(void) {
  const char *tls = env("ZKHA_TEST_TLS_CONNECT");
  double took;
  /* A wrong CA: the client's own certificate, which did not sign the server's. */
  const char *wrong_ca = in(tls_dir(), "client.pem");
  REFUSED(ZKHA_STATUS_CONFIG, tls_refused(tls, wrong_ca, "client.pem", "client.key", &took, &err_),
          "does not accept", "UnknownIssuer", wrong_ca);
  CHECK(getenv("ZKHA_TEST_SLOW") || took < 15, "took %.1f s", took);
  /* A missing CA file: its path. */
  const char *missing = in(tls_dir(), "no-such-ca.pem");
  REFUSED(ZKHA_STATUS_CONFIG, tls_refused(tls, missing, "client.pem", "client.key", &took, &err_), missing);
  /* An expired client certificate: its path and date, before any connection. */
  REFUSED(ZKHA_STATUS_CONFIG,
          tls_refused(tls, in(tls_dir(), "ca.pem"), "expired-client.pem", "expired-client.key", &took, &err_),
          in(tls_dir(), "expired-client.pem"), "expired on 2020-01-0");
  CHECK(getenv("ZKHA_TEST_SLOW") || took < 1, "took %.1f s", took);
  /* No client certificate for a server that needs one. */
  REFUSED(ZKHA_STATUS_CONFIG, tls_refused(tls, in(tls_dir(), "ca.pem"), NULL, NULL, &took, &err_),
          "wants a client certificate");
  /* A key that is not the certificate's (the CA's key). */
  REFUSED(ZKHA_STATUS_CONFIG, tls_refused(tls, in(tls_dir(), "ca.pem"), "client.pem", "ca.key", &took, &err_),
          "TLS client certificate and key", "KeyMismatch");
  /* A plain client at the TLS port, and a TLS client at a plain port. */
  REFUSED(ZKHA_STATUS_CONFIG, tls_refused(tls, NULL, NULL, NULL, &took, &err_), "looks like a TLS port");
  CHECK(getenv("ZKHA_TEST_SLOW") || took < 15, "took %.1f s", took);
  REFUSED(ZKHA_STATUS_CONFIG,
          tls_refused(env("ZKHA_TEST_CONNECT"), in(tls_dir(), "ca.pem"), "client.pem", "client.key", &took, &err_),
          "does not seem to speak TLS");
  printf("ok tls_errors\n");
}

static zkha_connection_state state_of(zkha_client *c) {
  zkha_connection_state st = ZKHA_CONNECTION_STATE_CLOSED;
  zkha_client_state(c, &st, NULL);
  return st;
}

/* Waits up to `seconds` for `c` to be connected (`want`) or not; true if it came to that. */
static bool wait_connected(zkha_client *c, bool want, double seconds) {
  for (double end = now_s() + seconds; now_s() < end; usleep(50000)) {
    zkha_connection_state st = state_of(c);
    bool up = st == ZKHA_CONNECTION_STATE_CONNECTED || st == ZKHA_CONNECTION_STATE_RECONNECTED;
    if (up == want) return true;
  }
  return false;
}

/* Runs the test kit's CLI with `args` on success, its output into `out` (if not NULL). */
static bool testkit(const char *args, char *out, size_t n) {
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "'%s' %s 2>&1", env("ZKHA_TESTKIT"), args);
  FILE *p = popen(cmd, "r");
  if (!p) return false;
  char sink[256];
  size_t got = out ? fread(out, 1, n - 1, p) : 0;
  if (out) out[got] = 0;
  while (fread(sink, 1, sizeof sink, p) > 0) {
  }
  return pclose(p) == 0;
}

/* The value of `"key": ` in JSON text (a string unquoted, or a number) into `out`. */
static bool json_value(const char *json, const char *key, char *out, size_t n) {
  char k[64];
  snprintf(k, sizeof k, "\"%s\":", key);
  const char *at = strstr(json, k);
  if (!at) return false;
  at += strlen(k);
  at += strspn(at, " \"");
  size_t len = strcspn(at, "\",\n}");
  if (len == 0 || len >= n) return false;
  memcpy(out, at, len);
  out[len] = 0;
  return true;
}

/* Certificates replaced on a live client apply from its next connection: a connection cut
 * by a proxy of the test kit, then refused under a wrong CA, taken up again with the right
 * one, in the same session. */
static void test_tls_replace(void) {
  char args[512], proxied[128] = {0}, id[32] = {0};
  const char *h = env("ZKHA_TEST_TLS_HANDLE");
  snprintf(args, sizeof args, "proxy '%s' start", h);
  char json[1024];
  CHECK(testkit(args, json, sizeof json), "%s: %s", args, json);
  CHECK(json_value(json, "connect_string", proxied, sizeof proxied) && json_value(json, "proxy", id, sizeof id),
        "a proxy: %s", json);
  zkha_options *o = NULL;
  OK(zkha_options_new(proxied, &o, &e_));
  OK(zkha_options_set_session_timeout(o, 10000, &e_));
  OK(zkha_options_set_tls(o, in(tls_dir(), "ca.pem"), in(tls_dir(), "client.pem"), in(tls_dir(), "client.key"), &e_));
  zkha_client *c = connect_with(o);
  CHECK(c != NULL, "a TLS client through the proxy at %s", proxied);
  int64_t session = zkha_client_session_id(c);
  /* Nothing changes on an error, which names the file. */
  const char *missing = in(tls_dir(), "no-such.pem");
  REFUSED(ZKHA_STATUS_CONFIG, zkha_client_replace_tls(c, missing, NULL, NULL, &err_), missing);
  REFUSED(ZKHA_STATUS_CONFIG,
          zkha_client_replace_tls(c, NULL, in(tls_dir(), "expired-client.pem"), in(tls_dir(), "expired-client.key"), &err_),
          "expired on 2020-01-0");
  REFUSED(ZKHA_STATUS_INVALID_ARGUMENT, zkha_client_replace_tls(c, NULL, in(tls_dir(), "client.pem"), NULL, &err_),
          "cert and key go together");
  REFUSED(ZKHA_STATUS_CONFIG, zkha_client_replace_tls(c, "-----BEGIN nonsense", NULL, NULL, &err_), "CA");
  /* A CA that does not vouch for the server: accepted now, refused at the next connection. */
  OK(zkha_client_replace_tls(c, in(tls_dir(), "client.pem"), NULL, NULL, &e_));
  snprintf(args, sizeof args, "proxy '%s' cut %s", h, id);
  CHECK(testkit(args, NULL, 0), "%s", args);
  CHECK(wait_connected(c, false, 10), "the cut ends the connection");
  /* (Short: the client library backs off exponentially between attempts.) */
  CHECK(!wait_connected(c, true, 1.5), "no reconnect with the wrong CA (state %d)", state_of(c));
  /* The right certificates again, as PEM text: the client reconnects to its session. */
  char *ca = slurp(in(tls_dir(), "ca.pem")), *cert = slurp(in(tls_dir(), "client.pem")),
       *key = slurp(in(tls_dir(), "client.key"));
  CHECK(ca && cert && key, "the kit's PEM files");
  zkha_error *err = NULL;
  zkha_status s = zkha_client_replace_tls(c, ca, cert, key, &err);
  free(ca);
  free(cert);
  free(key);
  CHECK(s == ZKHA_STATUS_OK, "%s", zkha_error_message(err));
  double t = now_s();
  CHECK(wait_connected(c, true, 25), "reconnected with the replaced CA (state %d)", state_of(c));
  double took = now_s() - t;
  CHECK(zkha_client_session_id(c) == session, "the same session");
  char p[128];
  unique(p, sizeof p, "c-tls-replaced");
  OK(zkha_put(c, p, (const uint8_t *)"x", 1, &e_));
  zkha_client_free(c);
  snprintf(args, sizeof args, "proxy '%s' stop %s", h, id);
  CHECK(testkit(args, NULL, 0), "%s", args);
  printf("ok tls_replace (reconnected %.1f s after the replacement)\n", took);
}

/* SASL DIGEST-MD5 with the creator ACL: work under user zkha; user other is kept out; a wrong
 * password names the user, never the password; a Flink configuration's JAAS file. */
static void test_digest(void) {
  zkha_options *o = NULL;
  OK(digest_options("zkha", "secret", &o, &e_));
  zkha_client *zkha = connect_with(o);
  OK(digest_options("other", "pw2", &o, &e_));
  zkha_client *other = connect_with(o);
  char base[128];
  STEP(owner_works_other_is_kept_out(zkha, other, "c-digest", base, sizeof base));
  zkha_client_free(other);

  OK(digest_options("zkha", "Xyzzy-not-it-42", &o, &e_));
  zkha_client *c = NULL;
  zkha_error *err = NULL;
  double t = now_s();
  zkha_status s = zkha_client_connect_with(o, &c, &err);
  double took = now_s() - t;
  zkha_options_free(o);
  const char *m = zkha_error_message(err);
  CHECK(s == ZKHA_STATUS_NO_AUTH && strstr(m, "DIGEST-MD5 user zkha") && !strstr(m, "Xyzzy"),
        "%s: %s", zkha_status_name(s), m);
  CHECK(getenv("ZKHA_TEST_SLOW") || took < 15, "took %.1f s", took);
  zkha_error_free(err);

  /* Flink's keys: the creator ACL and the JAAS file; a setter replaces the file's user. */
  char conf[] = "/tmp/zkha-c-sec-conf-XXXXXX";
  int fd = mkstemp(conf);
  CHECK(fd >= 0, "mkstemp");
  dprintf(fd,
          "high-availability.zookeeper.quorum: %s\n"
          "high-availability.zookeeper.client.acl: creator\n"
          "env.java.opts.all: -Djava.security.auth.login.config=%s\n",
          env("ZKHA_TEST_DIGEST_CONNECT"), env("ZKHA_TEST_DIGEST_JAAS"));
  close(fd);
  char data[160];
  snprintf(data, sizeof data, "%s/data", base);
  OK(zkha_options_from_flink_config(conf, &o, &e_));
  c = connect_with(o);
  CHECK(c != NULL, "user zkha from the Flink configuration's JAAS file");
  zkha_bytes got = {0};
  OK(zkha_get_data(c, data, &got, &e_));
  zkha_bytes_free(got);
  zkha_client_free(c);
  OK(zkha_options_from_flink_config(conf, &o, &e_));
  OK(zkha_options_set_sasl_digest_md5(o, "other", "pw2", &e_));
  c = connect_with(o);
  unlink(conf);
  CHECK(c != NULL, "user other, set over the file's");
  REFUSED(ZKHA_STATUS_NO_AUTH, zkha_get_data(c, data, &got, &err_), data);
  zkha_client_free(c);
  zkha_client_free(zkha);
  printf("ok digest (wrong password refused in %.2f s)\n", took);
}

/* addAuth credentials with the creator ACL and an explicit ACL list, on a plain server. */
static void test_auth_acl(void) {
  zkha_options *o = NULL;
  OK(auth_options("digest:alice:pw-a", ZKHA_ACL_MODE_CREATOR, &o, &e_));
  zkha_client *alice = connect_with(o);
  OK(auth_options("digest:bob:pw-b", ZKHA_ACL_MODE_OPEN, &o, &e_));
  zkha_client *bob = connect_with(o);
  CHECK(alice && bob, "alice and bob");
  char base[128];
  unique(base, sizeof base, "c-auth");
  STEP(owner_only(alice, bob, base));
  zkha_client *anyone = NULL;
  OK(zkha_client_connect(env("ZKHA_TEST_CONNECT"), 4000, &anyone, &e_));
  char data[160];
  snprintf(data, sizeof data, "%s/data", base);
  zkha_bytes got = {0};
  REFUSED(ZKHA_STATUS_NO_AUTH, zkha_get_data(anyone, data, &got, &err_), data);

  /* An explicit list: carol all (auth::), anyone may read. */
  OK(auth_options("digest:carol:pw-c", ZKHA_ACL_MODE_OPEN, &o, &e_));
  OK(zkha_options_add_acl_entry(o, "auth::cdrwa", &e_));
  OK(zkha_options_add_acl_entry(o, "world:anyone:r", &e_));
  zkha_client *carol = connect_with(o);
  CHECK(carol != NULL, "carol");
  char listed[128], child[160];
  unique(listed, sizeof listed, "c-acl-list");
  snprintf(child, sizeof child, "%s/child", listed);
  OK(zkha_put(carol, child, (const uint8_t *)"c", 1, &e_));
  OK(zkha_get_data(bob, child, &got, &e_));
  CHECK(got.len == 1 && got.data[0] == 'c', "anyone reads");
  zkha_bytes_free(got);
  REFUSED(ZKHA_STATUS_NO_AUTH, zkha_put(bob, child, (const uint8_t *)"x", 1, &err_), child);
  REFUSED(ZKHA_STATUS_NO_AUTH, zkha_delete(bob, child, -1, &err_), child);
  OK(zkha_delete(carol, child, -1, &e_));
  OK(zkha_delete(carol, listed, -1, &e_));

  /* Open: anyone may delete. */
  char open[128];
  unique(open, sizeof open, "c-acl-open");
  OK(zkha_put(bob, open, (const uint8_t *)"o", 1, &e_));
  OK(zkha_delete(anyone, open, -1, &e_));
  zkha_client_free(carol);
  zkha_client_free(anyone);
  zkha_client_free(bob);
  zkha_client_free(alice);
  printf("ok auth_acl\n");
}

/* Kerberos from a keytab alone (KRB5CCNAME points nowhere): work under zkha@REALM, principal
 * other kept out by the creator ACL, and misconfigurations named. */
static void test_kerberos(void) {
  zkha_options *o = NULL;
  OK(krb_options("zkha", &o, &e_));
  zkha_client *zkha = connect_with(o);
  OK(krb_options("other", &o, &e_));
  /* Principal NULL: the keytab's first. */
  OK(zkha_options_set_sasl_kerberos_keytab(o, in(env("ZKHA_TEST_KRB_DIR"), "other.keytab"), NULL, &e_));
  zkha_client *other = connect_with(o);
  char base[128];
  STEP(owner_works_other_is_kept_out(zkha, other, "c-krb", base, sizeof base));
  zkha_client_free(other);
  zkha_client_free(zkha);

  zkha_client *c = NULL;
  const char *missing = in(env("ZKHA_TEST_KRB_DIR"), "no-such.keytab");
  OK(krb_options("zkha", &o, &e_));
  OK(zkha_options_set_sasl_kerberos_keytab(o, missing, "zkha", &e_));
  REFUSED(ZKHA_STATUS_CONFIG, zkha_client_connect_with(o, &c, &err_), missing);
  zkha_options_free(o);
  OK(krb_options("zkha", &o, &e_));
  OK(zkha_options_set_kerberos_service(o, "zookeepr", &e_));
  REFUSED(ZKHA_STATUS_CONFIG, zkha_client_connect_with(o, &c, &err_), "zookeepr");
  zkha_options_free(o);
  printf("ok kerberos\n");
}

int main(int argc, char **argv) {
  const char *only = argc > 1 ? argv[1] : NULL;
  if (!only || !strcmp(only, "options")) test_options();
  if (!only || !strcmp(only, "tls")) test_tls();
  if (!only || !strcmp(only, "tls_errors")) test_tls_errors();
  if (!only || !strcmp(only, "tls_replace")) test_tls_replace();
  if (!only || !strcmp(only, "digest")) test_digest();
  if (!only || !strcmp(only, "auth_acl")) test_auth_acl();
  if (!only || !strcmp(only, "kerberos")) test_kerberos();
  printf("%d failed\n", failures);
  return failures ? 1 : 0;
}
