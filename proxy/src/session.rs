//! One client connection: SSL negotiation, startup and login, the upstream session, then
//! the two directions of [`crate::relay`] driven over the sockets.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use pgwire::messages::response::{ReadyForQuery, TransactionStatus};
use pgwire::messages::startup::{
    Authentication, BackendKeyData, NegotiateProtocolVersion, SecretKey, Startup,
};
use pgwire::messages::{DecodeContext, Message as _};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use verdict_engine::Context;

use crate::frame::{self, Body, Frame, FrameError};
use crate::relay::{self, SessionError, Step};
use crate::scram::{Exchange, Verifier};
use crate::upstream;
use crate::{vetted, Shared};

const SSL_REQUEST: i32 = 80877103;
const GSSENC_REQUEST: i32 = 80877104;
const CANCEL_REQUEST: i32 = 80877102;
/// The largest startup-phase message (PostgreSQL's own limit).
const MAX_STARTUP_MESSAGE: usize = 10_000;
/// The largest password or SASL message (PostgreSQL's `PG_MAX_AUTH_TOKEN_LENGTH`): a JWT
/// with a rich context is larger than a startup message.
const MAX_AUTH_MESSAGE: usize = 65_535;

/// The client's side of the connection, plain or TLS.
type Reader = Box<dyn AsyncRead + Send + Unpin>;
type Writer = Box<dyn AsyncWrite + Send + Unpin>;

/// Serves one client until it leaves or fails; never panics on what the client sends.
pub async fn serve(client: TcpStream, peer: SocketAddr, shared: Arc<Shared>) {
    let _ = client.set_nodelay(true);
    let mut buf = BytesMut::with_capacity(8192);
    let deadline = tokio::time::Instant::now() + shared.limits.startup_timeout;
    let (mut reader, mut writer) =
        match tokio::time::timeout_at(deadline, negotiate(client, &mut buf, &shared)).await {
            Ok(Ok(halves)) => halves,
            Ok(Err(e)) => {
                log(peer, &format!("startup failed: {e}"));
                return;
            }
            Err(_) => {
                log(
                    peer,
                    "startup failed: no startup message within the startup timeout",
                );
                return;
            }
        };
    let startup =
        tokio::time::timeout_at(deadline, start(&mut reader, &mut writer, &mut buf, &shared))
            .await
            .unwrap_or_else(|_| {
                Err(SessionError::fatal(
                    "08P01",
                    "the client did not log in within the startup timeout",
                ))
            });
    let session = match startup {
        Ok(Some(s)) => s,
        Ok(None) => return,
        Err(e) => {
            if let Some(msg) = e.to_client() {
                let _ = writer.write_all(&msg).await;
            }
            log(peer, &format!("startup failed: {e}"));
            return;
        }
    };
    let key = session.key;
    let result = session.run(reader, writer, buf, &shared, peer).await;
    if let Ok(mut cancels) = shared.cancels.lock() {
        cancels.remove(&key);
    }
    if let Err(e) = result {
        log(peer, &format!("session ended: {e}"));
    }
}

fn log(peer: SocketAddr, what: &str) {
    eprintln!("verdict proxy: {peer}: {what}");
}

/// A logged-in client with its upstream session.
struct Session {
    ctx: Arc<Context>,
    /// The user name the client logged in with.
    login: String,
    /// The client's `application_name` at startup.
    application: String,
    upstream: upstream::Upstream,
    /// The client's cancel key (pid, secret).
    key: (i32, i32),
}

/// Answers SSL and GSS encryption requests (TLS when a certificate is configured, `N`
/// otherwise) and returns the connection's halves; the first other message stays in `buf`.
async fn negotiate(
    mut tcp: TcpStream,
    buf: &mut BytesMut,
    shared: &Shared,
) -> Result<(Reader, Writer), SessionError> {
    loop {
        let f = loop {
            if let Some(f) = frame::take_untyped(buf, MAX_STARTUP_MESSAGE)? {
                break f;
            }
            if tcp.read_buf(buf).await? == 0 {
                return Err(SessionError::Io(std::io::ErrorKind::UnexpectedEof.into()));
            }
        };
        let code = Body::new(&f).i32()?;
        if code != SSL_REQUEST && code != GSSENC_REQUEST {
            let mut whole = BytesMut::with_capacity(f.body.len() + 4 + buf.len());
            f.write_to(&mut whole);
            whole.extend_from_slice(buf);
            *buf = whole;
            let (r, w) = tcp.into_split();
            return Ok((Box::new(r), Box::new(w)));
        }
        // Data sent before our answer would be read as if it came over TLS.
        if !buf.is_empty() {
            return Err(SessionError::fatal(
                "08P01",
                "data received before the SSL answer",
            ));
        }
        match (&shared.tls, code) {
            (Some(acceptor), SSL_REQUEST) => {
                tcp.write_all(b"S").await?;
                let tls = acceptor.accept(tcp).await?;
                let (r, w) = tokio::io::split(tls);
                return Ok((Box::new(r), Box::new(w)));
            }
            _ => tcp.write_all(b"N").await?,
        }
    }
}

