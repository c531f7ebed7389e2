//! The two directions of a logged-in session as plain functions over byte buffers (no
//! I/O, so the fuzz target drives them as the session does).
//!
//! Client → upstream: every SQL text (Query, Parse) is judged; everything else is framed,
//! checked against the size limit and forwarded as it came. A blocked statement still goes
//! upstream, as a statement that fails at parse analysis with a marker the client cannot
//! guess (`SELECT 'verdict-block-<nonce>-<n>'::pg_catalog.int4`): the upstream then answers
//! in the right place among pipelined responses, skips to the next Sync, and fails an open
//! transaction, exactly as for any error. Upstream → client: forwarded, with each marker
//! error replaced by the verdict's 42501.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use verdict_engine::Context;

use crate::audit::AuditLog;
use crate::frame::{self, FrameError};
use crate::judge::{self, Judged};
use crate::quota::Quotas;
use crate::source::{Live, Unavailable};
use crate::upstream::MAX_BACKEND_MESSAGE;

/// Stop translating once this much is buffered for the other side.
pub const FLUSH_AT: usize = 64 * 1024;

/// Why a session ends early; sent to the client as FATAL when it can be.
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
    pub fn fatal(code: &'static str, message: impl Into<String>) -> Self {
        SessionError::Fatal(code, message.into())
    }

    /// The FATAL message for the client, when one is due.
    pub fn to_client(&self) -> Option<Bytes> {
        match self {
            SessionError::Fatal(code, msg) => Some(judge::fatal(code, msg)),
            SessionError::Frame(e) => Some(judge::fatal("08P01", &format!("invalid message: {e}"))),
            SessionError::Io(_) => None,
        }
    }
}

/// What both directions share.
#[derive(Default)]
struct Pending {
    /// Errors of blocked statements by sequence number, until their marker comes back.
    blocks: Mutex<VecDeque<(u64, Bytes)>>,
    /// Queries and Syncs sent minus ReadyForQuery received: whether a statement runs.
    in_flight: AtomicI64,
}

/// The client → upstream direction.
pub struct Front {
    /// The policies in force, read at each statement (a store's changes apply at once).
    source: Arc<Live>,
    ctx: Arc<Context>,
    marker: Arc<str>,
    seq: u64,
    max_message: usize,
    /// The upstream session's `statement_timeout`, from the policies (see `judge`).
    timeout_ms: Option<u64>,
    /// Quotas are counted for this name (the context's user, or the login name).
    principal: String,
    quotas: Arc<Quotas>,
    audit: Option<Arc<AuditLog>>,
    client: String,
    application: String,
    pending: Arc<Pending>,
}

/// The upstream → client direction.
pub struct Back {
    marker: Arc<str>,
    pending: Arc<Pending>,
}

/// What the client asked for after the messages translated so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Read more from the client (or flush first when `out` is full).
    More,
    /// The client sent Terminate (already in `out`).
    Terminate,
}

/// Who the session is for, for quotas.
pub struct Principal {
    pub name: String,
    pub quotas: Arc<Quotas>,
    /// Where every judged text is recorded, when configured.
    pub audit: Option<Arc<AuditLog>>,
    /// The client's address and `application_name`, for the audit log.
    pub client: String,
    pub application: String,
}

/// The two directions of one session; `nonce` makes the marker unguessable.
pub fn pair(
    source: Arc<Live>,
    ctx: Arc<Context>,
    principal: Principal,
    max_message: usize,
    nonce: &[u8],
) -> (Front, Back) {
    let marker: Arc<str> = Arc::from(format!(
        "verdict-block-{}-",
        nonce.iter().map(|b| format!("{b:02x}")).collect::<String>()
    ));
    let pending = Arc::new(Pending::default());
    let timeout_ms = source
        .policies()
        .ok()
        .and_then(|set| judge::session_timeout(&set, &ctx));
    (
        Front {
            timeout_ms,
            principal: principal.name,
            quotas: principal.quotas,
            audit: principal.audit,
            client: principal.client,
            application: principal.application,
            source,
            ctx,
            marker: marker.clone(),
            seq: 0,
            max_message,
            pending: pending.clone(),
        },
        Back { marker, pending },
    )
}

