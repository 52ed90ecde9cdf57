//! JNI natives of the zkha Flink HA plugin (`io.zkha.jni.Native`).
//!
//! The bridge maps types, errors and threads; all coordination lives in the `zkha` core.
//!
//! - **Handles**: every native object is registered in a table under a 64-bit id that Java
//!   holds; a closed or unknown id is a `ClosedException`, never a dangling pointer.
//! - **Threads**: no zkha runtime thread ever calls into Java. Events wait in core event
//!   streams; a Java daemon dispatcher thread fetches them with the blocking `*Next` natives
//!   (on its own thread, with the plugin's class loader) and calls Flink.
//! - **Errors**: every core error becomes a Java exception of the `io.zkha.jni` hierarchy
//!   (`NotLeaderException`, `NoNodeException`, ...) carrying the core message; panics are
//!   caught (`with_env`) and become `ZkhaException`; nothing unwinds into the JVM.
//! - **Blocking**: natives run their work on the shared zkha runtime (`runtime::block_on`), so
//!   Java threads with small stacks never poll zkha futures.
//! - **Byte formats** crossing JNI are `byte[]` and `String` only; lists are encoded as
//!   `[u32 count]([u16 len][utf8])*` and entries as `[u32 count]([u16 len][name][u32 len][data])*`
//!   (big-endian, read with `java.io.DataInputStream`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use jni::errors::ErrorPolicy;
use jni::objects::{JByteArray, JClass, JString, JThrowable, JValue};
use jni::strings::JNIString;
use jni::sys::{jboolean, jint, jlong};
use jni::{jni_sig, jni_str, Env, EnvUnowned};
use zkha::flink::FlinkConfig;
use zkha::{
    Client, ClientOptions, Coded, ConfigChange, ConfigWatch, Counter, CounterFormat, Election,
    ElectionEvent, ElectionOptions, ErrorKind, FenceSlot, LeaderInfo, LeaderInfoWatch, Pem,
    PointerStore, SharedEventStream, Watchdog,
};

/// An error crossing the bridge: a core error, or a JNI failure.
#[derive(Debug)]
enum BridgeError {
    Zkha(zkha::Error),
    Jni(jni::errors::Error),
}

impl From<jni::errors::Error> for BridgeError {
    fn from(e: jni::errors::Error) -> Self {
        BridgeError::Jni(e)
    }
}

impl From<zkha::Error> for BridgeError {
    fn from(e: zkha::Error) -> Self {
        BridgeError::Zkha(e)
    }
}

type R<T> = Result<T, BridgeError>;

/// Throws the zkha exception matching an error (unless one is already pending).
struct ThrowZkha;

fn exception_class(kind: ErrorKind) -> &'static jni::strings::JNIStr {
    match kind {
        ErrorKind::InvalidArgument => jni_str!("io.zkha.jni.InvalidArgumentException"),
        ErrorKind::Config => jni_str!("io.zkha.jni.ConfigException"),
        ErrorKind::ConnectionLoss => jni_str!("io.zkha.jni.ConnectionLossException"),
        ErrorKind::SessionExpired => jni_str!("io.zkha.jni.SessionExpiredException"),
        ErrorKind::Closed => jni_str!("io.zkha.jni.ClosedException"),
        ErrorKind::Timeout => jni_str!("io.zkha.jni.TimeoutException"),
        ErrorKind::NoNode => jni_str!("io.zkha.jni.NoNodeException"),
        ErrorKind::NodeExists => jni_str!("io.zkha.jni.NodeExistsException"),
        ErrorKind::BadVersion => jni_str!("io.zkha.jni.BadVersionException"),
        ErrorKind::NotEmpty => jni_str!("io.zkha.jni.NotEmptyException"),
        ErrorKind::NotLeader => jni_str!("io.zkha.jni.NotLeaderException"),
        ErrorKind::TooLarge => jni_str!("io.zkha.jni.TooLargeException"),
        ErrorKind::NoAuth => jni_str!("io.zkha.jni.NoAuthException"),
        ErrorKind::Corrupt => jni_str!("io.zkha.jni.CorruptException"),
        // Not "InterruptedException": in this package it would hide java.lang's.
        ErrorKind::Interrupted => jni_str!("io.zkha.jni.OperationInterruptedException"),
        ErrorKind::Io => jni_str!("io.zkha.jni.IoException"),
        ErrorKind::ZooKeeper => jni_str!("io.zkha.jni.ZooKeeperException"),
        // A kind added to core later: the base class until it gets its own.
        _ => jni_str!("io.zkha.jni.ZkhaException"),
    }
}

