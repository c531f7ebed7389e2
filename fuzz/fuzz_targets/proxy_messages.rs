//! Arbitrary bytes as a client's message stream after login, as an upstream's answer, and
//! as startup and SCRAM messages: the proxy's message handling gives a structured error or
//! well-formed messages, never a panic.
#![no_main]

use std::sync::{Arc, OnceLock};

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use verdict_engine::Context;
use verdict_fuzz::{bounded, context, policies, READER};
use verdict_proxy::frame;
use verdict_proxy::relay::{self, Step};
use verdict_proxy::scram::{Exchange, Verifier};
use verdict_proxy::source::Live;
use verdict_proxy::Principals;

static SET: OnceLock<Arc<Live>> = OnceLock::new();
static CTX: OnceLock<Arc<Context>> = OnceLock::new();

/// Every byte of `out` belongs to a complete typed message with a valid length.
fn well_formed(out: &[u8]) {
    let mut rest = BytesMut::from(out);
    while !rest.is_empty() {
        match frame::take_typed(&mut rest, usize::MAX) {
            Ok(Some(_)) => {}
            other => panic!("the proxy wrote a broken message: {other:?}"),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let set = SET
        .get_or_init(|| Live::fixed(policies(), Principals::default()))
        .clone();
    let ctx = CTX.get_or_init(|| Arc::new(context(READER))).clone();
    bounded("proxy message handling", || {
        // The first byte picks how the stream is cut into reads.
        let (chunk, data) = match data.split_first() {
            Some((c, rest)) => (usize::from(*c % 64) + 1, rest),
            None => return,
        };
        let principal = relay::Principal {
            name: "fuzz".into(),
            quotas: Arc::default(),
            audit: None,
            client: String::new(),
            application: String::new(),
        };
        let (mut front, back) = relay::pair(set, ctx, principal, 1 << 16, b"fuzz");
        let mut buf = BytesMut::new();
        let mut out = BytesMut::new();
        'client: for piece in data.chunks(chunk) {
            buf.extend_from_slice(piece);
            loop {
                match front.client_to_upstream(&mut buf, &mut out) {
                    Ok(Step::More) if frame::has_typed(&buf) => continue,
                    Ok(Step::More) => break,
                    Ok(Step::Terminate) | Err(_) => break 'client,
                }
            }
        }
        well_formed(&out);

        let mut up = BytesMut::new();
        let mut to_client = BytesMut::new();
        for piece in data.chunks(chunk) {
            up.extend_from_slice(piece);
            if back.upstream_to_client(&mut up, &mut to_client).is_err() {
                break;
            }
        }
        well_formed(&to_client);

        let mut startup = BytesMut::from(data);
        let _ = frame::take_untyped(&mut startup, 10_000);
        if let Ok((exchange, _)) = Exchange::start(Verifier::impossible("fuzz", b"secret"), data) {
            assert!(exchange.finish(data).is_err(), "a password matched the impossible verifier");
        }
        let _ = Verifier::parse(&String::from_utf8_lossy(data));
    });
});
