//! Locks (`zkha_lock_*`): mutex, read and write locks, semaphores; lost callbacks.

use super::*;

/// Kind of lock for `zkha_lock_acquire`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum zkha_lock_kind {
    /// Curator InterProcessMutex.
    Mutex = 0,
    /// Shared lock of a read-write lock.
    Read,
    /// Exclusive lock of a read-write lock.
    Write,
    /// One lease of a semaphore (`leases` leases).
    Semaphore,
}

/// Every `zkha_lock_kind`, at the index of its value (core's code).
#[cfg(test)]
pub(crate) const LOCK_KINDS: [zkha_lock_kind; 4] = [
    zkha_lock_kind::Mutex,
    zkha_lock_kind::Read,
    zkha_lock_kind::Write,
    zkha_lock_kind::Semaphore,
];

/// Acquires a lock of `kind` (a `zkha_lock_kind`; another value is
/// ZKHA_STATUS_INVALID_ARGUMENT) on `path`, waiting up to `timeout_ms`: 0 tries once without
/// waiting (taken only if free), ZKHA_WAIT_FOREVER waits without limit. ZKHA_STATUS_TIMEOUT
/// if not acquired (no node is left behind). `leases` is used for semaphores only.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_lock_acquire(
    client: *const zkha_client,
    path: *const c_char,
    kind: i32,
    leases: u32,
    timeout_ms: u64,
    out_lock: *mut *mut zkha_lock,
    err: *mut *mut zkha_error,
) -> zkha_status {
    guard(err, || {
        let c = unsafe { obj(client, "client") }?.client.clone();
        let p = unsafe { text(path, "path") }?.to_string();
        unsafe {
            out_new(out_lock, "out_lock", || {
                let lock = c.lock(LockKind::parse_code(kind)?, &p, leases as usize)?;
                let guard = block(async move { lock.acquire(wait_ms(timeout_ms)).await })?;
                Ok(zkha_lock {
                    guard: Some(guard),
                    on_lost: Vec::new(),
                })
            })
        }
    })
}

/// The acquisition's fencing token (-1 for NULL or released).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_lock_fencing_token(lock: *const zkha_lock) -> i64 {
    catch_unwind(AssertUnwindSafe(|| {
        unsafe { lock.as_ref() }
            .and_then(|l| l.guard.as_ref())
            .map(|g| g.fencing_token())
            .unwrap_or(-1)
    }))
    .unwrap_or(-1)
}

/// True while the lock is held (not released, not lost, lease holding).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_lock_is_held(lock: *const zkha_lock) -> bool {
    catch_unwind(AssertUnwindSafe(|| {
        unsafe { lock.as_ref() }
            .and_then(|l| l.guard.as_ref())
            .is_some_and(|g| g.is_held())
    }))
    .unwrap_or(false)
}

/// Registers `cb` to be called once if the lock is lost, on a thread of its own. No call
/// starts after `zkha_lock_release` has returned (a released lock is not lost), and nothing
/// of the registration outlives it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_lock_on_lost(
    lock: *mut zkha_lock,
    cb: zkha_lost_cb,
    user_data: *mut c_void,
    err: *mut *mut zkha_error,
) -> zkha_status {
    guard(err, || {
        // SAFETY: a lock from this library or NULL.
        let l = unsafe { lock.as_mut() }.ok_or_else(|| null("lock"))?;
        let Some(cb) = cb else { return Err(null("cb")) };
        let g = l
            .guard
            .as_ref()
            .ok_or_else(|| Fail(zkha_status::Closed, "the lock was released".into()))?;
        let lost = g.lost_future();
        let r = callbacks::Registration::start(
            "zkha-on-lost",
            cb,
            user_data,
            |tx, mut stop| async move {
                tokio::select! {
                    reason = lost => {
                        let _ = tx.send(reason.code());
                    }
                    _ = stop.wait_for(|s| *s) => {}
                }
            },
        )?;
        l.on_lost.push(r);
        Ok(())
    })
}

/// Releases the lock (waiting for ZooKeeper's acknowledgement) and frees it. NULL is fine.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_lock_release(
    lock: *mut zkha_lock,
    err: *mut *mut zkha_error,
) -> zkha_status {
    if lock.is_null() {
        return zkha_status::Ok;
    }
    guard(err, || {
        // SAFETY: created by Box::into_raw in this library.
        let mut l = unsafe { Box::from_raw(lock) };
        match l.guard.take() {
            Some(g) => block(async move { g.release().await }),
            None => Ok(()),
        }
    })
}
