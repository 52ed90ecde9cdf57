//! Clients (`zkha_client_*`) and plain znode reads and writes.

use super::*;

/// Connects with `options`, waiting for the first session, into `*out_client`.
fn connect_into(options: ClientOptions, out_client: *mut *mut zkha_client) -> R<()> {
    unsafe {
        out_new(out_client, "out_client", || {
            Ok(zkha_client {
                client: block(Client::connect(options))?,
            })
        })
    }
}

/// Replaces the TLS certificates of a running client without a new session: `ca` (NULL:
/// keep) and the client's `cert` with `key` (both, or both NULL: keep), each a PEM file's path
/// or PEM text as in `zkha_options_set_tls`. They are read and checked now, and the next
/// connection uses them (as a Java client re-reads its stores at each connection); all NULL
/// re-reads the current files now. On an error nothing changes and the message names the
/// file and the cause (ZKHA_STATUS_CONFIG); ZKHA_STATUS_INVALID_ARGUMENT for a client
/// without TLS.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_client_replace_tls(
    client: *const zkha_client,
    ca: *const c_char,
    cert: *const c_char,
    key: *const c_char,
    err: *mut *mut zkha_error,
) -> zkha_status {
    guard(err, || {
        let c = unsafe { obj(client, "client") }?;
        let (ca, identity) = unsafe { pems(ca, cert, key) }?;
        Ok(c.client.replace_tls(ca, identity)?)
    })
}

/// Connects to `connect` (`host:port,...[/chroot]`) with a session timeout, waiting for the
/// first session.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_client_connect(
    connect: *const c_char,
    session_timeout_ms: u64,
    out_client: *mut *mut zkha_client,
    err: *mut *mut zkha_error,
) -> zkha_status {
    guard(err, || {
        let cs = unsafe { text(connect, "connect") }?;
        connect_into(
            ClientOptions::new(cs).session_timeout(ms(session_timeout_ms)),
            out_client,
        )
    })
}

/// Connects with `options` (see `zkha_options_new`), waiting for the first session. Every
/// misconfiguration fails with its cause named: ZKHA_STATUS_CONFIG for a plain client at a
/// TLS port (or the reverse), an expired certificate (with its date) or a file that does not
/// read (with its path); ZKHA_STATUS_NO_AUTH for a refused SASL login (naming the user).
/// `options` stays the caller's.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_client_connect_with(
    options: *const zkha_options,
    out_client: *mut *mut zkha_client,
    err: *mut *mut zkha_error,
) -> zkha_status {
    guard(err, || {
        let o = unsafe { obj(options, "options") }?.options.clone();
        connect_into(o, out_client)
    })
}

/// Connects with the `high-availability.*` keys of a Flink configuration file or directory
/// (security included, see `zkha_options_from_flink_config`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_client_from_flink_config(
    path: *const c_char,
    out_client: *mut *mut zkha_client,
    err: *mut *mut zkha_error,
) -> zkha_status {
    guard(err, || {
        let p = unsafe { text(path, "path") }?;
        connect_into(FlinkConfig::load(p)?.client_options()?, out_client)
    })
}

/// Closes the client (its ephemeral nodes vanish at once) and frees it. NULL is fine.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_client_free(client: *mut zkha_client) {
    if client.is_null() {
        return;
    }
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: created by Box::into_raw in this library.
        let c = unsafe { Box::from_raw(client) };
        let inner = c.client.clone();
        let _ = zkha::runtime::block_on(async move {
            inner.close().await;
            Ok(())
        });
    }));
}

/// The current connection state.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_client_state(
    client: *const zkha_client,
    out_state: *mut zkha_connection_state,
    err: *mut *mut zkha_error,
) -> zkha_status {
    guard(err, || {
        let c = unsafe { obj(client, "client") }?;
        let code = c.client.state().kind().code();
        let s = variant(code, &STATES, "connection state")?;
        unsafe { out(out_state, "out_state", s) }
    })
}

/// The current session id (0 while none is open).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_client_session_id(client: *const zkha_client) -> i64 {
    catch_unwind(AssertUnwindSafe(|| {
        unsafe { client.as_ref() }
            .map(|c| c.client.session_id())
            .unwrap_or(0)
    }))
    .unwrap_or(0)
}

/// Reads a znode's data into `out_data` (free with zkha_bytes_free); ZKHA_STATUS_NO_NODE if
/// it does not exist.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_get_data(
    client: *const zkha_client,
    path: *const c_char,
    out_data: *mut zkha_bytes,
    err: *mut *mut zkha_error,
) -> zkha_status {
    guard(err, || {
        let c = unsafe { obj(client, "client") }?.client.clone();
        let p = unsafe { text(path, "path") }?.to_string();
        if out_data.is_null() {
            return Err(null("out_data"));
        }
        let shown = p.clone();
        match block(async move { c.get_data(&p).await })? {
            Some((data, _)) => unsafe { out(out_data, "out_data", bytes_out(data)) },
            None => Err(Fail(
                zkha_status::NoNode,
                format!("no such znode (path {shown})"),
            )),
        }
    })
}

/// Creates or overwrites a persistent znode (and its parents); unfenced.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_put(
    client: *const zkha_client,
    path: *const c_char,
    data: *const u8,
    len: usize,
    err: *mut *mut zkha_error,
) -> zkha_status {
    guard(err, || {
        let c = unsafe { obj(client, "client") }?.client.clone();
        let (p, d) = unsafe { path_and_data(path, data, len) }?;
        block(async move { c.put(&p, &d).await })
    })
}

/// Deletes one znode if its data version is `version` (-1: any); unfenced. ZKHA_STATUS_NO_NODE,
/// _BAD_VERSION, _NOT_EMPTY, or _NO_AUTH if the parent's ACL does not let this client delete.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_delete(
    client: *const zkha_client,
    path: *const c_char,
    version: i32,
    err: *mut *mut zkha_error,
) -> zkha_status {
    guard(err, || {
        let c = unsafe { obj(client, "client") }?.client.clone();
        let p = unsafe { text(path, "path") }?.to_string();
        let v = (version >= 0).then_some(version);
        block(async move { c.delete(&p, v).await })
    })
}
