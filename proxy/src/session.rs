//! One client connection: startup and login, then two loops: client → upstream (every SQL
//! text judged, everything else forwarded as it came) and upstream → client (forwarded,
//! with blocked statements' errors put in place).
//!
//! A blocked statement still goes upstream, as a statement that fails at parse time with
//! a marker the client cannot guess (`SELECT 'verdict-block-<nonce>-<n>'::int4`): the
//! upstream then answers in the right place among pipelined responses, skips to the next
//! Sync, and fails an open transaction, exactly as it would for any error. The proxy
//! replaces that error with the verdict's 42501.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use pgwire::messages::response::{ReadyForQuery, TransactionStatus};
use pgwire::messages::startup::{
    Authentication, BackendKeyData, NegotiateProtocolVersion, SecretKey, Startup,
};
use pgwire::messages::{DecodeContext, Message as _};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use verdict_engine::Context;

use crate::frame::{self, Body, Frame, FrameError};
use crate::judge::{self, Judged};
use crate::scram::{Exchange, Verifier};
use crate::upstream::{self, MAX_BACKEND_MESSAGE};
use crate::{vetted, Shared};

const SSL_REQUEST: i32 = 80877103;
const GSSENC_REQUEST: i32 = 80877104;
const CANCEL_REQUEST: i32 = 80877102;
/// The largest startup-phase message (PostgreSQL's own limit).
const MAX_STARTUP_MESSAGE: usize = 10_000;
/// Flush to the other side once this much is buffered.
const FLUSH_AT: usize = 64 * 1024;

