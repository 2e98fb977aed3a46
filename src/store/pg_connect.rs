//! Connecting to PostgreSQL: the URL, TLS, the password file and the
//! timeouts, as a libpq user expects them.
//!
//! - **URL**: `postgres://user[:password]@host[:port]/dbname[?param=value&...]`,
//!   the parameters of the `postgres` crate (`connect_timeout`,
//!   `application_name`, `options`, `host=/run/postgresql` for a socket,
//!   ...) plus three that libpq has and mailroom reads itself:
//!   `sslmode`, `sslrootcert` and `passfile`.
//! - **TLS** (`sslmode`, over TCP; a Unix socket never uses TLS): `disable`; `prefer` (the default: TLS when the
//!   server offers it) and `require` (TLS or no connection) encrypt without
//!   checking the server's certificate, as libpq does; `verify-ca` checks
//!   that the certificate is signed by `sslrootcert` (a PEM file, or
//!   `system` for the system's CA bundle), `verify-full` also that it names
//!   the host. With SCRAM authentication the password exchange is bound to
//!   the TLS channel (`channel_binding=prefer`), so a server in the middle
//!   cannot relay it even when the certificate is not checked.
//! - **Password**: from the URL, else from the password file: `passfile=`,
//!   else `PGPASSFILE`, else `~/.pgpass`, in libpq's format
//!   (`host:port:dbname:user:password`, `*` matches anything). A file that
//!   others can read is refused, as libpq ignores it, so that the password
//!   never sits in a world-readable place (and never in `master.cf`).
//! - **Timeouts**: connecting gives up after [`CONNECT_TIMEOUT`] (or the
//!   URL's `connect_timeout`), and a server that stops answering
//!   mid-query is given up on after the busy timeout (`tcp_user_timeout`),
//!   so a dead server costs the MTA a short wait and an exit 75.
//! - **A server that keeps the connection but never answers** (a stopped
//!   server process, a hung proxy: their kernel still acknowledges every
//!   packet, so no TCP timeout fires) would hold a delivery for ever.
//!   Every exchange of a [`Conn`] is watched: past its deadline (twice the
//!   connect timeout for connecting, the busy timeout plus the connect
//!   timeout for a statement, which the server bounds by the busy timeout
//!   itself) the process says so and exits 75. That is safe at any point:
//!   the server rolls back a transaction whose connection goes, and a
//!   commit that did happen makes the MTA's retry a duplicate.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

use postgres::Row;
use postgres::config::{Host, SslMode};
use postgres::types::{ToSql, Type};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ClientConfig, WebPkiServerVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::{Error, Result};

/// How long connecting may take when the URL does not say
/// (`connect_timeout`).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where `sslrootcert=system` finds the CAs (Debian's bundle).
pub const SYSTEM_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// How the server's certificate is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verify {
    /// Encrypted, not checked (`prefer`, `require`).
    Nothing,
    /// Signed by a trusted CA (`verify-ca`).
    Chain,
    /// Signed by a trusted CA and naming the host (`verify-full`).
    Full,
}

/// A URL split into what the `postgres` crate reads and what mailroom
/// reads itself.
#[derive(Debug)]
struct Settings {
    url: String,
    verify: Verify,
    root_cert: Option<String>,
    passfile: Option<PathBuf>,
}

/// The URL with its password replaced by `***`, for messages.
pub fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:***@{host}"),
            None => authority.to_string(),
        },
        None => authority.to_string(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let query = query
                .split('&')
                .map(|p| match p.split_once('=') {
                    Some(("password", _)) => "password=***".to_string(),
                    _ => p.to_string(),
                })
                .collect::<Vec<_>>()
                .join("&");
            format!("{path}?{query}")
        }
        None => tail.to_string(),
    };
    format!("{scheme}://{authority}{tail}")
}

