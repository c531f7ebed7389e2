//! The connection to the real database: address and credentials from a
//! `postgres://USER[:PASSWORD]@HOST:PORT/DB` URL (read by `tokio_postgres::Config`), and the
//! startup and authentication exchange (cleartext, MD5 or SCRAM-SHA-256, by
//! `postgres_protocol`). After that, bytes flow through the session unchanged. TLS
//! towards the database as libpq configures it (`sslmode`, `sslrootcert`: see
//! [`crate::upstream_tls`]).

use std::str::FromStr;
use std::time::Duration;

use bytes::BytesMut;
use postgres_protocol::authentication::sasl::{ChannelBinding, ScramSha256};
use postgres_protocol::message::backend::Message;
use postgres_protocol::message::frontend;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_postgres::config::Host;

use crate::frame::{self, Frame};
use crate::upstream_tls::{self, UpstreamTls};

/// Largest message accepted from the upstream server (its own limit is 1 GB).
pub const MAX_BACKEND_MESSAGE: usize = 1 << 30;

/// Where and as whom the proxy connects.
#[derive(Debug, Clone)]
pub struct Target {
    pub host: String,
    pub port: u16,
    pub user: String,
    password: Option<Vec<u8>>,
    pub database: String,
    pub connect_timeout: Duration,
    /// TLS towards the database (plain unless the URL asks for it).
    pub tls: UpstreamTls,
}

impl Target {
    /// Reads a `postgres://` URL or a `key=value` connection string.
    pub fn parse(url: &str) -> Result<Target, String> {
        let (url, tls) = upstream_tls::split_url(url)?;
        let config = tokio_postgres::Config::from_str(&url)
            .map_err(|e| format!("invalid upstream URL: {e}"))?;
        let host = match config.get_hosts().first() {
            Some(Host::Tcp(h)) => h.clone(),
            Some(_) => return Err("the upstream must be a TCP host (not a Unix socket)".into()),
            None => "127.0.0.1".into(),
        };
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let user = config
            .get_user()
            .ok_or("the upstream URL must name a user (postgres://USER@HOST:PORT/DB)")?
            .to_string();
        let password = config
            .get_password()
            .map(<[u8]>::to_vec)
            .or_else(|| std::env::var("PGPASSWORD").ok().map(String::into_bytes));
        let database = config.get_dbname().unwrap_or(&user).to_string();
        Ok(Target {
            host,
            port,
            user,
            password,
            database,
            connect_timeout: config
                .get_connect_timeout()
                .copied()
                .unwrap_or(Duration::from_secs(10)),
            tls,
        })
    }

    /// `host:port`, for messages.
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// The connection to the database, plain or TLS.
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

/// A half of a [`Stream`].
pub type ReadHalf = Box<dyn AsyncRead + Send + Unpin>;
pub type WriteHalf = Box<dyn AsyncWrite + Send + Unpin>;

impl Stream {
    /// The two directions, each usable from its own task.
    pub fn into_split(self) -> (ReadHalf, WriteHalf) {
        match self {
            Stream::Plain(tcp) => {
                let (r, w) = tcp.into_split();
                (Box::new(r), Box::new(w))
            }
            Stream::Tls(tls) => {
                let (r, w) = tokio::io::split(*tls);
                (Box::new(r), Box::new(w))
            }
        }
    }

    async fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            Stream::Plain(s) => s.write_all(bytes).await,
            Stream::Tls(s) => s.write_all(bytes).await,
        }
    }

    async fn read_buf(&mut self, buf: &mut BytesMut) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read_buf(buf).await,
            Stream::Tls(s) => s.read_buf(buf).await,
        }
    }
}