/// Throws `class_name` (a binary name) with `msg`, loading the class through the class loader
/// that defined `Native`, so that a plugin loaded in its own class loader sees its own exception
/// classes (the thread's context class loader may be another one). `outcome_unknown` sets the
/// exception's `outcomeUnknown` flag (core's [`ErrorKind::outcome_unknown`]).
fn throw(
    env: &mut Env<'_>,
    native: &JClass<'_>,
    class_name: &jni::strings::JNIStr,
    msg: String,
    outcome_unknown: bool,
) {
    let loaded = native.get_class_loader(env).and_then(|loader| {
        jni::refs::LoaderContext::Loader(&loader).load_class(env, class_name, false)
    });
    let thrown = loaded.and_then(|class| {
        let text = env.new_string(&msg)?;
        let e = env.new_object(
            &class,
            jni_sig!("(Ljava/lang/String;)V"),
            &[JValue::Object(&text)],
        )?;
        if outcome_unknown {
            env.set_field(
                &e,
                jni_str!("outcomeUnknown"),
                jni_sig!("Z"),
                JValue::Bool(true),
            )?;
        }
        let e = env.cast_local::<JThrowable>(e)?;
        env.throw(e)
    });
    if thrown.is_err() && !env.exception_check() {
        let _ = env.throw_new(jni_str!("java/lang/RuntimeException"), JNIString::new(msg));
    }
}

impl<T: Default> ErrorPolicy<T, BridgeError> for ThrowZkha {
    type Captures<'unowned_env_local: 'native_method, 'native_method> =
        &'native_method JClass<'unowned_env_local>;

    fn on_error<'unowned_env_local: 'native_method, 'native_method>(
        env: &mut Env<'unowned_env_local>,
        native: &mut Self::Captures<'unowned_env_local, 'native_method>,
        err: BridgeError,
    ) -> jni::errors::Result<T> {
        if env.exception_check() {
            return Ok(T::default());
        }
        let (class, msg, unknown) = match err {
            BridgeError::Zkha(e) => (
                exception_class(e.kind()),
                e.message().to_string(),
                e.outcome_unknown(),
            ),
            BridgeError::Jni(e) => (
                jni_str!("io.zkha.jni.ZkhaException"),
                format!("JNI error: {e}"),
                true,
            ),
        };
        throw(env, native, class, msg, unknown);
        Ok(T::default())
    }

    fn on_panic<'unowned_env_local: 'native_method, 'native_method>(
        env: &mut Env<'unowned_env_local>,
        native: &mut Self::Captures<'unowned_env_local, 'native_method>,
        payload: Box<dyn std::any::Any + Send + 'static>,
    ) -> jni::errors::Result<T> {
        let what = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        if !env.exception_check() {
            throw(
                env,
                native,
                jni_str!("io.zkha.jni.ZkhaException"),
                format!("internal error in zkha: {what}"),
                true,
            );
        }
        Ok(T::default())
    }
}

/// One registered native object.
#[derive(Clone)]
enum Handle {
    Client(Client),
    Election(Election, SharedEventStream<ElectionEvent>),
    // The watch objects are held only to keep the watches running.
    #[allow(dead_code)]
    LeaderWatch(LeaderInfoWatch, SharedEventStream<LeaderInfo>),
    #[allow(dead_code)]
    ConfigWatch(ConfigWatch, SharedEventStream<ConfigChange>),
    Store(PointerStore),
    Counter(Counter),
    Slot(FenceSlot),
    Watchdog(Watchdog),
}

fn table() -> &'static Mutex<HashMap<i64, Handle>> {
    static T: OnceLock<Mutex<HashMap<i64, Handle>>> = OnceLock::new();
    T.get_or_init(|| Mutex::new(HashMap::new()))
}

fn register(h: Handle) -> jlong {
    static NEXT: AtomicI64 = AtomicI64::new(1);
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    table()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(id, h);
    id
}

fn get(id: jlong) -> R<Handle> {
    table()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&id)
        .cloned()
        .ok_or_else(|| {
            zkha::Error::new(
                ErrorKind::Closed,
                format!("zkha object {id} is closed (or was never opened)"),
            )
            .into()
        })
}

fn remove(id: jlong) -> Option<Handle> {
    table()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&id)
}