/// `%XX` decoded, as URL parameters are.
fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Settings {
    fn from_url(url: &str) -> Result<Settings> {
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let mut settings = Settings {
            url: String::new(),
            verify: Verify::Nothing,
            root_cert: None,
            passfile: None,
        };
        let mut kept = Vec::new();
        for param in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = param.split_once('=').unwrap_or((param, ""));
            let value = percent_decoded(value);
            match percent_decoded(key).as_str() {
                "sslmode" => match value.as_str() {
                    "verify-ca" | "verify-full" => {
                        settings.verify = if value == "verify-ca" {
                            Verify::Chain
                        } else {
                            Verify::Full
                        };
                        kept.push("sslmode=require".to_string());
                    }
                    "disable" | "prefer" | "require" => kept.push(param.to_string()),
                    other => {
                        return Err(Error::later(format!(
                            "database URL: sslmode `{other}` is not one of disable, prefer, require, verify-ca, verify-full"
                        )));
                    }
                },
                "sslrootcert" => settings.root_cert = Some(value),
                "passfile" => settings.passfile = Some(PathBuf::from(value)),
                _ => kept.push(param.to_string()),
            }
        }
        if settings.verify != Verify::Nothing && settings.root_cert.is_none() {
            return Err(Error::later(
                "database URL: sslmode=verify-ca and verify-full need sslrootcert=FILE (or sslrootcert=system)",
            ));
        }
        settings.url = if kept.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        Ok(settings)
    }
}

/// How long a writer waits for another one, and a query for the server:
/// 30 s, or `MAILROOM_BUSY_TIMEOUT_MS` (as for SQLite).
pub fn busy_timeout() -> Duration {
    std::env::var("MAILROOM_BUSY_TIMEOUT_MS")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(Duration::from_secs(30), Duration::from_millis)
}

/// A connection whose every exchange with the server is watched (see
/// the module doc).
pub struct Conn {
    client: postgres::Client,
    /// The URL, password hidden, for the message.
    shown: String,
    /// How long a statement may take: the busy timeout, which the server
    /// enforces itself, and the connect timeout more.
    deadline: Duration,
}

impl Conn {
    pub fn query_typed(
        &mut self,
        sql: &str,
        params: &[(&(dyn ToSql + Sync), Type)],
    ) -> std::result::Result<Vec<Row>, postgres::Error> {
        let client = &mut self.client;
        watched(self.deadline, &self.shown, || {
            client.query_typed(sql, params)
        })
    }

    pub fn batch_execute(&mut self, sql: &str) -> std::result::Result<(), postgres::Error> {
        let client = &mut self.client;
        watched(self.deadline, &self.shown, || client.batch_execute(sql))
    }
}

/// The exchanges under way, by a number of their own: when each began,
/// its deadline and the database's URL.
static WATCHED: Mutex<BTreeMap<u64, (Instant, Duration, String)>> = Mutex::new(BTreeMap::new());

/// Runs `exchange`, watched: past `deadline` the process exits 75.
fn watched<T>(deadline: Duration, shown: &str, exchange: impl FnOnce() -> T) -> T {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    static WATCHDOG: Once = Once::new();
    WATCHDOG.call_once(|| {
        // Without the thread (none can be made) exchanges go unwatched.
        let _ = std::thread::Builder::new()
            .name("db-watchdog".into())
            .spawn(watchdog);
    });
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    let lock = || {
        WATCHED
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    };
    lock().insert(id, (Instant::now(), deadline, shown.to_string()));
    let value = exchange();
    lock().remove(&id);
    value
}

fn watchdog() {
    loop {
        std::thread::sleep(Duration::from_millis(200));
        let watched = WATCHED
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((_, deadline, shown)) = watched
            .values()
            .find(|(since, deadline, _)| since.elapsed() > *deadline)
        {
            eprintln!(
                "mailroom: database `{shown}`: no answer from the server in {} s; giving up (the transaction, if any, is rolled back)",
                deadline.as_secs()
            );
            std::process::exit(crate::exit::Exit::TempFail.code());
        }
    }
}

