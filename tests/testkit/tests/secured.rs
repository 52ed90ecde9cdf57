//! Secured ensembles against real servers and real clients: TLS-only, SASL DIGEST-MD5 and
//! Kerberos with the kit's own KDC. Clients are `zookeeper-client` (TLS, DIGEST-MD5) and
//! ZooKeeper's own Java client (`tests/java/ZkProbe.java`, with the files the kit writes).

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use zkha_testkit::install::{jdk_tool, Install};
use zkha_testkit::{four_letter, ClientAuth, Ensemble, KerberosConfig, Options, TlsConfig};
use zookeeper_client::{Acls, Client, CreateMode, SaslOptions, TlsOptions};

/// Runs the Java probe with `props` as system properties: it creates `path` with the
/// creator-only ACL and prints the ACL and its identities. Returns (exit status 0, output).
fn java_probe(props: &[(String, String)], connect: &str, path: &str) -> (bool, String) {
    static CLASSES: OnceLock<PathBuf> = OnceLock::new();
    let install = Install::locate().expect("java and the ZooKeeper jars");
    let classes = CLASSES.get_or_init(|| {
        let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("zkprobe-classes");
        let status = Command::new(jdk_tool(&install.java, "javac"))
            .arg("-d")
            .arg(&out)
            .arg("-cp")
            .arg(install.classpath())
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/java/ZkProbe.java"
            ))
            .status()
            .expect("run javac");
        assert!(status.success(), "javac ZkProbe.java failed");
        out
    });
    let mut cmd = Command::new(&install.java);
    for (k, v) in props {
        cmd.arg(format!("-D{k}={v}"));
    }
    let mut child = cmd
        .arg("-Xmx64m")
        .arg("-Dorg.slf4j.simpleLogger.defaultLogLevel=warn")
        .arg("-cp")
        .arg(format!("{}:{}", install.classpath(), classes.display()))
        .arg("ZkProbe")
        .arg(connect)
        .arg(path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the Java probe");
    let deadline = Instant::now() + Duration::from_secs(120);
    while matches!(child.try_wait(), Ok(None)) {
        if Instant::now() > deadline {
            let _ = child.kill();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().expect("the probe's output");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Whether a client with `connector` gets a session and creates `path` within 8 s.
async fn can_write(
    connector: zookeeper_client::Connector,
    tls: bool,
    servers: &str,
    path: &str,
) -> bool {
    let attempt = async {
        let client = if tls {
            connector.secure_connect(servers).await?
        } else {
            connector.connect(servers).await?
        };
        client
            .create(
                path,
                b"",
                &CreateMode::Ephemeral.with_acls(Acls::anyone_all()),
            )
            .await
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(8), attempt).await,
        Ok(Ok(_))
    )
}

fn read(path: &std::path::Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|stat| stat.split_whitespace().nth(2).is_none_or(|s| s != "Z"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_only_ensemble_serves_only_clients_with_the_kits_certificates() {
    let started = Instant::now();
    let zk = Ensemble::start(3, Options::default().tls(TlsConfig::default())).expect("start");
    eprintln!("3-node TLS ensemble up in {:?}", started.elapsed());
    let tls = zk.tls().expect("TLS files").clone();
    assert_eq!(tls.client_auth, ClientAuth::Need);
    for f in [
        &tls.ca_cert,
        &tls.server_keystore,
        &tls.client_cert,
        &tls.client_key,
        &tls.client_p12,
        &tls.client_jks,
        &tls.truststore_p12,
        &tls.truststore_jks,
        &tls.expired_client_cert,
        &tls.expired_client_key,
    ] {
        assert!(f.is_file(), "{} missing", f.display());
    }
    assert!(read(&tls.client_key).contains("-----BEGIN PRIVATE KEY-----"));
    let status = zk.status();
    assert!(
        status
            .iter()
            .all(|n| n.mode.is_some() && n.admin_port.is_some()),
        "every node serves and has an AdminServer: {status:?}"
    );
    assert!(zk.leader().is_some());
    let servers = zk.connect_string();

    // No plain client port: the TLS port neither answers four-letter words nor plain clients.
    for addr in zk.addrs() {
        assert_eq!(four_letter::mode(addr, Duration::from_secs(1)), None);
    }

    let ca = read(&tls.ca_cert);
    let with_identity = |cert: &std::path::Path, key: &std::path::Path| {
        TlsOptions::new()
            .with_pem_ca(&ca)
            .unwrap()
            .with_pem_identity(&read(cert), &read(key))
            .unwrap()
    };
    // Refused, side by side: a plain client; a TLS client without a client certificate
    // (clientAuth=need); one with an expired certificate.
    let connector = || Client::connector().with_session_timeout(Duration::from_secs(4));
    // The kit's certificate beside them is the control.
    let tried = tokio::join!(
        can_write(connector(), false, &servers, "/plain"),
        can_write(
            connector().with_tls(TlsOptions::new().with_pem_ca(&ca).unwrap()),
            true,
            &servers,
            "/no-certificate"
        ),
        can_write(
            connector().with_tls(with_identity(
                &tls.expired_client_cert,
                &tls.expired_client_key
            )),
            true,
            &servers,
            "/expired"
        ),
        can_write(
            connector().with_tls(with_identity(&tls.client_cert, &tls.client_key)),
            true,
            &servers,
            "/control"
        ),
    );
    assert_eq!(
        tried,
        (false, false, false, true),
        "(plain, without certificate, expired certificate, the kit's certificate)"
    );

    // The kit's client certificate: a session, writes, and the kit's health checks find it.
    let client = Client::connector()
        .with_session_timeout(Duration::from_secs(10))
        .with_tls(with_identity(&tls.client_cert, &tls.client_key))
        .secure_connect(&servers)
        .await
        .expect("TLS client with the kit's certificate");
    client
        .create(
            "/tls",
            b"over tls",
            &CreateMode::Persistent.with_acls(Acls::anyone_all()),
        )
        .await
        .expect("create over TLS");
    let (data, _) = client.get_data("/tls").await.unwrap();
    assert_eq!(data, b"over tls");
    let (_, _watch) = client.check_and_watch_stat("/watched").await.unwrap();
    let session = client.session_id().0;
    let node = zk
        .node_of_session(session)
        .expect("the session's node, via the AdminServer");
    let watched = zk.watched_paths(node, session).unwrap();
    assert_eq!(watched, vec!["/watched".to_string()]);

    // A Java client with the kit's JKS stores; its identity is the certificate's subject.
    let (ok, out) = java_probe(&tls.java_client_properties(), &servers, "/java-tls");
    assert!(ok, "Java TLS client: {out}");
    assert!(
        out.contains("acl x509:O=zkha,CN=zkha-client\n"),
        "the certificate's subject is the identity: {out}"
    );

    // The AdminServer tells a server without a quorum from a serving one.
    let leader = zk.leader().unwrap();
    let others: Vec<usize> = (1..=3).filter(|&i| i != leader).collect();
    zk.node(leader).kill().unwrap();
    zk.node(others[0]).kill().unwrap();
    let alone = others[1];
    let deadline = Instant::now() + Duration::from_secs(30);
    while zk.status()[alone - 1].mode.is_some() {
        assert!(Instant::now() < deadline, "node {alone} still serves alone");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(zk.wait_quorum(Duration::from_millis(500)).is_err());
    zk.node(leader).restart().unwrap();
    zk.node(others[0]).restart().unwrap();
    zk.wait_quorum(Duration::from_secs(60))
        .expect("quorum again");
    drop(client);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn digest_ensemble_refuses_anonymous_and_wrong_passwords() {
    let started = Instant::now();
    let zk = Ensemble::start(
        1,
        Options::default().sasl_digest(&[("zkha", "secret"), ("other", "pw2")]),
    )
    .expect("start");
    eprintln!("DIGEST-MD5 ensemble up in {:?}", started.elapsed());
    let servers = zk.connect_string();
    let digest = zk.sasl_digest().expect("DIGEST files");
    assert!(digest.required);
    assert!(read(&digest.server_jaas).contains("user_zkha=\"secret\""));

    // Anonymous (sessionRequireClientSASLAuth) and a wrong password are refused; the right
    // password beside them is the control.
    let connector = || Client::connector().with_session_timeout(Duration::from_secs(4));
    let tried = tokio::join!(
        can_write(connector(), false, &servers, "/anonymous"),
        can_write(
            connector().with_sasl(SaslOptions::digest_md5("zkha", "wrong")),
            false,
            &servers,
            "/wrong"
        ),
        can_write(
            connector().with_sasl(SaslOptions::digest_md5("other", "pw2")),
            false,
            &servers,
            "/control"
        ),
    );
    assert_eq!(tried, (false, false, true), "(anonymous, wrong, right)");

    let client = Client::connector()
        .with_session_timeout(Duration::from_secs(10))
        .with_sasl(SaslOptions::digest_md5("zkha", "secret"))
        .connect(&servers)
        .await
        .expect("the right user and password");
    client
        .create(
            "/digest",
            b"",
            &CreateMode::Persistent.with_acls(Acls::creator_all()),
        )
        .await
        .expect("create with the creator's ACL");
    let (acl, _) = client.get_acl("/digest").await.unwrap();
    let ids: Vec<String> = acl
        .iter()
        .map(|a| format!("{}:{}", a.scheme(), a.id()))
        .collect();
    assert_eq!(ids, vec!["sasl:zkha".to_string()]);

    // A Java client with the kit's JAAS file for `other`.
    let props = digest.java_client_properties("other").unwrap();
    let (ok, out) = java_probe(&props, &servers, "/java-digest");
    assert!(ok, "Java DIGEST-MD5 client: {out}");
    assert!(
        out.contains("acl sasl:other\n"),
        "identity sasl:other: {out}"
    );

    // SASL offered, not required: anonymous clients are served too.
    let optional = Ensemble::start(
        1,
        Options::default()
            .sasl_digest(&[("zkha", "secret")])
            .sasl_required(false),
    )
    .expect("start");
    assert!(!optional.sasl_digest().unwrap().required);
    assert!(can_write(connector(), false, &optional.connect_string(), "/anonymous").await);
}

/// Seconds between "Valid starting" and "Expires" of the TGT in `klist` output (`LC_ALL=C`:
/// `MM/DD/YY HH:MM:SS  MM/DD/YY HH:MM:SS  krbtgt/...`).
fn tgt_life_s(klist: &str) -> i64 {
    let line = klist
        .lines()
        .find(|l| l.contains("krbtgt/"))
        .unwrap_or_else(|| panic!("no TGT in klist: {klist}"));
    let f: Vec<&str> = line.split_whitespace().collect();
    let secs = |t: &str| -> i64 {
        t.split(':')
            .map(|x| x.parse::<i64>().unwrap())
            .fold(0, |acc, x| acc * 60 + x)
    };
    let days = if f[0] == f[2] { 0 } else { 86_400 };
    secs(f[3]) + days - secs(f[1])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kerberos_ensemble_with_the_kits_kdc() {
    let started = Instant::now();
    let config = KerberosConfig::default().short_lived_client("short", Duration::from_secs(60));
    let zk = Ensemble::start(1, Options::default().kerberos(config)).expect("start");
    eprintln!(
        "Kerberos ensemble with its KDC up in {:?}",
        started.elapsed()
    );
    let servers = zk.connect_string();
    let krb = zk.kerberos().expect("Kerberos files");
    assert_eq!(krb.server_principal, "zookeeper/localhost@EXAMPLE.COM");
    assert!(krb.server_keytab.is_file());
    let kdc_pid = krb.kdc_pid;
    assert!(alive(kdc_pid));

    // The KDC issues tickets from the client keytabs; `short` lives 60 s, `zkha` hours.
    let ccache = krb.kinit("zkha").expect("kinit -k -t zkha.keytab");
    let klist = krb.klist(&ccache).unwrap();
    assert!(
        klist.contains("Default principal: zkha@EXAMPLE.COM"),
        "{klist}"
    );
    assert!(tgt_life_s(&klist) > 3600, "{klist}");
    let short = krb.klist(&krb.kinit("short").unwrap()).unwrap();
    let life = tgt_life_s(&short);
    assert!(
        (55..=60).contains(&life),
        "short-lived TGT: {life} s\n{short}"
    );
    assert!(
        krb.kinit("nobody").is_err(),
        "kinit of an unknown client fails"
    );

    // SASL is required: an anonymous client is refused.
    let anonymous = Client::connector().with_session_timeout(Duration::from_secs(4));
    assert!(!can_write(anonymous, false, &servers, "/anonymous").await);

    // A Java client logs in from its keytab through the kit's JAAS file.
    let props = krb.java_client_properties("zkha").unwrap();
    let (ok, out) = java_probe(&props, &servers, "/java-kerberos");
    assert!(ok, "Java Kerberos client: {out}");
    assert!(
        out.contains("acl sasl:zkha@EXAMPLE.COM\n"),
        "identity sasl:zkha@EXAMPLE.COM: {out}"
    );
    let kdc_log = read(&krb.kdc_log);
    assert!(
        kdc_log.contains("zkha@EXAMPLE.COM for zookeeper/localhost@EXAMPLE.COM"),
        "the KDC issued the service ticket: {kdc_log}"
    );

    drop(zk);
    let deadline = Instant::now() + Duration::from_secs(10);
    while alive(kdc_pid) {
        assert!(Instant::now() < deadline, "the KDC outlived its ensemble");
        std::thread::sleep(Duration::from_millis(50));
    }
}
