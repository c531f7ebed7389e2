//! Framing of the wire protocol: one message at a time out of a byte buffer, with its
//! length checked before anything is read, and the bodies the proxy must look inside
//! (Query, Parse, the password family) read with checked accessors.
//!
//! pgwire's decoders read their fields with `bytes::Buf` getters that panic on a short
//! body and may read past a message's end, so the proxy never gives them unframed input:
//! it frames here and reads the few bodies it needs itself.

use bytes::{Buf, Bytes, BytesMut};

/// Why a byte stream is not a valid protocol stream; the connection is closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("message length {0} is below the minimum of 4")]
    TooShort(i64),
    #[error("message of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge { len: usize, max: usize },
    #[error("malformed `{tag}` message: {what}")]
    Malformed { tag: char, what: &'static str },
}

/// One complete message: its type byte (0 for the untyped startup family) and its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub tag: u8,
    pub body: Bytes,
}

impl Frame {
    /// The message's bytes as they went over the wire (type, length, body).
    pub fn write_to(&self, out: &mut BytesMut) {
        if self.tag != 0 {
            out.extend_from_slice(&[self.tag]);
        }
        let len = u32::try_from(self.body.len() + 4).unwrap_or(u32::MAX);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&self.body);
    }
}

fn read_len(bytes: &[u8]) -> Option<i64> {
    let b: [u8; 4] = bytes.get(..4)?.try_into().ok()?;
    Some(i64::from(i32::from_be_bytes(b)))
}

/// Takes one typed message (`tag`, `len`, body) off the front of `buf`, or `None` when it
/// is not complete yet. `max` bounds the whole message.
pub fn take_typed(buf: &mut BytesMut, max: usize) -> Result<Option<Frame>, FrameError> {
    let (Some(&tag), Some(len)) = (buf.first(), buf.get(1..).and_then(read_len)) else {
        return Ok(None);
    };
    let len = checked_len(len, max)?;
    // No reservation for the announced length: a header alone must not make the proxy
    // allocate up to the limit; the buffer grows as the bytes arrive.
    if buf.len() < 1 + len {
        return Ok(None);
    }
    buf.advance(1);
    let mut whole = buf.split_to(len);
    whole.advance(4);
    Ok(Some(Frame {
        tag,
        body: whole.freeze(),
    }))
}

/// Whether `buf` starts with a complete typed message (or a header that is already wrong).
pub fn has_typed(buf: &[u8]) -> bool {
    match buf.get(1..).and_then(read_len) {
        Some(len) => len < 4 || usize::try_from(len).map_or(true, |l| buf.len() > l),
        None => false,
    }
}

/// Takes one untyped message (`len`, body: startup, SSL, cancel) off the front of `buf`.
pub fn take_untyped(buf: &mut BytesMut, max: usize) -> Result<Option<Frame>, FrameError> {
    let Some(len) = read_len(buf) else {
        return Ok(None);
    };
    let len = checked_len(len, max)?;
    if buf.len() < len {
        return Ok(None);
    }
    let mut whole = buf.split_to(len);
    whole.advance(4);
    Ok(Some(Frame {
        tag: 0,
        body: whole.freeze(),
    }))
}

fn checked_len(len: i64, max: usize) -> Result<usize, FrameError> {
    if len < 4 {
        return Err(FrameError::TooShort(len));
    }
    let len = usize::try_from(len).map_err(|_| FrameError::TooShort(len))?;
    if len > max {
        return Err(FrameError::TooLarge { len, max });
    }
    Ok(len)
}

/// A cursor over a message body whose reads fail instead of panicking.
pub struct Body<'a> {
    tag: u8,
    rest: &'a [u8],
}

impl<'a> Body<'a> {
    pub fn new(frame: &'a Frame) -> Self {
        Body {
            tag: frame.tag,
            rest: &frame.body,
        }
    }

    fn bad(&self, what: &'static str) -> FrameError {
        FrameError::Malformed {
            tag: char::from(self.tag),
            what,
        }
    }