macro_rules! typed {
    ($fn:ident, $variant:ident, $t:ty) => {
        fn $fn(id: jlong) -> R<$t> {
            match get(id)? {
                Handle::$variant(v) => Ok(v),
                _ => Err(zkha::Error::new(
                    ErrorKind::InvalidArgument,
                    format!("zkha object {id} is not a {}", stringify!($variant)),
                )
                .into()),
            }
        }
    };
}
typed!(client, Client, Client);
typed!(store, Store, PointerStore);
typed!(counter, Counter, Counter);
typed!(slot, Slot, FenceSlot);
typed!(watchdog, Watchdog, Watchdog);

fn election(id: jlong) -> R<(Election, SharedEventStream<ElectionEvent>)> {
    match get(id)? {
        Handle::Election(e, s) => Ok((e, s)),
        _ => Err(zkha::Error::new(
            ErrorKind::InvalidArgument,
            format!("zkha object {id} is not an election"),
        )
        .into()),
    }
}

fn string(s: &JString<'_>, what: &str) -> R<String> {
    if s.is_null() {
        return Err(zkha::Error::new(
            ErrorKind::InvalidArgument,
            format!("{what} must not be null"),
        )
        .into());
    }
    Ok(s.to_string())
}

fn bytes(env: &mut Env<'_>, a: &JByteArray<'_>, what: &str) -> R<Vec<u8>> {
    if a.is_null() {
        return Err(zkha::Error::new(
            ErrorKind::InvalidArgument,
            format!("{what} must not be null"),
        )
        .into());
    }
    Ok(env.convert_byte_array(a)?)
}

fn block<T: Send + 'static>(
    f: impl std::future::Future<Output = zkha::Result<T>> + Send + 'static,
) -> R<T> {
    Ok(zkha::runtime::block_on(f)?)
}

fn ms(v: jlong) -> Duration {
    Duration::from_millis(v.max(0) as u64)
}

/// Defines a static native method of `io.zkha.jni.Native`.
macro_rules! native {
    ($jname:ident ($env:ident $(, $arg:ident : $ty:ty)*) -> $ret:ty $body:block) => {
        #[unsafe(no_mangle)]
        #[allow(non_snake_case)]
        pub extern "system" fn $jname<'local>(
            mut unowned: EnvUnowned<'local>,
            class: JClass<'local>,
            $($arg: $ty),*
        ) -> $ret {
            unowned
                .with_env(|$env: &mut Env<'local>| -> R<$ret> { $body })
                .resolve_with::<ThrowZkha, _>(|| &class)
        }
    };
}

// ---- encoding helpers -------------------------------------------------------------------

fn put_str(out: &mut Vec<u8>, s: &str) {
    let b = s.as_bytes();
    out.extend_from_slice(&(b.len().min(u16::MAX as usize) as u16).to_be_bytes());
    out.extend_from_slice(&b[..b.len().min(u16::MAX as usize)]);
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_be_bytes());
    out.extend_from_slice(b);
}

fn encode_list(items: &[String]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(items.len() as u32).to_be_bytes());
    for i in items {
        put_str(&mut out, i);
    }
    out
}

fn byte_array<'l>(env: &mut Env<'l>, data: &[u8]) -> R<JByteArray<'l>> {
    Ok(env.byte_array_from_slice(data)?)
}

/// Parses `key\0value\0key\0value...`.
fn parse_pairs(s: &str) -> Vec<(String, String)> {
    let parts: Vec<&str> = s.split('\0').collect();
    parts
        .chunks(2)
        .filter(|c| c.len() == 2 && !c[0].is_empty())
        .map(|c| (c[0].to_string(), c[1].to_string()))
        .collect()
}

// ---- client -------------------------------------------------------------------------------

native!(Java_io_zkha_jni_Native_clientFromFlinkConfig(env, pairs: JString<'local>) -> jlong {
    let pairs = parse_pairs(&string(&pairs, "configuration")?);
    let options = FlinkConfig::from_pairs(pairs).client_options()?;
    let _ = env;
    let c = block(Client::connect(options))?;
    Ok(register(Handle::Client(c)))
});

native!(Java_io_zkha_jni_Native_clientConnect(env, connect: JString<'local>, session_ms: jlong, strict: jboolean) -> jlong {
    let _ = env;
    let o = ClientOptions::new(string(&connect, "connect string")?).session_timeout(ms(session_ms)).strict(strict);
    let c = block(Client::connect(o))?;
    Ok(register(Handle::Client(c)))
});

