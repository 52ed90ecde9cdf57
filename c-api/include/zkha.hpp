// zkha.hpp: C++17 RAII wrappers over zkha.h. Errors throw zkha::Error (status + message).
#ifndef ZKHA_HPP
#define ZKHA_HPP

#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

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
/// A setting's duration in milliseconds (negative: 0).
inline uint64_t ms(std::chrono::milliseconds d) { return d.count() < 0 ? 0 : static_cast<uint64_t>(d.count()); }
/// A wait's timeout: zkha::forever waits without limit, zero or negative checks once without
/// waiting (as std::condition_variable::wait_for does), anything else is milliseconds.
inline uint64_t wait(std::chrono::milliseconds d) {
  return d == std::chrono::milliseconds::max() ? ZKHA_WAIT_FOREVER : ms(d);
}
/// An optional string argument: NULL when absent.
inline const char *opt(const std::optional<std::string> &s) { return s ? s->c_str() : nullptr; }
}  // namespace detail

/// A timeout that waits without limit (ZKHA_WAIT_FOREVER).
inline constexpr std::chrono::milliseconds forever = std::chrono::milliseconds::max();

/// Client options (zkha_options): connect string, timeouts, TLS, SASL, auth credentials and
/// ACL. Setters return *this and throw Error; errors name the offending argument. Holds
/// secrets (a password, a key): keep it no longer than needed.
class Options {
 public:
  /// zkha's defaults for `connect` (`host:port,...[/chroot]`).
  explicit Options(const std::string &connect) {
    zkha_error *err = nullptr;
    zkha_status s = zkha_options_new(connect.c_str(), &o_, &err);  // call first: argument order is unspecified
    detail::check(s, err);
  }
  /// The `high-availability.*` keys of a Flink configuration, security included; setters
  /// then replace what they set.
  static Options from_flink_config(const std::string &path) {
    Options o;
    zkha_error *err = nullptr;
    zkha_status s = zkha_options_from_flink_config(path.c_str(), &o.o_, &err);  // call first: argument order is unspecified
    detail::check(s, err);
    return o;
  }
  Options(Options &&o) noexcept : o_(std::exchange(o.o_, nullptr)) {}
  /// Gives up what this one holds at once, then takes `o`'s.
  Options &operator=(Options &&o) noexcept {
    if (this != &o) {
      zkha_options_free(o_);
      o_ = std::exchange(o.o_, nullptr);
    }
    return *this;
  }
  Options(const Options &) = delete;
  Options &operator=(const Options &) = delete;
  ~Options() { zkha_options_free(o_); }

