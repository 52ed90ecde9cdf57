// C++ RAII wrappers against a real ZooKeeper (ZKHA_TEST_CONNECT).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <unistd.h>

#include "zkha.hpp"

using namespace std::chrono_literals;

#define CHECK(cond)                                                       \
  do {                                                                    \
    if (!(cond)) {                                                        \
      std::fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); \
      return 1;                                                           \
    }                                                                     \
  } while (0)

int main() {
  const char *connect = std::getenv("ZKHA_TEST_CONNECT");
  if (!connect) return 2;
  std::string base = "/cpp-" + std::to_string(getpid());
  zkha::Client a(connect, 4000ms), b(connect, 4000ms);
  CHECK(a.session_id() != 0);
  {
    zkha::LockGuard g(a, base + "/lock", 5s);
    CHECK(g.is_held() && g.fencing_token() > 0);
    bool timed_out = false;
    try {
      zkha::LockGuard other(b, base + "/lock", 300ms);
    } catch (const zkha::Error &e) {
      timed_out = e.status() == ZKHA_STATUS_TIMEOUT;
    }
    CHECK(timed_out);
  }  // released here
  zkha::LockGuard again(b, base + "/lock", 5s);
  CHECK(again.is_held());
  again.release();

  zkha::Election e(a, base + "/latch", "cpp");
  CHECK(e.wait(5s) > 0 && e.has_leadership());
  bool bad = false;
  try {
    zkha::Client broken("host:99999", 1000ms);
  } catch (const zkha::Error &err) {
    bad = err.status() == ZKHA_STATUS_INVALID_ARGUMENT && std::string(err.what()).find("host:99999") != std::string::npos;
  }
  CHECK(bad);
  std::printf("ok cpp_raii\n");
  return 0;
}