native!(Java_io_zkha_jni_Native_clientReplaceTls(env, id: jlong, key_store_pem: JString<'local>, trust_store_pem: JString<'local>) -> () {
    let _ = env;
    let c = client(id)?;
    // Either may be null (that part stays). The key store's PEM holds the key and the chain.
    let key = (!key_store_pem.is_null()).then(|| key_store_pem.to_string());
    let ca = (!trust_store_pem.is_null()).then(|| trust_store_pem.to_string());
    c.replace_tls(
        ca.map(Pem::Text),
        key.map(|k| (Pem::Text(k.clone()), Pem::Text(k))),
    )?;
    Ok(())
});

// The configuration version a process started with (`zkha flink config pull`): published for
// drift; the version published, or -1 for a configuration that was not pulled.
native!(Java_io_zkha_jni_Native_configPublishStarted(env, id: jlong, pairs: JString<'local>) -> jlong {
    let _ = env;
    let c = client(id)?;
    let config = FlinkConfig::from_pairs(parse_pairs(&string(&pairs, "configuration")?));
    let published = block(async move { zkha::flink::config_store::publish_started(&c, &config).await })?;
    Ok(published.map_or(-1, |r| r.version as jlong))
});

native!(Java_io_zkha_jni_Native_flinkClusterRoot(env, pairs: JString<'local>) -> JString<'local> {
    let pairs = parse_pairs(&string(&pairs, "configuration")?);
    let root = FlinkConfig::from_pairs(pairs).cluster_root()?;
    Ok(JString::new(env, root)?)
});

native!(Java_io_zkha_jni_Native_errorKinds(env) -> JString<'local> {
    let lines: Vec<String> = ErrorKind::ALL
        .iter()
        .map(|k| format!("{} {}", k.code(), k.name()))
        .collect();
    Ok(JString::new(env, lines.join("\n"))?)
});

native!(Java_io_zkha_jni_Native_throwErrorKind(env, code: jint, message: JString<'local>) -> () {
    let _ = env;
    let kind = ErrorKind::parse_code(code)?;
    Err(zkha::Error::new(kind, string(&message, "message")?).into())
});

native!(Java_io_zkha_jni_Native_clientSessionId(env, id: jlong) -> jlong {
    let _ = env;
    Ok(client(id)?.session_id())
});

// `<state>\n<name>=<value>\n...`: the client's connection state, then core's flat metrics.
native!(Java_io_zkha_jni_Native_clientMetrics(env, id: jlong) -> JString<'local> {
    let m = client(id)?.metrics();
    let mut text = m.state.clone();
    for (name, value) in m.flat() {
        text.push_str(&format!("\n{name}={value}"));
    }
    Ok(JString::new(env, text)?)
});

native!(Java_io_zkha_jni_Native_clientMetricsText(env) -> JString<'local> {
    Ok(JString::new(env, zkha::metrics::openmetrics_text())?)
});

native!(Java_io_zkha_jni_Native_clientClose(env, id: jlong) -> () {
    let _ = env;
    if let Some(Handle::Client(c)) = remove(id) {
        block(async move {
            c.close().await;
            Ok(())
        })?;
    }
    Ok(())
});