  Options &session_timeout(std::chrono::milliseconds t) { return set(zkha_options_set_session_timeout, detail::ms(t)); }
  Options &connection_timeout(std::chrono::milliseconds t) { return set(zkha_options_set_connection_timeout, detail::ms(t)); }
  /// TLS: the CA, and the client's certificate with its key (both or neither); each a PEM
  /// file's path or PEM text (holding `-----BEGIN`).
  Options &tls(const std::string &ca, const std::optional<std::string> &cert = std::nullopt,
               const std::optional<std::string> &key = std::nullopt) {
    return set(zkha_options_set_tls, ca.c_str(), detail::opt(cert), detail::opt(key));
  }
  /// After tls().
  Options &tls_hostname_verification(bool on) { return set(zkha_options_set_tls_hostname_verification, on); }
  /// After tls().
  Options &tls_reload_every(std::chrono::milliseconds every) { return set(zkha_options_set_tls_reload_every, detail::ms(every)); }
  Options &sasl_digest_md5(const std::string &user, const std::string &password) {
    return set(zkha_options_set_sasl_digest_md5, user.c_str(), password.c_str());
  }
  /// Kerberos login from a keytab (principal: the keytab's first if absent).
  Options &sasl_kerberos_keytab(const std::string &keytab, const std::optional<std::string> &principal = std::nullopt) {
    return set(zkha_options_set_sasl_kerberos_keytab, keytab.c_str(), detail::opt(principal));
  }
  /// Kerberos from a ticket cache (KRB5CCNAME or the default if absent).
  Options &sasl_kerberos_ticket_cache(const std::optional<std::string> &cache = std::nullopt,
                                      const std::optional<std::string> &principal = std::nullopt) {
    return set(zkha_options_set_sasl_kerberos_ticket_cache, detail::opt(cache), detail::opt(principal));
  }
  /// After sasl_kerberos_*.
  Options &kerberos_service(const std::string &service) { return set(zkha_options_set_kerberos_service, service.c_str()); }
  /// After sasl_kerberos_*.
  Options &kerberos_server_principal(const std::optional<std::string> &principal) {
    return set(zkha_options_set_kerberos_server_principal, detail::opt(principal));
  }
  /// After sasl_kerberos_*.
  Options &kerberos_canonicalize_hostname(bool on) { return set(zkha_options_set_kerberos_canonicalize_hostname, on); }
  /// An addAuth credential, `scheme:credential` (`digest:user:password`).
  Options &add_auth(const std::string &credential) { return set(zkha_options_add_auth, credential.c_str()); }
  Options &acl(zkha_acl_mode mode) { return set(zkha_options_set_acl, mode); }
  /// An explicit ACL entry `scheme:id:perms` (`sasl:flink:cdrwa`).
  Options &add_acl_entry(const std::string &entry) { return set(zkha_options_add_acl_entry, entry.c_str()); }
  /// A path prefix for every path the client uses.
  Options &namespace_(const std::string &ns) { return set(zkha_options_set_namespace, ns.c_str()); }
  Options &strict(bool on) { return set(zkha_options_set_strict, on); }
  Options &lease_margin(std::chrono::milliseconds m) { return set(zkha_options_set_lease_margin, detail::ms(m)); }
  Options &operation_timeout(std::chrono::milliseconds t) { return set(zkha_options_set_operation_timeout, detail::ms(t)); }
  Options &retry(uint32_t max_retries, std::chrono::milliseconds base_wait, std::chrono::milliseconds max_wait) {
    return set(zkha_options_set_retry, max_retries, detail::ms(base_wait), detail::ms(max_wait));
  }
  /// The election's liveness link on (default) or off.
  Options &liveness(bool on) { return set(zkha_options_set_liveness, on); }
  Options &liveness_listen(const std::optional<std::string> &host, uint16_t port = 0) {
    return set(zkha_options_set_liveness_listen, detail::opt(host), port);
  }
  Options &liveness_advertise(const std::optional<std::string> &address) {
    return set(zkha_options_set_liveness_advertise, detail::opt(address));
  }

  const zkha_options *get() const { return o_; }

 private:
  Options() = default;
  /// Calls the C setter `f(o_, args..., &err)`, throwing on failure.
  template <class F, class... A>
  Options &set(F f, A... args) {
    zkha_error *err = nullptr;
    zkha_status s = f(o_, args..., &err);  // call first: argument order is unspecified
    detail::check(s, err);
    return *this;
  }
  zkha_options *o_ = nullptr;
};

class Election;
class LockGuard;

/// Proof of a grant (Election::fence, LockGuard::fence): writes through it land only while
/// the grant holds, else throw Error(ZKHA_STATUS_NOT_LEADER) with nothing written.
class Fence {
 public:
  explicit Fence(zkha_fence *f) : f_(f) {}
  Fence(Fence &&o) noexcept : f_(std::exchange(o.f_, nullptr)) {}
  /// Gives up what this one holds at once, then takes `o`'s.
  Fence &operator=(Fence &&o) noexcept {
    if (this != &o) {
      zkha_fence_free(f_);
      f_ = std::exchange(o.f_, nullptr);
    }
    return *this;
  }
  Fence(const Fence &) = delete;
  Fence &operator=(const Fence &) = delete;
  ~Fence() { zkha_fence_free(f_); }

  int64_t token() const { return zkha_fence_token(f_); }
  /// Creates or overwrites `path` (parents created first, unfenced); the node's stat.
  zkha_stat put(const std::string &path, const std::string &data) {
    zkha_error *err = nullptr;
    zkha_stat st{};
    zkha_status s = zkha_fence_put(f_, path.c_str(), reinterpret_cast<const uint8_t *>(data.data()), data.size(), &st, &err);  // call first: argument order is unspecified
    detail::check(s, err);
    return st;
  }
  /// Deletes `path` if its version is `version` (-1: any).
  void remove(const std::string &path, int32_t version = -1) {
    zkha_error *err = nullptr;
    zkha_status s = zkha_fence_delete(f_, path.c_str(), version, &err);  // call first: argument order is unspecified
    detail::check(s, err);
  }
  const zkha_fence *get() const { return f_; }

