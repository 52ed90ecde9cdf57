//! Certificates for TLS-only ensembles, made with the `openssl` CLI and the JDK's `keytool`.
//!
//! A CA signs a server certificate (SAN `DNS:localhost,IP:127.0.0.1`), a client certificate
//! and an already-expired client certificate. Keys are unencrypted PKCS#8 PEM (what rustls and
//! ZooKeeper's PEM stores read); the Java stores (PKCS12 and JKS) share one password.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::error::{Error, Result};
use crate::install::jdk_tool;

/// Whether servers ask TLS clients for a certificate (ZooKeeper's `ssl.clientAuth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientAuth {
    /// A client certificate signed by the CA is required (ZooKeeper's default).
    #[default]
    Need,
    /// A client certificate is asked for but not required.
    Want,
    /// No client certificate is asked for.
    None,
}

impl ClientAuth {
    /// Parses `need`, `want` or `none` (any case).
    pub fn parse(s: &str) -> Option<ClientAuth> {
        match s.to_ascii_lowercase().as_str() {
            "need" => Some(ClientAuth::Need),
            "want" => Some(ClientAuth::Want),
            "none" => Some(ClientAuth::None),
            _ => None,
        }
    }

    fn zoo_cfg(self) -> &'static str {
        match self {
            ClientAuth::Need => "need",
            ClientAuth::Want => "want",
            ClientAuth::None => "none",
        }
    }
}

/// How a TLS-only ensemble is set up (see [`crate::Options::tls`]).
#[derive(Debug, Clone)]
pub struct TlsConfig {
    /// `ssl.clientAuth` of the servers (default [`ClientAuth::Need`]).
    pub client_auth: ClientAuth,
    /// The password of every PKCS12 and JKS store (default `changeit`).
    pub password: String,
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig {
            client_auth: ClientAuth::Need,
            password: "changeit".into(),
        }
    }
}

impl TlsConfig {
    /// Sets `ssl.clientAuth`.
    pub fn client_auth(mut self, client_auth: ClientAuth) -> Self {
        self.client_auth = client_auth;
        self
    }

    /// Sets the password of the Java stores.
    pub fn password(mut self, password: &str) -> Self {
        self.password = password.into();
        self
    }
}

/// The files of a TLS-only ensemble, all in [`TlsFiles::dir`] (`<ensemble dir>/tls`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct TlsFiles {
    /// The directory holding every file below.
    pub dir: PathBuf,
    /// The servers' `ssl.clientAuth`.
    pub client_auth: ClientAuth,
    /// Password of the PKCS12 and JKS stores (the PEM keys are not encrypted).
    pub password: String,
    /// `ca.pem`: the CA certificate every server and client trusts.
    pub ca_cert: PathBuf,
    /// `ca.key`: the CA's key (PKCS#8 PEM), to sign more certificates in a test.
    pub ca_key: PathBuf,
    /// `server.pem`: the servers' key and certificate chain in one file (ZooKeeper's PEM
    /// keystore); SAN `DNS:localhost,IP:127.0.0.1`.
    pub server_keystore: PathBuf,
    /// `client.pem`: the client certificate (subject [`TlsFiles::client_subject`]).
    pub client_cert: PathBuf,
    /// `client.key`: its key, PKCS#8 PEM (`BEGIN PRIVATE KEY`).
    pub client_key: PathBuf,
    /// `client.p12`: client key, certificate and the CA, PKCS12, alias `client`.
    pub client_p12: PathBuf,
    /// `client.jks`: the same as JKS.
    pub client_jks: PathBuf,
    /// `truststore.p12`: the CA as a trusted entry (alias `ca`), PKCS12.
    pub truststore_p12: PathBuf,
    /// `truststore.jks`: the same as JKS.
    pub truststore_jks: PathBuf,
    /// `expired-client.pem`: a client certificate of the same CA, valid only on 1 January 2020.
    pub expired_client_cert: PathBuf,
    /// `expired-client.key`: its key.
    pub expired_client_key: PathBuf,
    /// Subject of the client certificate as ZooKeeper names it in `x509:` ACL ids (RFC 2253,
    /// last RDN first).
    pub client_subject: String,
}

