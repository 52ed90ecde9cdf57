//! Security options from Python: TLS, SASL, auth credentials, ACLs.

use super::*;

/// A PEM option: text if it holds a PEM block, else the path of a file.
pub(crate) fn pem(v: String) -> Pem {
    if v.trim_start().starts_with("-----BEGIN") {
        Pem::Text(v)
    } else {
        Pem::File(v.into())
    }
}

/// `zkha.Tls`, read by attribute.
#[derive(FromPyObject)]
pub(crate) struct TlsArg {
    pub(crate) ca: String,
    pub(crate) cert: Option<String>,
    pub(crate) key: Option<String>,
    pub(crate) hostname_verification: bool,
    pub(crate) reload_every: Option<f64>,
}

impl TlsArg {
    fn config(self) -> zkha::Result<TlsConfig> {
        let mut t = TlsConfig::new(pem(self.ca));
        match (self.cert, self.key) {
            (Some(c), Some(k)) => t = t.identity(pem(c), pem(k)),
            (None, None) => {}
            _ => {
                return Err(invalid(
                    "TLS: a client certificate and its key go together (give both cert and key)",
                ))
            }
        }
        t.hostname_verification = self.hostname_verification;
        if let Some(every) = self
            .reload_every
            .map(|s| finite_secs("TLS: reload_every", s).map_err(invalid))
            .transpose()?
        {
            t.reload_every = every;
        }
        Ok(t)
    }
}

/// A SASL object (`zkha.SaslDigestMd5`, ...), told apart by its `mechanism`. A new mechanism
/// (Kerberos) is one more arm here and one more class in `zkha/_security.py`.
pub(crate) fn sasl_arg(s: &Bound<'_, PyAny>) -> PyResult<zkha::Result<Sasl>> {
    let mechanism: String = s.getattr("mechanism")?.extract()?;
    Ok(match mechanism.as_str() {
        "DIGEST-MD5" => Ok(Sasl::DigestMd5 {
            username: s.getattr("username")?.extract()?,
            password: s.getattr("password")?.extract()?,
        }),
        "GSSAPI" => {
            let text = |name: &str| -> PyResult<Option<String>> { s.getattr(name)?.extract() };
            let mut k = zkha::Kerberos::ticket_cache(text("ticket_cache")?);
            k.principal = text("principal")?;
            k.keytab = text("keytab")?.map(Into::into);
            k.service = s.getattr("service")?.extract()?;
            k.server_principal = text("server_principal")?;
            k.server_realm = text("server_realm")?;
            k.canonicalize_hostname = s.getattr("canonicalize_hostname")?.extract()?;
            k.krb5_conf = text("krb5_conf")?.map(Into::into);
            Ok(Sasl::Kerberos(k))
        }
        other => Err(invalid(format!(
            "SASL mechanism {other:?} is not supported (DIGEST-MD5, GSSAPI)"
        ))),
    })
}

/// `acl=`: "open", "creator" (any case) or a list of `scheme:id:perms` entries.
#[derive(FromPyObject)]
pub(crate) enum AclArg {
    Mode(String),
    Entries(Vec<String>),
}

impl AclArg {
    fn mode(self) -> zkha::Result<AclMode> {
        match self {
            AclArg::Mode(m) => match m.trim().to_ascii_lowercase().as_str() {
                "open" => Ok(AclMode::Open),
                "creator" => Ok(AclMode::Creator),
                _ => Err(invalid(format!(
                    "acl {m:?} is not \"open\", \"creator\" or a list of scheme:id:perms entries"
                ))),
            },
            AclArg::Entries(e) if e.is_empty() => Err(invalid(
                "acl: the list of entries is empty (ZooKeeper refuses a node without ACL)",
            )),
            AclArg::Entries(e) => Ok(AclMode::Custom(
                e.iter()
                    .map(|s| AclEntry::parse(s))
                    .collect::<zkha::Result<_>>()?,
            )),
        }
    }
}

/// The security keywords of `Client.connect` and `Client.from_flink_config`: each one given
/// replaces what `o` has (the Flink configuration's, for the latter).
pub(crate) fn with_security(
    py: Python<'_>,
    mut o: ClientOptions,
    tls: Option<TlsArg>,
    sasl: Option<&Bound<'_, PyAny>>,
    auth: Option<Vec<String>>,
    acl: Option<AclArg>,
) -> PyResult<ClientOptions> {
    let err = |e| to_py_err(py, e);
    if let Some(t) = tls {
        o.tls = Some(t.config().map_err(err)?);
    }
    if let Some(s) = sasl {
        o.sasl = Some(sasl_arg(s)?.map_err(err)?);
    }
    if let Some(a) = auth {
        o.auth = a
            .iter()
            .map(|c| Credential::parse(c))
            .collect::<zkha::Result<_>>()
            .map_err(err)?;
    }
    if let Some(a) = acl {
        o.acl = a.mode().map_err(err)?;
    }
    o.validate().map_err(err)?;
    Ok(o)
}
