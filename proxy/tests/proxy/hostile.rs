//! Hostile and broken input: each closes its own connection with an error, never the proxy.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use verdict_proxy::Limits;

use crate::env::{login_at, rows, Env, ALICE_PASSWORD};
use crate::{case, Case};

pub fn all() -> Vec<Case> {
    vec![
        case!(garbage_closes_only_its_connection),
        case!(limits_hold),
        case!(upstream_down_is_a_clear_error),
    ]
}

/// Sends `bytes` on a fresh connection and returns what came back before the close.
fn exchange(env: &Env, bytes: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(env.proxy).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let _ = s.write_all(bytes);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

fn startup(user: &str) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&196608i32.to_be_bytes());
    for (k, v) in [("user", user), ("database", "shop")] {
        body.extend_from_slice(k.as_bytes());
        body.push(0);
        body.extend_from_slice(v.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut msg = ((body.len() + 4) as i32).to_be_bytes().to_vec();
    msg.extend_from_slice(&body);
    msg
}

fn garbage_closes_only_its_connection(env: &Env) {
    let cases: Vec<Vec<u8>> = vec![
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        vec![0, 0, 0, 1],
        vec![0xff, 0xff, 0xff, 0xff, 0, 3, 0, 0],
        vec![0x7f, 0xff, 0xff, 0xff, 0, 3, 0, 0],
        vec![0, 0, 0, 8, 0, 4, 0, 0],
        // SSL request then plain text pipelined behind it.
        [&[0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f][..], &startup("alice")].concat(),
        // A startup without a user.
        vec![0, 0, 0, 9, 0, 3, 0, 0, 0],
        // A startup that never ends its parameter list.
        vec![0, 0, 0, 12, 0, 3, 0, 0, b'u', b's', b'e', b'r'],
        // A cancel request with a made-up key.
        vec![0, 0, 0, 16, 0x04, 0xd2, 0x16, 0x2e, 0, 0, 0, 1, 0, 0, 0, 2],
        // Startup, then a SASL message that is not one.
        [&startup("alice")[..], b"p\x00\x00\x00\x05\x00"].concat(),
        [&startup("alice")[..], b"p\x00\x00\x00\x0cSCRAM-SHA-256"].concat(),
        [&startup("alice")[..], b"Q\x00\x00\x00\x09SELECT"].concat(),
        [&startup("bob")[..], b"p\xff\xff\xff\xff"].concat(),
        [&startup("bob")[..], b"p\x00\x00\x00\x02"].concat(),
    ];
    for bytes in &cases {
        let answer = exchange(env, bytes);
        // Whatever was answered, it is never a successful login.
        assert!(
            !answer
                .windows(9)
                .any(|w| w == b"R\x00\x00\x00\x08\x00\x00\x00\x00"),
            "{bytes:?}"
        );
    }
    // A logged-in session that sends broken messages is closed with 08P01.
    for bad in [
        &b"P\x00\x00\x00\x08\x00\x00\xff\xff"[..],
        b"Q\x00\x00\x00\x06\xff\x00",
        b"Q\x00\x00\x00\x03",
        b"Q\x7f\x00\x00\x00",
        b"\x01\x00\x00\x00\x04",
        b"P\x00\x00\x00\x0fs\x00SELECT 1\x00\x00",
    ] {
        let mut client = login_at(env.proxy, "alice", ALICE_PASSWORD).unwrap();
        drop(client.simple_query("SELECT 1").unwrap());
        let mut raw = raw_session(env);
        raw.write_all(bad).unwrap();
        let mut out = Vec::new();
        let _ = raw.read_to_end(&mut out);
        assert!(out.windows(5).any(|w| w == b"08P01"), "{bad:?}: {out:?}");
        drop(client);
    }
    assert_eq!(
        rows(&mut env.alice(), "SELECT 1"),
        vec![vec![Some("1".into())]]
    );
}

/// A raw socket logged in as a JWT user (cleartext password exchange).
pub fn raw_session(env: &Env) -> TcpStream {
    let token = env.jwt(
        serde_json::json!({"sub": "raw", "roles": ["analyst"], "attributes": {"tenant_id": 1}}),
    );
    let mut s = TcpStream::connect(env.proxy).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    s.write_all(&startup("raw")).unwrap();
    let mut auth = [0u8; 9];
    s.read_exact(&mut auth).unwrap();
    assert_eq!(&auth, b"R\x00\x00\x00\x08\x00\x00\x00\x03");
    let mut msg = b"p".to_vec();
    msg.extend_from_slice(&((token.len() + 5) as i32).to_be_bytes());
    msg.extend_from_slice(token.as_bytes());
    msg.push(0);
    s.write_all(&msg).unwrap();
    // Read up to the first ReadyForQuery.
    let mut seen = Vec::new();
    let mut byte = [0u8; 1];
    while !seen.ends_with(b"Z\x00\x00\x00\x05I") {
        s.read_exact(&mut byte).unwrap();
        seen.push(byte[0]);
    }
    s
}

fn limits_hold(env: &Env) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let addr = env.extra_proxy(
        &runtime,
        Limits {
            max_message_bytes: 4096,
            max_connections: 2,
            startup_timeout: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(2),
        },
    );
    let mut a = login_at(addr, "alice", ALICE_PASSWORD).unwrap();
    let b = login_at(addr, "alice", ALICE_PASSWORD).unwrap();
    let err = login_at(addr, "alice", ALICE_PASSWORD).err().unwrap();
    assert_eq!(
        err.code(),
        Some(&postgres::error::SqlState::TOO_MANY_CONNECTIONS),
        "{err}"
    );
    drop(b);
    std::thread::sleep(Duration::from_millis(200));
    let mut c = login_at(addr, "alice", ALICE_PASSWORD).unwrap();
    // A message above the limit closes that connection.
    let big = format!("SELECT '{}'", "x".repeat(5000));
    let err = c.simple_query(&big).unwrap_err();
    // The FATAL 08P01 arrives, or the close wins the race against it.
    let db = err.as_db_error();
    assert!(
        db.is_some_and(|e| e.code().code() == "08P01" && e.message().contains("exceeds the limit"))
            || err.is_closed()
            || db.is_none(),
        "{err:?}"
    );
    drop(c);
    // A silent client is closed at the idle timeout; a slow statement is not idling.
    std::thread::sleep(Duration::from_millis(2500));
    assert!(a.simple_query("SELECT 1").is_err());
    // A connection that never logs in is dropped at the startup timeout.
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let started = std::time::Instant::now();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    assert!(started.elapsed() < Duration::from_secs(4));
    drop(runtime);
}