/// Connects to the database and negotiates TLS as the target asks (before any startup).
async fn open(target: &Target) -> Result<Stream, UpstreamError> {
    let addr = target.address();
    let mut stream = tokio::time::timeout(target.connect_timeout, TcpStream::connect(&addr))
        .await
        .map_err(|_| UpstreamError::Connect(addr.clone(), "timed out".into()))?
        .map_err(|e| UpstreamError::Connect(addr.clone(), e.to_string()))?;
    let _ = stream.set_nodelay(true);
    let Some(config) = &target.tls.config else {
        return Ok(Stream::Plain(stream));
    };
    let mut out = BytesMut::new();
    frontend::ssl_request(&mut out);
    stream
        .write_all(&out)
        .await
        .map_err(|e| UpstreamError::Connect(addr.clone(), e.to_string()))?;
    let mut answer = [0u8; 1];
    stream
        .read_exact(&mut answer)
        .await
        .map_err(|e| UpstreamError::Connect(addr.clone(), e.to_string()))?;
    match answer {
        [b'S'] => {}
        [b'N'] if target.tls.plain_fallback() => return Ok(Stream::Plain(stream)),
        [b'N'] => {
            return Err(UpstreamError::Refused(
                "the server does not accept TLS, and the upstream URL's sslmode requires it".into(),
            ))
        }
        _ => {
            return Err(UpstreamError::Protocol(
                "unexpected answer to the SSL request".into(),
            ))
        }
    }
    let name = upstream_tls::server_name(&target.host).map_err(UpstreamError::Refused)?;
    let tls = tokio::time::timeout(
        target.connect_timeout,
        tokio_rustls::TlsConnector::from(config.clone()).connect(name, stream),
    )
    .await
    .map_err(|_| UpstreamError::Connect(addr.clone(), "TLS handshake timed out".into()))?
    .map_err(|e| UpstreamError::Refused(format!("TLS: {e}")))?;
    Ok(Stream::Tls(Box::new(tls)))
}

/// A logged-in upstream session.
pub struct Upstream {
    pub stream: Stream,
    /// The server's `ParameterStatus` messages, for the client.
    pub parameters: Vec<Frame>,
    /// The server's process id and secret key, for cancel requests.
    pub pid: i32,
    pub secret: i32,
    /// Bytes read past the first `ReadyForQuery` (none in practice).
    pub pending: BytesMut,
}

/// Why the upstream session could not start.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("cannot reach the upstream database at {0}: {1}")]
    Connect(String, String),
    #[error("the upstream database refused the proxy's login: {0}")]
    Refused(String),
    #[error("the upstream database broke the protocol: {0}")]
    Protocol(String),
}

