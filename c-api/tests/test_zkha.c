/* C test suite of libzkha against a real ZooKeeper (ZKHA_TEST_CONNECT, from the test kit).
 * Each test prints "ok <name>" or fails with a message and a non-zero exit. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

static const char *connect_string;

static zkha_client *connect_or_die(uint64_t session_ms) {
  zkha_client *c = NULL;
  zkha_error *err = NULL;
  if (zkha_client_connect(connect_string, session_ms, &c, &err) != ZKHA_STATUS_OK) {
    fprintf(stderr, "cannot connect to %s: %s\n", connect_string, zkha_error_message(err));
    exit(2);
  }
  return c;
}

/* Core's one contract as C sees it: every status, reason and state has its own name, the one
 * Python and Java use for the same kind. */
static void test_contract(void) {
  const char *names[ZKHA_STATUS_INTERNAL + 1];
  for (int s = ZKHA_STATUS_OK; s <= ZKHA_STATUS_INTERNAL; s++) {
    names[s] = zkha_status_name(s);
    CHECK(strcmp(names[s], "unknown") != 0, "status %d has no name", s);
    for (int t = 0; t < s; t++) CHECK(strcmp(names[s], names[t]) != 0, "statuses %d and %d are both %s", t, s, names[s]);
  }
  CHECK(strcmp(zkha_status_name(ZKHA_STATUS_NOT_LEADER), "not_leader") == 0, "%s", zkha_status_name(ZKHA_STATUS_NOT_LEADER));
  CHECK(strcmp(zkha_status_name(ZKHA_STATUS_INTERNAL + 1), "unknown") == 0, "past the last status");
  CHECK(strcmp(zkha_reason_name(ZKHA_REASON_LEASE_EXPIRED), "lease_expired") == 0, "lease_expired");
  CHECK(strcmp(zkha_reason_name(ZKHA_REASON_CLOSED), "closed") == 0, "closed");
  CHECK(strcmp(zkha_reason_name(ZKHA_REASON_SUSPENDED), "suspended") == 0, "suspended");
  CHECK(strcmp(zkha_reason_name(0), "unknown") == 0, "reason 0");
  CHECK(strcmp(zkha_connection_state_name(ZKHA_CONNECTION_STATE_SUSPENDED), "suspended") == 0, "suspended");
  CHECK(strcmp(zkha_connection_state_name(ZKHA_CONNECTION_STATE_CLOSED), "closed") == 0, "closed");
  CHECK(strcmp(zkha_connection_state_name(-1), "unknown") == 0, "state -1");
  printf("ok contract\n");
}

static void test_errors(void) {
  /* The library is the version of this header (and the macros agree with the string). */
  char macros[32];
  snprintf(macros, sizeof macros, "%d.%d.%d", ZKHA_VERSION_MAJOR, ZKHA_VERSION_MINOR, ZKHA_VERSION_PATCH);
  CHECK(strcmp(zkha_version(), ZKHA_VERSION) == 0, "library %s, header %s", zkha_version(), ZKHA_VERSION);
  CHECK(strcmp(macros, ZKHA_VERSION) == 0, "macros %s, ZKHA_VERSION %s", macros, ZKHA_VERSION);
  zkha_error *err = NULL;
  zkha_client *c = NULL;
  CHECK(zkha_client_connect(NULL, 1000, &c, &err) == ZKHA_STATUS_NULL_ARGUMENT, "NULL connect");
  CHECK(strstr(zkha_error_message(err), "connect") != NULL, "%s", zkha_error_message(err));
  CHECK(zkha_error_code(err) == ZKHA_STATUS_NULL_ARGUMENT, "code");
  zkha_error_free(err);
  err = NULL;
  CHECK(zkha_client_connect("host:99999", 1000, &c, &err) == ZKHA_STATUS_INVALID_ARGUMENT, "bad port");
  CHECK(strstr(zkha_error_message(err), "host:99999") != NULL, "%s", zkha_error_message(err));
  zkha_error_free(err);
  /* err may be NULL: only the status tells. */
  CHECK(zkha_client_connect("a:1,,b", 1000, &c, NULL) == ZKHA_STATUS_INVALID_ARGUMENT, "empty entry");
  CHECK(zkha_client_connect(connect_string, 1000, NULL, NULL) == ZKHA_STATUS_NULL_ARGUMENT, "NULL out");
  /* NULL handles everywhere. */
  CHECK(zkha_election_has_leadership(NULL) == false, "NULL election");
  CHECK(zkha_election_fencing_token(NULL) == -1, "NULL token");
  CHECK(zkha_lock_is_held(NULL) == false, "NULL lock");
  CHECK(zkha_election_wait(NULL, 10, NULL, NULL) == ZKHA_STATUS_NULL_ARGUMENT, "NULL wait");
  CHECK(zkha_lock_release(NULL, NULL) == ZKHA_STATUS_OK, "NULL release is fine");
  zkha_client_free(NULL);
  zkha_election_free(NULL);
  zkha_counter_free(NULL);
  zkha_store_free(NULL);
  zkha_config_watch_free(NULL);
  zkha_leader_watch_free(NULL);
  zkha_error_free(NULL);
  zkha_bytes empty = {0};
  zkha_bytes_free(empty);
  /* Bad paths name themselves. */
  zkha_client *good = connect_or_die(4000);
  zkha_election *e = NULL;
  err = NULL;
  CHECK(zkha_election_join(good, "relative/latch", "x", &e, &err) == ZKHA_STATUS_INVALID_ARGUMENT, "relative");
  CHECK(strstr(zkha_error_message(err), "relative/latch") != NULL, "%s", zkha_error_message(err));
  zkha_error_free(err);
  zkha_client_free(good);
  /* Unreachable servers: a clear error, not a hang. */
  double t = now_s();
  err = NULL;
  CHECK(zkha_client_connect("127.0.0.1:1", 300, &c, &err) == ZKHA_STATUS_CONNECTION_LOSS, "unreachable");
  CHECK(strstr(zkha_error_message(err), "127.0.0.1:1") != NULL, "%s", zkha_error_message(err));
  CHECK(getenv("ZKHA_TEST_SLOW") || now_s() - t < 20, "took %.1f s", now_s() - t);
  zkha_error_free(err);
  printf("ok errors\n");
}

static void test_client_and_election(void) {
  zkha_client *a = connect_or_die(4000), *b = connect_or_die(4000);
  zkha_connection_state st;
  OK(zkha_client_state(a, &st, &e_));
  CHECK(st == ZKHA_CONNECTION_STATE_CONNECTED, "state %d", st);
  CHECK(zkha_client_session_id(a) != 0, "session id");
  char latch[128];
  unique(latch, sizeof latch, "c-latch");
  zkha_election *ea = NULL, *eb = NULL;
  int64_t ta = -1, tb = -1;
  OK(zkha_election_join(a, latch, "a", &ea, &e_));
  OK(zkha_election_wait(ea, 5000, &ta, &e_));
  CHECK(ta > 0 && zkha_election_has_leadership(ea), "a leads");
  CHECK(zkha_election_fencing_token(ea) == ta, "token");
  OK(zkha_election_join(b, latch, "b", &eb, &e_));
  zkha_error *err = NULL;
  CHECK(zkha_election_wait(eb, 300, NULL, &err) == ZKHA_STATUS_TIMEOUT, "b waits");
  zkha_error_free(err);
  zkha_election_event ev;
  OK(zkha_election_next_event(eb, 50, &ev, &e_));
  CHECK(ev.kind == ZKHA_ELECTION_EVENT_KIND_NONE, "no event yet");
  double t = now_s();
  zkha_election_free(ea); /* leaves at once */
  OK(zkha_election_next_event(eb, 5000, &ev, &e_));
  CHECK(ev.kind == ZKHA_ELECTION_EVENT_KIND_GRANTED, "b granted, kind %d", ev.kind);
  CHECK(ev.fencing_token > ta, "tokens grow: %lld then %lld", (long long)ta, (long long)ev.fencing_token);
  /* Timing is meaningless under valgrind (ZKHA_TEST_SLOW): checked in the plain and ASan runs. */
  CHECK(getenv("ZKHA_TEST_SLOW") || now_s() - t < 1.0, "hand-over took %.3f s", now_s() - t);
  OK(zkha_election_wait(eb, 100, &tb, &e_));
  CHECK(tb == ev.fencing_token, "same grant");
  zkha_election_free(eb);
  zkha_client_free(a);
  zkha_client_free(b);
  printf("ok client_and_election\n");
}