 private:
  zkha_fence *f_ = nullptr;
};

/// A client: one ZooKeeper session at a time (re-opened after expiry). Closes on destruction.
class Client {
 public:
  Client(const std::string &connect, std::chrono::milliseconds session_timeout) {
    zkha_error *err = nullptr;
    zkha_status s = zkha_client_connect(connect.c_str(), detail::ms(session_timeout), &c_, &err);  // call first: argument order is unspecified
    detail::check(s, err);
  }
  /// Connects with `options` (which stay the caller's).
  explicit Client(const Options &options) {
    zkha_error *err = nullptr;
    zkha_status s = zkha_client_connect_with(options.get(), &c_, &err);  // call first: argument order is unspecified
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
  /// Gives up what this one holds at once, then takes `o`'s.
  Client &operator=(Client &&o) noexcept {
    if (this != &o) {
      zkha_client_free(c_);
      c_ = std::exchange(o.c_, nullptr);
    }
    return *this;
  }
  Client(const Client &) = delete;
  Client &operator=(const Client &) = delete;
  ~Client() { zkha_client_free(c_); }

  int64_t session_id() const { return zkha_client_session_id(c_); }
  zkha_client *get() const { return c_; }

  /// Replaces the TLS CA and/or client certificate with key (absent: kept) of the running
  /// client, PEM files or text as in Options::tls; the next connection uses them. Nothing
  /// changes if this throws.
  void replace_tls(const std::optional<std::string> &ca, const std::optional<std::string> &cert = std::nullopt,
                   const std::optional<std::string> &key = std::nullopt) {
    zkha_error *err = nullptr;
    zkha_status s = zkha_client_replace_tls(c_, detail::opt(ca), detail::opt(cert), detail::opt(key), &err);  // call first: argument order is unspecified
    detail::check(s, err);
  }

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
  /// Gives up what this one holds at once, then takes `o`'s.
  Election &operator=(Election &&o) noexcept {
    if (this != &o) {
      zkha_election_free(e_);
      e_ = std::exchange(o.e_, nullptr);
    }
    return *this;
  }
  Election(const Election &) = delete;
  Election &operator=(const Election &) = delete;
  ~Election() { zkha_election_free(e_); }

  /// Waits for leadership (zkha::forever: without limit; zero: checks without waiting);
  /// returns the fencing token. Throws Error(ZKHA_STATUS_TIMEOUT).
  int64_t wait(std::chrono::milliseconds timeout) {
    zkha_error *err = nullptr;
    int64_t token = -1;
    zkha_status s = zkha_election_wait(e_, detail::wait(timeout), &token, &err);  // call first: argument order is unspecified
    detail::check(s, err);
    return token;
  }
  bool has_leadership() const { return zkha_election_has_leadership(e_); }
  /// The fence of the current grant (throws Error(ZKHA_STATUS_NOT_LEADER) without one).
  Fence fence() const {
    zkha_error *err = nullptr;
    zkha_fence *f = nullptr;
    zkha_status s = zkha_election_fence(e_, &f, &err);  // call first: argument order is unspecified
    detail::check(s, err);
    return Fence(f);
  }
  int64_t fencing_token() const { return zkha_election_fencing_token(e_); }
  /// The next event, waiting up to `timeout` (kind NONE on timeout; zkha::forever: without
  /// limit; zero: one that already arrived).
  zkha_election_event next_event(std::chrono::milliseconds timeout) {
    zkha_error *err = nullptr;
    zkha_election_event ev{};
    zkha_status s = zkha_election_next_event(e_, detail::wait(timeout), &ev, &err);  // call first: argument order is unspecified
    detail::check(s, err);
    return ev;
  }

 private:
  zkha_election *e_ = nullptr;
};

/// Holds a lock for its scope: acquires in the constructor (throws on timeout; zkha::forever
/// waits without limit, zero takes the lock only if it is free), releases in the destructor
/// (errors there are swallowed; call release() to see them).
class LockGuard {
 public:
  LockGuard(const Client &client, const std::string &path, std::chrono::milliseconds timeout,
            zkha_lock_kind kind = ZKHA_LOCK_KIND_MUTEX, uint32_t leases = 1) {
    zkha_error *err = nullptr;
    zkha_status s = zkha_lock_acquire(client.get(), path.c_str(), kind, leases, detail::wait(timeout), &l_, &err);  // call first: argument order is unspecified
    detail::check(s, err);
  }
  LockGuard(LockGuard &&o) noexcept : l_(std::exchange(o.l_, nullptr)) {}
  /// Gives up what this one holds at once, then takes `o`'s.
  LockGuard &operator=(LockGuard &&o) noexcept {
    if (this != &o) {
      zkha_lock_release(l_, nullptr);
      l_ = std::exchange(o.l_, nullptr);
    }
    return *this;
  }
  LockGuard(const LockGuard &) = delete;
  LockGuard &operator=(const LockGuard &) = delete;
  ~LockGuard() { zkha_lock_release(l_, nullptr); }