native!(Java_io_zkha_jni_Native_getData(env, id: jlong, path: JString<'local>) -> JByteArray<'local> {
    let c = client(id)?;
    let p = string(&path, "path")?;
    match block(async move { c.get_data(&p).await })? {
        Some((data, _)) => byte_array(env, &data),
        None => Ok(JByteArray::default()),
    }
});

native!(Java_io_zkha_jni_Native_getChildren(env, id: jlong, path: JString<'local>) -> JByteArray<'local> {
    let c = client(id)?;
    let p = string(&path, "path")?;
    let children = block(async move { c.get_children(&p).await })?.unwrap_or_default();
    byte_array(env, &encode_list(&children))
});

native!(Java_io_zkha_jni_Native_deleteRecursive(env, id: jlong, path: JString<'local>) -> () {
    let _ = env;
    let c = client(id)?;
    let p = string(&path, "path")?;
    block(async move { c.delete_recursive(&p).await })
});

native!(Java_io_zkha_jni_Native_delete(env, id: jlong, path: JString<'local>) -> () {
    let _ = env;
    let c = client(id)?;
    let p = string(&path, "path")?;
    // Gone already counts as done; a znode with children stays (`NotEmptyException`).
    block(async move {
        match c.delete(&p, None).await {
            Err(e) if e.kind() == ErrorKind::NoNode => Ok(()),
            r => r,
        }
    })
});

native!(Java_io_zkha_jni_Native_put(env, id: jlong, path: JString<'local>, data: JByteArray<'local>) -> () {
    let c = client(id)?;
    let p = string(&path, "path")?;
    let d = bytes(env, &data, "data")?;
    block(async move { c.put(&p, &d).await })
});

// ---- election ---------------------------------------------------------------------------

native!(Java_io_zkha_jni_Native_electionJoin(env, id: jlong, latch: JString<'local>, participant: JString<'local>) -> jlong {
    let _ = env;
    let c = client(id)?;
    let e = c.election(&string(&latch, "latch path")?, ElectionOptions::new(string(&participant, "participant id")?))?;
    let events = e.events().shared();
    Ok(register(Handle::Election(e, events)))
});

// Next election event: `null` on timeout; `[0]` when closed; `[1][token i64][uuid msb][uuid lsb]`
// on grant; `[2][reason code u8][reason name utf8]` on revoke (core's contract); `[3][utf8
// message]` when contending fails persistently.
native!(Java_io_zkha_jni_Native_electionNext(env, id: jlong, timeout_ms: jlong) -> JByteArray<'local> {
    let (_, events) = election(id)?;
    let t = ms(timeout_ms);
    let next = block(async move { Ok(events.next_within(Some(t)).await) })?;
    let mut out = Vec::new();
    match next {
        None => {
            // Timeout or end: tell them apart by whether the election still exists.
            if get(id).is_err() {
                out.push(0);
            } else {
                return Ok(JByteArray::default());
            }
        }
        Some(ElectionEvent::Granted(l)) => {
            out.push(1);
            out.extend_from_slice(&l.fencing_token.to_be_bytes());
            let (msb, lsb) = l.leader_session_id.as_u64_pair();
            out.extend_from_slice(&msb.to_be_bytes());
            out.extend_from_slice(&lsb.to_be_bytes());
        }
        Some(ElectionEvent::Revoked { reason }) => {
            // 2, core's code, then its name (for the log).
            out.push(2);
            out.push(u8::try_from(reason.code()).unwrap_or(0));
            out.extend_from_slice(reason.name().as_bytes());
        }
        Some(ElectionEvent::Error { message, .. }) => {
            out.push(3);
            out.extend_from_slice(message.as_bytes());
        }
    }
    byte_array(env, &out)
});

native!(Java_io_zkha_jni_Native_electionHasLeadership(env, id: jlong) -> jboolean {
    let _ = env;
    Ok(match get(id) {
        Ok(Handle::Election(e, _)) => e.has_leadership(),
        _ => false,
    })
});

native!(Java_io_zkha_jni_Native_electionFencingToken(env, id: jlong) -> jlong {
    let _ = env;
    let (e, _) = election(id)?;
    Ok(e.leadership().map(|l| l.fencing_token).unwrap_or(-1))
});

native!(Java_io_zkha_jni_Native_electionPublish(env, id: jlong, path: JString<'local>, data: JByteArray<'local>) -> () {
    let (e, _) = election(id)?;
    let p = string(&path, "path")?;
    let d = bytes(env, &data, "data")?;
    block(async move { e.publish_leader_info(&p, &d).await })
});

native!(Java_io_zkha_jni_Native_electionDelete(env, id: jlong, path: JString<'local>) -> () {
    let _ = env;
    let (e, _) = election(id)?;
    let p = string(&path, "path")?;
    block(async move { e.delete_leader_info(&p).await })
});

native!(Java_io_zkha_jni_Native_electionClose(env, id: jlong) -> () {
    let _ = env;
    if let Some(Handle::Election(e, _)) = remove(id) {
        block(async move {
            e.close().await;
            Ok(())
        })?;
    }
    Ok(())
});

// ---- fence slot -------------------------------------------------------------------------

native!(Java_io_zkha_jni_Native_slotNew(env) -> jlong {
    let _ = env;
    Ok(register(Handle::Slot(FenceSlot::new())))
});

native!(Java_io_zkha_jni_Native_slotBind(env, slot_id: jlong, election_id: jlong) -> () {
    let _ = env;
    let s = slot(slot_id)?;
    if election_id == 0 {
        s.unbind();
    } else {
        s.bind(election(election_id)?.0);
    }
    Ok(())
});

// ---- watches ----------------------------------------------------------------------------

native!(Java_io_zkha_jni_Native_leaderWatchStart(env, id: jlong, path: JString<'local>) -> jlong {
    let _ = env;
    let c = client(id)?;
    let w = c.watch_leader_info(&string(&path, "path")?)?;
    let events = w.events().shared();
    Ok(register(Handle::LeaderWatch(w, events)))
});

// Next leader-info change: `null` on timeout; `[0]` closed; `[1]data` present; `[2]` empty.
native!(Java_io_zkha_jni_Native_leaderWatchNext(env, id: jlong, timeout_ms: jlong) -> JByteArray<'local> {
    let events = match get(id) {
        Ok(Handle::LeaderWatch(_, ev)) => ev,
        _ => return byte_array(env, &[0]),
    };
    let t = ms(timeout_ms);
    let next = block(async move { Ok(events.next_within(Some(t)).await) })?;
    match next {
        None => Ok(JByteArray::default()),
        Some(LeaderInfo::Present(d)) => {
            let mut out = vec![1];
            out.extend_from_slice(&d);
            byte_array(env, &out)
        }
        Some(LeaderInfo::Empty) => byte_array(env, &[2]),
    }
});