static volatile int revoked_reason = -1;
static void on_revoke(void *ud, int reason) {
  *(volatile int *)ud = reason;
}

/* A callback that blocks for a while, makes a blocking zkha call (ud: the client) and records
 * the name of the thread it ran on. */
static char slow_thread[32];
static volatile int slow_reason = -1, slow_put = -1;
static void slow_on_revoke(void *ud, int reason) {
  pthread_getname_np(pthread_self(), slow_thread, sizeof slow_thread);
  usleep(1500000);
  slow_put = zkha_put((const zkha_client *)ud, "/c-revoke-callback-put", (const uint8_t *)"x", 1, NULL);
  slow_reason = reason;
}

static void test_revoke_callback(void) {
  zkha_client *a = connect_or_die(4000);
  char latch[128];
  unique(latch, sizeof latch, "c-revoke");
  zkha_election *e = NULL;
  OK(zkha_election_join(a, latch, "a", &e, &e_));
  OK(zkha_election_wait(e, 5000, NULL, &e_));
  OK(zkha_election_on_revoke(e, on_revoke, (void *)&revoked_reason, &e_));
  OK(zkha_election_on_revoke(e, slow_on_revoke, a, &e_));
  CHECK(zkha_election_on_revoke(e, NULL, NULL, NULL) == ZKHA_STATUS_NULL_ARGUMENT, "NULL cb");
  /* Another election of the same client keeps its lease while the slow callback blocks. */
  char other[128];
  unique(other, sizeof other, "c-revoke-other");
  zkha_election *o = NULL;
  OK(zkha_election_join(a, other, "o", &o, &e_));
  OK(zkha_election_wait(o, 5000, NULL, &e_));
  /* Freeing delivers the revocation it causes before it returns, and no call comes after. */
  zkha_election_free(e);
  CHECK(revoked_reason == ZKHA_REASON_CLOSED, "revoke callback with reason closed before free returned, got %d",
        revoked_reason);
  CHECK(slow_reason == ZKHA_REASON_CLOSED, "the slow callback finished before free returned, got %d", slow_reason);
  CHECK(slow_put == ZKHA_STATUS_OK, "a blocking call from the callback: status %d", slow_put);
  CHECK(strcmp(slow_thread, "zkha-on-revoke") == 0, "callback ran on thread '%s'", slow_thread);
  CHECK(zkha_election_has_leadership(o), "the other election still leads");
  zkha_election_free(o);
  zkha_client_free(a);
  printf("ok revoke_callback\n");
}

/* A planned hand-over: the leader asked to step down revokes with ZKHA_REASON_STEP_DOWN and its
 * successor leads; without a standby it is refused, naming why, and nothing changes. */
static volatile int step_down_reason = -1;

static void test_step_down(void) {
  zkha_client *a = connect_or_die(4000), *b = connect_or_die(4000), *tool = connect_or_die(4000);
  char latch[128];
  unique(latch, sizeof latch, "c-step-down");
  zkha_election *ea = NULL, *eb = NULL;
  OK(zkha_election_join(a, latch, "a", &ea, &e_));
  OK(zkha_election_wait(ea, 5000, NULL, &e_));
  OK(zkha_election_on_revoke(ea, on_revoke, (void *)&step_down_reason, &e_));
  OK(zkha_election_join(b, latch, "b", &eb, &e_));
  zkha_error *err = NULL;
  CHECK(zkha_election_wait(eb, 200, NULL, &err) == ZKHA_STATUS_TIMEOUT, "b waits");
  zkha_error_free(err);
  zkha_bytes json = {0};
  OK(zkha_step_down(tool, latch, false, 10000, &json, &e_));
  char text[4096] = {0};
  memcpy(text, json.data, json.len < sizeof text - 1 ? json.len : sizeof text - 1);
  zkha_bytes_free(json);
  CHECK(strstr(text, "\"how\":\"asked\"") != NULL, "%s", text);
  CHECK(strstr(text, "\"new_leader\":{\"node\"") != NULL, "%s", text);
  OK(zkha_election_wait(eb, 5000, NULL, &e_));
  for (int i = 0; i < 500 && step_down_reason == -1; i++) usleep(10000);
  CHECK(step_down_reason == ZKHA_REASON_STEP_DOWN, "revoked with step_down, got %d", step_down_reason);
  CHECK(strcmp(zkha_reason_name(ZKHA_REASON_STEP_DOWN), "step_down") == 0, "named");
  CHECK(!zkha_election_has_leadership(ea), "a no longer leads");
  zkha_election_free(ea);
  /* b alone: refused, and b still leads. */
  err = NULL;
  CHECK(zkha_step_down(tool, latch, true, 5000, NULL, &err) == ZKHA_STATUS_INVALID_ARGUMENT, "no standby");
  CHECK(strstr(zkha_error_message(err), "no standby") != NULL, "%s", zkha_error_message(err));
  zkha_error_free(err);
  CHECK(zkha_election_has_leadership(eb), "b still leads");
  zkha_election_free(eb);
  zkha_client_free(tool);
  zkha_client_free(b);
  zkha_client_free(a);
  printf("ok step_down\n");
}