  int64_t fencing_token() const { return zkha_lock_fencing_token(l_); }
  bool is_held() const { return zkha_lock_is_held(l_); }
  /// The fence of this hold (throws Error(ZKHA_STATUS_CLOSED) once released).
  Fence fence() const {
    zkha_error *err = nullptr;
    zkha_fence *f = nullptr;
    zkha_status s = zkha_lock_fence(l_, &f, &err);  // call first: argument order is unspecified
    detail::check(s, err);
    return Fence(f);
  }
  void release() {
    zkha_error *err = nullptr;
    zkha_status s = zkha_lock_release(std::exchange(l_, nullptr), &err);  // call first: argument order is unspecified
    detail::check(s, err);
  }

 private:
  zkha_lock *l_ = nullptr;
};

namespace detail {
/// Frees bytes from zkha when it goes out of scope (also when a copy throws).
struct BytesGuard {
  zkha_bytes b;
  ~BytesGuard() { zkha_bytes_free(b); }
};
/// Owns bytes from zkha; copies them into a std::string.
inline std::string take(zkha_bytes b) {
  BytesGuard g{b};
  return std::string(reinterpret_cast<const char *>(b.data), b.len);
}
/// Splits `count` NUL-terminated names packed in `b` (and frees it).
inline std::vector<std::string> names(zkha_bytes b, size_t count) {
  BytesGuard g{b};
  std::vector<std::string> out;
  const char *p = reinterpret_cast<const char *>(b.data);
  for (size_t i = 0; i < count; i++) {
    out.emplace_back(p);
    p += out.back().size() + 1;
  }
  return out;
}
/// A move-only owner of a zkha handle freed by `Free`.
template <class T, void (*Free)(T *)>
class Handle {
 public:
  Handle() = default;
  explicit Handle(T *h) : h_(h) {}
  Handle(Handle &&o) noexcept : h_(std::exchange(o.h_, nullptr)) {}
  /// Gives up what this one holds at once, then takes `o`'s.
  Handle &operator=(Handle &&o) noexcept {
    if (this != &o) {
      Free(h_);
      h_ = std::exchange(o.h_, nullptr);
    }
    return *this;
  }
  Handle(const Handle &) = delete;
  Handle &operator=(const Handle &) = delete;
  ~Handle() { Free(h_); }
  T *get() const { return h_; }
  T **out() { return &h_; }

 private:
  T *h_ = nullptr;
};
}  // namespace detail

/// A shared counter (Flink's SharedCount format: 4 bytes, or 8 with `wide`).
class Counter {
 public:
  Counter(const Client &client, const std::string &path, int64_t initial = 0, bool wide = false) {
    zkha_error *err = nullptr;
    zkha_status s = zkha_counter_new(client.get(), path.c_str(), initial, wide, c_.out(), &err);  // call first: argument order is unspecified
    detail::check(s, err);
  }
  /// The value and its version.
  std::pair<int64_t, int32_t> get() const {
    zkha_error *err = nullptr;
    int64_t v = 0;
    int32_t version = 0;
    zkha_status s = zkha_counter_get(c_.get(), &v, &version, &err);  // call first: argument order is unspecified
    detail::check(s, err);
    return {v, version};
  }
  /// Increments atomically; the value before.
  int64_t get_and_increment() {
    zkha_error *err = nullptr;
    int64_t v = 0;
    zkha_status s = zkha_counter_get_and_increment(c_.get(), &v, &err);  // call first: argument order is unspecified
    detail::check(s, err);
    return v;
  }
  /// Sets `value` if the counter is at `expected_version`; whether it was.
  bool compare_and_set(int32_t expected_version, int64_t value) {
    zkha_error *err = nullptr;
    bool swapped = false;
    zkha_status s = zkha_counter_compare_and_set(c_.get(), expected_version, value, &swapped, &err);  // call first: argument order is unspecified
    detail::check(s, err);
    return swapped;
  }

