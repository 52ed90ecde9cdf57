#[allow(unused_imports)]
use std::borrow::Cow;

#[cfg(feature = "sasl-gssapi")]
mod gssapi;
#[cfg(feature = "sasl-gssapi")]
pub use gssapi::*;

#[cfg(feature = "sasl-digest-md5")]
mod digest_md5;
#[cfg(feature = "sasl-digest-md5")]
pub use digest_md5::*;

#[cfg(feature = "sasl-digest-md5")]
mod mechanisms {
    mod digest_md5;
}

use rsasl::prelude::*;

use crate::error::Error;

pub(crate) type Result<T, E = crate::error::Error> = std::result::Result<T, E>;

pub(crate) trait SaslInitiator {
    fn new_session(&self, hostname: &str) -> Result<SaslSession>;
}

/// Client side SASL options.
#[derive(Clone, Debug)]
pub struct SaslOptions(SaslInnerOptions);

#[derive(Clone, Debug)]
enum SaslInnerOptions {
    #[cfg(feature = "sasl-gssapi")]
    Gssapi(GssapiSaslOptions),
    #[cfg(feature = "sasl-digest-md5")]
    DigestMd5(DigestMd5SaslOptions),
    Custom(std::sync::Arc<dyn SaslMechanism>),
}

/// A client-side SASL mechanism implemented outside this crate (zkha: GSSAPI through a
/// Kerberos library loaded at run time). A session is started per connection.
pub trait SaslMechanism: Send + Sync + std::fmt::Debug {
    /// The mechanism's name, e.g. `GSSAPI`.
    fn name(&self) -> &str;
    /// Starts the exchange with the server at `hostname` (as written in the connect string).
    fn start(&self, hostname: &str) -> std::result::Result<Box<dyn SaslMechanismSession>, String>;
}

/// One client-side SASL exchange of a [SaslMechanism].
pub trait SaslMechanismSession: Send {
    /// The first message sent (may be empty).
    fn initial(&mut self) -> std::result::Result<Vec<u8>, String>;
    /// Answers a server challenge: `Some(response)`, or `None` once finished without one.
    fn step(&mut self, challenge: &[u8]) -> std::result::Result<Option<Vec<u8>>, String>;
}

impl SaslOptions {
    /// SASL with a mechanism of the caller's own.
    pub fn custom(mechanism: std::sync::Arc<dyn SaslMechanism>) -> SaslOptions {
        SaslOptions(SaslInnerOptions::Custom(mechanism))
    }
}

impl SaslOptions {
    /// Constructs a default [GssapiSaslOptions] for further customization.
    ///
    /// Make sure localhost is granted by Kerberos KDC, unlike Java counterpart this library
    /// provides no mean to grant ticket from KDC but simply utilizes whatever the ticket cache
    /// have.
    #[cfg(feature = "sasl-gssapi")]
    #[cfg_attr(docsrs, doc(cfg(any(feature = "sasl", feature = "sasl-gssapi"))))]
    pub fn gssapi() -> GssapiSaslOptions {
        GssapiSaslOptions::new()
    }

    /// Construct a [DigestMd5SaslOptions] for further customization.
    #[cfg(feature = "sasl-digest-md5")]
    #[cfg_attr(docsrs, doc(cfg(any(feature = "sasl", feature = "sasl-digest-md5"))))]
    pub fn digest_md5(
        username: impl Into<Cow<'static, str>>,
        password: impl Into<Cow<'static, str>>,
    ) -> DigestMd5SaslOptions {
        DigestMd5SaslOptions::new(username, password)
    }
}

impl SaslInitiator for SaslOptions {
    fn new_session(&self, hostname: &str) -> Result<SaslSession> {
        match &self.0 {
            #[cfg(feature = "sasl-digest-md5")]
            SaslInnerOptions::DigestMd5(options) => options.new_session(hostname),
            #[cfg(feature = "sasl-gssapi")]
            SaslInnerOptions::Gssapi(options) => options.new_session(hostname),
            SaslInnerOptions::Custom(mechanism) => {
                let mut session = mechanism.start(hostname).map_err(Error::UnexpectedError)?;
                let output = session.initial().map_err(Error::UnexpectedError)?;
                Ok(SaslSession {
                    output,
                    session: SessionKind::Custom(session, mechanism.name().to_string()),
                    finished: false,
                })
            },
        }
    }
}

enum SessionKind {
    Rsasl(Session),
    Custom(Box<dyn SaslMechanismSession>, String),
}

pub struct SaslSession {
    output: Vec<u8>,
    session: SessionKind,
    finished: bool,
}

impl SaslSession {
    fn new(session: Session) -> Result<Self> {
        let first = session.are_we_first();
        let mut session = Self { session: SessionKind::Rsasl(session), output: Default::default(), finished: false };
        if first {
            session.step(Default::default())?;
        }
        Ok(session)
    }

    pub fn name(&self) -> &str {
        match &self.session {
            SessionKind::Rsasl(session) => session.get_mechname().as_str(),
            SessionKind::Custom(_, name) => name,
        }
    }

    pub fn initial(&self) -> &[u8] {
        &self.output
    }

    pub fn step(&mut self, challenge: &[u8]) -> Result<Option<&[u8]>> {
        if self.finished {
            return Err(Error::UnexpectedError(format!("SASL {} session already finished", self.name())));
        }
        self.output.clear();
        let session = match &mut self.session {
            SessionKind::Rsasl(session) => session,
            SessionKind::Custom(session, _) => {
                return match session.step(challenge).map_err(Error::UnexpectedError)? {
                    Some(response) => {
                        self.output = response;
                        Ok(Some(&self.output))
                    },
                    None => {
                        self.finished = true;
                        Ok(None)
                    },
                };
            },
        };
        match session.step(Some(challenge), &mut self.output).map_err(Error::other)? {
            State::Running => Ok(Some(&self.output)),
            State::Finished(MessageSent::Yes) => {
                self.finished = true;
                Ok(Some(&self.output))
            },
            State::Finished(MessageSent::No) => {
                self.finished = true;
                Ok(None)
            },
        }
    }
}