    /// A NUL-terminated string, which must be UTF-8.
    pub fn cstr(&mut self) -> Result<&'a str, FrameError> {
        let end = self
            .rest
            .iter()
            .position(|&b| b == 0)
            .ok_or_else(|| self.bad("unterminated string"))?;
        let (s, rest) = self.rest.split_at(end);
        self.rest = rest.get(1..).unwrap_or_default();
        std::str::from_utf8(s).map_err(|_| self.bad("string is not valid UTF-8"))
    }

    pub fn u16(&mut self) -> Result<u16, FrameError> {
        let b: [u8; 2] = self.bytes(2)?.try_into().map_err(|_| self.bad("short"))?;
        Ok(u16::from_be_bytes(b))
    }

    pub fn i32(&mut self) -> Result<i32, FrameError> {
        let b: [u8; 4] = self.bytes(4)?.try_into().map_err(|_| self.bad("short"))?;
        Ok(i32::from_be_bytes(b))
    }

    pub fn u32(&mut self) -> Result<u32, FrameError> {
        let b: [u8; 4] = self.bytes(4)?.try_into().map_err(|_| self.bad("short"))?;
        Ok(u32::from_be_bytes(b))
    }

    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], FrameError> {
        if self.rest.len() < n {
            return Err(self.bad("body ends early"));
        }
        let (head, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(head)
    }

    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.rest)
    }

    pub fn end(&self) -> Result<(), FrameError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(self.bad("trailing bytes after the body"))
        }
    }
}

/// A simple-protocol `Query`: its SQL text.
pub fn query_text(frame: &Frame) -> Result<&str, FrameError> {
    let mut body = Body::new(frame);
    let sql = body.cstr()?;
    body.end()?;
    Ok(sql)
}

/// An extended-protocol `Parse`: statement name, SQL text and parameter type OIDs.
pub struct ParseMsg<'a> {
    pub name: &'a str,
    pub sql: &'a str,
    pub types: Vec<u32>,
}

pub fn parse_msg(frame: &Frame) -> Result<ParseMsg<'_>, FrameError> {
    let mut body = Body::new(frame);
    let name = body.cstr()?;
    let sql = body.cstr()?;
    let n = body.u16()?;
    let mut types = Vec::with_capacity(usize::from(n).min(frame.body.len() / 4));
    for _ in 0..n {
        types.push(body.u32()?);
    }
    body.end()?;
    Ok(ParseMsg { name, sql, types })
}

/// Writes a `Query` message.
pub fn put_query(sql: &str, out: &mut BytesMut) {
    put_typed(b'Q', out, |out| {
        out.extend_from_slice(sql.as_bytes());
        out.extend_from_slice(&[0]);
    });
}

/// Writes a `Parse` message.
pub fn put_parse(name: &str, sql: &str, types: &[u32], out: &mut BytesMut) {
    put_typed(b'P', out, |out| {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&[0]);
        out.extend_from_slice(sql.as_bytes());
        out.extend_from_slice(&[0]);
        let n = u16::try_from(types.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&n.to_be_bytes());
        for t in types.iter().take(usize::from(n)) {
            out.extend_from_slice(&t.to_be_bytes());
        }
    });
}

/// Writes a typed message whose body `fill` appends, with its length filled in after.
pub fn put_typed(tag: u8, out: &mut BytesMut, fill: impl FnOnce(&mut BytesMut)) {
    out.extend_from_slice(&[tag, 0, 0, 0, 0]);
    let at = out.len() - 4;
    fill(out);
    let len = u32::try_from(out.len() - at).unwrap_or(u32::MAX);
    if let Some(slot) = out.get_mut(at..at + 4) {
        slot.copy_from_slice(&len.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_and_rejects() {
        let mut buf = BytesMut::new();
        put_query("SELECT 1", &mut buf);
        put_parse("s1", "SELECT $1", &[23], &mut buf);
        let q = take_typed(&mut buf, 1024).unwrap().unwrap();
        assert_eq!(query_text(&q).unwrap(), "SELECT 1");
        let p = take_typed(&mut buf, 1024).unwrap().unwrap();
        let p = parse_msg(&p).unwrap();
        assert_eq!((p.name, p.sql, p.types), ("s1", "SELECT $1", vec![23]));
        assert!(buf.is_empty());

        let mut short = BytesMut::from(&b"Q\x00\x00\x00\x02"[..]);
        assert_eq!(take_typed(&mut short, 1024), Err(FrameError::TooShort(2)));
        let mut neg = BytesMut::from(&b"Q\xff\xff\xff\xff"[..]);
        assert!(take_typed(&mut neg, 1024).is_err());
        let mut big = BytesMut::from(&b"Q\x00\x10\x00\x00"[..]);
        assert!(matches!(
            take_typed(&mut big, 1024),
            Err(FrameError::TooLarge { .. })
        ));
        // A Parse that claims more type OIDs than it holds.
        let bad = Frame {
            tag: b'P',
            body: Bytes::from_static(b"\0SELECT 1\0\xff\xff\0\0\0\x17"),
        };
        assert!(parse_msg(&bad).is_err());
        let unterminated = Frame {
            tag: b'Q',
            body: Bytes::from_static(b"SELECT 1"),
        };
        assert!(query_text(&unterminated).is_err());
    }
}