static void test_locks(void) {
  zkha_client *a = connect_or_die(4000), *b = connect_or_die(4000);
  char path[128];
  unique(path, sizeof path, "c-lock");
  zkha_lock *la = NULL, *lb = NULL;
  OK(zkha_lock_acquire(a, path, ZKHA_LOCK_KIND_MUTEX, 0, 5000, &la, &e_));
  CHECK(zkha_lock_is_held(la), "held");
  int64_t t1 = zkha_lock_fencing_token(la);
  zkha_error *err = NULL;
  CHECK(zkha_lock_acquire(b, path, ZKHA_LOCK_KIND_MUTEX, 0, 300, &lb, &err) == ZKHA_STATUS_TIMEOUT, "excluded");
  zkha_error_free(err);
  OK(zkha_lock_release(la, &e_));
  OK(zkha_lock_acquire(b, path, ZKHA_LOCK_KIND_MUTEX, 0, 5000, &lb, &e_));
  CHECK(zkha_lock_fencing_token(lb) > t1, "tokens grow");
  OK(zkha_lock_release(lb, &e_));
  /* Read-write and semaphore. */
  zkha_lock *r1 = NULL, *r2 = NULL, *w = NULL, *s1 = NULL, *s2 = NULL, *s3 = NULL;
  OK(zkha_lock_acquire(a, path, ZKHA_LOCK_KIND_READ, 0, 5000, &r1, &e_));
  OK(zkha_lock_acquire(b, path, ZKHA_LOCK_KIND_READ, 0, 5000, &r2, &e_));
  CHECK(zkha_lock_acquire(a, path, ZKHA_LOCK_KIND_WRITE, 0, 300, &w, NULL) == ZKHA_STATUS_TIMEOUT, "writer waits");
  OK(zkha_lock_release(r1, &e_));
  OK(zkha_lock_release(r2, &e_));
  OK(zkha_lock_acquire(a, path, ZKHA_LOCK_KIND_WRITE, 0, 5000, &w, &e_));
  OK(zkha_lock_release(w, &e_));
  char sem[128];
  unique(sem, sizeof sem, "c-sem");
  OK(zkha_lock_acquire(a, sem, ZKHA_LOCK_KIND_SEMAPHORE, 2, 5000, &s1, &e_));
  OK(zkha_lock_acquire(b, sem, ZKHA_LOCK_KIND_SEMAPHORE, 2, 5000, &s2, &e_));
  CHECK(zkha_lock_acquire(a, sem, ZKHA_LOCK_KIND_SEMAPHORE, 2, 300, &s3, NULL) == ZKHA_STATUS_TIMEOUT, "2 leases");
  OK(zkha_lock_release(s1, &e_));
  OK(zkha_lock_release(s2, &e_));
  /* One timeout convention: 0 takes a lock only if it is free, without waiting, and leaves no
   * node behind otherwise; ZKHA_WAIT_FOREVER waits without limit. */
  zkha_lock *held = NULL, *busy = NULL;
  OK(zkha_lock_acquire(a, path, ZKHA_LOCK_KIND_MUTEX, 0, ZKHA_WAIT_FOREVER, &held, &e_));
  struct timespec w0, w1;
  clock_gettime(CLOCK_MONOTONIC, &w0);
  CHECK(zkha_lock_acquire(b, path, ZKHA_LOCK_KIND_MUTEX, 0, 0, &busy, NULL) == ZKHA_STATUS_TIMEOUT, "busy at once");
  clock_gettime(CLOCK_MONOTONIC, &w1);
  CHECK(w1.tv_sec - w0.tv_sec < 2, "0 does not wait (%lds)", (long)(w1.tv_sec - w0.tv_sec));
  OK(zkha_lock_release(held, &e_));
  OK(zkha_lock_acquire(b, path, ZKHA_LOCK_KIND_MUTEX, 0, 0, &busy, &e_));
  OK(zkha_lock_release(busy, &e_));
  /* An out-of-range kind is an error naming it, never undefined behaviour. */
  zkha_lock *bad = NULL;
  err = NULL;
  CHECK(zkha_lock_acquire(a, path, 7, 0, 300, &bad, &err) == ZKHA_STATUS_INVALID_ARGUMENT, "kind 7");
  CHECK(bad == NULL && strstr(zkha_error_message(err), "lock kind must be one of 0 (mutex), 1 (read), 2 (write), 3 (semaphore), got 7") != NULL,
        "%s", zkha_error_message(err));
  zkha_error_free(err);
  zkha_options *o = NULL;
  OK(zkha_options_new("127.0.0.1:1", &o, &e_));
  err = NULL;
  CHECK(zkha_options_set_acl(o, -1, &err) == ZKHA_STATUS_INVALID_ARGUMENT, "ACL mode -1");
  CHECK(strstr(zkha_error_message(err), "ACL mode must be one of 0..=1, got -1") != NULL, "%s",
        zkha_error_message(err));
  zkha_error_free(err);
  zkha_options_free(o);
  zkha_client_free(a);
  zkha_client_free(b);
  printf("ok locks\n");
}

static void test_counter_store_watch(void) {
  zkha_client *c = connect_or_die(4000);
  char path[128];
  unique(path, sizeof path, "c-counter");
  zkha_counter *k = NULL;
  OK(zkha_counter_new(c, path, 1, false, &k, &e_));
  int64_t prev = 0, value = 0;
  int32_t version = 0;
  for (int i = 1; i <= 3; i++) {
    OK(zkha_counter_get_and_increment(k, &prev, &e_));
    CHECK(prev == i, "got %lld", (long long)prev);
  }
  OK(zkha_counter_get(k, &value, &version, &e_));
  CHECK(value == 4, "value %lld", (long long)value);
  bool swapped = true;
  OK(zkha_counter_compare_and_set(k, version - 1, 9, &swapped, &e_));
  CHECK(!swapped, "stale version");
  OK(zkha_counter_compare_and_set(k, version, 9, &swapped, &e_));
  CHECK(swapped, "swapped");
  zkha_bytes raw = {0};
  OK(zkha_get_data(c, path, &raw, &e_));
  CHECK(raw.len == 4 && raw.data[3] == 9, "Flink's 4-byte format");
  zkha_bytes_free(raw);
  zkha_counter_free(k);

  char root[128];
  unique(root, sizeof root, "c-store");
  zkha_store *s = NULL;
  OK(zkha_store_new(c, root, &s, &e_));
  OK(zkha_store_add_and_lock(s, "0000000000000000001", (const uint8_t *)"cp1", 3, &e_));
  CHECK(zkha_store_add_and_lock(s, "0000000000000000001", (const uint8_t *)"x", 1, NULL) == ZKHA_STATUS_NODE_EXISTS, "exists");
  zkha_bytes got = {0};
  OK(zkha_store_get_and_lock(s, "0000000000000000001", &got, &e_));
  CHECK(got.len == 3 && memcmp(got.data, "cp1", 3) == 0, "data");
  zkha_bytes_free(got);
  int32_t ver = -2;
  OK(zkha_store_exists(s, "0000000000000000001", &ver, &e_));
  CHECK(ver == 0, "version %d", ver);
  OK(zkha_store_replace(s, "0000000000000000001", 0, (const uint8_t *)"cp1b", 4, &ver, &e_));
  CHECK(ver == 1, "new version %d", ver);
  CHECK(zkha_store_replace(s, "0000000000000000001", 0, (const uint8_t *)"x", 1, NULL, NULL) == ZKHA_STATUS_BAD_VERSION, "stale");
  zkha_store *other = NULL;
  OK(zkha_store_new(c, root, &other, &e_));
  CHECK(zkha_store_replace(other, "0000000000000000001", 1, (const uint8_t *)"y", 1, NULL, NULL) == ZKHA_STATUS_NO_NODE, "not locked by other");
  zkha_bytes names = {0};
  size_t count = 0;
  OK(zkha_store_list(s, &names, &count, &e_));
  CHECK(count == 1 && strcmp((const char *)names.data, "0000000000000000001") == 0, "list");
  zkha_bytes_free(names);
  OK(zkha_store_get_and_lock(other, "0000000000000000001", &got, &e_));
  zkha_bytes_free(got);
  bool removed = true;
  OK(zkha_store_release_and_try_remove(s, "0000000000000000001", &removed, &e_));
  CHECK(!removed, "the other store still holds it");
  OK(zkha_store_release(s, "0000000000000000001", &e_));
  OK(zkha_store_release_and_try_remove(other, "0000000000000000001", &removed, &e_));
  CHECK(removed, "removed by the last owner");
  OK(zkha_store_exists(s, "0000000000000000001", &ver, &e_));
  CHECK(ver == -1, "gone");
  zkha_store_free(other);
  zkha_store_free(s);

  char cfg[128], key[160];
  unique(cfg, sizeof cfg, "c-config");
  snprintf(key, sizeof key, "%s/flag", cfg);
  OK(zkha_put(c, key, (const uint8_t *)"off", 3, &e_));
  zkha_config_watch *w = NULL;
  OK(zkha_config_watch_start(c, cfg, ZKHA_WAIT_FOREVER, &w, &e_));
  zkha_bytes v = {0};
  OK(zkha_config_watch_get(w, "flag", &v, &e_));
  CHECK(v.len == 3 && memcmp(v.data, "off", 3) == 0, "snapshot");
  zkha_bytes_free(v);
  CHECK(zkha_config_watch_get(w, "missing", &v, NULL) == ZKHA_STATUS_NO_NODE, "missing");
  OK(zkha_put(c, key, (const uint8_t *)"on", 2, &e_));
  bool changed = false, deleted = true;
  zkha_bytes p = {0};
  OK(zkha_config_watch_next(w, 5000, &changed, &p, &v, &deleted, &e_));
  CHECK(changed && !deleted && p.len == 4 && memcmp(p.data, "flag", 4) == 0 && v.len == 2, "change");
  zkha_bytes_free(p);
  zkha_bytes_free(v);
  zkha_config_watch_free(w);

  char info[128];
  unique(info, sizeof info, "c-leader-info");
  zkha_leader_watch *lw = NULL;
  OK(zkha_leader_watch_start(c, info, &lw, &e_));
  bool present = true;
  zkha_bytes d = {0};
  OK(zkha_leader_watch_next(lw, 5000, &changed, &present, &d, &e_));
  CHECK(changed && !present, "empty first");
  OK(zkha_put(c, info, (const uint8_t *)"leader-1", 8, &e_));
  OK(zkha_leader_watch_next(lw, 5000, &changed, &present, &d, &e_));
  CHECK(changed && present && d.len == 8, "present");
  zkha_bytes_free(d);
  zkha_leader_watch_free(lw);
  zkha_client_free(c);
  printf("ok counter_store_watch\n");
}