/// Why a session ended early; logged, and sent to the client as FATAL when it can be.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("{1}")]
    Fatal(&'static str, String),
    #[error("protocol violation: {0}")]
    Frame(#[from] FrameError),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

impl SessionError {
    fn fatal(code: &'static str, message: impl Into<String>) -> Self {
        SessionError::Fatal(code, message.into())
    }

    /// The FATAL message for the client, when one is due.
    fn to_client(&self) -> Option<Bytes> {
        match self {
            SessionError::Fatal(code, msg) => Some(judge::fatal(code, msg)),
            SessionError::Frame(e) => Some(judge::fatal("08P01", &format!("invalid message: {e}"))),
            SessionError::Io(_) => None,
        }
    }
}

/// Serves one client until it leaves or fails; never panics on what the client sends.
pub async fn serve(client: TcpStream, peer: SocketAddr, shared: Arc<Shared>) {
    let _ = client.set_nodelay(true);
    let (mut reader, mut writer) = client.into_split();
    let mut buf = BytesMut::with_capacity(8192);
    let startup = tokio::time::timeout(
        shared.limits.startup_timeout,
        start(&mut reader, &mut writer, &mut buf, &shared),
    )
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
    let result = session.run(reader, writer, buf, &shared).await;
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
    upstream: upstream::Upstream,
    /// The client's cancel key (pid, secret).
    key: (i32, i32),
}

async fn read_more(reader: &mut OwnedReadHalf, buf: &mut BytesMut) -> Result<(), SessionError> {
    if buf.capacity() - buf.len() < 4096 {
        buf.reserve(8192);
    }
    let n = reader.read_buf(buf).await?;
    if n == 0 {
        return Err(SessionError::Io(std::io::ErrorKind::UnexpectedEof.into()));
    }
    Ok(())
}

async fn untyped(reader: &mut OwnedReadHalf, buf: &mut BytesMut) -> Result<Frame, SessionError> {
    loop {
        if let Some(f) = frame::take_untyped(buf, MAX_STARTUP_MESSAGE)? {
            return Ok(f);
        }
        read_more(reader, buf).await?;
    }
}

async fn typed(
    reader: &mut OwnedReadHalf,
    buf: &mut BytesMut,
    max: usize,
) -> Result<Frame, SessionError> {
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
    reader: &mut OwnedReadHalf,
    writer: &mut OwnedWriteHalf,
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
    let forward: Vec<(String, String)> = params
        .iter()
        .filter(|(k, _)| vetted::STARTUP_PARAMS.contains(&k.to_ascii_lowercase().as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
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
        upstream: up,
        key,
    }))
}

/// Checks the password: SCRAM-SHA-256 for a principal, a JWT otherwise (when configured).
/// Every failure is the same 28P01.
async fn login(
    reader: &mut OwnedReadHalf,
    writer: &mut OwnedWriteHalf,
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
    let principal = shared.principals.get(user);
    if principal.is_none() {
        if let Some(jwt) = &shared.jwt {
            encode(&Authentication::CleartextPassword, out);
            writer.write_all(out).await?;
            out.clear();
            let f = typed(reader, buf, MAX_STARTUP_MESSAGE).await?;
            if f.tag != b'p' {
                return Err(SessionError::fatal("08P01", "expected a password message"));
            }
            let mut body = Body::new(&f);
            let token = body.cstr()?;
            return jwt.context(token).map_err(|_| failed());
        }
    }
    let verifier = principal.map_or_else(Verifier::impossible, |p| p.verifier.clone());
    encode(&Authentication::SASL(vec!["SCRAM-SHA-256".into()]), out);
    writer.write_all(out).await?;
    out.clear();
    let f = typed(reader, buf, MAX_STARTUP_MESSAGE).await?;
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
    let f = typed(reader, buf, MAX_STARTUP_MESSAGE).await?;
    if f.tag != b'p' {
        return Err(SessionError::fatal("08P01", "expected a SASL response"));
    }
    let server_final = exchange.finish(&f.body).map_err(|_| failed())?;
    let principal = principal.ok_or_else(failed)?;
    encode(&Authentication::SASLFinal(Bytes::from(server_final)), out);
    Ok(principal.context.clone())
}

/// Errors of blocked statements, by sequence number, waiting for their marker to come back.
#[derive(Default)]
struct Blocks {
    pending: Mutex<VecDeque<(u64, Bytes)>>,
}

impl Session {
    async fn run(
        self,
        mut reader: OwnedReadHalf,
        writer: OwnedWriteHalf,
        mut buf: BytesMut,
        shared: &Shared,
    ) -> Result<(), SessionError> {
        let (up_read, mut up_write) = self.upstream.stream.into_split();
        let writer = Arc::new(tokio::sync::Mutex::new(writer));
        let blocks = Arc::new(Blocks::default());
        let in_flight = Arc::new(AtomicI64::new(0));
        let mut nonce = [0u8; 12];
        getrandom::fill(&mut nonce).map_err(|_| SessionError::fatal("XX000", "no randomness"))?;
        let marker: String = format!(
            "verdict-block-{}-",
            nonce.iter().map(|b| format!("{b:02x}")).collect::<String>()
        );
        let front = frontend_loop(
            &mut reader,
            &mut buf,
            &mut up_write,
            shared,
            &self.ctx,
            &blocks,
            &marker,
            &in_flight,
        );
        let back = backend_loop(
            up_read,
            self.upstream.pending,
            &writer,
            &blocks,
            &marker,
            &in_flight,
        );
        let result = tokio::select! {
            r = front => r,
            r = back => r,
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

#[allow(clippy::too_many_arguments)]
async fn frontend_loop(
    reader: &mut OwnedReadHalf,
    buf: &mut BytesMut,
    up: &mut OwnedWriteHalf,
    shared: &Shared,
    ctx: &Context,
    blocks: &Blocks,
    marker: &str,
    in_flight: &AtomicI64,
) -> Result<(), SessionError> {
    let mut out = BytesMut::with_capacity(8192);
    let mut seq: u64 = 0;
    let set = shared.policies.clone();
    loop {
        while let Some(f) = frame::take_typed(buf, shared.limits.max_message_bytes)? {
            match f.tag {
                b'Q' => {
                    let sql = frame::query_text(&f)?;
                    match judge::judge(&set, ctx, sql) {
                        Judged::Forward(text) => frame::put_query(&text, &mut out),
                        Judged::Block(err) => {
                            seq += 1;
                            push_block(blocks, seq, err);
                            frame::put_query(&poison(marker, seq), &mut out);
                        }
                    }
                    in_flight.fetch_add(1, Ordering::Relaxed);
                }
                b'P' => {
                    let p = frame::parse_msg(&f)?;
                    match judge::judge(&set, ctx, p.sql) {
                        Judged::Forward(text) => {
                            frame::put_parse(p.name, &text, &p.types, &mut out)
                        }
                        Judged::Block(err) => {
                            seq += 1;
                            push_block(blocks, seq, err);
                            frame::put_parse(p.name, &poison(marker, seq), &[], &mut out);
                        }
                    }
                }
                b'S' => {
                    in_flight.fetch_add(1, Ordering::Relaxed);
                    f.write_to(&mut out);
                }
                // Bind, Describe, Execute, Close, Flush and the COPY stream: PostgreSQL
                // checks them; nothing in them names data the engine must judge.
                b'B' | b'D' | b'E' | b'C' | b'H' | b'd' | b'c' | b'f' => f.write_to(&mut out),
                b'X' => {
                    f.write_to(&mut out);
                    up.write_all(&out).await?;
                    return Ok(());
                }
                other => {
                    return Err(SessionError::fatal(
                        "08P01",
                        format!(
                            "invalid frontend message type {}",
                            char::from(other).escape_default()
                        ),
                    ))
                }
            }
            if out.len() >= FLUSH_AT {
                up.write_all(&out).await?;
                out.clear();
            }
        }
        if !out.is_empty() {
            up.write_all(&out).await?;
            out.clear();
        }
        let idle = shared.limits.idle_timeout;
        if idle.is_zero() {
            read_more_or_eof(reader, buf).await?;
        } else {
            loop {
                match tokio::time::timeout(idle, read_more_or_eof(reader, buf)).await {
                    Ok(r) => {
                        r?;
                        break;
                    }
                    // Waiting for a long statement's result is not idling.
                    Err(_) if in_flight.load(Ordering::Relaxed) > 0 => continue,
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
}

async fn read_more_or_eof(
    reader: &mut OwnedReadHalf,
    buf: &mut BytesMut,
) -> Result<(), SessionError> {
    match read_more(reader, buf).await {
        Err(SessionError::Io(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            Err(SessionError::Io(e))
        }
        r => r,
    }
}

fn push_block(blocks: &Blocks, seq: u64, err: Bytes) {
    if let Ok(mut pending) = blocks.pending.lock() {
        pending.push_back((seq, err));
    }
}

/// A statement that fails at parse analysis with the marker in its message.
fn poison(marker: &str, seq: u64) -> String {
    format!("SELECT '{marker}{seq}'::pg_catalog.int4")
}

async fn backend_loop(
    mut up: tokio::net::tcp::OwnedReadHalf,
    mut buf: BytesMut,
    writer: &tokio::sync::Mutex<OwnedWriteHalf>,
    blocks: &Blocks,
    marker: &str,
    in_flight: &AtomicI64,
) -> Result<(), SessionError> {
    let mut out = BytesMut::with_capacity(16 * 1024);
    let marker = marker.as_bytes();
    loop {
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
        // Forward every complete message; keep a partial one for the next read.
        let mut at = 0;
        let mut copied = 0;
        while let (Some(&tag), Some(len)) = (
            buf.get(at),
            buf.get(at + 1..at + 5)
                .and_then(|b| <[u8; 4]>::try_from(b).ok()),
        ) {
            let len = usize::try_from(i32::from_be_bytes(len)).unwrap_or(0);
            if !(4..=MAX_BACKEND_MESSAGE).contains(&len) {
                return Err(SessionError::fatal(
                    "08006",
                    "the upstream database broke the protocol",
                ));
            }
            let end = at + 1 + len;
            if end > buf.len() {
                buf.reserve(end - buf.len());
                break;
            }
            match tag {
                b'E' => {
                    if let Some(seq) = buf.get(at + 5..end).and_then(|b| marker_seq(b, marker)) {
                        out.extend_from_slice(buf.get(copied..at).unwrap_or_default());
                        out.extend_from_slice(&take_block(blocks, seq));
                        copied = end;
                    }
                }
                b'Z' => {
                    in_flight.fetch_sub(1, Ordering::Relaxed);
                }
                _ => {}
            }
            at = end;
        }
        out.extend_from_slice(buf.get(copied..at).unwrap_or_default());
        let _ = buf.split_to(at);
        if !out.is_empty() {
            let mut w = writer.lock().await;
            w.write_all(&out).await?;
            out.clear();
        }
    }
}

/// The sequence number after the marker in an error body, if the marker is there.
fn marker_seq(body: &[u8], marker: &[u8]) -> Option<u64> {
    let start = body.windows(marker.len()).position(|w| w == marker)? + marker.len();
    let digits = body.get(start..)?;
    let n = digits.iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(digits.get(..n)?).ok()?.parse().ok()
}

/// The error of block `seq`; earlier ones never reached the upstream's parser (a failed
/// transaction or an earlier error in the same pipeline answered for them) and are dropped.
fn take_block(blocks: &Blocks, seq: u64) -> Bytes {
    if let Ok(mut pending) = blocks.pending.lock() {
        while let Some((n, err)) = pending.pop_front() {
            if n == seq {
                return err;
            }
            if n > seq {
                pending.push_front((n, err));
                break;
            }
        }
    }
    judge::encode_error(vec![
        (b'S', "ERROR".into()),
        (b'V', "ERROR".into()),
        (b'C', "42501".into()),
        (b'M', "statement blocked by policy".into()),
    ])
}
