//! `/api/v1/principals`: the proxy's logins, stored per organization with their context
//! and a SCRAM-SHA-256 verifier that no answer carries; admins only for changes; audited.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::case;
use crate::support::Env;
use crate::Case;

pub fn all() -> Vec<Case> {
    vec![
        case!(principals_round_trip_without_the_password),
        case!(principal_inputs_are_checked_with_the_field),
        case!(principals_need_an_admin_and_stay_in_their_org),
        case!(principal_changes_are_audited_and_bump_the_generation),
    ]
}

fn alice() -> Value {
    json!({
        "user": "alice", "roles": ["analyst", "emea"],
        "attributes": {"region": "EU", "tenant_id": 7},
        "workspace": "sales", "purpose": "reporting",
        "password": "correct horse"
    })
}

/// Whether `verifier` is the SCRAM-SHA-256 verifier of `password` (RFC 5802's keys,
/// computed here from the salt and iteration count it names).
fn verifies(verifier: &str, password: &str) -> bool {
    let rest = verifier.strip_prefix("SCRAM-SHA-256$").unwrap();
    let (params, keys) = rest.split_once('$').unwrap();
    let (iterations, salt) = params.split_once(':').unwrap();
    let (stored, server) = keys.split_once(':').unwrap();
    let iterations: u32 = iterations.parse().unwrap();
    let salt = B64.decode(salt).unwrap();
    let hmac = |key: &[u8], data: &[u8]| -> Vec<u8> {
        let mut m = Hmac::<Sha256>::new_from_slice(key).unwrap();
        m.update(data);
        m.finalize().into_bytes().to_vec()
    };
    let mut u = hmac(
        password.as_bytes(),
        &[salt.as_slice(), &[0, 0, 0, 1]].concat(),
    );
    let mut salted = u.clone();
    for _ in 1..iterations {
        u = hmac(password.as_bytes(), &u);
        for (s, x) in salted.iter_mut().zip(&u) {
            *s ^= x;
        }
    }
    let client_key = hmac(&salted, b"Client Key");
    let stored_key = Sha256::digest(&client_key).to_vec();
    let server_key = hmac(&salted, b"Server Key");
    B64.encode(stored_key) == stored && B64.encode(server_key) == server
}

async fn org(env: &Env, name: &str) -> String {
    verdict_server::store::org_id(&env.db, name)
        .await
        .unwrap()
        .unwrap()
}

async fn verifier_of(env: &Env, name: &str, user: &str) -> Option<String> {
    let org = org(env, name).await;
    verdict_server::principals::load(&env.db, &org)
        .await
        .unwrap()
        .into_iter()
        .find(|p| p.user == user)
        .map(|p| p.verifier)
}