/* Child mode: lead `latch`, say so on stdout, wait to be killed. */
static int child(const char *latch) {
  zkha_client *c = connect_or_die(2000);
  zkha_election *e = NULL;
  if (zkha_election_join(c, latch, "child", &e, NULL) != ZKHA_STATUS_OK) return 3;
  if (zkha_election_wait(e, 10000, NULL, NULL) != ZKHA_STATUS_OK) return 4;
  printf("GRANTED\n");
  fflush(stdout);
  for (;;) pause();
}

static void test_election_across_processes(const char *self) {
  char latch[128];
  unique(latch, sizeof latch, "c-procs");
  int fds[2];
  CHECK(pipe(fds) == 0, "pipe");
  pid_t pid = fork();
  if (pid == 0) {
    /* Before any zkha call in this process: exec a fresh image. */
    dup2(fds[1], 1);
    close(fds[0]);
    execl(self, self, "child", latch, (char *)NULL);
    _exit(5);
  }
  close(fds[1]);
  char buf[32] = {0};
  ssize_t n = read(fds[0], buf, sizeof buf - 1);
  close(fds[0]);
  CHECK(n > 0 && strncmp(buf, "GRANTED", 7) == 0, "child leads (%s)", buf);
  zkha_client *c = connect_or_die(2000);
  zkha_election *e = NULL;
  OK(zkha_election_join(c, latch, "parent", &e, &e_));
  zkha_error *err = NULL;
  CHECK(zkha_election_wait(e, 300, NULL, &err) == ZKHA_STATUS_TIMEOUT, "the child leads");
  zkha_error_free(err);
  double t = now_s();
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
  OK(zkha_election_wait(e, 10000, NULL, &e_));
  double took = now_s() - t;
  CHECK(took < 2.0 + 1.5, "granted %.2f s after the kill (session 2 s)", took);
  printf("ok election_across_processes (%.2f s after SIGKILL, session timeout 2 s)\n", took);
  zkha_election_free(e);
  zkha_client_free(c);
}

/* A lock holder for test_stale_fenced_holder: holds the lock at `lock`, says HELD, then on a
 * line from stdin puts "child" at `reg` through the lock's fence and prints the status name. */
static int fenced_child(const char *lock, const char *reg) {
  zkha_client *c = connect_or_die(2000);
  zkha_lock *l = NULL;
  zkha_fence *f = NULL;
  if (zkha_lock_acquire(c, lock, ZKHA_LOCK_KIND_MUTEX, 0, 10000, &l, NULL) != ZKHA_STATUS_OK) return 3;
  if (zkha_lock_fence(l, &f, NULL) != ZKHA_STATUS_OK) return 4;
  printf("HELD %lld\n", (long long)zkha_fence_token(f));
  fflush(stdout);
  char line[16];
  /* SIGSTOP / SIGCONT may interrupt the read (EINTR): read again. */
  while (!fgets(line, sizeof line, stdin)) {
    if (errno != EINTR) {
      fprintf(stderr, "fenced-child: stdin: %s\n", feof(stdin) ? "end of file" : strerror(errno));
      return 5;
    }
    clearerr(stdin);
  }
  zkha_status s = zkha_fence_put(f, reg, (const uint8_t *)"child", 5, NULL, NULL);
  printf("%s\n", zkha_status_name(s));
  fflush(stdout);
  zkha_fence_free(f);
  zkha_lock_release(l, NULL);
  zkha_client_free(c);
  return 0;
}

/* A holder paused past its session timeout comes back still holding its fence: its write is
 * refused, and the register keeps what the next holder wrote. */