impl Front {
    /// Translates the complete client messages at the front of `buf` into `out`, until
    /// `buf` holds no complete message or `out` reaches [`FLUSH_AT`].
    pub fn client_to_upstream(
        &mut self,
        buf: &mut BytesMut,
        out: &mut BytesMut,
    ) -> Result<Step, SessionError> {
        while out.len() < FLUSH_AT {
            let Some(f) = frame::take_typed(buf, self.max_message)? else {
                return Ok(Step::More);
            };
            match f.tag {
                b'Q' => {
                    let sql = frame::query_text(&f)?;
                    match self.judge(sql) {
                        Judged::Forward(text) => frame::put_query(&text, out),
                        Judged::Block(err) => {
                            let poison = self.block(err);
                            frame::put_query(&poison, out);
                        }
                    }
                    self.pending.in_flight.fetch_add(1, Ordering::Relaxed);
                }
                b'P' => {
                    let p = frame::parse_msg(&f)?;
                    match self.judge(p.sql) {
                        Judged::Forward(text) => frame::put_parse(p.name, &text, &p.types, out),
                        Judged::Block(err) => {
                            let poison = self.block(err);
                            frame::put_parse(p.name, &poison, &[], out);
                        }
                    }
                }
                b'S' => {
                    self.pending.in_flight.fetch_add(1, Ordering::Relaxed);
                    f.write_to(out);
                }
                // Bind, Describe, Execute, Close, Flush and the COPY stream: PostgreSQL
                // checks them; nothing in them names data the engine must judge. The
                // FunctionCall message ('F') is refused below: it would call a function
                // by OID without any SQL to judge.
                b'B' | b'D' | b'E' | b'C' | b'H' | b'd' | b'c' | b'f' => f.write_to(out),
                b'X' => {
                    f.write_to(out);
                    return Ok(Step::Terminate);
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
        }
        Ok(Step::More)
    }

    /// Judges `sql` with the policies in force; a store that cannot be read blocks it.
    fn judge(&self, sql: &str) -> Judged {
        match self
            .source
            .policies()
            .and_then(|set| Ok((set, self.source.on_store()?)))
        {
            Ok((set, on_store)) => {
                let mut counting = self.counting();
                counting.store = on_store.as_ref().map(|(store, active)| judge::OnStore {
                    db: &store.db,
                    org_id: &store.org_id,
                    active,
                });
                judge::judge_within(&set, &self.ctx, self.timeout_ms, Some(counting), sql)
            }
            Err(Unavailable) => Judged::Block(judge::encode_error(vec![
                (b'S', "ERROR".into()),
                (b'V', "ERROR".into()),
                (b'C', "42501".into()),
                (
                    b'M',
                    "statement blocked: the proxy cannot read its policy store".into(),
                ),
                (
                    b'H',
                    "nothing runs until the policy store can be read again".into(),
                ),
            ])),
        }
    }

    fn counting(&self) -> judge::Counting<'_> {
        judge::Counting {
            store: None,
            quotas: &self.quotas,
            principal: &self.principal,
            audit: self.audit.as_deref(),
            client: &self.client,
            application: &self.application,
            ctx: &self.ctx,
        }
    }

    /// Records a block and returns the statement that makes the upstream fail in its place.
    fn block(&mut self, err: Bytes) -> String {
        self.seq += 1;
        if let Ok(mut blocks) = self.pending.blocks.lock() {
            blocks.push_back((self.seq, err));
        }
        format!("SELECT '{}{}'::pg_catalog.int4", self.marker, self.seq)
    }

    /// Whether a statement sent upstream has not answered yet.
    pub fn busy(&self) -> bool {
        self.pending.in_flight.load(Ordering::Relaxed) > 0
    }
}

impl Back {
    /// Moves the complete upstream messages at the front of `buf` to `out`, each marker
    /// error replaced by its block's 42501; a partial message stays in `buf`.
    pub fn upstream_to_client(
        &self,
        buf: &mut BytesMut,
        out: &mut BytesMut,
    ) -> Result<(), SessionError> {
        let marker = self.marker.as_bytes();
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
                        out.extend_from_slice(&self.take_block(seq));
                        copied = end;
                    }
                }
                b'Z' => {
                    self.pending.in_flight.fetch_sub(1, Ordering::Relaxed);
                }
                _ => {}
            }
            at = end;
        }
        out.extend_from_slice(buf.get(copied..at).unwrap_or_default());
        let _ = buf.split_to(at);
        Ok(())
    }

    /// The error of block `seq`; earlier ones never reached the upstream's parser (a failed
    /// transaction or an earlier error in the same pipeline answered for them) and go.
    fn take_block(&self, seq: u64) -> Bytes {
        if let Ok(mut pending) = self.pending.blocks.lock() {
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
}

/// The sequence number after the marker in an error body, if the marker is there.
fn marker_seq(body: &[u8], marker: &[u8]) -> Option<u64> {
    let start = body.windows(marker.len()).position(|w| w == marker)? + marker.len();
    let digits = body.get(start..)?;
    let n = digits.iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(digits.get(..n)?).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use verdict_engine::PolicySet;

    #[test]
    fn blocks_come_back_in_place_of_their_marker() {
        let set = PolicySet::parse(
            r#"{"policies": [{"id": "p", "rules": [{"type": "deny", "table": "s"}]}]}"#,
        )
        .unwrap();
        let principal = Principal {
            name: "t".into(),
            quotas: Arc::new(Quotas::default()),
            audit: None,
            client: String::new(),
            application: String::new(),
        };
        let (mut front, back) = pair(
            Live::fixed(set, crate::login::Principals::default()),
            Arc::new(Context::default()),
            principal,
            1 << 20,
            b"\x01\x02",
        );
        let mut buf = BytesMut::new();
        frame::put_query("SELECT * FROM s", &mut buf);
        frame::put_query("SELECT 1", &mut buf);
        let mut out = BytesMut::new();
        assert_eq!(
            front.client_to_upstream(&mut buf, &mut out).unwrap(),
            Step::More
        );
        let text = String::from_utf8_lossy(&out).into_owned();
        assert!(
            text.contains("SELECT 'verdict-block-0102-1'::pg_catalog.int4"),
            "{text}"
        );
        assert!(!text.contains("FROM s"), "{text}");
        assert!(front.busy());
        // The upstream's answer: an error holding the marker, then ReadyForQuery.
        let mut up = BytesMut::new();
        up.extend_from_slice(&judge::encode_error(vec![(
            b'M',
            "invalid input: \"verdict-block-0102-1\"".into(),
        )]));
        up.extend_from_slice(b"Z\0\0\0\x05I");
        let mut to_client = BytesMut::new();
        back.upstream_to_client(&mut up, &mut to_client).unwrap();
        assert!(up.is_empty());
        let text = String::from_utf8_lossy(&to_client).into_owned();
        assert!(
            text.contains("42501") && !text.contains("verdict-block"),
            "{text}"
        );
        // A function call by OID is refused.
        let mut call = BytesMut::from(&b"F\0\0\0\x04"[..]);
        assert!(front.client_to_upstream(&mut call, &mut out).is_err());
    }
}