/// Connects to the database at `url`.
pub fn connect(url: &str) -> Result<Conn> {
    let shown = redacted(url);
    let settings = Settings::from_url(url)?;
    let mut config: postgres::Config = settings
        .url
        .parse()
        .map_err(|e| Error::later(format!("cannot read the database URL `{shown}`: {e}")))?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    if config.get_tcp_user_timeout().is_none() {
        config.tcp_user_timeout(busy_timeout());
    }
    if config.get_application_name().is_none() {
        config.application_name("mailroom");
    }
    if config.get_password().is_none()
        && let Some(password) = password_from_file(&config, settings.passfile.as_deref())?
    {
        config.password(password);
    }
    let unix = config
        .get_hosts()
        .iter()
        .all(|h| matches!(h, Host::Unix(_)));
    let tls = if unix {
        // A Unix socket is local: libpq uses no TLS on one, whatever
        // `sslmode` says, and neither does mailroom.
        config.ssl_mode(SslMode::Disable);
        None
    } else {
        Some(tokio_postgres_rustls::MakeRustlsConnect::new(tls_config(
            &settings,
        )?))
    };
    // The crate's connect timeout is each socket's; this one covers the
    // password exchange too.
    let connect_timeout = config
        .get_connect_timeout()
        .copied()
        .unwrap_or(CONNECT_TIMEOUT);
    let connected = watched(2 * connect_timeout, &shown, || match tls {
        Some(tls) => config.connect(tls),
        None => config.connect(postgres::NoTls),
    });
    match connected {
        Ok(client) => Ok(Conn {
            client,
            shown,
            deadline: busy_timeout() + connect_timeout,
        }),
        Err(e) => Err(Error::from(e).context(format!("cannot connect to `{shown}`"))),
    }
}

/// The password file libpq would read: `passfile=`, `PGPASSFILE`, or
/// `~/.pgpass`; `None` when there is none.
fn passfile(named: Option<&Path>) -> Option<PathBuf> {
    if let Some(p) = named {
        return Some(p.to_path_buf());
    }
    if let Some(p) = std::env::var_os("PGPASSFILE") {
        return Some(PathBuf::from(p));
    }
    std::env::var_os("HOME").map(|h| Path::new(&h).join(".pgpass"))
}

/// The password for this connection from the password file, if it has
/// one. A named file that cannot be read, or one that others may read,
/// is an error (a password in a world-readable file is no secret).
fn password_from_file(config: &postgres::Config, named: Option<&Path>) -> Result<Option<String>> {
    use std::os::unix::fs::PermissionsExt;
    let Some(path) = passfile(named) else {
        return Ok(None);
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && named.is_none() => return Ok(None),
        Err(e) => {
            return Err(Error::later(format!(
                "cannot read the password file `{}`: {e}",
                path.display()
            )));
        }
    };
    let mode = std::fs::metadata(&path).map_or(0, |m| m.permissions().mode());
    if mode & 0o077 != 0 {
        return Err(Error::later(format!(
            "the password file `{}` may be read by others (mode {:o}); chmod 600 it",
            path.display(),
            mode & 0o777
        )));
    }
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(h)) => h.clone(),
        // libpq's name for a local socket.
        _ => "localhost".to_string(),
    };
    let port = config
        .get_ports()
        .first()
        .copied()
        .unwrap_or(5432)
        .to_string();
    let user = config
        .get_user()
        .map(str::to_string)
        .or_else(|| std::env::var("USER").ok());
    let dbname = config
        .get_dbname()
        .map(str::to_string)
        .or_else(|| user.clone());
    let wanted = [Some(host), Some(port), dbname, user];
    Ok(text.lines().find_map(|line| {
        let fields = pgpass_fields(line)?;
        let matches = fields[..4]
            .iter()
            .zip(&wanted)
            .all(|(field, want)| field == "*" || want.as_deref() == Some(field.as_str()));
        matches.then(|| fields[4].clone())
    }))
}

/// The five fields of a password-file line (`\:` and `\\` escaped);
/// `None` for a comment, a blank or a short line.
fn pgpass_fields(line: &str) -> Option<[String; 5]> {
    if line.starts_with('#') || line.trim().is_empty() {
        return None;
    }
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => fields.last_mut()?.push(chars.next().unwrap_or('\\')),
            ':' if fields.len() < 5 => fields.push(String::new()),
            c => fields.last_mut()?.push(c),
        }
    }
    fields.try_into().ok()
}

/// The TLS client: the `ring` provider, and a verifier as `sslmode` says.
fn tls_config(settings: &Settings) -> Result<ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let algorithms = provider.signature_verification_algorithms;
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::later(format!("TLS: {e}")))?;
    let chain = match (&settings.root_cert, settings.verify) {
        (Some(file), Verify::Chain | Verify::Full) => {
            let path = if file == "system" {
                SYSTEM_CA_BUNDLE
            } else {
                file.as_str()
            };
            let bad =
                |e: &dyn std::fmt::Display| Error::later(format!("sslrootcert `{path}`: {e}"));
            let mut roots = RootCertStore::empty();
            for cert in CertificateDer::pem_file_iter(path).map_err(|e| bad(&e))? {
                roots.add(cert.map_err(|e| bad(&e))?).map_err(|e| bad(&e))?;
            }
            let checked = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| bad(&e))?;
            Some(checked)
        }
        _ => None,
    };
    let verifier = Arc::new(Verifier {
        chain,
        hostname: settings.verify == Verify::Full,
        algorithms,
    });
    Ok(builder
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth())
}

