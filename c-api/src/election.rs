//! Leader election (`zkha_election_*`): join, wait, events, revoke callbacks.

use super::*;

/// Joins the election on `latch_path` as `participant_id`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_election_join(
    client: *const zkha_client,
    latch_path: *const c_char,
    participant_id: *const c_char,
    out_election: *mut *mut zkha_election,
    err: *mut *mut zkha_error,
) -> zkha_status {
    guard(err, || {
        let c = unsafe { obj(client, "client") }?;
        let latch = unsafe { text(latch_path, "latch_path") }?;
        let id = unsafe { text(participant_id, "participant_id") }?;
        unsafe {
            out_new(out_election, "out_election", || {
                let election = c.client.election(latch, ElectionOptions::new(id))?;
                let events = election.events().shared();
                Ok(zkha_election {
                    election,
                    events,
                    on_revoke: Default::default(),
                })
            })
        }
    })
}

/// Waits up to `timeout_ms` for leadership (0: checks without waiting; ZKHA_WAIT_FOREVER:
/// without limit); ZKHA_STATUS_TIMEOUT if not granted. On success `*out_fencing_token` (may
/// be NULL) receives the grant's token.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_election_wait(
    election: *const zkha_election,
    timeout_ms: u64,
    out_fencing_token: *mut i64,
    err: *mut *mut zkha_error,
) -> zkha_status {
    guard(err, || {
        let e = unsafe { obj(election, "election") }?.election.clone();
        // ZKHA_WAIT_FOREVER's u64::MAX milliseconds is a deadline tokio never reaches.
        let l = block(async move { e.wait_for_leadership(ms(timeout_ms)).await })?;
        if !out_fencing_token.is_null() {
            unsafe { out_fencing_token.write(l.fencing_token) };
        }
        Ok(())
    })
}

/// Publishes `len` bytes at `data` at `path` as this leader's ephemeral node, a write fenced
/// on the latch node: ZKHA_STATUS_NOT_LEADER, and nothing written, once the grant is gone.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_election_publish_leader_info(
    election: *const zkha_election,
    path: *const c_char,
    data: *const u8,
    len: usize,
    err: *mut *mut zkha_error,
) -> zkha_status {
    guard(err, || {
        let e = unsafe { obj(election, "election") }?.election.clone();
        let (p, d) = unsafe { path_and_data(path, data, len) }?;
        block(async move { e.publish_leader_info(&p, &d).await })
    })
}

/// True while this contender leads and its lease holds (false for NULL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_election_has_leadership(election: *const zkha_election) -> bool {
    catch_unwind(AssertUnwindSafe(|| {
        unsafe { election.as_ref() }.is_some_and(|e| e.election.has_leadership())
    }))
    .unwrap_or(false)
}

/// The current grant's fencing token, or -1 if not leading.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_election_fencing_token(election: *const zkha_election) -> i64 {
    catch_unwind(AssertUnwindSafe(|| {
        unsafe { election.as_ref() }
            .and_then(|e| e.election.leadership())
            .map(|l| l.fencing_token)
            .unwrap_or(-1)
    }))
    .unwrap_or(-1)
}

/// The next election event, waiting up to `timeout_ms` (0: one that already arrived, without
/// waiting; ZKHA_WAIT_FOREVER: without limit); kind NONE on timeout. For services with their
/// own loop; do not mix with a revoke callback for the same purpose.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_election_next_event(
    election: *const zkha_election,
    timeout_ms: u64,
    out_event: *mut zkha_election_event,
    err: *mut *mut zkha_error,
) -> zkha_status {
    guard(err, || {
        let e = unsafe { obj(election, "election") }?;
        if out_event.is_null() {
            return Err(null("out_event"));
        }
        let mut none = zkha_election_event {
            kind: zkha_election_event_kind::None,
            fencing_token: -1,
            revoke_reason: -1,
            error_status: zkha_status::Ok,
        };
        let got = next_event(&e.events, timeout_ms)?;
        match got {
            Some(ElectionEvent::Granted(l)) => {
                none.kind = zkha_election_event_kind::Granted;
                none.fencing_token = l.fencing_token;
            }
            Some(ElectionEvent::Revoked { reason }) => {
                none.kind = zkha_election_event_kind::Revoked;
                none.revoke_reason = reason.code();
            }
            Some(ElectionEvent::Error { kind, .. }) => {
                none.kind = zkha_election_event_kind::Error;
                none.error_status = kind.into();
            }
            None => {}
        }
        unsafe { out(out_event, "out_event", none) }
    })
}

/// Registers `cb` to be called every time leadership is revoked, on a thread of its own (a
/// slow callback delays only later calls of itself, never zkha's work). No call starts after
/// `zkha_election_free` has returned; the revocation that freeing causes (ZKHA_REASON_CLOSED)
/// is delivered before it returns.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_election_on_revoke(
    election: *const zkha_election,
    cb: zkha_revoke_cb,
    user_data: *mut c_void,
    err: *mut *mut zkha_error,
) -> zkha_status {
    guard(err, || {
        let e = unsafe { obj(election, "election") }?;
        let Some(cb) = cb else { return Err(null("cb")) };
        let mut events = e.election.events();
        let r = callbacks::Registration::start("zkha-on-revoke", cb, user_data, |tx, mut stop| {
            async move {
                let send = |ev: &ElectionEvent| match ev {
                    ElectionEvent::Revoked { reason } => tx.send(reason.code()).is_ok(),
                    _ => true,
                };
                loop {
                    tokio::select! {
                        ev = events.next() => match ev {
                            Some(ev) if send(&ev) => {}
                            _ => return,
                        },
                        _ = stop.wait_for(|s| *s) => break,
                    }
                }
                // Stopped: what is already due still goes out.
                while let Some(ev) = events.next_timeout(Duration::ZERO).await {
                    if !send(&ev) {
                        return;
                    }
                }
            }
        })?;
        e.on_revoke
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(r);
        Ok(())
    })
}

/// Leaves the election (revoking, deleting the node at once) and frees it. NULL is fine.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_election_free(election: *mut zkha_election) {
    if election.is_null() {
        return;
    }
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: created by Box::into_raw in this library.
        let e = unsafe { Box::from_raw(election) };
        let el = e.election.clone();
        let _ = zkha::runtime::block_on(async move {
            el.close().await;
            Ok(())
        });
        // Its revoke callbacks: the revocation of the close is delivered, then they stop.
        drop(e);
    }));
}