async fn read_more(reader: &mut Reader, buf: &mut BytesMut) -> Result<(), SessionError> {
    if buf.capacity() - buf.len() < 4096 {
        buf.reserve(8192);
    }
    let n = reader.read_buf(buf).await?;
    if n == 0 {
        return Err(SessionError::Io(std::io::ErrorKind::UnexpectedEof.into()));
    }
    Ok(())
}

async fn untyped(reader: &mut Reader, buf: &mut BytesMut) -> Result<Frame, SessionError> {
    loop {
        if let Some(f) = frame::take_untyped(buf, MAX_STARTUP_MESSAGE)? {
            return Ok(f);
        }
        read_more(reader, buf).await?;
    }
}

async fn typed(reader: &mut Reader, buf: &mut BytesMut, max: usize) -> Result<Frame, SessionError> {
    loop {
        if let Some(f) = frame::take_typed(buf, max)? {
            return Ok(f);
        }
        read_more(reader, buf).await?;
    }
}

fn encode(msg: &impl pgwire::messages::Message, out: &mut BytesMut) {
    // Encoding into a growable buffer cannot fail.
    let _ = msg.encode(out);
}

/// SSL negotiation, startup, login and the upstream session; `None` for a cancel request.
async fn start(
    reader: &mut Reader,
    writer: &mut Writer,
    buf: &mut BytesMut,
    shared: &Shared,
) -> Result<Option<Session>, SessionError> {
    let startup = loop {
        let f = untyped(reader, buf).await?;
        let mut body = Body::new(&f);
        let code = body.i32()?;
        match code {
            SSL_REQUEST | GSSENC_REQUEST => {
                // Data sent before our answer would be read as if it came over TLS.
                if !buf.is_empty() {
                    return Err(SessionError::fatal(
                        "08P01",
                        "data received before the SSL answer",
                    ));
                }
                writer.write_all(b"N").await?;
            }
            CANCEL_REQUEST => {
                let pid = body.i32()?;
                let secret = body.i32()?;
                let target = shared
                    .cancels
                    .lock()
                    .ok()
                    .and_then(|c| c.get(&(pid, secret)).copied());
                if let Some((up_pid, up_secret)) = target {
                    let _ = upstream::cancel(&shared.target, up_pid, up_secret).await;
                }
                return Ok(None);
            }
            _ if code >> 16 == 3 => {
                let mut raw = BytesMut::new();
                f.write_to(&mut raw);
                break Startup::decode(&mut raw, &DecodeContext::default())
                    .ok()
                    .flatten()
                    .ok_or(FrameError::Malformed {
                        tag: '0',
                        what: "bad startup message",
                    })?;
            }
            _ => {
                return Err(SessionError::fatal(
                    "08P01",
                    format!(
                        "unsupported frontend protocol {}.{}",
                        code >> 16,
                        code & 0xffff
                    ),
                ))
            }
        }
    };
    let mut out = BytesMut::new();
    let params = startup.parameters;
    let unsupported: Vec<String> = params
        .keys()
        .filter(|k| k.starts_with("_pq_."))
        .cloned()
        .collect();
    if startup.protocol_number_minor > 0 || !unsupported.is_empty() {
        encode(&NegotiateProtocolVersion::new(0, unsupported), &mut out);
    }
    if params
        .get("replication")
        .is_some_and(|v| v != "false" && v != "0" && v != "off")
    {
        return Err(SessionError::fatal(
            "08P01",
            "the proxy does not serve replication connections",
        ));
    }
    let user = params
        .get("user")
        .filter(|u| !u.is_empty())
        .cloned()
        .ok_or_else(|| {
            SessionError::fatal(
                "28000",
                "no PostgreSQL user name specified in startup packet",
            )
        })?;
    if let Some(enc) = params.get("client_encoding") {
        if !vetted::is_utf8_name(enc)
            && !enc.eq_ignore_ascii_case("sql_ascii")
            && !enc.eq_ignore_ascii_case("auto")
        {
            return Err(SessionError::fatal(
                "22023",
                format!("the proxy reads SQL as UTF-8; client_encoding `{enc}` is not supported"),
            ));
        }
    }
    let ctx = login(reader, writer, buf, &mut out, shared, &user).await?;
    let mut forward: Vec<(String, String)> = params
        .iter()
        .filter(|(k, _)| vetted::STARTUP_PARAMS.contains(&k.to_ascii_lowercase().as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    // max_execution_ms of the applicable policies, as the upstream session's limit.
    let set = shared.source.policies().map_err(|_| unavailable())?;
    if let Some(ms) = crate::judge::session_timeout(&set, &ctx) {
        forward.push(("statement_timeout".into(), ms.to_string()));
    }
    let up = upstream::connect(&shared.target, &forward)
        .await
        .map_err(|e| {
            eprintln!("verdict proxy: upstream: {e}");
            match e {
                upstream::UpstreamError::Connect(..) => {
                    SessionError::fatal("08006", "the proxy cannot reach the upstream database")
                }
                _ => {
                    SessionError::fatal("08006", "the proxy cannot log in to the upstream database")
                }
            }
        })?;
    let key = loop {
        let mut raw = [0u8; 8];
        getrandom::fill(&mut raw).map_err(|_| SessionError::fatal("XX000", "no randomness"))?;
        let [a, b, c, d, e, f, g, h] = raw;
        let pid = i32::from_be_bytes([a & 0x7f, b, c, d]);
        let secret = i32::from_be_bytes([e, f, g, h]);
        let mut cancels = shared
            .cancels
            .lock()
            .map_err(|_| SessionError::fatal("XX000", "cancel registry unavailable"))?;
        if pid != 0 && !cancels.contains_key(&(pid, secret)) {
            cancels.insert((pid, secret), (up.pid, up.secret));
            break (pid, secret);
        }
    };
    encode(&Authentication::Ok, &mut out);
    for p in &up.parameters {
        p.write_to(&mut out);
    }
    encode(&BackendKeyData::new(key.0, SecretKey::I32(key.1)), &mut out);
    encode(&ReadyForQuery::new(TransactionStatus::Idle), &mut out);
    writer.write_all(&out).await?;
    Ok(Some(Session {
        ctx: Arc::new(ctx),
        login: user,
        application: params.get("application_name").cloned().unwrap_or_default(),
        upstream: up,
        key,
    }))
}

/// Checks the password: SCRAM-SHA-256 for a principal, a JWT otherwise (when configured).
/// Every failure is the same 28P01.
async fn login(
    reader: &mut Reader,
    writer: &mut Writer,
    buf: &mut BytesMut,
    out: &mut BytesMut,
    shared: &Shared,
    user: &str,
) -> Result<Context, SessionError> {
    let failed = || {
        SessionError::fatal(
            "28P01",
            format!("password authentication failed for user \"{user}\""),
        )
    };
    // A store that cannot be read refuses every login (fail closed).
    let principals = shared.source.principals().map_err(|_| unavailable())?;
    let principal = principals.get(user);
    if principal.is_none() {
        if let Some(jwt) = &shared.jwt {
            encode(&Authentication::CleartextPassword, out);
            writer.write_all(out).await?;
            out.clear();
            let f = typed(reader, buf, MAX_AUTH_MESSAGE).await?;
            if f.tag != b'p' {
                return Err(SessionError::fatal("08P01", "expected a password message"));
            }
            let mut body = Body::new(&f);
            let token = body.cstr()?;
            return jwt.context(token).map_err(|_| failed());
        }
    }
    let verifier = principal.map_or_else(
        || Verifier::impossible(user, &shared.mock_salt_secret),
        |p| p.verifier.clone(),
    );
    encode(&Authentication::SASL(vec!["SCRAM-SHA-256".into()]), out);
    writer.write_all(out).await?;
    out.clear();
    let f = typed(reader, buf, MAX_AUTH_MESSAGE).await?;
    if f.tag != b'p' {
        return Err(SessionError::fatal("08P01", "expected a SASL response"));
    }
    let mut body = Body::new(&f);
    let mechanism = body.cstr()?;
    let len = body.i32()?;
    let data = body.bytes(usize::try_from(len).map_err(|_| failed())?)?;
    if mechanism != "SCRAM-SHA-256" {
        return Err(failed());
    }
    let (exchange, server_first) = Exchange::start(verifier, data).map_err(|_| failed())?;
    encode(
        &Authentication::SASLContinue(Bytes::from(server_first)),
        out,
    );
    writer.write_all(out).await?;
    out.clear();
    let f = typed(reader, buf, MAX_AUTH_MESSAGE).await?;
    if f.tag != b'p' {
        return Err(SessionError::fatal("08P01", "expected a SASL response"));
    }
    let server_final = exchange.finish(&f.body).map_err(|_| failed())?;
    let principal = principal.ok_or_else(failed)?;
    encode(&Authentication::SASLFinal(Bytes::from(server_final)), out);
    Ok(principal.context.clone())
}

impl Session {
    async fn run(
        self,
        mut reader: Reader,
        writer: Writer,
        mut buf: BytesMut,
        shared: &Shared,
        peer: SocketAddr,
    ) -> Result<(), SessionError> {
        let (up_read, mut up_write) = self.upstream.stream.into_split();
        let writer = tokio::sync::Mutex::new(writer);
        let mut nonce = [0u8; 12];
        getrandom::fill(&mut nonce).map_err(|_| SessionError::fatal("XX000", "no randomness"))?;
        let principal = relay::Principal {
            name: self.ctx.user.clone().unwrap_or_else(|| self.login.clone()),
            quotas: shared.quotas.clone(),
            audit: shared.audit.clone(),
            client: peer.to_string(),
            application: self.application.clone(),
        };
        let (mut front, back) = relay::pair(
            shared.source.clone(),
            self.ctx.clone(),
            principal,
            shared.limits.max_message_bytes,
            &nonce,
        );
        let front_loop = frontend_loop(&mut reader, &mut buf, &mut up_write, shared, &mut front);
        let back_loop = backend_loop(up_read, self.upstream.pending, &writer, &back);
        let result = tokio::select! {
            r = front_loop => r,
            r = back_loop => r,
        };
        if let Err(e) = &result {
            if let Some(msg) = e.to_client() {
                let mut w = writer.lock().await;
                let _ = w.write_all(&msg).await;
            }
        }
        let _ = up_write.shutdown().await;
        result
    }
}

async fn frontend_loop(
    reader: &mut Reader,
    buf: &mut BytesMut,
    up: &mut upstream::WriteHalf,
    shared: &Shared,
    front: &mut relay::Front,
) -> Result<(), SessionError> {
    let mut out = BytesMut::with_capacity(8192);
    loop {
        loop {
            let step = translate(front, buf, &mut out)?;
            if !out.is_empty() {
                up.write_all(&out).await?;
                out.clear();
            }
            match step {
                Step::Terminate => return Ok(()),
                // `out` was full: translate the rest of what is buffered.
                Step::More if frame::has_typed(buf) => continue,
                Step::More => break,
            }
        }
        let idle = shared.limits.idle_timeout;
        if idle.is_zero() {
            read_more(reader, buf).await?;
            continue;
        }
        loop {
            match tokio::time::timeout(idle, read_more(reader, buf)).await {
                Ok(r) => {
                    r?;
                    break;
                }
                // Waiting for a long statement's result is not idling.
                Err(_) if front.busy() => continue,
                Err(_) => {
                    return Err(SessionError::fatal(
                        "57P05",
                        "terminating connection due to idle timeout",
                    ))
                }
            }
        }
    }
}

/// Buffered client bytes beyond which judging may take long (the engine takes about a
/// quarter of a second per megabyte of SQL): judged off the async workers when possible.
const LARGE_INPUT: usize = 256 * 1024;

fn translate(
    front: &mut relay::Front,
    buf: &mut BytesMut,
    out: &mut BytesMut,
) -> Result<Step, SessionError> {
    use tokio::runtime::{Handle, RuntimeFlavor};
    let multi_thread =
        Handle::try_current().is_ok_and(|h| h.runtime_flavor() == RuntimeFlavor::MultiThread);
    if buf.len() > LARGE_INPUT && multi_thread {
        // Other sessions keep their worker while this one judges a big text.
        tokio::task::block_in_place(|| front.client_to_upstream(buf, out))
    } else {
        front.client_to_upstream(buf, out)
    }
}

async fn backend_loop(
    mut up: upstream::ReadHalf,
    mut buf: BytesMut,
    writer: &tokio::sync::Mutex<Writer>,
    back: &relay::Back,
) -> Result<(), SessionError> {
    let mut out = BytesMut::with_capacity(16 * 1024);
    loop {
        back.upstream_to_client(&mut buf, &mut out)?;
        if !out.is_empty() {
            let mut w = writer.lock().await;
            w.write_all(&out).await?;
            out.clear();
        }
        if buf.capacity() - buf.len() < 8192 {
            buf.reserve(16 * 1024);
        }
        let n = up.read_buf(&mut buf).await?;
        if n == 0 {
            return Err(SessionError::fatal(
                "08006",
                "the upstream database closed the connection",
            ));
        }
    }
}

/// The policy store could not be read recently: the login or session is refused.
fn unavailable() -> SessionError {
    SessionError::fatal(
        "57P03",
        "the proxy cannot read its policy store; try again later",
    )
}