impl TlsFiles {
    /// System properties that make a Java ZooKeeper client (3.5+) use TLS with the kit's
    /// client certificate and CA (JKS stores).
    pub fn java_client_properties(&self) -> Vec<(String, String)> {
        [
            ("zookeeper.client.secure", "true".to_string()),
            (
                "zookeeper.clientCnxnSocket",
                "org.apache.zookeeper.ClientCnxnSocketNetty".to_string(),
            ),
            (
                "zookeeper.ssl.keyStore.location",
                self.client_jks.display().to_string(),
            ),
            ("zookeeper.ssl.keyStore.password", self.password.clone()),
            ("zookeeper.ssl.keyStore.type", "JKS".to_string()),
            (
                "zookeeper.ssl.trustStore.location",
                self.truststore_jks.display().to_string(),
            ),
            ("zookeeper.ssl.trustStore.password", self.password.clone()),
            ("zookeeper.ssl.trustStore.type", "JKS".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// The `zoo.cfg` lines of a server on `port` (`secureClientPort` only, Netty, PEM stores).
    pub(crate) fn zoo_cfg(&self, port: u16) -> String {
        format!(
            "secureClientPort={port}\nsecureClientPortAddress=127.0.0.1\n\
             serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory\n\
             ssl.keyStore.location={}\nssl.keyStore.type=PEM\n\
             ssl.trustStore.location={}\nssl.trustStore.type=PEM\nssl.clientAuth={}\n",
            self.server_keystore.display(),
            self.ca_cert.display(),
            self.client_auth.zoo_cfg(),
        )
    }

    /// Makes the CA, the certificates and the stores in `dir`. `java` is the JDK's `java`
    /// (its `keytool` makes the Java stores).
    pub fn generate(dir: &Path, config: &TlsConfig, java: &Path) -> Result<TlsFiles> {
        fs::create_dir_all(dir)?;
        let f = |name: &str| dir.join(name);
        let files = TlsFiles {
            dir: dir.to_path_buf(),
            client_auth: config.client_auth,
            password: config.password.clone(),
            ca_cert: f("ca.pem"),
            ca_key: f("ca.key"),
            server_keystore: f("server.pem"),
            client_cert: f("client.pem"),
            client_key: f("client.key"),
            client_p12: f("client.p12"),
            client_jks: f("client.jks"),
            truststore_p12: f("truststore.p12"),
            truststore_jks: f("truststore.jks"),
            expired_client_cert: f("expired-client.pem"),
            expired_client_key: f("expired-client.key"),
            client_subject: "O=zkha,CN=zkha-client".into(),
        };
        if config.password.len() < 6 {
            return Err(Error::Usage(
                "the TLS store password needs at least 6 characters (keytool's minimum)".into(),
            ));
        }
        let p = |path: &Path| path.display().to_string();
        openssl(
            dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "30",
                "-subj",
                "/CN=zkha-test-ca",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
                "-keyout",
                &p(&files.ca_key),
                "-out",
                &p(&files.ca_cert),
            ],
        )?;
        fs::write(
            f("server.ext"),
            "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n\
             subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n",
        )?;
        fs::write(
            f("client.ext"),
            "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n\
             extendedKeyUsage=clientAuth\n",
        )?;
        let sign = |name: &str, subject: &str, ext: &str| -> Result<()> {
            let key = p(&f(&format!("{name}.key")));
            let csr = p(&f(&format!("{name}.csr")));
            openssl(
                dir,
                &[
                    "req", "-newkey", "rsa:2048", "-nodes", "-subj", subject, "-keyout", &key,
                    "-out", &csr,
                ],
            )?;
            openssl(
                dir,
                &[
                    "x509",
                    "-req",
                    "-in",
                    &csr,
                    "-CA",
                    &p(&files.ca_cert),
                    "-CAkey",
                    &p(&files.ca_key),
                    "-CAcreateserial",
                    "-days",
                    "30",
                    "-sha256",
                    "-extfile",
                    &p(&f(ext)),
                    "-out",
                    &p(&f(&format!("{name}.crt"))),
                ],
            )
        };
        sign("server", "/CN=zkha-server/O=zkha", "server.ext")?;
        sign("client", "/CN=zkha-client/O=zkha", "client.ext")?;
        // ZooKeeper's PEM keystore: the key, then the chain.
        let server_crt = fs::read_to_string(f("server.crt"))?;
        let ca_pem = fs::read_to_string(&files.ca_cert)?;
        fs::write(
            &files.server_keystore,
            format!(
                "{}{server_crt}{ca_pem}",
                fs::read_to_string(f("server.key"))?
            ),
        )?;
        fs::rename(f("client.crt"), &files.client_cert)?;
        expired_client(dir, &files)?;
        let pass = format!("pass:{}", config.password);
        openssl(
            dir,
            &[
                "pkcs12",
                "-export",
                "-in",
                &p(&files.client_cert),
                "-inkey",
                &p(&files.client_key),
                "-certfile",
                &p(&files.ca_cert),
                "-name",
                "client",
                "-out",
                &p(&files.client_p12),
                "-passout",
                &pass,
            ],
        )?;
        // The three keytool runs are JVMs: run them side by side.
        let keytool = jdk_tool(java, "keytool");
        let pw = config.password.as_str();
        let strings =
            |args: &[&str]| -> Vec<String> { args.iter().map(|s| s.to_string()).collect() };
        let trust = |store: &Path, kind: &str| {
            strings(&[
                "-importcert",
                "-noprompt",
                "-alias",
                "ca",
                "-file",
                &p(&files.ca_cert),
                "-keystore",
                &p(store),
                "-storetype",
                kind,
                "-storepass",
                pw,
            ])
        };
        let jobs = [
            strings(&[
                "-importkeystore",
                "-noprompt",
                "-srckeystore",
                &p(&files.client_p12),
                "-srcstoretype",
                "PKCS12",
                "-srcstorepass",
                pw,
                "-destkeystore",
                &p(&files.client_jks),
                "-deststoretype",
                "JKS",
                "-deststorepass",
                pw,
            ]),
            trust(&files.truststore_jks, "JKS"),
            trust(&files.truststore_p12, "PKCS12"),
        ];
        let children: Vec<_> = jobs
            .iter()
            .map(|args| {
                Command::new(&keytool)
                    .args(args)
                    .current_dir(dir)
                    .stdin(Stdio::null())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .map_err(|e| {
                        Error::Install(format!(
                            "cannot run `{}` (the JDK's keytool, for the Java key stores): {e}; \
                             install a JDK (e.g. `apt-get install openjdk-17-jdk-headless`)",
                            keytool.display()
                        ))
                    })
            })
            .collect::<Result<_>>()?;
        for (child, args) in children.into_iter().zip(&jobs) {
            let out = child.wait_with_output()?;
            if !out.status.success() {
                return Err(Error::Start(format!(
                    "`{} {}` failed: {}{}",
                    keytool.display(),
                    args.join(" "),
                    String::from_utf8_lossy(&out.stdout).trim(),
                    String::from_utf8_lossy(&out.stderr).trim()
                )));
            }
        }
        for stale in ["server.csr", "client.csr", "expired-client.csr", "ca.srl"] {
            let _ = fs::remove_file(f(stale));
        }
        Ok(files)
    }
}

/// A client certificate of the kit's CA that expired long ago: `openssl x509` of OpenSSL 3.0
/// cannot set dates, `openssl ca` can.
fn expired_client(dir: &Path, files: &TlsFiles) -> Result<()> {
    let p = |path: &Path| path.display().to_string();
    let ca_dir = dir.join("expired-ca");
    fs::create_dir_all(&ca_dir)?;
    fs::write(ca_dir.join("index.txt"), "")?;
    fs::write(ca_dir.join("serial"), "1000\n")?;
    let cnf = ca_dir.join("ca.cnf");
    fs::write(
        &cnf,
        format!(
            "[ca]\ndefault_ca = kit\n[kit]\ndir = {d}\ndatabase = {d}/index.txt\n\
             new_certs_dir = {d}\nserial = {d}/serial\ndefault_md = sha256\npolicy = any\n\
             unique_subject = no\nx509_extensions = client\n[any]\ncommonName = supplied\n\
             organizationName = optional\n[client]\nbasicConstraints = CA:FALSE\n\
             keyUsage = critical,digitalSignature,keyEncipherment\nextendedKeyUsage = clientAuth\n",
            d = ca_dir.display()
        ),
    )?;
    let csr = dir.join("expired-client.csr");
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=zkha-expired-client/O=zkha",
            "-keyout",
            &p(&files.expired_client_key),
            "-out",
            &p(&csr),
        ],
    )?;
    openssl(
        dir,
        &[
            "ca",
            "-batch",
            "-notext",
            "-config",
            &p(&cnf),
            "-cert",
            &p(&files.ca_cert),
            "-keyfile",
            &p(&files.ca_key),
            "-in",
            &p(&csr),
            "-out",
            &p(&files.expired_client_cert),
            "-startdate",
            "20200101000000Z",
            "-enddate",
            "20200102000000Z",
        ],
    )?;
    let _ = fs::remove_dir_all(&ca_dir);
    Ok(())
}

fn openssl(dir: &Path, args: &[&str]) -> Result<()> {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| {
            Error::Install(format!(
                "cannot run `openssl` (TLS ensembles make their certificates with it): {e}; \
                 install it (`apt-get install openssl`)"
            ))
        })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(Error::Start(format!(
            "`openssl {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}
