//! TLS, with mutual authentication when a client certificate is configured.

use std::path::{Path, PathBuf};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::{BusError, Result};

/// TLS settings of a connection to NATS. When set, TLS is required whatever the URL's scheme
/// (`tls://` is the usual one, `nats://` is upgraded): a server that does not offer TLS is refused, and
/// the client never falls back to plain text.
///
/// The server's certificate must chain to a certificate in `ca_file` (the system's roots are not
/// used) and name the host of the URL. With `cert_file` and `key_file` the client presents its own
/// certificate, as a server configured with `verify: true` requires (mutual TLS). All files are PEM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    /// CA certificate(s) that the server's certificate must chain to.
    pub ca_file: PathBuf,
    /// The client's certificate chain, for mutual TLS; requires `key_file`.
    pub cert_file: Option<PathBuf>,
    /// The private key of `cert_file` (PKCS#8, PKCS#1 or SEC1).
    pub key_file: Option<PathBuf>,
}

impl TlsConfig {
    /// Server authentication only: trust `ca_file`, present no client certificate.
    pub fn new(ca_file: impl Into<PathBuf>) -> Self {
        Self {
            ca_file: ca_file.into(),
            cert_file: None,
            key_file: None,
        }
    }

    /// Mutual TLS: trust `ca_file` and present `cert_file` with its key `key_file`.
    pub fn mutual(
        ca_file: impl Into<PathBuf>,
        cert_file: impl Into<PathBuf>,
        key_file: impl Into<PathBuf>,
    ) -> Self {
        Self {
            ca_file: ca_file.into(),
            cert_file: Some(cert_file.into()),
            key_file: Some(key_file.into()),
        }
    }

    /// Checks that every file is readable and holds what it should, so that a mistake is reported
    /// with the file's name before any connection is tried (the client library's own messages name
    /// no file).
    pub fn check(&self) -> Result<()> {
        check_certs("CA file", &self.ca_file)?;
        match (&self.cert_file, &self.key_file) {
            (None, None) => Ok(()),
            (Some(cert), Some(key)) => {
                check_certs("client certificate", cert)?;
                PrivateKeyDer::from_pem_file(key).map_err(|e| BusError::Tls {
                    role: "client key",
                    file: key.clone(),
                    // The parser's own message could quote a line of the key file.
                    problem: match e {
                        rustls_pki_types::pem::Error::Io(_)
                        | rustls_pki_types::pem::Error::NoItemsFound => {
                            pem_problem(e, "PRIVATE KEY")
                        }
                        _ => "is not a valid PEM private key".to_owned(),
                    },
                })?;
                Ok(())
            }
            (Some(cert), None) => Err(BusError::Tls {
                role: "client certificate",
                file: cert.clone(),
                problem: "given without key_file; set both or neither".to_owned(),
            }),
            (None, Some(key)) => Err(BusError::Tls {
                role: "client key",
                file: key.clone(),
                problem: "given without cert_file; set both or neither".to_owned(),
            }),
        }
    }

    /// The files, for error messages: `CA <file>[, client certificate <file>]`.
    pub(crate) fn describe(&self) -> String {
        let mut s = format!("CA {}", self.ca_file.display());
        if let Some(cert) = &self.cert_file {
            s.push_str(&format!(", client certificate {}", cert.display()));
        }
        s
    }

    pub(crate) fn apply(&self, options: async_nats::ConnectOptions) -> async_nats::ConnectOptions {
        let options = options
            .require_tls(true)
            .add_root_certificates(self.ca_file.clone());
        match (&self.cert_file, &self.key_file) {
            (Some(cert), Some(key)) => options.add_client_certificate(cert.clone(), key.clone()),
            _ => options,
        }
    }
}

fn check_certs(role: &'static str, file: &Path) -> Result<()> {
    let err = |problem: String| BusError::Tls {
        role,
        file: file.to_path_buf(),
        problem,
    };
    let mut n = 0;
    for cert in
        CertificateDer::pem_file_iter(file).map_err(|e| err(pem_problem(e, "CERTIFICATE")))?
    {
        cert.map_err(|e| err(pem_problem(e, "CERTIFICATE")))?;
        n += 1;
    }
    if n == 0 {
        return Err(err(pem_problem(
            rustls_pki_types::pem::Error::NoItemsFound,
            "CERTIFICATE",
        )));
    }
    Ok(())
}

fn pem_problem(e: rustls_pki_types::pem::Error, what: &str) -> String {
    use rustls_pki_types::pem::Error;
    match e {
        Error::Io(io) => format!("cannot read it: {io}"),
        Error::NoItemsFound => format!("holds no PEM {what} section"),
        other => format!("is not valid PEM: {other}"),
    }
}
