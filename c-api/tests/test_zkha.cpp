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

/* The status of what `f` throws (ZKHA_STATUS_OK if nothing), its message into `what`. */
template <class F>
static zkha_status thrown(F f, std::string &what) {
  try {
    f();
  } catch (const zkha::Error &e) {
    what = e.what();
    return e.status();
  }
  return ZKHA_STATUS_OK;
}

/* Options, TLS and SASL through the wrappers, on the secured servers run.sh starts. */
static int secured(const std::string &base) {
  if (!std::getenv("ZKHA_TEST_TLS_DIR") || !std::getenv("ZKHA_TEST_TLS_CONNECT") || !std::getenv("ZKHA_TEST_DIGEST_CONNECT")) {
    std::fprintf(stderr, "ZKHA_TEST_TLS_* / ZKHA_TEST_DIGEST_CONNECT are not set: run c-api/tests/run.sh\n");
    return 2;
  }
  std::string dir = std::getenv("ZKHA_TEST_TLS_DIR");
  zkha::Client tls(zkha::Options(std::getenv("ZKHA_TEST_TLS_CONNECT"))
                       .session_timeout(4000ms)
                       .tls(dir + "/ca.pem", dir + "/client.pem", dir + "/client.key")
                       .acl(ZKHA_ACL_MODE_CREATOR));
  {
    zkha::LockGuard g(tls, base + "/tls-lock", 10s);
    CHECK(g.is_held());
  }
  tls.replace_tls(std::nullopt, dir + "/client.pem", dir + "/client.key");
  std::string what;
  CHECK(thrown([&] { tls.replace_tls(dir + "/nope.pem"); }, what) == ZKHA_STATUS_CONFIG &&
        what.find(dir + "/nope.pem") != std::string::npos);
  CHECK(thrown([&] { zkha::Options("h:1").tls_hostname_verification(false); }, what) == ZKHA_STATUS_INVALID_ARGUMENT);

  std::string digest = std::getenv("ZKHA_TEST_DIGEST_CONNECT");
  zkha::Options o(digest);
  o.sasl_digest_md5("zkha", "secret").acl(ZKHA_ACL_MODE_CREATOR);
  zkha::Client owner(o);
  zkha::LockGuard g(owner, base + "/sasl-lock", 10s);
  CHECK(g.is_held());
  o.sasl_digest_md5("zkha", "wrong-pw");
  CHECK(thrown([&] { zkha::Client refused(o); }, what) == ZKHA_STATUS_NO_AUTH &&
        what.find("DIGEST-MD5 user zkha") != std::string::npos);
  return 0;
}

static void a_put(const zkha::Client &c, const std::string &path) {
  zkha::detail::check(zkha_put(c.get(), path.c_str(), nullptr, 0, nullptr), nullptr);
}

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
  /* One timeout convention: zero or negative takes a lock only if it is free, at once
   * (a negative duration once waited forever); zkha::forever waits without limit. */
  for (auto t : {0ms, -5ms}) {
    auto start = std::chrono::steady_clock::now();
    std::string what;
    CHECK(thrown([&] { zkha::LockGuard busy(a, base + "/lock", t); }, what) == ZKHA_STATUS_TIMEOUT);
    CHECK(std::chrono::steady_clock::now() - start < 2s);
  }
  again.release();
  zkha::LockGuard free_now(a, base + "/lock", 0ms);
  CHECK(free_now.is_held());
  zkha::LockGuard moved(b, base + "/other", zkha::forever);
  moved = std::move(free_now); /* /other is released at once; `moved` holds /lock now */
  CHECK(moved.is_held());
  zkha::LockGuard other(a, base + "/other", 0ms);
  CHECK(other.is_held());
  {
    zkha::Fence fence = other.fence();
    CHECK(fence.token() == other.fencing_token());
    CHECK(fence.put(base + "/fenced/value", "v").version == 0);
    other.release();
    std::string what;
    CHECK(thrown([&] { fence.put(base + "/fenced/value", "late"); }, what) == ZKHA_STATUS_NOT_LEADER);
    CHECK(thrown([&] { fence.remove(base + "/fenced/value"); }, what) == ZKHA_STATUS_NOT_LEADER);
  }
  zkha::Client plain(zkha::Options(connect).liveness(false).retry(5, 50ms, 1s).namespace_(base));
  zkha::Election quiet(plain, "/quiet", "plain");
  CHECK(quiet.wait(10s) > 0 && quiet.fence().token() > 0);
  auto queue = zkha::contenders(plain, "/quiet");
  CHECK(queue.size() == 1 && queue[0].second == "plain");
  zkha::Counter counter(a, base + "/counter", 5);
  CHECK(counter.get_and_increment() == 5 && counter.get().first == 6);
  zkha::ChildrenWatch kids(a, base + "/kids");
  CHECK(kids.next(5s) == std::make_pair(true, std::optional<std::vector<std::string>>{}));
  a_put(a, base + "/kids/x");
  auto seen = kids.next(5s);
  while (seen.second && seen.second->empty()) seen = kids.next(5s); /* the parent first */
  CHECK(seen.first && seen.second && *seen.second == std::vector<std::string>{"x"});
  CHECK(!kids.next(0ms).first);
  zkha::PointerStore store(a, base + "/store");
  store.add_and_lock("0000000001", "pointer");
  CHECK(store.exists("0000000001") == 0 && store.list() == std::vector<std::string>{"0000000001"});
  CHECK(store.release_and_try_remove("0000000001") && store.exists("0000000001") == -1);
  zkha::ConfigWatch cfg(a, base + "/kids");
  CHECK(cfg.get("x") == std::optional<std::string>{""} && !cfg.get("nope"));
  a_put(a, base + "/kids/y");
  auto change = cfg.next(5s);
  CHECK(change && change->first == "y" && change->second == std::optional<std::string>{""});
  CHECK(!cfg.next(0ms));
  zkha::DataWatch data(a, base + "/kids/x");
  CHECK(data.next(5s) == std::make_pair(true, std::optional<std::string>{""}));

  zkha::Election e(a, base + "/latch", "cpp");
  CHECK(e.wait(zkha::forever) > 0 && e.has_leadership() && e.wait(0ms) > 0);
  bool bad = false;
  try {
    zkha::Client broken("host:99999", 1000ms);
  } catch (const zkha::Error &err) {
    bad = err.status() == ZKHA_STATUS_INVALID_ARGUMENT && std::string(err.what()).find("host:99999") != std::string::npos;
  }
  CHECK(bad);
  if (int failed = secured(base)) return failed;
  std::printf("ok cpp_raii\n");
  return 0;
}