 private:
  detail::Handle<zkha_counter, zkha_counter_free> c_;
};

/// A watch on any znode's children (sorted); std::nullopt while it does not exist.
class ChildrenWatch {
 public:
  ChildrenWatch(const Client &client, const std::string &path) {
    zkha_error *err = nullptr;
    zkha_status s = zkha_children_watch_start(client.get(), path.c_str(), w_.out(), &err);  // call first: argument order is unspecified
    detail::check(s, err);
  }
  /// The next value (the current one first), waiting up to `timeout` (zkha::forever: no
  /// limit); false in the pair's first member on timeout.
  std::pair<bool, std::optional<std::vector<std::string>>> next(std::chrono::milliseconds timeout) {
    zkha_error *err = nullptr;
    bool changed = false, present = false;
    zkha_bytes names{};
    size_t count = 0;
    zkha_status s = zkha_children_watch_next(w_.get(), detail::wait(timeout), &changed, &present, &names, &count, &err);  // call first: argument order is unspecified
    detail::check(s, err);
    auto list = detail::names(names, count);
    if (!changed) return {false, std::nullopt};
    if (!present) return {true, std::nullopt};
    return {true, std::move(list)};
  }

 private:
  detail::Handle<zkha_children_watch, zkha_children_watch_free> w_;
};

/// A watch on a leader-information znode or any znode's data; std::nullopt while absent.
class DataWatch {
 public:
  DataWatch(const Client &client, const std::string &path) {
    zkha_error *err = nullptr;
    zkha_status s = zkha_leader_watch_start(client.get(), path.c_str(), w_.out(), &err);  // call first: argument order is unspecified
    detail::check(s, err);
  }
  /// The next value (the current one first), waiting up to `timeout`; false first on timeout.
  std::pair<bool, std::optional<std::string>> next(std::chrono::milliseconds timeout) {
    zkha_error *err = nullptr;
    bool changed = false, present = false;
    zkha_bytes data{};
    zkha_status s = zkha_leader_watch_next(w_.get(), detail::wait(timeout), &changed, &present, &data, &err);  // call first: argument order is unspecified
    detail::check(s, err);
    std::string value = detail::take(data);
    if (!changed) return {false, std::nullopt};
    if (!present) return {true, std::nullopt};
    return {true, std::move(value)};
  }

 private:
  detail::Handle<zkha_leader_watch, zkha_leader_watch_free> w_;
};

/// A pointer store (Flink's StateHandleStore semantics): entries locked by this store.
class PointerStore {
 public:
  PointerStore(const Client &client, const std::string &root) {
    zkha_error *err = nullptr;
    zkha_status s = zkha_store_new(client.get(), root.c_str(), s_.out(), &err);  // call first: argument order is unspecified
    detail::check(s, err);
  }
  /// Adds `name` with `data` and locks it for this store.
  void add_and_lock(const std::string &name, const std::string &data) {
    zkha_error *err = nullptr;
    zkha_status s = zkha_store_add_and_lock(s_.get(), name.c_str(), reinterpret_cast<const uint8_t *>(data.data()), data.size(), &err);  // call first: argument order is unspecified
    detail::check(s, err);
  }
  /// Locks and reads `name`.
  std::string get_and_lock(const std::string &name) {
    zkha_error *err = nullptr;
    zkha_bytes data{};
    zkha_status s = zkha_store_get_and_lock(s_.get(), name.c_str(), &data, &err);  // call first: argument order is unspecified
    detail::check(s, err);
    return detail::take(data);
  }
  /// The version of `name`, or -1 if absent or marked for deletion.
  int32_t exists(const std::string &name) const {
    zkha_error *err = nullptr;
    int32_t version = -1;
    zkha_status s = zkha_store_exists(s_.get(), name.c_str(), &version, &err);  // call first: argument order is unspecified
    detail::check(s, err);
    return version;
  }
  /// Releases this store's lock on `name`.
  void release(const std::string &name) {
    zkha_error *err = nullptr;
    zkha_status s = zkha_store_release(s_.get(), name.c_str(), &err);  // call first: argument order is unspecified
    detail::check(s, err);
  }
  /// Releases and removes `name` unless another store holds it; whether it is gone.
  bool release_and_try_remove(const std::string &name) {
    zkha_error *err = nullptr;
    bool removed = false;
    zkha_status s = zkha_store_release_and_try_remove(s_.get(), name.c_str(), &removed, &err);  // call first: argument order is unspecified
    detail::check(s, err);
    return removed;
  }
  /// Every entry's name (also those marked for deletion).
  std::vector<std::string> list() const {
    zkha_error *err = nullptr;
    zkha_bytes names{};
    size_t count = 0;
    zkha_status s = zkha_store_list(s_.get(), &names, &count, &err);  // call first: argument order is unspecified
    detail::check(s, err);
    return detail::names(names, count);
  }