async fn principals_round_trip_without_the_password(env: Env) {
    let r = env.post("/api/v1/principals").json(&alice()).send().await;
    r.expect(201);
    assert_eq!(r.body["user"], "alice");
    assert_eq!(r.body["roles"], json!(["analyst", "emea"]));
    assert_eq!(
        r.body["attributes"],
        json!({"region": "EU", "tenant_id": 7})
    );
    assert_eq!(r.body["workspace"], "sales");
    assert_eq!(r.body["purpose"], "reporting");
    assert_eq!(r.body["data_source"], Value::Null);
    assert_eq!(r.body["created_by"], "ada");
    for r in [
        r.clone(),
        env.get("/api/v1/principals/alice").send().await,
        env.get("/api/v1/principals").send().await,
    ] {
        assert!(r.status.is_success(), "{}", r.text);
        assert!(!r.text.contains("correct horse"), "{}", r.text);
        assert!(!r.text.contains("SCRAM"), "{}", r.text);
        assert!(!r.text.contains("verifier"), "{}", r.text);
    }
    let list = env.get("/api/v1/principals").send().await;
    list.expect(200);
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(list.body["items"][0]["user"], "alice");

    // Stored as a verifier of the password, never in clear.
    let first = verifier_of(&env, "acme", "alice").await.unwrap();
    assert!(verifies(&first, "correct horse"), "{first}");
    assert!(!verifies(&first, "correct horsE"));
    let stored = verdict_server::principals::load(&env.db, &org(&env, "acme").await)
        .await
        .unwrap();
    assert_eq!(
        stored[0].context,
        json!({"user": "alice", "roles": ["analyst", "emea"], "attributes": {"region": "EU", "tenant_id": 7}, "workspace": "sales", "purpose": "reporting"})
    );

    // A second principal with the same password gets another salt.
    let mut bob = alice();
    bob["user"] = json!("bob");
    env.post("/api/v1/principals")
        .json(&bob)
        .send()
        .await
        .expect(201);
    let bobs = verifier_of(&env, "acme", "bob").await.unwrap();
    assert_ne!(bobs, first);
    assert!(verifies(&bobs, "correct horse"));

    // PUT without a password keeps it; with one, replaces it.
    let r = env
        .put("/api/v1/principals/alice")
        .json(&json!({"roles": ["auditor"], "data_source": "warehouse"}))
        .send()
        .await;
    r.expect(200);
    assert_eq!(r.body["roles"], json!(["auditor"]));
    assert_eq!(r.body["attributes"], json!({}));
    assert_eq!(r.body["workspace"], Value::Null);
    assert_eq!(r.body["data_source"], "warehouse");
    assert_eq!(verifier_of(&env, "acme", "alice").await.unwrap(), first);
    env.put("/api/v1/principals/alice")
        .json(&json!({"roles": ["auditor"], "password": "battery staple"}))
        .send()
        .await
        .expect(200);
    let second = verifier_of(&env, "acme", "alice").await.unwrap();
    assert!(verifies(&second, "battery staple"));
    assert!(!verifies(&second, "correct horse"));
    // A verifier computed elsewhere is stored as given.
    env.put("/api/v1/principals/alice")
        .json(&json!({"password_verifier": first}))
        .send()
        .await
        .expect(200);
    assert_eq!(verifier_of(&env, "acme", "alice").await.unwrap(), first);

    // Creating twice conflicts; replacing or deleting a missing one is 404.
    env.post("/api/v1/principals")
        .json(&alice())
        .send()
        .await
        .expect_error(409, "conflict");
    env.put("/api/v1/principals/carol")
        .json(&json!({"password": "x"}))
        .send()
        .await
        .expect_error(404, "not_found");
    env.delete("/api/v1/principals/alice")
        .send()
        .await
        .expect(204);
    env.get("/api/v1/principals/alice")
        .send()
        .await
        .expect_error(404, "not_found");
    env.delete("/api/v1/principals/alice")
        .send()
        .await
        .expect_error(404, "not_found");
    assert_eq!(verifier_of(&env, "acme", "alice").await, None);
    let list = env.get("/api/v1/principals").send().await;
    assert_eq!(list.body["items"][0]["user"], "bob");
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1);
}

