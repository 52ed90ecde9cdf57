// A critical section guarded by a zkha::LockGuard (a Curator-compatible mutex).
//
//   c++ -std=c++17 lock_guard.cpp $(pkg-config --cflags --libs zkha) -o lock_guard
//   ./lock_guard 127.0.0.1:2181 /locks/nightly-report
#include <chrono>
#include <cstdio>

#include <zkha.hpp>

using namespace std::chrono_literals;

int main(int argc, char **argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s CONNECT LOCK_PATH\n", argv[0]);
    return 2;
  }
  try {
    zkha::Client client(argv[1], 10s);
    zkha::LockGuard guard(client, argv[2], 30s);
    std::printf("in the critical section (fencing token %lld)\n", static_cast<long long>(guard.fencing_token()));
    // ... work that must never run twice at once ...
  } catch (const zkha::Error &e) {
    std::fprintf(stderr, "zkha error (%s): %s\n", zkha_status_name(e.status()), e.what());
    return 1;
  }
  std::printf("released\n");
  return 0;
}