fn upstream_down_is_a_clear_error(env: &Env) {
    // A proxy whose upstream port has nothing listening: each login gets 08006 and the
    // proxy keeps answering.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_port = free.local_addr().unwrap().port();
    drop(free);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let addr = runtime.block_on(async {
        let mut config = Env::config(&env.cluster, Limits::default());
        config.target =
            verdict_proxy::Target::parse(&format!("postgres://nobody@127.0.0.1:{dead_port}/x"))
                .unwrap();
        let proxy = verdict_proxy::Proxy::bind("127.0.0.1:0", config)
            .await
            .unwrap();
        let addr = proxy.local_addr().unwrap();
        tokio::spawn(proxy.serve());
        addr
    });
    for _ in 0..2 {
        let err = login_at(addr, "alice", ALICE_PASSWORD).err().unwrap();
        let db = err.as_db_error().unwrap_or_else(|| panic!("{err}"));
        assert_eq!(db.code(), &postgres::error::SqlState::CONNECTION_FAILURE);
        assert_eq!(db.message(), "the proxy cannot reach the upstream database");
    }
    // A wrong password is still 28P01 first: nothing is said about the upstream.
    let err = login_at(addr, "alice", "wrong").err().unwrap();
    assert_eq!(
        err.code(),
        Some(&postgres::error::SqlState::INVALID_PASSWORD)
    );
    drop(runtime);
}
