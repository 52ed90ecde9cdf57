//! Secured ensembles: TLS-only and SASL DIGEST-MD5 servers started by the test kit, ACLs as
//! Flink's built-in HA writes them, and clear errors for every misconfiguration.

mod common;

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use common::*;
use zkha::{
    AclEntry, AclMode, Client, ClientOptions, CounterFormat, Credential, ElectionOptions,
    ErrorKind, Op, Pem, Sasl, TlsConfig,
};
use zkha_testkit::{ClientAuth, Ensemble, Options};
use zookeeper_client as zk;

const T: Duration = Duration::from_secs(4);

/// A TLS-only server that wants a client certificate.
fn tls_zk() -> &'static Ensemble {
    static ZK: OnceLock<Ensemble> = OnceLock::new();
    ZK.get_or_init(|| {
        Ensemble::start(
            1,
            Options::default().tls(zkha_testkit::TlsConfig {
                client_auth: ClientAuth::Need,
                ..Default::default()
            }),
        )
        .expect("start a TLS ensemble")
    })
}

/// A server that requires SASL DIGEST-MD5, with users `zkha` and `other`.
fn digest_zk() -> &'static Ensemble {
    static ZK: OnceLock<Ensemble> = OnceLock::new();
    ZK.get_or_init(|| {
        Ensemble::start(
            1,
            Options::default().sasl_digest(&[("zkha", "secret"), ("other", "pw2")]),
        )
        .expect("start a DIGEST-MD5 ensemble")
    })
}

fn tls_config(zk: &Ensemble) -> TlsConfig {
    let f = zk.tls().expect("TLS files");
    TlsConfig::new(Pem::File(f.ca_cert.clone())).identity(
        Pem::File(f.client_cert.clone()),
        Pem::File(f.client_key.clone()),
    )
}

fn digest(user: &str, password: &str) -> Sasl {
    Sasl::DigestMd5 {
        username: user.into(),
        password: password.into(),
    }
}

/// Connects, expecting an error; returns it and how long it took.
async fn refused(o: ClientOptions) -> (zkha::Error, Duration) {
    init_logging();
    let started = Instant::now();
    let r = tokio::time::timeout(Duration::from_secs(60), Client::connect(o))
        .await
        .expect("an answer within 60 s, not a hang");
    match r {
        Ok(_) => panic!("connected, but should have been refused"),
        Err(e) => (e, started.elapsed()),
    }
}

/// What [`work`] still holds, so that its nodes stay.
#[allow(dead_code)] // held, never read
struct Held(zkha::Election, zkha::LockGuard);

/// Elects, locks and writes fenced under `path`; returns every znode path zkha wrote (the
/// latch and lock nodes among them: it still holds both).
async fn work(c: &Client, path: &str) -> (Vec<String>, Held) {
    let e = c
        .election(&format!("{path}/latch"), ElectionOptions::new("a"))
        .unwrap();
    e.wait_for_leadership(Duration::from_secs(20))
        .await
        .expect("leadership");
    e.publish_leader_info(&format!("{path}/leader"), b"me")
        .await
        .expect("fenced leader information");
    let fence = e.fence().unwrap();
    fence
        .multi(vec![Op::Create {
            path: format!("{path}/register"),
            data: b"1".to_vec(),
            mode: zkha::NodeMode::Persistent,
        }])
        .await
        .expect("a fenced create");
    let store = c
        .pointer_store(&format!("{path}/store"))
        .unwrap()
        .fenced_by(Arc::new(e.clone()));
    store
        .add_and_lock("p1", b"pointer")
        .await
        .expect("a fenced add");
    let counter = c
        .counter(&format!("{path}/counter"), CounterFormat::Int32, 1)
        .unwrap()
        .fenced_by(Arc::new(e.clone()));
    counter
        .get_and_increment()
        .await
        .expect("a fenced increment");
    let m = c.mutex(&format!("{path}/mutex")).unwrap();
    let g = m
        .acquire(Some(Duration::from_secs(20)))
        .await
        .expect("the mutex");
    let mut nodes = all_nodes(c, path).await;
    nodes.sort();
    (nodes, Held(e, g))
}