/// The server's certificate checked as `sslmode` says: `prefer` and
/// `require` take any (libpq's meaning), `verify-ca` checks its chain
/// against the roots, `verify-full` the host name too. In every mode the
/// handshake must be signed by the key the certificate names.
#[derive(Debug)]
struct Verifier {
    /// The roots' verifier, for `verify-ca` and `verify-full`.
    chain: Option<Arc<WebPkiServerVerifier>>,
    hostname: bool,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        let Some(chain) = &self.chain else {
            return Ok(ServerCertVerified::assertion());
        };
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.hostname => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `sslmode` the crate sees.
    fn ssl_mode(url: &str) -> Option<SslMode> {
        let settings = Settings::from_url(url).ok()?;
        settings
            .url
            .parse::<postgres::Config>()
            .ok()
            .map(|c| c.get_ssl_mode())
    }

    #[test]
    fn passwords_never_show() {
        assert_eq!(
            redacted("postgres://crm:s3cret@db1:5433/crm?sslmode=require"),
            "postgres://crm:***@db1:5433/crm?sslmode=require"
        );
        assert_eq!(
            redacted("postgres://crm@db1/crm?password=s3cret&sslmode=require"),
            "postgres://crm@db1/crm?password=***&sslmode=require"
        );
        assert_eq!(redacted("postgres://db1/crm"), "postgres://db1/crm");
    }

    #[test]
    fn libpq_ssl_modes_are_read() {
        assert_eq!(ssl_mode("postgres://h/d"), Some(SslMode::Prefer));
        assert_eq!(
            ssl_mode("postgres://h/d?sslmode=disable"),
            Some(SslMode::Disable)
        );
        assert_eq!(
            ssl_mode("postgres://h/d?sslmode=verify-full&sslrootcert=system"),
            Some(SslMode::Require)
        );
        let err = Settings::from_url("postgres://h/d?sslmode=verify-full").expect_err("no root");
        assert!(err.to_string().contains("sslrootcert"), "{err}");
        let err = Settings::from_url("postgres://h/d?sslmode=allow").expect_err("unknown");
        assert!(err.to_string().contains("`allow`"), "{err}");
        let s = Settings::from_url("postgres://h/d?passfile=%2Fetc%2Fpw&connect_timeout=3")
            .expect("settings");
        assert_eq!(s.passfile.as_deref(), Some(Path::new("/etc/pw")));
        assert_eq!(s.url, "postgres://h/d?connect_timeout=3");
    }

    #[test]
    fn password_file_lines_are_read_as_libpq_does() {
        assert_eq!(
            pgpass_fields("db1:5432:crm:mailroom:pa\\:ss"),
            Some([
                "db1".into(),
                "5432".into(),
                "crm".into(),
                "mailroom".into(),
                "pa:ss".into()
            ])
        );
        assert_eq!(pgpass_fields("# comment"), None);
        assert_eq!(pgpass_fields("a:b:c"), None);
        // The password may itself hold colons.
        assert_eq!(
            pgpass_fields("*:*:*:u:a:b").map(|f| f[4].clone()),
            Some("a:b".into())
        );
    }

    #[test]
    fn a_password_file_others_can_read_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("pgpass");
        std::fs::write(&file, "*:*:*:*:s3cret\n").expect("write");
        let config: postgres::Config = "postgres://u@h/d".parse().expect("config");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let err = password_from_file(&config, Some(&file)).expect_err("refused");
        assert!(err.to_string().contains("chmod 600"), "{err}");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        assert_eq!(
            password_from_file(&config, Some(&file)).expect("read"),
            Some("s3cret".into())
        );
        std::fs::write(&file, "other:*:*:*:no\nh:5432:d:u:yes\n").expect("write");
        assert_eq!(
            password_from_file(&config, Some(&file)).expect("read"),
            Some("yes".into())
        );
    }
}