native!(Java_io_zkha_jni_Native_configWatchStart(env, id: jlong, root: JString<'local>) -> jlong {
    let _ = env;
    let c = client(id)?;
    let w = c.config_watch(&string(&root, "root")?)?;
    let events = w.events().shared();
    Ok(register(Handle::ConfigWatch(w, events)))
});

// Next subtree change: `null` on timeout; `[0]` closed; `[1][path][u32 len][data]` set;
// `[2][path]` deleted (path as `[u16 len][utf8]`, relative to the root).
native!(Java_io_zkha_jni_Native_configWatchNext(env, id: jlong, timeout_ms: jlong) -> JByteArray<'local> {
    let events = match get(id) {
        Ok(Handle::ConfigWatch(_, ev)) => ev,
        _ => return byte_array(env, &[0]),
    };
    let t = ms(timeout_ms);
    let next = block(async move { Ok(events.next_within(Some(t)).await) })?;
    match next {
        None => Ok(JByteArray::default()),
        Some(c) => {
            let mut out = vec![if c.value.is_some() { 1 } else { 2 }];
            put_str(&mut out, &c.path);
            if let Some(v) = c.value {
                put_bytes(&mut out, &v);
            }
            byte_array(env, &out)
        }
    }
});

native!(Java_io_zkha_jni_Native_free(env, id: jlong) -> () {
    let _ = env;
    if let Some(Handle::Watchdog(w)) = remove(id) {
        w.stop();
    }
    Ok(())
});

// ---- pointer store ----------------------------------------------------------------------

native!(Java_io_zkha_jni_Native_storeNew(env, id: jlong, root: JString<'local>, slot_id: jlong) -> jlong {
    let _ = env;
    let c = client(id)?;
    let mut s = c.pointer_store(&string(&root, "store root")?)?;
    if slot_id != 0 {
        s = s.fenced_by(Arc::new(slot(slot_id)?));
    }
    Ok(register(Handle::Store(s)))
});

native!(Java_io_zkha_jni_Native_storeAddAndLock(env, id: jlong, name: JString<'local>, data: JByteArray<'local>) -> jint {
    let s = store(id)?;
    let n = string(&name, "entry name")?;
    let d = bytes(env, &data, "data")?;
    block(async move { s.add_and_lock(&n, &d).await })
});

native!(Java_io_zkha_jni_Native_storeReplace(env, id: jlong, name: JString<'local>, version: jint, data: JByteArray<'local>) -> jint {
    let s = store(id)?;
    let n = string(&name, "entry name")?;
    let d = bytes(env, &data, "data")?;
    block(async move { s.replace(&n, version, &d).await })
});

native!(Java_io_zkha_jni_Native_storeExists(env, id: jlong, name: JString<'local>) -> jint {
    let _ = env;
    let s = store(id)?;
    let n = string(&name, "entry name")?;
    Ok(block(async move { s.exists(&n).await })?.unwrap_or(-1))
});

