// zkha.hpp: C++17 RAII wrappers over zkha.h. Errors throw zkha::Error (status + message).
#ifndef ZKHA_HPP
#define ZKHA_HPP

#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>

#include "zkha.h"

namespace zkha {

/// A failed zkha call: the status and the message naming the offending input.
class Error : public std::runtime_error {
 public:
  Error(zkha_status status, const std::string &message) : std::runtime_error(message), status_(status) {}
  zkha_status status() const noexcept { return status_; }

 private:
  zkha_status status_;
};

namespace detail {
inline void check(zkha_status s, zkha_error *err) {
  if (s != ZKHA_STATUS_OK) {
    std::string msg = err ? zkha_error_message(err) : zkha_status_name(s);
    zkha_error_free(err);
    throw Error(s, msg);
  }
}
inline uint64_t ms(std::chrono::milliseconds d) { return d.count() < 0 ? 0 : static_cast<uint64_t>(d.count()); }
}  // namespace detail

class Election;
class LockGuard;

/// A client: one ZooKeeper session at a time (re-opened after expiry). Closes on destruction.
class Client {
 public:
  Client(const std::string &connect, std::chrono::milliseconds session_timeout) {
    zkha_error *err = nullptr;
    zkha_status s = zkha_client_connect(connect.c_str(), detail::ms(session_timeout), &c_, &err);  // call first: argument order is unspecified
    detail::check(s, err);
  }
  static Client from_flink_config(const std::string &path) {
    Client c;
    zkha_error *err = nullptr;
    zkha_status s = zkha_client_from_flink_config(path.c_str(), &c.c_, &err);  // call first: argument order is unspecified
    detail::check(s, err);
    return c;
  }
  Client(Client &&o) noexcept : c_(std::exchange(o.c_, nullptr)) {}
  Client &operator=(Client &&o) noexcept {
    std::swap(c_, o.c_);
    return *this;
  }
  Client(const Client &) = delete;
  Client &operator=(const Client &) = delete;
  ~Client() { zkha_client_free(c_); }

  int64_t session_id() const { return zkha_client_session_id(c_); }
  zkha_client *get() const { return c_; }

 private:
  Client() = default;
  zkha_client *c_ = nullptr;
};

/// A contender in a leader election; leaves the election on destruction.
class Election {
 public:
  Election(const Client &client, const std::string &latch_path, const std::string &participant_id) {
    zkha_error *err = nullptr;
    zkha_status s = zkha_election_join(client.get(), latch_path.c_str(), participant_id.c_str(), &e_, &err);  // call first: argument order is unspecified
    detail::check(s, err);
  }
  Election(Election &&o) noexcept : e_(std::exchange(o.e_, nullptr)) {}
  Election(const Election &) = delete;
  Election &operator=(const Election &) = delete;
  ~Election() { zkha_election_free(e_); }

  /// Waits for leadership; returns the fencing token. Throws Error(ZKHA_STATUS_TIMEOUT).
  int64_t wait(std::chrono::milliseconds timeout) {
    zkha_error *err = nullptr;
    int64_t token = -1;
    zkha_status s = zkha_election_wait(e_, detail::ms(timeout), &token, &err);  // call first: argument order is unspecified
    detail::check(s, err);
    return token;
  }
  bool has_leadership() const { return zkha_election_has_leadership(e_); }
  int64_t fencing_token() const { return zkha_election_fencing_token(e_); }
  /// The next event, waiting up to `timeout` (kind NONE on timeout).
  zkha_election_event next_event(std::chrono::milliseconds timeout) {
    zkha_error *err = nullptr;
    zkha_election_event ev{};
    zkha_status s = zkha_election_next_event(e_, detail::ms(timeout), &ev, &err);  // call first: argument order is unspecified
    detail::check(s, err);
    return ev;
  }

 private:
  zkha_election *e_ = nullptr;
};

/// Holds a lock for its scope: acquires in the constructor (throws on timeout), releases in the
/// destructor (errors there are swallowed; call release() to see them).
class LockGuard {
 public:
  LockGuard(const Client &client, const std::string &path, std::chrono::milliseconds timeout,
            zkha_lock_kind kind = ZKHA_LOCK_KIND_MUTEX, uint32_t leases = 1) {
    zkha_error *err = nullptr;
    zkha_status s = zkha_lock_acquire(client.get(), path.c_str(), kind, leases, detail::ms(timeout), &l_, &err);  // call first: argument order is unspecified
    detail::check(s, err);
  }
  LockGuard(LockGuard &&o) noexcept : l_(std::exchange(o.l_, nullptr)) {}
  LockGuard(const LockGuard &) = delete;
  LockGuard &operator=(const LockGuard &) = delete;
  ~LockGuard() { zkha_lock_release(l_, nullptr); }

  int64_t fencing_token() const { return zkha_lock_fencing_token(l_); }
  bool is_held() const { return zkha_lock_is_held(l_); }
  void release() {
    zkha_error *err = nullptr;
    zkha_status s = zkha_lock_release(std::exchange(l_, nullptr), &err);  // call first: argument order is unspecified
    detail::check(s, err);
  }

 private:
  zkha_lock *l_ = nullptr;
};

}  // namespace zkha

#endif  // ZKHA_HPP