 private:
  detail::Handle<zkha_store, zkha_store_free> s_;
};

/// A watch on every value under a root (waits up to `timeout` for its first complete read,
/// zkha::forever: without limit; throws zkha::Error with ZKHA_STATUS_TIMEOUT if not in).
class ConfigWatch {
 public:
  ConfigWatch(const Client &client, const std::string &root,
              std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    zkha_error *err = nullptr;
    zkha_status s = zkha_config_watch_start(client.get(), root.c_str(), detail::wait(timeout), w_.out(), &err);  // call first: argument order is unspecified
    detail::check(s, err);
  }
  /// The current value under `rel_path`, or std::nullopt.
  std::optional<std::string> get(const std::string &rel_path) const {
    zkha_error *err = nullptr;
    zkha_bytes value{};
    zkha_status s = zkha_config_watch_get(w_.get(), rel_path.c_str(), &value, &err);  // call first: argument order is unspecified
    if (s == ZKHA_STATUS_NO_NODE) {
      zkha_error_free(err);
      return std::nullopt;
    }
    detail::check(s, err);
    return detail::take(value);
  }
  /// The next change within `timeout` (path, value or std::nullopt if deleted), or
  /// std::nullopt on timeout.
  std::optional<std::pair<std::string, std::optional<std::string>>> next(std::chrono::milliseconds timeout) {
    zkha_error *err = nullptr;
    bool changed = false, deleted = false;
    zkha_bytes path{}, value{};
    zkha_status s = zkha_config_watch_next(w_.get(), detail::wait(timeout), &changed, &path, &value, &deleted, &err);  // call first: argument order is unspecified
    detail::check(s, err);
    std::string p = detail::take(path), v = detail::take(value);
    if (!changed) return std::nullopt;
    return std::make_pair(std::move(p), deleted ? std::nullopt : std::optional<std::string>(std::move(v)));
  }

 private:
  detail::Handle<zkha_config_watch, zkha_config_watch_free> w_;
};

/// The contenders of an election or a lock in queue order (the leader or holder first):
/// each node's name and data.
inline std::vector<std::pair<std::string, std::string>> contenders(const Client &client, const std::string &path) {
  zkha_error *err = nullptr;
  zkha_contender *list = nullptr;
  size_t count = 0;
  zkha_status s = zkha_contenders(client.get(), path.c_str(), &list, &count, &err);  // call first: argument order is unspecified
  detail::check(s, err);
  struct Guard {
    zkha_contender *l;
    size_t n;
    ~Guard() { zkha_contenders_free(l, n); }
  } guard{list, count};
  std::vector<std::pair<std::string, std::string>> out;
  for (size_t i = 0; i < count; i++) {
    out.emplace_back(std::string(reinterpret_cast<const char *>(list[i].node.data), list[i].node.len),
                     std::string(reinterpret_cast<const char *>(list[i].data.data), list[i].data.len));
  }
  return out;
}

}  // namespace zkha

#endif  // ZKHA_HPP