native!(Java_io_zkha_jni_Native_storeGetAndLock(env, id: jlong, name: JString<'local>) -> JByteArray<'local> {
    let s = store(id)?;
    let n = string(&name, "entry name")?;
    let e = block(async move { s.get_and_lock(&n).await })?;
    byte_array(env, &e.data)
});

// All entries, locked: `[u32 count]([u16 len][name][i32 version][u32 len][data])*`.
native!(Java_io_zkha_jni_Native_storeGetAllAndLock(env, id: jlong) -> JByteArray<'local> {
    let s = store(id)?;
    let entries = block(async move { s.get_all_and_lock().await })?;
    let mut out = Vec::new();
    out.extend_from_slice(&(entries.len() as u32).to_be_bytes());
    for e in entries {
        put_str(&mut out, &e.name);
        out.extend_from_slice(&e.version.to_be_bytes());
        put_bytes(&mut out, &e.data);
    }
    byte_array(env, &out)
});

native!(Java_io_zkha_jni_Native_storeGetAllHandles(env, id: jlong) -> JByteArray<'local> {
    let s = store(id)?;
    let names = block(async move { s.get_all_handles().await })?;
    byte_array(env, &encode_list(&names))
});

native!(Java_io_zkha_jni_Native_storeReleaseAndMark(env, id: jlong, name: JString<'local>) -> JByteArray<'local> {
    let s = store(id)?;
    let n = string(&name, "entry name")?;
    match block(async move { s.release_and_mark(&n).await })? {
        Some(d) => byte_array(env, &d),
        None => Ok(JByteArray::default()),
    }
});

native!(Java_io_zkha_jni_Native_storeRemoveMarked(env, id: jlong, name: JString<'local>) -> () {
    let _ = env;
    let s = store(id)?;
    let n = string(&name, "entry name")?;
    block(async move { s.remove_marked(&n).await })
});

native!(Java_io_zkha_jni_Native_storeRelease(env, id: jlong, name: JString<'local>) -> () {
    let _ = env;
    let s = store(id)?;
    let n = string(&name, "entry name")?;
    block(async move { s.release(&n).await })
});

native!(Java_io_zkha_jni_Native_storeReleaseAll(env, id: jlong) -> () {
    let _ = env;
    let s = store(id)?;
    block(async move { s.release_all().await })
});

native!(Java_io_zkha_jni_Native_storeClearEntries(env, id: jlong) -> () {
    let _ = env;
    let s = store(id)?;
    block(async move { s.clear_entries().await })
});

native!(Java_io_zkha_jni_Native_storeOwner(env, id: jlong) -> JString<'local> {
    let s = store(id)?;
    Ok(JString::new(env, s.owner_id())?)
});

// ---- counter ----------------------------------------------------------------------------

native!(Java_io_zkha_jni_Native_counterNew(env, id: jlong, path: JString<'local>, initial: jlong, slot_id: jlong) -> jlong {
    let _ = env;
    let c = client(id)?;
    let mut counter = c.counter(&string(&path, "counter path")?, CounterFormat::Int32, initial)?;
    if slot_id != 0 {
        counter = counter.fenced_by(Arc::new(slot(slot_id)?));
    }
    Ok(register(Handle::Counter(counter)))
});

native!(Java_io_zkha_jni_Native_counterGet(env, id: jlong) -> jlong {
    let _ = env;
    let c = counter(id)?;
    Ok(block(async move { c.get().await })?.0)
});

native!(Java_io_zkha_jni_Native_counterGetAndIncrement(env, id: jlong) -> jlong {
    let _ = env;
    let c = counter(id)?;
    block(async move { c.get_and_increment().await })
});

native!(Java_io_zkha_jni_Native_counterSet(env, id: jlong, value: jlong) -> () {
    let _ = env;
    let c = counter(id)?;
    block(async move { c.set(value).await })
});

native!(Java_io_zkha_jni_Native_counterRemove(env, id: jlong) -> () {
    let _ = env;
    let c = counter(id)?;
    block(async move { c.remove().await })
});

// ---- watchdog ---------------------------------------------------------------------------

native!(Java_io_zkha_jni_Native_watchdogArm(env, id: jlong, timeout_ms: jlong) -> jlong {
    let _ = env;
    let w = client(id)?.watchdog(ms(timeout_ms))?;
    w.ping();
    Ok(register(Handle::Watchdog(w)))
});

native!(Java_io_zkha_jni_Native_watchdogPing(env, id: jlong) -> jboolean {
    let _ = env;
    let w = watchdog(id)?;
    w.ping();
    Ok(!w.fired())
});