static void test_stale_fenced_holder(const char *self) {
  char lock[128], reg[160];
  unique(lock, sizeof lock, "c-stale-lock");
  snprintf(reg, sizeof reg, "%s-register", lock);
  int to_child[2], from_child[2];
  CHECK(pipe(to_child) == 0 && pipe(from_child) == 0, "pipes");
  pid_t pid = fork();
  if (pid == 0) {
    dup2(to_child[0], 0);
    dup2(from_child[1], 1);
    close(to_child[1]);
    close(from_child[0]);
    execl(self, self, "fenced-child", lock, reg, (char *)NULL);
    _exit(6);
  }
  close(to_child[0]);
  close(from_child[1]);
  FILE *in = fdopen(from_child[0], "r");
  char line[64] = {0};
  long long child_token = -1;
  CHECK(fgets(line, sizeof line, in) && sscanf(line, "HELD %lld", &child_token) == 1, "child holds (%s)", line);
  kill(pid, SIGSTOP);
  zkha_client *c = connect_or_die(6000);
  zkha_lock *l = NULL;
  zkha_fence *f = NULL;
  /* The server expires the paused child's session (2 s); its lock node goes with it. */
  OK(zkha_lock_acquire(c, lock, ZKHA_LOCK_KIND_MUTEX, 0, 20000, &l, &e_));
  OK(zkha_lock_fence(l, &f, &e_));
  CHECK(zkha_fence_token(f) > child_token, "tokens grow");
  OK(zkha_fence_put(f, reg, (const uint8_t *)"parent", 6, NULL, &e_));
  kill(pid, SIGCONT);
  CHECK(write(to_child[1], "write\n", 6) == 6, "tell the child");
  memset(line, 0, sizeof line);
  if (fgets(line, sizeof line, in) == NULL) {
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(0, "the child answers: it ended with %s %d", WIFEXITED(status) ? "exit status" : "signal",
          WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
  }
  CHECK(strncmp(line, "not_leader", 10) == 0 || strncmp(line, "session_expired", 15) == 0,
        "the stale write is refused, got %s", line);
  zkha_bytes got = {0};
  OK(zkha_get_data(c, reg, &got, &e_));
  CHECK(got.len == 6 && memcmp(got.data, "parent", 6) == 0, "the register keeps the new holder's value");
  zkha_bytes_free(got);
  close(to_child[1]);
  fclose(in);
  int status = 0;
  waitpid(pid, &status, 0);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child exit %d", status);
  zkha_fence_free(f);
  OK(zkha_lock_release(l, &e_));
  zkha_client_free(c);
  line[strcspn(line, "\n")] = 0;
  printf("ok stale_fenced_holder (the resumed holder's write: %s)\n", line);
}

/* Fenced writes, versioned znodes and the options C sets. */
static void test_fences_and_nodes(void) {
  zkha_client *c = connect_or_die(4000);
  char base[128], p[192], q[192];
  unique(base, sizeof base, "c-nodes");
  snprintf(p, sizeof p, "%s/n", base);
  OK(zkha_put(c, base, NULL, 0, &e_));
  bool exists = true;
  zkha_stat st = {0};
  OK(zkha_exists(c, p, &exists, &st, &e_));
  CHECK(!exists, "absent");
  zkha_bytes created = {0};
  snprintf(q, sizeof q, "%s/q-", base);
  OK(zkha_create(c, q, (const uint8_t *)"s", 1, ZKHA_NODE_MODE_EPHEMERAL_SEQUENTIAL, &created, &st, &e_));
  CHECK(created.len > strlen(q) && memcmp(created.data, q, strlen(q)) == 0, "sequential suffix");
  CHECK(st.ephemeral_owner == zkha_client_session_id(c), "ephemeral owner");
  zkha_bytes_free(created);
  OK(zkha_create(c, p, (const uint8_t *)"a", 1, ZKHA_NODE_MODE_PERSISTENT, NULL, NULL, &e_));
  CHECK(zkha_create(c, p, NULL, 0, ZKHA_NODE_MODE_PERSISTENT, NULL, NULL, NULL) == ZKHA_STATUS_NODE_EXISTS, "exists");
  zkha_error *err = NULL;
  CHECK(zkha_create(c, p, NULL, 0, 9, NULL, NULL, &err) == ZKHA_STATUS_INVALID_ARGUMENT, "mode 9");
  CHECK(strstr(zkha_error_message(err), "node mode") != NULL, "%s", zkha_error_message(err));
  zkha_error_free(err);
  OK(zkha_set_data(c, p, (const uint8_t *)"bb", 2, 0, &st, &e_));
  CHECK(st.version == 1 && st.data_length == 2, "version %d", st.version);
  CHECK(zkha_set_data(c, p, (const uint8_t *)"c", 1, 0, NULL, NULL) == ZKHA_STATUS_BAD_VERSION, "stale version");
  OK(zkha_exists(c, p, &exists, &st, &e_));
  CHECK(exists && st.version == 1, "stat");
  zkha_bytes names = {0};
  size_t count = 0;
  OK(zkha_get_children(c, base, &names, &count, &e_));
  CHECK(count == 2 && strcmp((const char *)names.data, "n") == 0, "children: %zu, first %s", count,
        (const char *)names.data);
  zkha_bytes_free(names);

  /* Fenced writes through a lock. */
  char lock[192], reg[192], deep[192];
  snprintf(lock, sizeof lock, "%s/lock", base);
  snprintf(reg, sizeof reg, "%s/reg", base);
  snprintf(deep, sizeof deep, "%s/a/b/c", base);
  zkha_lock *l = NULL;
  zkha_fence *f = NULL;
  OK(zkha_lock_acquire(c, lock, ZKHA_LOCK_KIND_MUTEX, 0, 5000, &l, &e_));
  OK(zkha_lock_fence(l, &f, &e_));
  CHECK(zkha_fence_token(f) == zkha_lock_fencing_token(l), "the fence's token is the lock's");
  OK(zkha_fence_put(f, deep, (const uint8_t *)"1", 1, &st, &e_));
  CHECK(st.version == 0, "created with its parents");
  OK(zkha_fence_put(f, reg, (const uint8_t *)"r0", 2, NULL, &e_));
  zkha_op ops[3] = {
      {.kind = ZKHA_OP_KIND_CHECK, .path = reg, .version = 0},
      {.kind = ZKHA_OP_KIND_SET_DATA, .path = reg, .data = (const uint8_t *)"r1", .len = 2, .version = 0},
      {.kind = ZKHA_OP_KIND_DELETE, .path = deep, .version = -1},
  };
  OK(zkha_fence_multi(f, ops, 3, &e_));
  /* All or none: a failing check leaves the set undone. */
  zkha_op fail[2] = {
      {.kind = ZKHA_OP_KIND_SET_DATA, .path = reg, .data = (const uint8_t *)"r2", .len = 2, .version = -1},
      {.kind = ZKHA_OP_KIND_CHECK, .path = reg, .version = 0},
  };
  CHECK(zkha_fence_multi(f, fail, 2, NULL) == ZKHA_STATUS_BAD_VERSION, "check fails");
  zkha_op bad = {.kind = 7, .path = reg};
  err = NULL;
  CHECK(zkha_fence_multi(f, &bad, 1, &err) == ZKHA_STATUS_INVALID_ARGUMENT, "kind 7");
  CHECK(strstr(zkha_error_message(err), "ops[0]") != NULL, "%s", zkha_error_message(err));
  zkha_error_free(err);
  zkha_bytes got = {0};
  OK(zkha_get_data(c, reg, &got, &e_));
  CHECK(got.len == 2 && memcmp(got.data, "r1", 2) == 0, "multi applied once");
  zkha_bytes_free(got);
  OK(zkha_lock_release(l, &e_)); /* frees l; the fence lives on */
  CHECK(zkha_fence_put(f, reg, (const uint8_t *)"late", 4, NULL, NULL) == ZKHA_STATUS_NOT_LEADER, "refused");
  CHECK(zkha_fence_delete(f, reg, -1, NULL) == ZKHA_STATUS_NOT_LEADER, "refused");
  zkha_fence_free(f);
  zkha_fence_free(NULL);

  /* Options: liveness off gives plain latch names; a bad listen host is named. */
  zkha_options *o = NULL;
  OK(zkha_options_new(connect_string, &o, &e_));
  OK(zkha_options_set_liveness(o, false, &e_));
  OK(zkha_options_set_retry(o, 5, 50, 1000, &e_));
  OK(zkha_options_set_strict(o, false, &e_));
  OK(zkha_options_set_lease_margin(o, 300, &e_));
  OK(zkha_options_set_operation_timeout(o, 2000, &e_));
  OK(zkha_options_set_namespace(o, base, &e_));
  err = NULL;
  CHECK(zkha_options_set_liveness_listen(o, "not an ip", 0, &err) == ZKHA_STATUS_INVALID_ARGUMENT, "listen host");
  CHECK(strstr(zkha_error_message(err), "not an ip") != NULL, "%s", zkha_error_message(err));
  zkha_error_free(err);
  zkha_client *plain = NULL;
  OK(zkha_client_connect_with(o, &plain, &e_));
  zkha_options_free(o);
  OK(zkha_put(plain, "/under-namespace", (const uint8_t *)"x", 1, &e_));
  char under[192];
  snprintf(under, sizeof under, "%s/under-namespace", base);
  OK(zkha_exists(c, under, &exists, NULL, &e_));
  CHECK(exists, "the namespace prefixes paths");
  zkha_election *e = NULL;
  OK(zkha_election_join(plain, "/latch", "plain", &e, &e_));
  OK(zkha_election_wait(e, 10000, NULL, &e_));
  snprintf(under, sizeof under, "%s/latch", base);
  OK(zkha_get_children(c, under, &names, &count, &e_));
  CHECK(count == 1 && strstr((const char *)names.data, "-zkha@") == NULL, "a plain latch name: %s",
        (const char *)names.data);
  zkha_bytes_free(names);
  /* Contenders in queue order, the leader first. */
  zkha_election *e2 = NULL;
  OK(zkha_election_join(c, under, "second", &e2, &e_));
  zkha_contender *queue = NULL;
  size_t queued = 0;
  for (int i = 0; i < 250 && queued < 2; i++) {
    zkha_contenders_free(queue, queued);
    OK(zkha_contenders(c, under, &queue, &queued, &e_));
    if (queued < 2) usleep(20000);
  }
  CHECK(queued == 2, "two contenders, got %zu", queued);
  CHECK(queue[0].data.len == 5 && memcmp(queue[0].data.data, "plain", 5) == 0, "the leader first");
  CHECK(queue[1].data.len == 6 && memcmp(queue[1].data.data, "second", 6) == 0, "then the second");
  CHECK(queue[1].stat.ephemeral_owner == zkha_client_session_id(c), "its session");
  zkha_contenders_free(queue, queued);
  OK(zkha_contenders(c, "/no/such/latch", &queue, &queued, &e_));
  CHECK(queued == 0 && queue == NULL, "none for a missing path");
  zkha_election_free(e2);
  zkha_election_free(e);
  zkha_client_free(plain);
  zkha_client_free(c);
  printf("ok fences_and_nodes\n");
}

/* What the change callbacks saw: calls, the last count/length and whether present. */
static volatile int kid_calls = 0, data_calls = 0;
static volatile size_t kid_last = 0, data_last = 0;
static volatile bool data_present = false;
static void on_children(void *ud, bool present, const uint8_t *names, size_t len, size_t count) {
  (void)ud, (void)present, (void)names, (void)len;
  kid_last = count;
  kid_calls++;
}
static void on_data(void *ud, bool present, const uint8_t *data, size_t len) {
  (void)ud, (void)data;
  data_present = present;
  data_last = len;
  data_calls++;
}

/* A watch on any node's children: absent, then each change in order. */
static void test_children_watch(void) {
  zkha_client *c = connect_or_die(4000);
  char dir[128], a[160], b[160];
  unique(dir, sizeof dir, "c-kids");
  snprintf(a, sizeof a, "%s/a", dir);
  snprintf(b, sizeof b, "%s/b", dir);
  zkha_children_watch *w = NULL;
  OK(zkha_children_watch_start(c, dir, &w, &e_));
  OK(zkha_children_watch_on_change(w, on_children, NULL, &e_));
  CHECK(zkha_children_watch_on_change(w, NULL, NULL, NULL) == ZKHA_STATUS_NULL_ARGUMENT, "NULL cb");
  zkha_leader_watch *dw = NULL;
  OK(zkha_leader_watch_start(c, a, &dw, &e_));
  OK(zkha_leader_watch_on_change(dw, on_data, NULL, &e_));
  bool changed = false, present = true;
  zkha_bytes names = {0};
  size_t count = 0;
  OK(zkha_children_watch_next(w, 5000, &changed, &present, &names, &count, &e_));
  CHECK(changed && !present && count == 0, "absent first");
  zkha_bytes_free(names);
  OK(zkha_put(c, a, NULL, 0, &e_)); /* makes dir, then a */
  OK(zkha_put(c, b, NULL, 0, &e_));
  size_t last = 0;
  for (int i = 0; i < 10 && last < 2; i++) {
    OK(zkha_children_watch_next(w, 5000, &changed, &present, &names, &count, &e_));
    CHECK(changed && present && count >= last, "grows in order: %zu after %zu", count, last);
    if (count == 2)
      CHECK(strcmp((const char *)names.data, "a") == 0 && strcmp((const char *)names.data + 2, "b") == 0,
            "sorted names");
    last = count;
    zkha_bytes_free(names);
  }
  CHECK(last == 2, "saw both children");
  OK(zkha_children_watch_next(w, 0, &changed, &present, &names, &count, &e_));
  CHECK(!changed, "nothing more without waiting");
  zkha_bytes_free(names);
  for (int i = 0; i < 250 && (kid_last != 2 || !data_present); i++) usleep(20000);
  CHECK(kid_calls >= 2 && kid_last == 2, "children callback: %d calls, last %zu names", kid_calls, kid_last);
  CHECK(data_calls >= 2 && data_present && data_last == 0, "data callback: %d calls", data_calls);
  zkha_leader_watch_free(dw);
  int after = data_calls;
  OK(zkha_put(c, a, (const uint8_t *)"zz", 2, &e_));
  usleep(200000);
  CHECK(data_calls == after, "no call after free");
  zkha_children_watch_free(w);
  zkha_children_watch_free(NULL);
  zkha_client_free(c);
  printf("ok children_watch\n");
}

static volatile int lost_reason = -1;

static void test_lock_across_languages(void) {
  const char *holder = getenv("ZKHA_LOCK_HOLDER");
  CHECK(holder != NULL, "ZKHA_LOCK_HOLDER (the Rust zkha-lock binary) is not set");
  char path[128], cmd[512];
  unique(path, sizeof path, "c-rust-lock");
  snprintf(cmd, sizeof cmd, "%s '%s' '%s' 1500", holder, connect_string, path);
  FILE *rust = popen(cmd, "r");
  CHECK(rust != NULL, "popen");
  char line[128] = {0};
  CHECK(fgets(line, sizeof line, rust) && strncmp(line, "ACQUIRED", 8) == 0, "the Rust process holds the lock: %s", line);
  zkha_client *c = connect_or_die(4000);
  zkha_lock *l = NULL;
  CHECK(zkha_lock_acquire(c, path, ZKHA_LOCK_KIND_MUTEX, 0, 300, &l, NULL) == ZKHA_STATUS_TIMEOUT, "excluded by Rust");
  OK(zkha_lock_acquire(c, path, ZKHA_LOCK_KIND_MUTEX, 0, 10000, &l, &e_));
  CHECK(fgets(line, sizeof line, rust) && strncmp(line, "RELEASED", 8) == 0, "Rust released first: %s", line);
  CHECK(pclose(rust) == 0, "the Rust process exits cleanly");
  CHECK(zkha_lock_on_lost(l, NULL, NULL, NULL) == ZKHA_STATUS_NULL_ARGUMENT, "NULL callback");
  OK(zkha_lock_on_lost(l, on_revoke, (void *)&lost_reason, &e_));
  OK(zkha_lock_release(l, &e_));
  usleep(100000);
  CHECK(lost_reason == -1, "a released lock is not reported lost (got %d)", lost_reason);
  zkha_client_free(c);
  printf("ok lock_across_languages\n");
}

static void test_flink_config(void) {
  char path[] = "/tmp/zkha-c-conf-XXXXXX";
  int fd = mkstemp(path);
  CHECK(fd >= 0, "mkstemp");
  dprintf(fd, "high-availability.zookeeper.quorum: %s\nhigh-availability.zookeeper.client.session-timeout: 3 s\n", connect_string);
  close(fd);
  zkha_client *c = NULL;
  OK(zkha_client_from_flink_config(path, &c, &e_));
  CHECK(zkha_client_session_id(c) != 0, "connected from a Flink config");
  zkha_client_free(c);
  FILE *f = fopen(path, "w");
  fprintf(f, "high-availability.zookeeper.quorum: %s\nhigh-availability.zkha.strickt: true\n", connect_string);
  fclose(f);
  zkha_error *err = NULL;
  CHECK(zkha_client_from_flink_config(path, &c, &err) == ZKHA_STATUS_CONFIG, "unknown key");
  CHECK(strstr(zkha_error_message(err), "high-availability.zkha.strickt") != NULL, "%s", zkha_error_message(err));
  zkha_error_free(err);
  unlink(path);

  /* The Flink view: core's status document (decoding Flink's bytes is tested in core and
   * Python on a real Flink run's znodes). */
  char root[128], plan[192], counter[192];
  unique(root, sizeof root, "c-flink");
  snprintf(plan, sizeof plan, "%s/execution-plans/0123456789abcdef0123456789abcdef", root);
  snprintf(counter, sizeof counter, "%s/jobs/0123456789abcdef0123456789abcdef/checkpoint_id_counter", root);
  c = connect_or_die(4000);
  OK(zkha_put(c, plan, NULL, 0, &e_));
  zkha_counter *k = NULL;
  OK(zkha_counter_new(c, counter, 7, false, &k, &e_));
  int64_t was = 0;
  OK(zkha_counter_get_and_increment(k, &was, &e_)); /* writes 8: the next checkpoint id */
  zkha_bytes json = {0};
  OK(zkha_flink_status(c, root, &json, &e_));
  char text[1024] = {0};
  memcpy(text, json.data, json.len < sizeof text - 1 ? json.len : sizeof text - 1);
  zkha_bytes_free(json);
  CHECK(strstr(text, "\"jobs\":{\"0123456789abcdef0123456789abcdef\":{\"leader\":null") != NULL, "%s", text);
  CHECK(strstr(text, "\"checkpoint_counter\":8") != NULL, "%s", text);
  CHECK(strstr(text, "\"dispatcher\":null") != NULL, "%s", text);
  zkha_counter_free(k);
  zkha_client_free(c);
  printf("ok flink_config\n");
}

/* Central configuration: a push, a conflicting push refused naming the winner, bad input
 * refused, a pull with a role overlay, history, a rollback byte for byte. */
static void test_flink_config_store(void) {
  zkha_client *c = connect_or_die(4000);
  char store[128];
  unique(store, sizeof store, "c-zkha-config");
  const char *base = "# base\ntaskmanager.numberOfTaskSlots: 2\n";
  zkha_bytes json = {0};
  OK(zkha_flink_config_push(c, store, "base", (const uint8_t *)base, strlen(base), "config.yaml", "c-test",
                            "first", false, -1, NULL, &json, &e_));
  char text[4096] = {0};
  memcpy(text, json.data, json.len < sizeof text - 1 ? json.len : sizeof text - 1);
  zkha_bytes_free(json);
  CHECK(strstr(text, "\"version\":1") != NULL, "%s", text);
  const char *tm = "taskmanager.numberOfTaskSlots: 8\n";
  OK(zkha_flink_config_push(c, store, "role:taskmanager", (const uint8_t *)tm, strlen(tm), "config.yaml",
                            "c-test", "tm slots", false, 1, NULL, NULL, &e_));
  zkha_error *err = NULL;
  CHECK(zkha_flink_config_push(c, store, "base", (const uint8_t *)base, strlen(base), "config.yaml", "c-test",
                               "stale", false, 1, NULL, NULL, &err) == ZKHA_STATUS_BAD_VERSION,
        "a push on version 1 after version 2");
  CHECK(strstr(zkha_error_message(err), "version 2 by c-test") != NULL, "%s", zkha_error_message(err));
  zkha_error_free(err);
  err = NULL;
  const char *bad = "a: [unclosed\n";
  CHECK(zkha_flink_config_push(c, store, "base", (const uint8_t *)bad, strlen(bad), "config.yaml", "c-test", "bad",
                               false, -1, NULL, NULL, &err) == ZKHA_STATUS_CONFIG,
        "malformed YAML");
  zkha_error_free(err);
  /* The team's own secret marker: refused in clear with it; a bad marker list names it. */
  const char *cred = "my.service.credential: abc\n";
  err = NULL;
  CHECK(zkha_flink_config_push(c, store, "base", (const uint8_t *)cred, strlen(cred), "config.yaml", "c-test",
                               "cred", false, -1, "password, credential", NULL, &err) == ZKHA_STATUS_CONFIG,
        "a value in clear of a key with a marker");
  CHECK(strstr(zkha_error_message(err), "my.service.credential looks secret") != NULL, "%s",
        zkha_error_message(err));
  zkha_error_free(err);
  err = NULL;
  CHECK(zkha_flink_config_push(c, store, "base", (const uint8_t *)cred, strlen(cred), "config.yaml", "c-test",
                               "cred", false, -1, "pass word", NULL, &err) == ZKHA_STATUS_INVALID_ARGUMENT,
        "a marker with a space");
  CHECK(strstr(zkha_error_message(err), "\"pass word\"") != NULL, "%s", zkha_error_message(err));
  zkha_error_free(err);
  zkha_bytes pulled = {0};
  uint64_t version = 0;
  OK(zkha_flink_config_pull(c, store, "taskmanager", NULL, &pulled, &version, &e_));
  memset(text, 0, sizeof text);
  memcpy(text, pulled.data, pulled.len < sizeof text - 1 ? pulled.len : sizeof text - 1);
  zkha_bytes_free(pulled);
  CHECK(version == 2, "pulled version %llu", (unsigned long long)version);
  CHECK(strstr(text, "\"taskmanager.numberOfTaskSlots\": \"8\"") != NULL, "%s", text);
  OK(zkha_flink_config_rollback(c, store, 1, "c-test", "back", -1, &json, &e_));
  memset(text, 0, sizeof text);
  memcpy(text, json.data, json.len < sizeof text - 1 ? json.len : sizeof text - 1);
  zkha_bytes_free(json);
  CHECK(strstr(text, "\"version\":3") != NULL && strstr(text, "\"base\":\"# base\\ntaskmanager.numberOfTaskSlots: 2\\n\"") != NULL,
        "%s", text);
  OK(zkha_flink_config_history(c, store, &json, &e_));
  CHECK(json.len > 0 && json.data[0] == '[', "history");
  zkha_bytes_free(json);
  /* What the rollback changed for a TaskManager: its overlay went with version 2. */
  OK(zkha_flink_config_diff(c, store, 2, 3, "taskmanager", NULL, &json, &e_));
  memset(text, 0, sizeof text);
  memcpy(text, json.data, json.len < sizeof text - 1 ? json.len : sizeof text - 1);
  zkha_bytes_free(json);
  CHECK(strcmp(text, "[{\"key\":\"taskmanager.numberOfTaskSlots\",\"before\":\"8\",\"after\":\"2\"}]") == 0, "%s",
        text);
  err = NULL;
  CHECK(zkha_flink_config_remove_overlay(c, store, "role:taskmanager", "c-test", "rm", -1, NULL, &err) ==
            ZKHA_STATUS_NO_NODE,
        "no such overlay in version 3");
  CHECK(strstr(zkha_error_message(err), "no overlay role:taskmanager") != NULL, "%s", zkha_error_message(err));
  zkha_error_free(err);
  err = NULL;
  CHECK(zkha_flink_config_remove_overlay(c, store, "base", "c-test", "rm", -1, NULL, &err) ==
            ZKHA_STATUS_INVALID_ARGUMENT,
        "the base is not an overlay");
  zkha_error_free(err);
  OK(zkha_flink_config_push(c, store, "host:tm-1", (const uint8_t *)tm, strlen(tm), "config.yaml", "c-test", "tm-1",
                            false, 3, NULL, NULL, &e_));
  OK(zkha_flink_config_remove_overlay(c, store, "host:tm-1", "c-test", "tm-1 back", 4, &json, &e_));
  memset(text, 0, sizeof text);
  memcpy(text, json.data, json.len < sizeof text - 1 ? json.len : sizeof text - 1);
  zkha_bytes_free(json);
  CHECK(strstr(text, "\"version\":5") != NULL && strstr(text, "\"hosts\":{}") != NULL, "%s", text);
  zkha_client_free(c);
  printf("ok flink_config_store\n");
}

/* Metrics as Prometheus reads them: a client serving them over HTTP, the labels given, the
 * grant counted; bad options refused naming them. */
static void test_metrics(void) {
  zkha_options *o = NULL;
  OK(zkha_options_new(connect_string, &o, &e_));
  OK(zkha_options_set_session_timeout(o, 4000, &e_));
  OK(zkha_options_set_metrics_listen(o, "127.0.0.1", 0, 0, &e_));
  OK(zkha_options_add_metrics_label(o, "cluster_id", "c-metrics", &e_));
  zkha_error *err = NULL;
  CHECK(zkha_options_add_metrics_label(o, "state", "x", &err) == ZKHA_STATUS_INVALID_ARGUMENT, "reserved");
  CHECK(strstr(zkha_error_message(err), "\"state\"") != NULL, "%s", zkha_error_message(err));
  zkha_error_free(err);
  err = NULL;
  CHECK(zkha_options_set_metrics_listen(o, "monitoring", 9250, 0, &err) == ZKHA_STATUS_INVALID_ARGUMENT, "host");
  CHECK(strstr(zkha_error_message(err), "monitoring") != NULL, "%s", zkha_error_message(err));
  zkha_error_free(err);
  zkha_client *c = NULL;
  OK(zkha_client_connect_with(o, &c, &e_));
  zkha_options_free(o);
  uint16_t port = 0;
  OK(zkha_client_metrics_port(c, &port, &e_));
  CHECK(port != 0, "an endpoint");
  char latch[128];
  unique(latch, sizeof latch, "c-metrics");
  zkha_election *e = NULL;
  OK(zkha_election_join(c, latch, "a", &e, &e_));
  OK(zkha_election_wait(e, 5000, NULL, &e_));

  static char body[1 << 16];
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in at = {.sin_family = AF_INET, .sin_port = htons(port)};
  at.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  CHECK(fd >= 0 && connect(fd, (struct sockaddr *)&at, sizeof at) == 0, "connect to port %u", port);
  const char *get = "GET /metrics HTTP/1.0\r\n\r\n";
  CHECK(write(fd, get, strlen(get)) == (ssize_t)strlen(get), "send");
  size_t n = 0;
  ssize_t r;
  while (n < sizeof body - 1 && (r = read(fd, body + n, sizeof body - 1 - n)) > 0) n += (size_t)r;
  close(fd);
  body[n] = 0;
  CHECK(strstr(body, "HTTP/1.1 200") == body, "%.200s", body);
  CHECK(strstr(body, "zkha_grants_total{cluster_id=\"c-metrics\",client=") != NULL, "%.2000s", body);
  CHECK(strstr(body, "zkha_leading{cluster_id=\"c-metrics\"") != NULL, "leading");

  zkha_bytes text, json;
  OK(zkha_metrics_text(&text, &e_));
  CHECK(text.len > 6 && memcmp(text.data + text.len - 6, "# EOF\n", 6) == 0, "OpenMetrics ends with # EOF");
  zkha_bytes_free(text);
  OK(zkha_client_metrics_json(c, &json, &e_));
  CHECK(memmem(json.data, json.len, "\"grants\":1", 10) != NULL, "%.*s", (int)json.len, json.data);
  zkha_bytes_free(json);
  zkha_election_free(e);
  zkha_client_free(c);
  printf("ok metrics\n");
}

/* The doctor on the test ensemble: it passes, its JSON names the checks; an unreachable
 * ensemble fails and says so. */
static void test_doctor(void) {
  zkha_options *o = NULL;
  OK(zkha_options_new(connect_string, &o, &e_));
  bool passed = false;
  zkha_bytes json;
  OK(zkha_doctor_run(o, NULL, NULL, 2000, &passed, &json, &e_));
  CHECK(passed, "%.*s", (int)json.len, json.data);
  static const char ok_ensemble[] = "\"name\":\"ensemble\",\"status\":\"ok\"";
  CHECK(memmem(json.data, json.len, ok_ensemble, sizeof ok_ensemble - 1) != NULL, "%.*s", (int)json.len,
        json.data);
  zkha_bytes_free(json);
  zkha_options_free(o);
  OK(zkha_options_new("127.0.0.1:1", &o, &e_));
  OK(zkha_options_set_connection_timeout(o, 500, &e_));
  OK(zkha_doctor_run(o, NULL, NULL, 500, &passed, &json, &e_));
  CHECK(!passed, "nothing serves at 127.0.0.1:1");
  CHECK(memmem(json.data, json.len, "\"status\":\"fail\"", 15) != NULL, "%.*s", (int)json.len, json.data);
  zkha_bytes_free(json);
  zkha_options_free(o);
  zkha_error *err = NULL;
  CHECK(zkha_doctor_run(NULL, NULL, NULL, 0, &passed, &json, &err) == ZKHA_STATUS_NULL_ARGUMENT, "no options");
  zkha_error_free(err);
  printf("ok doctor\n");
}

int main(int argc, char **argv) {
  connect_string = getenv("ZKHA_TEST_CONNECT");
  if (!connect_string) {
    fprintf(stderr, "set ZKHA_TEST_CONNECT (c-api/tests/run.sh starts an ensemble)\n");
    return 2;
  }
  if (argc == 3 && strcmp(argv[1], "child") == 0) return child(argv[2]);
  if (argc == 4 && strcmp(argv[1], "fenced-child") == 0) return fenced_child(argv[2], argv[3]);
  const char *only = argc > 1 ? argv[1] : NULL;
  if (!only || !strcmp(only, "contract")) test_contract();
  if (!only || !strcmp(only, "errors")) test_errors();
  if (!only || !strcmp(only, "election")) test_client_and_election();
  if (!only || !strcmp(only, "revoke")) test_revoke_callback();
  if (!only || !strcmp(only, "step_down")) test_step_down();
  if (!only || !strcmp(only, "locks")) test_locks();
  if (!only || !strcmp(only, "stores")) test_counter_store_watch();
  if (!only || !strcmp(only, "processes")) test_election_across_processes(argv[0]);
  if (!only || !strcmp(only, "fences")) test_fences_and_nodes();
  if (!only || !strcmp(only, "watches")) test_children_watch();
  if (!only || !strcmp(only, "stale")) test_stale_fenced_holder(argv[0]);
  if (!only || !strcmp(only, "languages")) test_lock_across_languages();
  if (!only || !strcmp(only, "flink_config")) test_flink_config();
  if (!only || !strcmp(only, "flink_config_store")) test_flink_config_store();
  if (!only || !strcmp(only, "metrics")) test_metrics();
  if (!only || !strcmp(only, "doctor")) test_doctor();
  printf("%d failed\n", failures);
  return failures ? 1 : 0;
}