/// Every znode at and below `path`.
async fn all_nodes(c: &Client, path: &str) -> Vec<String> {
    let mut out = vec![path.to_string()];
    let mut i = 0;
    while i < out.len() {
        let p = out[i].clone();
        for child in c.get_children(&p).await.unwrap().unwrap_or_default() {
            out.push(format!("{p}/{child}"));
        }
        i += 1;
    }
    out
}

/// The ACL of `path` as `scheme:id:perms`, read with a raw client of `connector` (after a
/// sync: another session wrote it, maybe through another server).
async fn acl_of(raw: &zk::Client, path: &str) -> Vec<String> {
    raw.sync(path)
        .await
        .unwrap_or_else(|e| panic!("sync {path}: {e}"));
    let (acl, _) = raw
        .get_acl(path)
        .await
        .unwrap_or_else(|e| panic!("getACL {path}: {e}"));
    acl.iter()
        .map(|a| format!("{}:{}:{}", a.scheme(), a.id(), a.permission()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tls_with_creator_acl_elect_lock_and_write_fenced() {
    let zk = tls_zk();
    let o = options(&zk.connect_string(), T)
        .tls(tls_config(zk))
        .acl(AclMode::Creator);
    let c = Client::connect(o).await.expect("a TLS session");
    let path = unique("tls");
    let (nodes, _held) = work(&c, &path).await;
    assert!(nodes.len() >= 8, "{nodes:?}");
    // Flink's creator mode is CREATOR_ALL_ACL: ZooKeeper names the certificate's subject.
    let f = zk.tls().unwrap();
    let raw = zk::Client::connector()
        .with_tls(
            zk::TlsOptions::new()
                .with_pem_ca(&std::fs::read_to_string(&f.ca_cert).unwrap())
                .unwrap()
                .with_pem_identity(
                    &std::fs::read_to_string(&f.client_cert).unwrap(),
                    &std::fs::read_to_string(&f.client_key).unwrap(),
                )
                .unwrap(),
        )
        .secure_connect(&zk.connect_string())
        .await
        .unwrap();
    for n in &nodes {
        assert_eq!(
            acl_of(&raw, n).await,
            vec![format!("x509:{}:ALL", f.client_subject)],
            "ACL of {n}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_digest_md5_creator_acl_keeps_other_identities_out() {
    let zk = digest_zk();
    let c = Client::connect(
        options(&zk.connect_string(), T)
            .sasl(digest("zkha", "secret"))
            .acl(AclMode::Creator),
    )
    .await
    .expect("a DIGEST-MD5 session");
    let path = unique("digest");
    let (nodes, _held) = work(&c, &path).await;
    let own = zk::Client::connector()
        .with_session_timeout(T)
        .with_sasl(zk::SaslOptions::digest_md5("zkha", "secret"))
        .connect(&zk.connect_string())
        .await
        .unwrap();
    let other = zk::Client::connector()
        .with_session_timeout(T)
        .with_sasl(zk::SaslOptions::digest_md5("other", "pw2"))
        .connect(&zk.connect_string())
        .await
        .unwrap();
    for n in &nodes {
        assert_eq!(acl_of(&own, n).await, vec!["sasl:zkha:ALL"], "ACL of {n}");
        assert!(
            matches!(other.get_acl(n).await, Err(zk::Error::NoAuth)),
            "another identity reads the ACL of {n}"
        );
        assert!(
            matches!(other.get_data(n).await, Err(zk::Error::NoAuth)),
            "another identity reads {n}"
        );
        assert!(
            matches!(other.set_data(n, b"x", None).await, Err(zk::Error::NoAuth)),
            "another identity changes {n}"
        );
    }
    // Deleting needs DELETE on the parent.
    let leaf = nodes.iter().find(|n| n.ends_with("/register")).unwrap();
    assert!(matches!(
        other.delete(leaf, None).await,
        Err(zk::Error::NoAuth)
    ));
    // Through zkha, a refused write names the node written and the parent that refused it.
    let intruder = Client::connect(options(&zk.connect_string(), T).sasl(digest("other", "pw2")))
        .await
        .expect("a session as other");
    let target = format!("{path}/intruder");
    let e = intruder.put(&target, b"x").await.expect_err("refused");
    assert_eq!(e.kind(), ErrorKind::NoAuth, "{e}");
    assert!(
        e.to_string().contains(&format!("{target}: "))
            && e.to_string().contains(&format!("(path {path})")),
        "names the node and the refusing parent: {e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_acl_lets_anyone_in_and_explicit_lists_are_written_as_given() {
    let zk = shared();
    let c = Client::connect(options(&zk.connect_string(), T).acl(AclMode::Open))
        .await
        .unwrap();
    let path = unique("open");
    let (nodes, _held) = work(&c, &path).await;
    let anyone = zk::Client::connect(&zk.connect_string()).await.unwrap();
    for n in &nodes {
        assert_eq!(
            acl_of(&anyone, n).await,
            vec!["world:anyone:ALL"],
            "ACL of {n}"
        );
    }
    anyone
        .set_data(
            nodes.iter().find(|n| n.ends_with("/register")).unwrap(),
            b"x",
            None,
        )
        .await
        .expect("anyone may write under the open ACL");

    // An addAuth digest identity under creator: ZooKeeper writes digest:user:hash.
    let c = Client::connect(
        options(&zk.connect_string(), T)
            .auth(Credential::parse("digest:flink:pw").unwrap())
            .acl(AclMode::Creator),
    )
    .await
    .unwrap();
    let path = unique("digest-auth");
    c.put(&path, b"x").await.unwrap();
    anyone.sync(&path).await.unwrap();
    assert!(matches!(
        anyone.get_data(&path).await,
        Err(zk::Error::NoAuth)
    ));
    let flink = zk::Client::connector()
        .with_auth("digest", b"flink:pw")
        .connect(&zk.connect_string())
        .await
        .unwrap();
    let acl = acl_of(&flink, &path).await;
    assert_eq!(acl.len(), 1);
    assert!(
        acl[0].starts_with("digest:flink:") && acl[0].ends_with(":ALL"),
        "{acl:?}"
    );

    // An explicit list.
    let c = Client::connect(options(&zk.connect_string(), T).acl(AclMode::Custom(vec![
        AclEntry::parse("world:anyone:r").unwrap(),
        AclEntry::parse("ip:127.0.0.1:cdrwa").unwrap(),
    ])))
    .await
    .unwrap();
    let path = unique("custom");
    c.put(&path, b"x").await.unwrap();
    assert_eq!(
        acl_of(&anyone, &path).await,
        vec!["world:anyone:READ", "ip:127.0.0.1:ALL"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn misconfigurations_fail_fast_with_what_is_wrong() {
    let tls = tls_zk();
    let files = tls.tls().unwrap();

    // A plain client at a TLS port.
    let (e, took) = refused(options(&tls.connect_string(), T)).await;
    assert_eq!(e.kind(), ErrorKind::Config, "{e}");
    assert!(e.to_string().contains("looks like a TLS port"), "{e}");
    assert!(took < Duration::from_secs(15), "{took:?}");

    // A TLS client at a plain port.
    let plain = shared();
    let (e, _) = refused(options(&plain.connect_string(), T).tls(tls_config(tls))).await;
    assert_eq!(e.kind(), ErrorKind::Config, "{e}");
    assert!(e.to_string().contains("does not seem to speak TLS"), "{e}");

    // A key that is not the certificate's: both files named.
    let (e, _) = refused(options(&tls.connect_string(), T).tls(
        TlsConfig::new(Pem::File(files.ca_cert.clone())).identity(
            Pem::File(files.client_cert.clone()),
            Pem::File(files.ca_key.clone()),
        ),
    ))
    .await;
    assert_eq!(e.kind(), ErrorKind::Config, "{e}");
    for f in [&files.client_cert, &files.ca_key] {
        assert!(e.to_string().contains(&f.display().to_string()), "{e}");
    }

    // No client certificate for a server that needs one.
    let (e, _) = refused(
        options(&tls.connect_string(), T).tls(TlsConfig::new(Pem::File(files.ca_cert.clone()))),
    )
    .await;
    assert!(e.to_string().contains("wants a client certificate"), "{e}");

    // An expired client certificate: refused before any connection, with its date.
    let (e, took) = refused(options(&tls.connect_string(), T).tls(
        TlsConfig::new(Pem::File(files.ca_cert.clone())).identity(
            Pem::File(files.expired_client_cert.clone()),
            Pem::File(files.expired_client_key.clone()),
        ),
    ))
    .await;
    assert_eq!(e.kind(), ErrorKind::Config, "{e}");
    assert!(
        e.to_string()
            .contains(&files.expired_client_cert.display().to_string())
            && e.to_string().contains("expired on 2020-01-0"),
        "{e}"
    );
    assert!(took < Duration::from_secs(1), "{took:?}");

    // A server certificate the CA given does not vouch for (the client's own certificate
    // as the "CA").
    let (e, _) = refused(options(&tls.connect_string(), T).tls(
        TlsConfig::new(Pem::File(files.client_cert.clone())).identity(
            Pem::File(files.client_cert.clone()),
            Pem::File(files.client_key.clone()),
        ),
    ))
    .await;
    assert!(e.to_string().contains("does not accept"), "{e}");

    // A missing CA file: named.
    let missing = files.dir.join("no-such-ca.pem");
    let (e, _) =
        refused(options(&tls.connect_string(), T).tls(TlsConfig::new(Pem::File(missing.clone()))))
            .await;
    assert_eq!(e.kind(), ErrorKind::Config, "{e}");
    assert!(
        e.to_string().contains(&missing.display().to_string()),
        "{e}"
    );

    // Creator without an identity: refused before connecting.
    let (e, _) = refused(options(&plain.connect_string(), T).acl(AclMode::Creator)).await;
    assert!(
        e.to_string()
            .contains("high-availability.zookeeper.client.acl"),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sasl_failures_name_the_principal_and_never_hang() {
    let zk = digest_zk();
    let (e, took) = refused(options(&zk.connect_string(), T).sasl(digest("zkha", "wrong"))).await;
    assert_eq!(e.kind(), ErrorKind::NoAuth, "{e}");
    assert!(e.to_string().contains("DIGEST-MD5 user zkha"), "{e}");
    assert!(took < Duration::from_secs(15), "{took:?}");

    // Anonymous at a server that requires SASL.
    let (e, took) = refused(options(&zk.connect_string(), T)).await;
    assert!(took < Duration::from_secs(30), "{took:?}: {e}");
    assert!(e.to_string().to_lowercase().contains("sasl"), "{e}");
}

/// A connection cut is a passing trouble on a SASL ensemble too: the client logs in again on
/// the new connection and keeps its session (and so its grants).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sasl_session_survives_connection_cuts() {
    init_logging();
    let zk = digest_zk();
    let proxy = zkha_testkit::FaultProxy::start(&[zk.node(1).addr()]).unwrap();
    let c = Client::connect(
        options(&proxy.connect_string(), T)
            .sasl(digest("zkha", "secret"))
            .acl(AclMode::Creator),
    )
    .await
    .expect("connect");
    let session = c.session_id();
    let path = unique("sasl-cut");
    let e = c
        .election(&format!("{path}/latch"), ElectionOptions::new("a"))
        .unwrap();
    e.wait_for_leadership(Duration::from_secs(10))
        .await
        .unwrap();
    for round in 0..3 {
        proxy.cut();
        c.put(&format!("{path}/v"), format!("{round}").as_bytes())
            .await
            .unwrap_or_else(|e| panic!("write after cut {round}: {e}"));
        assert_eq!(
            c.session_id(),
            session,
            "the same session after cut {round}"
        );
    }
    assert!(e.has_leadership(), "leadership kept across the cuts");
}
