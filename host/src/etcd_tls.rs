//! TLS to etcd members: the client configuration (`SESSION_LOCK_ETCD_CA`, `_CERT`, `_KEY`) and
//! the byte stream the etcd store's HTTP/1.1 client speaks over, plain or TLS.
//!
//! TLS is rustls with its `ring` provider, blocking, on the same [`TcpStream`] the plain client
//! uses, so every timeout stays a socket timeout and no async runtime is needed. The server's
//! certificate is verified against the CA file when one is named, else the system's roots; a
//! client certificate is sent when both `SESSION_LOCK_ETCD_CERT` and `SESSION_LOCK_ETCD_KEY`
//! are set (etcd's `--client-cert-auth`).

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

/// The files TLS is configured from (each optional).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM certificates of the CA(s) that sign the members' certificates; `None`: the system's.
    pub ca: Option<PathBuf>,
    /// The client's PEM certificate chain.
    pub cert: Option<PathBuf>,
    /// The client's PEM private key.
    pub key: Option<PathBuf>,
}

impl TlsFiles {
    /// Whether a client certificate is configured.
    pub fn has_client_cert(&self) -> bool {
        self.cert.is_some()
    }
}

/// The rustls client configuration for `files`: one line naming the file on any error (never
/// its content).
pub fn client_config(files: &TlsFiles) -> Result<Arc<ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS set-up failed: {e}"))?
        .with_root_certificates(roots(files.ca.as_deref())?);
    let config = match (&files.cert, &files.key) {
        (None, None) => builder.with_no_client_auth(),
        (Some(cert), Some(key)) => {
            let chain = certificates(cert, "SESSION_LOCK_ETCD_CERT")?;
            let key = PrivateKeyDer::from_pem_file(key).map_err(|e| {
                format!(
                    "SESSION_LOCK_ETCD_KEY {}: not a PEM private key: {e}",
                    key.display()
                )
            })?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("SESSION_LOCK_ETCD_CERT and _KEY do not make a pair: {e}"))?
        }
        (Some(_), None) => return Err("SESSION_LOCK_ETCD_CERT is set without _KEY".into()),
        (None, Some(_)) => return Err("SESSION_LOCK_ETCD_KEY is set without _CERT".into()),
    };
    Ok(Arc::new(config))
}

/// The certificates of the PEM file at `path`, at least one.
fn certificates(path: &Path, setting: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let unreadable = |e: &dyn std::fmt::Display| format!("{setting} {}: {e}", path.display());
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| unreadable(&e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| unreadable(&e))?;
    if certs.is_empty() {
        return Err(unreadable(&"no PEM certificate in it"));
    }
    Ok(certs)
}

/// The trusted roots: the CA file's certificates, else the system's.
fn roots(ca: Option<&Path>) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    match ca {
        Some(path) => {
            for cert in certificates(path, "SESSION_LOCK_ETCD_CA")? {
                roots.add(cert).map_err(|e| {
                    format!("SESSION_LOCK_ETCD_CA {}: not a CA: {e}", path.display())
                })?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(found.certs);
            if roots.is_empty() {
                return Err("no system CA certificates found to verify etcd's; \
                            set SESSION_LOCK_ETCD_CA"
                    .into());
            }
        }
    }
    Ok(roots)
}

/// A connection to a member: plain, or TLS whose handshake is done.
pub enum Transport {
    /// `http://`.
    Plain(TcpStream),
    /// `https://`.
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Transport {
    /// The TLS handshake with `host` on `tcp`, finished by `until`. A failure here sent no
    /// request.
    pub fn handshake(
        config: &Arc<ClientConfig>,
        host: &str,
        mut tcp: TcpStream,
        until: Instant,
    ) -> Result<Transport, String> {
        let name = ServerName::try_from(host.to_owned())
            .map_err(|_| format!("{host:?} is not a name TLS can verify"))?;
        let mut connection = ClientConnection::new(Arc::clone(config), name)
            .map_err(|e| format!("TLS set-up failed: {e}"))?;
        while connection.is_handshaking() {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err("the TLS handshake timed out".into());
            }
            tcp.set_read_timeout(Some(left))
                .and_then(|()| tcp.set_write_timeout(Some(left)))
                .map_err(|e| e.to_string())?;
            match connection.complete_io(&mut tcp) {
                Ok((0, 0)) if connection.is_handshaking() => {
                    return Err("the member closed the connection during the TLS handshake \
                                (does it want a client certificate?)"
                        .into());
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return Err("the TLS handshake timed out".into());
                }
                Err(e) => return Err(format!("TLS handshake failed: {e}")),
            }
        }
        Ok(Transport::Tls(Box::new(StreamOwned::new(connection, tcp))))
    }

    /// The TCP connection underneath, for its timeouts.
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Transport::Plain(tcp) => tcp,
            Transport::Tls(stream) => stream.get_ref(),
        }
    }
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Transport::Plain(tcp) => f.debug_tuple("Plain").field(tcp).finish(),
            Transport::Tls(stream) => f.debug_tuple("Tls").field(stream.get_ref()).finish(),
        }
    }
}

impl Read for Transport {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(tcp) => tcp.read(buffer),
            Transport::Tls(stream) => stream.read(buffer),
        }
    }
}

impl Write for Transport {
    fn write(&mut self, buffer: &[u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(tcp) => tcp.write(buffer),
            Transport::Tls(stream) => stream.write(buffer),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Transport::Plain(tcp) => tcp.flush(),
            Transport::Tls(stream) => stream.flush(),
        }
    }
}
