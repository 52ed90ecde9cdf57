/* Checks shared by the C test programs: each test returns at its first failure, counted in
 * `failures`, with the file, line, condition and message (and the zkha error for OK). */
#ifndef ZKHA_TESTS_CHECK_H
#define ZKHA_TESTS_CHECK_H

#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "zkha.h"

static int failures;

#define CHECK(cond, ...)                                                      \
  do {                                                                        \
    if (!(cond)) {                                                            \
      fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);        \
      fprintf(stderr, __VA_ARGS__);                                           \
      fprintf(stderr, "\n");                                                  \
      failures++;                                                             \
      return;                                                                 \
    }                                                                         \
  } while (0)

#define OK(call)                                                              \
  do {                                                                        \
    zkha_error *e_ = NULL;                                                    \
    zkha_status s_ = (call);                                                  \
    if (s_ != ZKHA_STATUS_OK) {                                               \
      fprintf(stderr, "FAIL %s:%d: %s -> %s: %s\n", __FILE__, __LINE__,       \
              #call, zkha_status_name(s_), zkha_error_message(e_));           \
      zkha_error_free(e_);                                                    \
      failures++;                                                             \
      return;                                                                 \
    }                                                                         \
  } while (0)

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

static void unique(char *buf, size_t n, const char *prefix) {
  static int seq;
  snprintf(buf, n, "/%s-%d-%d", prefix, (int)getpid(), seq++);
}

#endif