/// Connects and logs in with `params` (already vetted) added to the startup message.
pub async fn connect(
    target: &Target,
    params: &[(String, String)],
) -> Result<Upstream, UpstreamError> {
    let stream = open(target).await?;
    let mut up = Upstream {
        stream,
        parameters: Vec::new(),
        pid: 0,
        secret: 0,
        pending: BytesMut::with_capacity(8192),
    };
    let mut out = BytesMut::new();
    let mut startup: Vec<(&str, &str)> = vec![
        ("user", &target.user),
        ("database", &target.database),
        ("client_encoding", "UTF8"),
    ];
    startup.extend(params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    frontend::startup_message(startup, &mut out)
        .map_err(|e| UpstreamError::Protocol(e.to_string()))?;
    up.send(&mut out).await?;
    let mut scram: Option<ScramSha256> = None;
    loop {
        let frame = up.next_frame().await?;
        let mut raw = BytesMut::new();
        frame.write_to(&mut raw);
        let msg = Message::parse(&mut raw)
            .map_err(|e| UpstreamError::Protocol(e.to_string()))?
            .ok_or_else(|| UpstreamError::Protocol("incomplete message".into()))?;
        match msg {
            Message::AuthenticationOk => {}
            Message::AuthenticationCleartextPassword => {
                let pw = target.password()?;
                frontend::password_message(pw, &mut out).map_err(proto)?;
                up.send(&mut out).await?;
            }
            Message::AuthenticationMd5Password(body) => {
                let pw = target.password()?;
                let hash = postgres_protocol::authentication::md5_hash(
                    target.user.as_bytes(),
                    pw,
                    body.salt(),
                );
                frontend::password_message(hash.as_bytes(), &mut out).map_err(proto)?;
                up.send(&mut out).await?;
            }
            Message::AuthenticationSasl(body) => {
                let mut mechanisms = body.mechanisms();
                let mut has_scram = false;
                while let Some(m) =
                    fallible_iterator::FallibleIterator::next(&mut mechanisms).map_err(proto)?
                {
                    has_scram |= m == "SCRAM-SHA-256";
                }
                if !has_scram {
                    return Err(UpstreamError::Refused(
                        "the server offers no SASL mechanism the proxy speaks".into(),
                    ));
                }
                let client = ScramSha256::new(target.password()?, ChannelBinding::unsupported());
                frontend::sasl_initial_response("SCRAM-SHA-256", client.message(), &mut out)
                    .map_err(proto)?;
                scram = Some(client);
                up.send(&mut out).await?;
            }
            Message::AuthenticationSaslContinue(body) => {
                let client = scram
                    .as_mut()
                    .ok_or_else(|| UpstreamError::Protocol("unexpected SASL continue".into()))?;
                client
                    .update(body.data())
                    .map_err(|e| UpstreamError::Refused(e.to_string()))?;
                frontend::sasl_response(client.message(), &mut out).map_err(proto)?;
                up.send(&mut out).await?;
            }
            Message::AuthenticationSaslFinal(body) => {
                let client = scram
                    .as_mut()
                    .ok_or_else(|| UpstreamError::Protocol("unexpected SASL final".into()))?;
                client
                    .finish(body.data())
                    .map_err(|e| UpstreamError::Refused(e.to_string()))?;
            }
            Message::ParameterStatus(_) => up.parameters.push(frame),
            Message::BackendKeyData(body) => {
                up.pid = body.process_id();
                up.secret = body.secret_key();
            }
            Message::NoticeResponse(_) => {}
            Message::ReadyForQuery(_) => return Ok(up),
            Message::ErrorResponse(body) => {
                return Err(UpstreamError::Refused(error_text(&body)));
            }
            _ => {
                return Err(UpstreamError::Protocol(format!(
                    "unexpected `{}` message during startup",
                    char::from(frame.tag)
                )))
            }
        }
    }
}

fn proto(e: std::io::Error) -> UpstreamError {
    UpstreamError::Protocol(e.to_string())
}

fn error_text(body: &postgres_protocol::message::backend::ErrorResponseBody) -> String {
    use fallible_iterator::FallibleIterator;
    let mut fields = body.fields();
    let mut code = String::new();
    let mut message = String::new();
    while let Ok(Some(f)) = fields.next() {
        match f.type_() {
            b'C' => code = String::from_utf8_lossy(f.value_bytes()).into_owned(),
            b'M' => message = String::from_utf8_lossy(f.value_bytes()).into_owned(),
            _ => {}
        }
    }
    format!("{message} (SQLSTATE {code})")
}

impl Target {
    fn password(&self) -> Result<&[u8], UpstreamError> {
        self.password.as_deref().ok_or_else(|| {
            UpstreamError::Refused(
                "the server asks for a password and the upstream URL (or PGPASSWORD) has none"
                    .into(),
            )
        })
    }
}

impl Upstream {
    async fn send(&mut self, out: &mut BytesMut) -> Result<(), UpstreamError> {
        self.stream
            .write_all(out)
            .await
            .map_err(|e| UpstreamError::Protocol(e.to_string()))?;
        out.clear();
        Ok(())
    }

    async fn next_frame(&mut self) -> Result<Frame, UpstreamError> {
        loop {
            if let Some(f) = frame::take_typed(&mut self.pending, MAX_BACKEND_MESSAGE)
                .map_err(|e| UpstreamError::Protocol(e.to_string()))?
            {
                return Ok(f);
            }
            let n = self
                .stream
                .read_buf(&mut self.pending)
                .await
                .map_err(|e| UpstreamError::Protocol(e.to_string()))?;
            if n == 0 {
                return Err(UpstreamError::Protocol(
                    "the server closed the connection during startup".into(),
                ));
            }
        }
    }
}

/// Sends a cancel request for the upstream session `pid`/`secret`.
/// Sends a cancel request for the upstream session `pid`/`secret` (over TLS when the
/// target asks for it, as libpq does).
pub async fn cancel(target: &Target, pid: i32, secret: i32) -> Result<(), UpstreamError> {
    let mut stream = open(target).await?;
    let mut out = BytesMut::new();
    frontend::cancel_request(pid, secret, &mut out);
    stream.write_all(&out).await.map_err(proto)?;
    // The server closes the connection when done; wait for it briefly.
    let mut sink = BytesMut::with_capacity(16);
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_buf(&mut sink)).await;
    Ok(())
}
