//! A Flink cluster on a secured ZooKeeper ensemble, set up the way an operator sets up Flink's
//! built-in ZooKeeper HA: the ZooKeeper client's system properties on every JVM (TLS with JKS
//! stores and a client certificate; a JAAS `Client` section for SASL DIGEST-MD5 naming Flink's
//! shaded `DigestLoginModule`) and `high-availability.zookeeper.client.acl: creator`. zkha's
//! plugin reads the same properties and keys, so one setup serves both HA services.

use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use zkha::{ClientOptions, Pem, Sasl, TlsConfig};
use zkha_testkit::{ClientAuth, Ensemble, Options};

use crate::error::{Error, Result};

/// The JAAS login module of Flink's shaded ZooKeeper client (what a Flink operator's JAAS file
/// names; the unshaded class is not on Flink's class path).
const DIGEST_LOGIN_MODULE: &str =
    "org.apache.flink.shaded.zookeeper3.org.apache.zookeeper.server.auth.DigestLoginModule";

/// The SASL user Flink logs in as, and another tenant of the same ensemble.
pub const USERS: [(&str, &str); 2] = [("flink", "flink-secret"), ("other", "other-secret")];

/// How every process of a cluster and the kit's own client reach a secured ensemble.
#[derive(Debug, Clone)]
pub struct Security {
    /// System properties of every JVM (`-Dkey=value`), as `env.java.opts.all` would give them.
    pub jvm_properties: Vec<(String, String)>,
    /// More Flink configuration (`high-availability.zookeeper.client.acl: creator`).
    pub flink_config: Vec<(String, String)>,
    /// The TLS configuration of the kit's own client (the same certificate as Flink's).
    pub tls: TlsConfig,
    /// The SASL login of the kit's own client (the same user as Flink's).
    pub sasl: Sasl,
    /// The ACL ids a node created by the cluster must carry under `acl: creator`.
    pub creator_ids: Vec<String>,
}

impl Security {
    /// `options` with the kit client's TLS and SASL.
    pub fn client_options(&self, options: ClientOptions) -> ClientOptions {
        options.tls(self.tls.clone()).sasl(self.sasl.clone())
    }
}

/// Starts a 3-node ensemble that serves clients on TLS only (client certificates required)
/// and requires SASL DIGEST-MD5 of every session ([`USERS`]); returns it with the setup of a
/// cluster logging in as `flink`.
pub fn ensemble() -> Result<(Ensemble, Security)> {
    let zk = Ensemble::start(
        3,
        Options::default()
            .tls(zkha_testkit::TlsConfig {
                client_auth: ClientAuth::Need,
                ..Default::default()
            })
            .sasl_digest(&USERS),
    )?;
    let security = security(&zk, USERS[0].0)?;
    Ok((zk, security))
}

/// The setup of a cluster on `zk` (started with TLS and DIGEST-MD5) logging in as `user`.
pub fn security(zk: &Ensemble, user: &str) -> Result<Security> {
    let tls = zk
        .tls()
        .ok_or_else(|| Error::new("the ensemble serves no TLS"))?;
    let digest = zk
        .sasl_digest()
        .ok_or_else(|| Error::new("the ensemble has no DIGEST-MD5 users"))?;
    let password = digest
        .user(user)
        .ok_or_else(|| Error::new(format!("the ensemble has no DIGEST-MD5 user {user}")))?
        .password
        .clone();
    let jaas: PathBuf = zk.dir().join(format!("flink-{user}.jaas"));
    fs::write(
        &jaas,
        format!(
            "Client {{\n  {DIGEST_LOGIN_MODULE} required\n  username=\"{user}\"\n  password=\"{password}\";\n}};\n"
        ),
    )?;
    let mut jvm_properties = tls.java_client_properties();
    // Flink's shaded client resolves the simple name to its own (relocated) Netty socket.
    for (k, v) in jvm_properties.iter_mut() {
        if k == "zookeeper.clientCnxnSocket" {
            *v = "ClientCnxnSocketNetty".into();
        }
    }
    // Flink's shaded ZooKeeper client offers TLSv1.2 by default; the kit's servers take 1.3.
    jvm_properties.push(("zookeeper.ssl.protocol".into(), "TLSv1.3".into()));
    jvm_properties.push((
        "java.security.auth.login.config".into(),
        jaas.display().to_string(),
    ));
    // ZooKeeper 3.9 clients refuse DIGEST-MD5 in their default FIPS mode; 3.8 ignores the key.
    jvm_properties.push(("zookeeper.fips-mode".into(), "false".into()));
    Ok(Security {
        jvm_properties,
        flink_config: vec![(
            "high-availability.zookeeper.client.acl".into(),
            "creator".into(),
        )],
        tls: TlsConfig::new(Pem::File(tls.ca_cert.clone())).identity(
            Pem::File(tls.client_cert.clone()),
            Pem::File(tls.client_key.clone()),
        ),
        sasl: Sasl::DigestMd5 {
            username: user.into(),
            password,
        },
        creator_ids: vec![
            format!("sasl:{user}"),
            format!("x509:{}", tls.client_subject),
        ],
    })
}

/// How long a secured cluster may take to start: TLS handshakes and SASL exchanges make each
/// ZooKeeper session slower to open on two cores.
pub const START_TIMEOUT: Duration = Duration::from_secs(240);
