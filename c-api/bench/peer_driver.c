/* C's side of zkha's peer benchmark (zkha-peer-bench, run by `make bench`): the same
 * workloads as the other drivers through libzkha, one JSON line of results on stdout.
 *
 *   peer_driver lock      CONNECT PATH WARMUP CYCLES
 *   peer_driver cycles    CONNECT PATH CYCLES
 *   peer_driver contended CONNECT PATH SESSIONS SECONDS
 *   peer_driver handover  CONNECT BASE ROUNDS
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "zkha.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Exits with the error's message: a driver has no partial result worth printing. */
static void check(enum zkha_status st, struct zkha_error *err, const char *what) {
    if (st == ZKHA_STATUS_OK) return;
    fprintf(stderr, "peer_driver: %s: %s (%s)\n", what, err ? zkha_error_message(err) : "?",
            zkha_status_name(st));
    exit(1);
}

static struct zkha_client *connect_client(const char *connect) {
    struct zkha_client *c = NULL;
    struct zkha_error *err = NULL;
    check(zkha_client_connect(connect, 10000, &c, &err), err, "connect");
    return c;
}

static void lock_cycle(struct zkha_client *c, const char *path) {
    struct zkha_lock *l = NULL;
    struct zkha_error *err = NULL;
    check(zkha_lock_acquire(c, path, ZKHA_LOCK_KIND_MUTEX, 1, ZKHA_WAIT_FOREVER, &l, &err), err,
          "acquire");
    check(zkha_lock_release(l, &err), err, "release");
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Prints {n, p50_ms, p90_ms} of `n` samples in seconds (sorts them). */
static void print_stats(double *s, int n) {
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    double p50 = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
    double p90 = s[(int)((n - 1) * 0.9 + 0.5)];
    printf("{\"n\": %d, \"p50_ms\": %.4f, \"p90_ms\": %.4f}\n", n, p50 * 1e3, p90 * 1e3);
}

struct worker {
    struct zkha_client *client;
    const char *path;
    pthread_barrier_t *start;
    const _Atomic double *deadline;
    long count;
};

static void *contend(void *arg) {
    struct worker *w = arg;
    lock_cycle(w->client, w->path); /* warm: the path exists */
    pthread_barrier_wait(w->start);
    while (now_s() < atomic_load(w->deadline)) {
        lock_cycle(w->client, w->path);
        w->count++;
    }
    return NULL;
}

struct waiter {
    struct zkha_election *election;
    double granted;
};

static void *wait_lead(void *arg) {
    struct waiter *w = arg;
    struct zkha_error *err = NULL;
    check(zkha_election_wait(w->election, 30000, NULL, &err), err, "b waits to lead");
    w->granted = now_s();
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: peer_driver lock|cycles|contended|handover CONNECT PATH N...\n");
        return 2;
    }
    const char *workload = argv[1], *connect = argv[2], *path = argv[3];
    if (!strcmp(workload, "lock") && argc == 6) {
        int warmup = atoi(argv[4]), cycles = atoi(argv[5]);
        struct zkha_client *c = connect_client(connect);
        for (int i = 0; i < warmup; i++) lock_cycle(c, path);
        double *lat = calloc((size_t)cycles, sizeof *lat);
        for (int i = 0; i < cycles; i++) {
            double t = now_s();
            lock_cycle(c, path);
            lat[i] = now_s() - t;
        }
        print_stats(lat, cycles);
        free(lat);
        zkha_client_free(c);
    } else if (!strcmp(workload, "cycles")) {
        int cycles = atoi(argv[4]);
        struct zkha_client *c = connect_client(connect);
        for (int i = 0; i < cycles; i++) lock_cycle(c, path);
        printf("{\"n\": %d}\n", cycles);
        zkha_client_free(c);
    } else if (!strcmp(workload, "contended") && argc == 6) {
        int sessions = atoi(argv[4]), seconds = atoi(argv[5]);
        struct worker *ws = calloc((size_t)sessions, sizeof *ws);
        pthread_t *ts = calloc((size_t)sessions, sizeof *ts);
        pthread_barrier_t start;
        pthread_barrier_init(&start, NULL, (unsigned)sessions + 1);
        _Atomic double deadline = 1e300;
        for (int i = 0; i < sessions; i++) {
            ws[i] = (struct worker){connect_client(connect), path, &start, &deadline, 0};
            pthread_create(&ts[i], NULL, contend, &ws[i]);
        }
        pthread_barrier_wait(&start); /* every session warmed */
        double t0 = now_s();
        atomic_store(&deadline, t0 + seconds);
        long total = 0;
        for (int i = 0; i < sessions; i++) {
            pthread_join(ts[i], NULL);
            total += ws[i].count;
            zkha_client_free(ws[i].client);
        }
        double elapsed = now_s() - t0;
        printf("{\"acquisitions\": %ld, \"seconds\": %.4f, \"per_s\": %.3f}\n", total, elapsed,
               total / elapsed);
        pthread_barrier_destroy(&start);
        free(ws);
        free(ts);
    } else if (!strcmp(workload, "handover")) {
        int rounds = atoi(argv[4]);
        struct zkha_client *a = connect_client(connect), *b = connect_client(connect);
        double *lat = calloc((size_t)rounds, sizeof *lat);
        char latch[512];
        for (int i = 0; i < rounds; i++) {
            snprintf(latch, sizeof latch, "%s/%d", path, i);
            struct zkha_election *ea = NULL, *eb = NULL;
            struct zkha_error *err = NULL;
            check(zkha_election_join(a, latch, "a", &ea, &err), err, "a joins");
            check(zkha_election_wait(ea, 10000, NULL, &err), err, "a waits to lead");
            check(zkha_election_join(b, latch, "b", &eb, &err), err, "b joins");
            struct waiter w = {eb, 0};
            pthread_t t;
            pthread_create(&t, NULL, wait_lead, &w);
            nanosleep(&(struct timespec){0, 50 * 1000 * 1000}, NULL); /* b's node in place */
            double t0 = now_s();
            zkha_election_free(ea);
            pthread_join(t, NULL);
            lat[i] = w.granted - t0;
            zkha_election_free(eb);
        }
        print_stats(lat, rounds);
        free(lat);
        zkha_client_free(a);
        zkha_client_free(b);
    } else {
        fprintf(stderr, "peer_driver: unknown workload or wrong arguments: %s\n", workload);
        return 2;
    }
    return 0;
}
