//! SASL on the servers: DIGEST-MD5 users from a JAAS file, or Kerberos (see
//! [`crate::kerberos`]), with `sessionRequireClientSASLAuth`.

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::kerberos::KerberosConfig;

/// The SASL mechanism the servers accept (a ZooKeeper server takes one: GSSAPI when its JAAS
/// `Server` section logs in to Kerberos, DIGEST-MD5 otherwise).
#[derive(Debug, Clone)]
pub enum SaslMechanism {
    /// DIGEST-MD5 with these users and passwords.
    DigestMd5 {
        /// `(user, password)` pairs.
        users: Vec<(String, String)>,
    },
    /// GSSAPI with a KDC the kit starts.
    Kerberos(KerberosConfig),
}

/// SASL on an ensemble (see [`crate::Options::sasl_digest`], [`crate::Options::kerberos`]).
#[derive(Debug, Clone)]
pub struct SaslConfig {
    /// The mechanism and its identities.
    pub mechanism: SaslMechanism,
    /// `sessionRequireClientSASLAuth=true`: a client that has not authenticated gets its
    /// session closed at its first request (default true). False: SASL is offered, not required.
    pub required: bool,
}

/// One DIGEST-MD5 user and the JAAS file a Java client logs in with.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DigestUser {
    /// The user name (ACL id `sasl:<user>`).
    pub user: String,
    /// Its password.
    pub password: String,
    /// `client-<user>.jaas`: a `Client` section with ZooKeeper's `DigestLoginModule`.
    pub jaas: PathBuf,
}

/// The files of a DIGEST-MD5 ensemble, in `<ensemble dir>/sasl`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DigestFiles {
    /// The directory holding the JAAS files.
    pub dir: PathBuf,
    /// `server.jaas`: the servers' `Server` section (every user and password).
    pub server_jaas: PathBuf,
    /// Whether the servers require SASL (`sessionRequireClientSASLAuth`).
    pub required: bool,
    /// The users.
    pub users: Vec<DigestUser>,
}

impl DigestFiles {
    /// Writes the JAAS files into `dir`.
    pub(crate) fn write(
        dir: &Path,
        users: &[(String, String)],
        required: bool,
    ) -> Result<DigestFiles> {
        fs::create_dir_all(dir)?;
        let mut server =
            String::from("Server {\n  org.apache.zookeeper.server.auth.DigestLoginModule required");
        let mut out = Vec::new();
        for (user, password) in users {
            server.push_str(&format!("\n  user_{user}=\"{}\"", jaas_escape(password)));
            let jaas = dir.join(format!("client-{user}.jaas"));
            fs::write(
                &jaas,
                format!(
                    "Client {{\n  org.apache.zookeeper.server.auth.DigestLoginModule required\n  \
                     username=\"{}\"\n  password=\"{}\";\n}};\n",
                    jaas_escape(user),
                    jaas_escape(password)
                ),
            )?;
            out.push(DigestUser {
                user: user.clone(),
                password: password.clone(),
                jaas,
            });
        }
        server.push_str(";\n};\n");
        let server_jaas = dir.join("server.jaas");
        fs::write(&server_jaas, server)?;
        Ok(DigestFiles {
            dir: dir.to_path_buf(),
            server_jaas,
            required,
            users: out,
        })
    }

    /// The user named `user`.
    pub fn user(&self, user: &str) -> Option<&DigestUser> {
        self.users.iter().find(|u| u.user == user)
    }

    /// System properties for a Java ZooKeeper client that logs in as `user`: its JAAS file, and
    /// `zookeeper.fips-mode=false` (3.9 clients refuse DIGEST-MD5 in their default FIPS mode;
    /// older clients ignore the key).
    pub fn java_client_properties(&self, user: &str) -> Option<Vec<(String, String)>> {
        let u = self.user(user)?;
        Some(vec![
            (
                "java.security.auth.login.config".into(),
                u.jaas.display().to_string(),
            ),
            ("zookeeper.fips-mode".into(), "false".into()),
        ])
    }
}

/// The `zoo.cfg` lines every SASL ensemble has.
pub(crate) fn zoo_cfg(required: bool) -> String {
    let mut s = String::from(
        "authProvider.1=org.apache.zookeeper.server.auth.SASLAuthenticationProvider\n",
    );
    if required {
        s.push_str("sessionRequireClientSASLAuth=true\n");
    }
    s
}

/// Escapes `"` and `\` inside a JAAS option value.
pub(crate) fn jaas_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}