/// The `field` of every problem of a 422 answer.
fn fields(r: &crate::support::Resp) -> Vec<String> {
    r.body["error"]["details"]["problems"]
        .as_array()
        .map(|ps| {
            ps.iter()
                .filter_map(|p| p["field"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn with(mut base: Value, key: &str, value: Value) -> Value {
    base[key] = value;
    base
}

async fn principal_inputs_are_checked_with_the_field(env: Env) {
    let mut no_password = alice();
    no_password.as_object_mut().unwrap().remove("password");
    let mut no_user = alice();
    no_user.as_object_mut().unwrap().remove("user");
    let cases: Vec<(Value, &str)> = vec![
        (no_password, "password"),
        (no_user, "user"),
        (
            with(
                alice(),
                "password_verifier",
                json!("SCRAM-SHA-256$4096:c2FsdA==$AAAA:BBBB"),
            ),
            "password",
        ),
        (
            with(
                with(alice(), "password", Value::Null),
                "password_verifier",
                json!("SCRAM-SHA-256$4096:c2FsdA==$AAAA:BBBB"),
            ),
            "password_verifier",
        ),
        (with(alice(), "password", json!("")), "password"),
        (with(alice(), "password", json!("a\u{0}b")), "password"),
        (with(alice(), "user", json!("")), "user"),
        (with(alice(), "user", json!("x".repeat(64))), "user"),
        (with(alice(), "user", json!("a\nb")), "user"),
        (with(alice(), "roles", json!([""])), "roles[0]"),
        (
            with(alice(), "roles", json!(["ok", "r".repeat(300)])),
            "roles[1]",
        ),
        (with(alice(), "workspace", json!("  ")), "workspace"),
        (with(alice(), "purpose", json!("p".repeat(257))), "purpose"),
        (
            with(alice(), "attributes", json!({"big": "x".repeat(20_000)})),
            "attributes",
        ),
    ];
    for (body, field) in cases {
        let r = env.post("/api/v1/principals").json(&body).send().await;
        r.expect_error(422, "invalid_request");
        assert!(
            fields(&r).iter().any(|f| f == field),
            "{field} not named by {}",
            r.text
        );
    }
    // Wrong types and unknown fields are refused before any check.
    for body in [
        with(alice(), "roles", json!("analyst")),
        with(alice(), "attributes", json!([1])),
        with(alice(), "verifier", json!("x")),
    ] {
        let r = env.post("/api/v1/principals").json(&body).send().await;
        assert_eq!(r.status.as_u16(), 422, "{}", r.text);
        assert!(r.body["error"]["message"].as_str().is_some(), "{}", r.text);
    }
    // Renaming through PUT is refused.
    env.post("/api/v1/principals")
        .json(&alice())
        .send()
        .await
        .expect(201);
    let r = env
        .put("/api/v1/principals/alice")
        .json(&json!({"user": "mallory"}))
        .send()
        .await;
    r.expect_error(422, "invalid_request");
    // Nothing refused was stored.
    let list = env.get("/api/v1/principals").send().await;
    assert_eq!(
        list.body["items"].as_array().unwrap().len(),
        1,
        "{}",
        list.text
    );
}

async fn principals_need_an_admin_and_stay_in_their_org(env: Env) {
    for token in [&env.editor, &env.viewer] {
        env.post("/api/v1/principals")
            .token(token)
            .json(&alice())
            .send()
            .await
            .expect_error(403, "forbidden");
    }
    env.post("/api/v1/principals")
        .json(&alice())
        .send()
        .await
        .expect(201);
    for token in [&env.editor, &env.viewer] {
        env.put("/api/v1/principals/alice")
            .token(token)
            .json(&json!({"roles": ["admin"]}))
            .send()
            .await
            .expect_error(403, "forbidden");
        env.delete("/api/v1/principals/alice")
            .token(token)
            .send()
            .await
            .expect_error(403, "forbidden");
        // Reading is allowed (there is no password to read).
        env.get("/api/v1/principals/alice")
            .token(token)
            .send()
            .await
            .expect(200);
    }
    env.get("/api/v1/principals/alice")
        .no_token()
        .send()
        .await
        .expect(401);
    // Another organization neither sees nor changes acme's principals, and has its own.
    let other = env.get("/api/v1/principals").token(&env.other).send().await;
    other.expect(200);
    assert_eq!(other.body["items"], json!([]));
    env.get("/api/v1/principals/alice")
        .token(&env.other)
        .send()
        .await
        .expect_error(404, "not_found");
    env.delete("/api/v1/principals/alice")
        .token(&env.other)
        .send()
        .await
        .expect_error(404, "not_found");
    env.post("/api/v1/principals")
        .token(&env.other)
        .json(&with(alice(), "password", json!("globex pw")))
        .send()
        .await
        .expect(201);
    let acme = verifier_of(&env, "acme", "alice").await.unwrap();
    let globex = verifier_of(&env, "globex", "alice").await.unwrap();
    assert!(verifies(&acme, "correct horse") && !verifies(&acme, "globex pw"));
    assert!(verifies(&globex, "globex pw"));
}

async fn generation(env: &Env) -> i64 {
    verdict_server::active::Generations::default()
        .read(&env.db, &org(env, "acme").await)
        .await
        .unwrap()
}

async fn principal_changes_are_audited_and_bump_the_generation(env: Env) {
    let g0 = generation(&env).await;
    env.post("/api/v1/principals")
        .json(&alice())
        .send()
        .await
        .expect(201);
    let g1 = generation(&env).await;
    assert!(g1 > g0, "{g0} -> {g1}");
    env.put("/api/v1/principals/alice")
        .json(&json!({"roles": ["analyst", "emea"], "attributes": {"region": "EU", "tenant_id": 7}, "workspace": "sales", "purpose": "audit", "password": "new one"}))
        .send()
        .await
        .expect(200);
    let g2 = generation(&env).await;
    assert!(g2 > g1, "{g1} -> {g2}");
    env.delete("/api/v1/principals/alice")
        .send()
        .await
        .expect(204);
    assert!(generation(&env).await > g2);
    let r = env.get("/api/v1/audit?object_id=alice").send().await;
    r.expect(200);
    assert!(
        !r.text.contains("correct horse") && !r.text.contains("new one"),
        "{}",
        r.text
    );
    assert!(!r.text.contains("SCRAM"), "{}", r.text);
    let items = r.body["items"].as_array().unwrap();
    let actions: Vec<&str> = items
        .iter()
        .map(|i| i["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["principal.delete", "principal.update", "principal.create"]
    );
    assert!(items
        .iter()
        .all(|i| i["actor"] == "ada" && i["object_type"] == "principal"));
    assert_eq!(items[1]["fields"], json!(["purpose", "password"]));
    assert_eq!(items[1]["detail"]["purpose"], "audit");
}
