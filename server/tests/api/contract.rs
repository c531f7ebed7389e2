//! The API contract: the OpenAPI document's structure, typed and bounded bodies (422 with
//! the field), one shape for the catalog on GET and PUT, and HTTP manners.

use serde_json::{json, Value};

use crate::case;
use crate::support::{catalog, Env};
use crate::Case;

pub fn all() -> Vec<Case> {
    vec![
        case!(openapi_document_is_typed_and_unique),
        case!(policy_bodies_are_typed_with_the_field),
        case!(policy_sizes_are_bounded),
        case!(stored_bodies_are_normalized_and_found_by_filters),
        case!(patch_keeps_the_types),
        case!(catalog_round_trip),
        case!(put_replaces_a_policy_whole),
        case!(compile_answers_the_policy_or_every_problem),
        case!(policy_types_given_or_derived_filter_and_count),
        case!(a_revoked_token_is_refused_at_once),
        case!(unauthorized_says_how_and_bearer_is_case_insensitive),
        case!(static_assets_compressed_cached_and_tagged),
    ]
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

fn valid() -> Value {
    json!({
        "id": "typed", "name": "Typed",
        "rules": [{"type": "deny", "table": "salaries"}]
    })
}

fn with(mut base: Value, key: &str, value: Value) -> Value {
    base[key] = value;
    base
}

async fn openapi_document_is_typed_and_unique(env: Env) {
    let r = env.get("/openapi.json").no_token().send().await;
    r.expect(200);
    let doc = &r.body;
    let mut ids = std::collections::BTreeSet::new();
    let mut operations = 0;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            let Some(id) = op["operationId"].as_str() else {
                continue;
            };
            operations += 1;
            assert!(ids.insert(id.to_string()), "duplicate operationId {id}");
            for p in op["parameters"].as_array().into_iter().flatten() {
                if p["in"] == "path" {
                    assert!(
                        path.contains(&format!("{{{}}}", p["name"].as_str().unwrap_or(""))),
                        "{method} {path}: `{}` declared in path but not in the path",
                        p["name"]
                    );
                }
            }
            let responses = op["responses"].as_object().expect("responses");
            if path.starts_with("/api/v1/") {
                assert!(responses.contains_key("401"), "{method} {path}: no 401");
            }
            if op.get("requestBody").is_some() {
                for status in ["400", "413", "415", "422"] {
                    assert!(
                        responses.contains_key(status),
                        "{method} {path}: no {status}"
                    );
                }
                let schema = &op["requestBody"]["content"]["application/json"]["schema"];
                assert!(
                    schema.get("$ref").is_some() || schema.get("oneOf").is_some(),
                    "{method} {path}: untyped request body {schema}"
                );
            }
            for (status, response) in responses {
                if status.starts_with('4') || status.starts_with('5') {
                    assert_eq!(
                        response["content"]["application/json"]["schema"]["$ref"],
                        "#/components/schemas/ErrorBody",
                        "{method} {path} {status}"
                    );
                }
            }
        }
    }
    assert!(operations >= 27, "{operations} operations");
    // Query parameters are query parameters.
    let list = &doc["paths"]["/api/v1/policies"]["get"]["parameters"];
    let limit = list
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == "limit"))
        .expect("limit");
    assert_eq!(limit["in"], "query");
    assert_eq!(limit["schema"]["maximum"], 500);
    // The policy is typed, rules by their `type`.
    let policy = &doc["components"]["schemas"]["Policy"];
    assert_eq!(policy["additionalProperties"], false);
    let required: Vec<&str> = policy["required"]
        .as_array()
        .expect("required")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for f in ["id", "name", "rules"] {
        assert!(required.contains(&f), "{f} not required");
    }
    let rule = doc["components"]["schemas"]["Rule"].to_string();
    for t in [
        "row_filter",
        "column_mask",
        "deny",
        "query_restriction",
        "query_limit",
    ] {
        assert!(rule.contains(t), "rule type {t} missing");
    }
}

async fn policy_bodies_are_typed_with_the_field(env: Env) {
    let before = env.fingerprint().await;
    let cases: Vec<(Value, &str)> = vec![
        (
            with(valid(), "compliance_tags", json!("x")),
            "compliance_tags",
        ),
        (with(valid(), "purpose_tags", json!([1])), "purpose_tags[0]"),
        (with(valid(), "labels", json!({"team": 5})), "labels.team"),
        (with(valid(), "labels", json!(["team=red"])), "labels"),
        (with(valid(), "name", Value::Null), "name"),
        (with(valid(), "rules", Value::Null), "rules"),
        (with(valid(), "name", json!("")), "name"),
        (with(valid(), "name", json!("   ")), "name"),
        (with(valid(), "priority", json!("high")), "priority"),
        (with(valid(), "except", json!(["dpo"])), "except"),
        (
            with(valid(), "except", json!({"users": "dpo"})),
            "except.users",
        ),
        (
            with(
                valid(),
                "rules",
                json!([{"type": "column_mask", "table": "t", "column": "c", "mask": {"kind": 0}}]),
            ),
            "rules[0].mask",
        ),
        (
            with(
                valid(),
                "rules",
                json!([{"type": "deny", "table": "t", "columns": []}]),
            ),
            "rules[0].columns",
        ),
    ];
    for (body, field) in cases {
        let r = env.post("/api/v1/policies").json(&body).send().await;
        r.expect(422);
        assert!(
            fields(&r).iter().any(|f| f.starts_with(field)),
            "{body}: no problem at {field}: {}",
            r.text
        );
    }
    let mut no_name = valid();
    no_name.as_object_mut().expect("object").remove("name");
    let r = env.post("/api/v1/policies").json(&no_name).send().await;
    r.expect_error(422, "invalid_policy");
    assert!(fields(&r).contains(&"name".to_string()), "{}", r.text);
    assert_eq!(
        env.fingerprint().await,
        before,
        "a rejected body changed something"
    );
}

async fn policy_sizes_are_bounded(env: Env) {
    let before = env.fingerprint().await;
    let long = |n: usize| json!("n".repeat(n));
    let many_rules: Vec<Value> = (0..201)
        .map(|_| json!({"type": "deny", "table": "salaries"}))
        .collect();
    let cases: Vec<(Value, &str)> = vec![
        (with(valid(), "name", long(100 * 1024)), "name"),
        (with(valid(), "name", long(201)), "name"),
        (with(valid(), "description", long(4001)), "description"),
        (with(valid(), "rules", json!(many_rules)), "rules"),
        (
            with(
                valid(),
                "rules",
                json!([{"type": "row_filter", "table": "orders", "predicate": format!("id = 1{}", " ".repeat(16_400))}]),
            ),
            "rules[0].predicate",
        ),
        (
            with(valid(), "compliance_tags", json!(vec!["t"; 101])),
            "compliance_tags",
        ),
        (
            with(valid(), "labels", json!({"k": "v".repeat(257)})),
            "labels.k",
        ),
    ];
    for (body, field) in cases {
        let r = env.post("/api/v1/policies").json(&body).send().await;
        r.expect_error(422, "invalid_policy");
        assert!(
            fields(&r).iter().any(|f| f == field),
            "no problem at {field}: {}",
            r.text.chars().take(400).collect::<String>()
        );
    }
    // At the bounds, accepted.
    let r = env
        .post("/api/v1/policies")
        .json(&with(valid(), "name", long(200)))
        .send()
        .await;
    r.expect(201);
    assert_ne!(env.fingerprint().await, before);
}

async fn stored_bodies_are_normalized_and_found_by_filters(env: Env) {
    let body = json!({
        "id": "norm", "name": "Normalized", "description": null,
        "compliance_tags": ["gdpr"], "labels": {"team": "red"},
        "except": {"users": ["dpo"], "roles": null},
        "rules": [{"type": "column_mask", "table": "customers", "column": "ssn", "mask": "hash"}]
    });
    let r = env.post("/api/v1/policies").json(&body).send().await;
    r.expect(201);
    // Nulls are absent; everything else as given.
    assert!(r.body.get("description").is_none(), "{}", r.text);
    assert_eq!(r.body["except"], json!({"users": ["dpo"]}));
    assert_eq!(r.body["rules"][0]["mask"], "hash");
    for query in ["compliance_tag=gdpr", "label=team=red", "label=team"] {
        let r = env.get(&format!("/api/v1/policies?{query}")).send().await;
        r.expect(200);
        assert_eq!(r.body["total"], 1, "{query}: {}", r.text);
        assert_eq!(r.body["items"][0]["id"], "norm");
    }
}

async fn patch_keeps_the_types(env: Env) {
    env.post("/api/v1/policies")
        .json(&valid())
        .send()
        .await
        .expect(201);
    let path = "/api/v1/policies/typed";
    let before = env.fingerprint().await;
    for (patch, field) in [
        (json!({"name": null}), "name"),
        (json!({"rules": null}), "rules"),
        (json!({"compliance_tags": "x"}), "compliance_tags"),
        (json!({"labels": {"n": 1}}), "labels.n"),
        (json!({"name": "n".repeat(201)}), "name"),
        (json!({"colour": "red"}), "colour"),
    ] {
        let r = env.patch(path).if_match(1).json(&patch).send().await;
        r.expect_error(422, "invalid_policy");
        assert!(
            fields(&r).iter().any(|f| f == field),
            "{patch}: no problem at {field}: {}",
            r.text
        );
    }
    // A malformed change is refused even with a stale revision: 422, not 412.
    env.patch(path)
        .if_match(7)
        .json(&json!({"labels": {"n": 1}}))
        .send()
        .await
        .expect_error(422, "invalid_policy");
    assert_eq!(env.fingerprint().await, before);
    // Clearing an optional field is still `null`.
    let r = env
        .patch(path)
        .if_match(1)
        .json(&json!({"description": "d"}))
        .send()
        .await;
    r.expect(200);
    let r = env
        .patch(path)
        .if_match(2)
        .json(&json!({"description": null}))
        .send()
        .await;
    r.expect(200);
    assert!(r.body.get("description").is_none(), "{}", r.text);
}

async fn catalog_round_trip(env: Env) {
    env.set_catalog().await;
    // What GET answers, PUT takes back.
    let got = env.get("/api/v1/catalog").send().await;
    got.expect(200);
    assert_eq!(got.body["revision"], 1);
    let r = env.put("/api/v1/catalog").json(&got.body).send().await;
    r.expect(200);
    assert_eq!(r.body["revision"], 2);
    assert_eq!(r.body["catalog"], got.body["catalog"]);
    // The revision in the body acts as If-Match.
    env.put("/api/v1/catalog")
        .json(&got.body)
        .send()
        .await
        .expect_error(412, "stale_revision");
    // A bare catalog still works; `{"catalog": null}` removes it.
    env.put("/api/v1/catalog")
        .json(&catalog())
        .send()
        .await
        .expect(200);
    let r = env
        .put("/api/v1/catalog")
        .json(&json!({"catalog": null}))
        .send()
        .await;
    r.expect(200);
    assert_eq!(r.body["catalog"], Value::Null);
    // Arrays are not objects, and `null` alone is not a body.
    for bad in [
        json!({"catalog": [null, null]}),
        json!({"tables": [[["x"]]]}),
        Value::Null,
    ] {
        env.put("/api/v1/catalog")
            .json(&bad)
            .send()
            .await
            .expect(422);
    }
}

async fn unauthorized_says_how_and_bearer_is_case_insensitive(env: Env) {
    let r = env.get("/api/v1/me").no_token().send().await;
    r.expect_error(401, "unauthorized");
    assert_eq!(r.headers["www-authenticate"], "Bearer realm=\"verdict\"");
    let r = env
        .get("/api/v1/me")
        .no_token()
        .header("authorization", "Bearer vdt_not_a_token")
        .send()
        .await;
    r.expect_error(401, "unauthorized");
    let challenge = r.headers["www-authenticate"].to_str().unwrap_or("");
    assert!(challenge.starts_with("Bearer "), "{challenge}");
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    for scheme in ["bearer", "BEARER", "Bearer", "bEaReR"] {
        let r = env
            .get("/api/v1/me")
            .no_token()
            .header("authorization", &format!("{scheme} {}", env.admin))
            .send()
            .await;
        r.expect(200);
        assert_eq!(r.body["role"], "admin", "{scheme}");
    }
    env.get("/api/v1/me")
        .no_token()
        .header("authorization", &format!("Basic {}", env.admin))
        .send()
        .await
        .expect_error(401, "unauthorized");
}

async fn static_assets_compressed_cached_and_tagged(env: Env) {
    use std::io::Read;
    let dir = std::env::temp_dir().join(format!(
        "verdict-assets-{}-{}",
        std::process::id(),
        env.backend.name()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let index =
        "<!doctype html><title>editor</title><script src=/app-0123456789abcdef.js></script>";
    std::fs::write(dir.join("index.html"), index).unwrap();
    let script: String = (0..4000)
        .map(|i| format!("console.log('line {i}');\n"))
        .collect();
    let hashed = "/app-0123456789abcdef.js";
    std::fs::write(dir.join(hashed.trim_start_matches('/')), &script).unwrap();
    let mut web = env.clone();
    web.router = verdict_server::router(
        verdict_server::AppState::new(env.db.clone()),
        verdict_server::DEFAULT_MAX_BODY_BYTES,
        Some(dir.clone()),
    );
    // Brotli when accepted, then gzip, else the file itself.
    let r = web
        .get(hashed)
        .no_token()
        .header("accept-encoding", "gzip, deflate, br")
        .send()
        .await;
    r.expect(200);
    assert_eq!(r.headers["content-encoding"], "br");
    assert_eq!(r.headers["vary"], "accept-encoding");
    assert_eq!(
        r.headers["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert!(
        r.bytes.len() * 10 < script.len(),
        "brotli {} bytes",
        r.bytes.len()
    );
    let mut plain = String::new();
    brotli::Decompressor::new(&r.bytes[..], 4096)
        .read_to_string(&mut plain)
        .unwrap();
    assert_eq!(plain, script);
    let etag = r.headers["etag"].to_str().unwrap().to_string();
    let r = web
        .get(hashed)
        .no_token()
        .header("accept-encoding", "gzip")
        .send()
        .await;
    assert_eq!(r.headers["content-encoding"], "gzip");
    let mut plain = String::new();
    flate2::read::GzDecoder::new(&r.bytes[..])
        .read_to_string(&mut plain)
        .unwrap();
    assert_eq!(plain, script);
    assert_eq!(r.headers["etag"].to_str().unwrap(), etag);
    let r = web
        .get(hashed)
        .no_token()
        .header("accept-encoding", "br;q=0, gzip;q=0")
        .send()
        .await;
    assert!(r.headers.get("content-encoding").is_none());
    assert_eq!(r.text, script);
    // Revalidation: 304 without a body.
    let r = web
        .get(hashed)
        .no_token()
        .header("if-none-match", &etag)
        .send()
        .await;
    assert_eq!(r.status.as_u16(), 304);
    assert!(r.bytes.is_empty());
    // The page itself is revalidated on every load; client routes get it too.
    for page in ["/", "/policies/x"] {
        let r = web.get(page).no_token().send().await;
        r.expect(200);
        assert_eq!(r.headers["cache-control"], "no-cache", "{page}");
        assert!(r.headers.contains_key("etag"));
        assert_eq!(r.text, index);
    }
    // A changed file is served changed, with a new tag.
    std::fs::write(dir.join("index.html"), "<!doctype html><title>v2</title>").unwrap();
    let r = web.get("/").no_token().send().await;
    assert!(r.text.contains("v2"), "{}", r.text);
    let _ = std::fs::remove_dir_all(&dir);
}

async fn put_replaces_a_policy_whole(env: Env) {
    let mut first = valid();
    first["description"] = json!("first");
    first["labels"] = json!({"team": "red"});
    first["assignments"] = json!([{"kind": "role", "value": "analyst"}]);
    env.post("/api/v1/policies")
        .json(&first)
        .send()
        .await
        .expect(201);
    let path = "/api/v1/policies/typed";
    let replacement = json!({
        "id": "typed", "name": "Replaced",
        "rules": [{"type": "deny", "table": "customers", "columns": ["ssn"]}]
    });
    env.put(path)
        .json(&replacement)
        .send()
        .await
        .expect_error(428, "if_match_required");
    let before = env.fingerprint().await;
    env.put(path)
        .if_match(1)
        .json(&with(replacement.clone(), "id", json!("other")))
        .send()
        .await
        .expect(422);
    env.put(path)
        .if_match(9)
        .json(&with(replacement.clone(), "labels", json!({"n": 1})))
        .send()
        .await
        .expect_error(422, "invalid_policy");
    env.put(path)
        .if_match(9)
        .json(&replacement)
        .send()
        .await
        .expect_error(412, "stale_revision");
    assert_eq!(env.fingerprint().await, before);
    // Whole: what the body leaves out is gone; assignments stay unless given.
    let r = env.put(path).if_match(1).json(&replacement).send().await;
    r.expect(200);
    assert_eq!(r.etag(), 2);
    assert_eq!(r.body["name"], "Replaced");
    assert!(r.body.get("description").is_none(), "{}", r.text);
    assert!(r.body.get("labels").is_none(), "{}", r.text);
    assert_eq!(r.body["rules"], replacement["rules"]);
    assert_eq!(r.body["assignments"][0]["value"], "analyst");
    let r = env
        .put(path)
        .if_match(2)
        .json(&with(
            replacement.clone(),
            "assignments",
            json!([{"kind": "user", "value": "bob"}]),
        ))
        .send()
        .await;
    r.expect(200);
    assert_eq!(r.body["assignments"].as_array().map(Vec::len), Some(1));
    assert_eq!(r.body["assignments"][0]["value"], "bob");
    // GET's policy fields PUT back unchanged: same revision, nothing new.
    let got = env.get(path).send().await;
    let mut back = serde_json::Map::new();
    for key in ["id", "name", "rules"] {
        back.insert(key.to_string(), got.body[key].clone());
    }
    let r = env
        .put(path)
        .if_match(3)
        .json(&Value::Object(back))
        .send()
        .await;
    r.expect(200);
    assert_eq!(r.etag(), 3);
    let versions = env.get(&format!("{path}/versions")).send().await;
    assert_eq!(versions.body["total"], 3, "{}", versions.text);
}

async fn compile_answers_the_policy_or_every_problem(env: Env) {
    env.set_catalog().await;
    let before = env.fingerprint().await;
    // JSON in, the stored form out.
    let r = env
        .post("/api/v1/policies/compile")
        .json(&json!({
            "id": "c", "name": "Compiled", "description": null,
            "applies_to": {"roles": ["analyst"]},
            "rules": [{"type": "row_filter", "table": "orders", "predicate": "tenant_id = ctx.attr.tenant_id"}]
        }))
        .send()
        .await;
    r.expect(200);
    assert_eq!(r.body["valid"], true, "{}", r.text);
    assert_eq!(r.body["problems"], json!([]));
    assert!(r.body["policy"].get("description").is_none());
    assert_eq!(
        r.body["policy"]["assignments"],
        json!([{"kind": "role", "value": "analyst"}])
    );
    // YAML in; every problem out, the catalog's included.
    let yaml = "id: c\nmode: sometimes\nrules:\n  - type: row_filter\n    table: nowhere\n    predicate: x = 1\n  - type: row_filter\n    table: orders\n    predicate: \"tenant_id =\\n = 1\"\n";
    let r = env
        .post("/api/v1/policies/compile")
        .header("content-type", "application/yaml")
        .raw(yaml.as_bytes().to_vec())
        .send()
        .await;
    r.expect(200);
    assert_eq!(r.body["valid"], false, "{}", r.text);
    let fields: Vec<&str> = r.body["problems"]
        .as_array()
        .expect("problems")
        .iter()
        .filter_map(|p| p["field"].as_str())
        .collect();
    for f in ["mode", "name", "rules[0].table", "rules[1].predicate"] {
        assert!(fields.contains(&f), "no problem at {f}: {}", r.text);
    }
    let predicate = r.body["problems"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["field"] == "rules[1].predicate")
        .unwrap();
    assert_eq!(predicate["line"], 2, "{predicate}");
    // Not a document: 400; not JSON or YAML: 415; not an object: 422.
    env.post("/api/v1/policies/compile")
        .header("content-type", "application/yaml")
        .raw(b"id: [unclosed".to_vec())
        .send()
        .await
        .expect_error(400, "malformed_yaml");
    env.post("/api/v1/policies/compile")
        .header("content-type", "text/plain")
        .raw(b"id: c".to_vec())
        .send()
        .await
        .expect_error(415, "unsupported_media_type");
    env.post("/api/v1/policies/compile")
        .json(&json!([1]))
        .send()
        .await
        .expect(422);
    // Nothing was stored; a viewer may compile.
    assert_eq!(env.fingerprint().await, before);
    env.post("/api/v1/policies/compile")
        .token(&env.viewer)
        .json(&valid())
        .send()
        .await
        .expect(200);
}

async fn policy_types_given_or_derived_filter_and_count(env: Env) {
    env.set_catalog().await;
    let make = |id: &str, rules: Value, ty: Option<&str>| {
        let mut p = json!({"id": id, "name": id, "rules": rules});
        if let Some(t) = ty {
            p["policy_type"] = json!(t);
        }
        p
    };
    let cases = [
        (
            make(
                "m",
                json!([{"type": "column_mask", "table": "customers", "column": "ssn", "mask": "hash"}]),
                None,
            ),
            "data_masking",
        ),
        (
            make(
                "r",
                json!([{"type": "row_filter", "table": "orders", "predicate": "tenant_id = 1"}]),
                None,
            ),
            "row_level_security",
        ),
        (
            make(
                "c",
                json!([{"type": "deny", "table": "customers", "columns": ["ssn"]}]),
                None,
            ),
            "column_level_security",
        ),
        (
            make("a", json!([{"type": "deny", "table": "salaries"}]), None),
            "access_control",
        ),
        (
            make("l", json!([{"type": "query_limit", "max_rows": 10}]), None),
            "query_limit",
        ),
        (
            make(
                "x",
                json!([{"type": "deny", "table": "salaries"}, {"type": "query_limit", "max_rows": 10}]),
                None,
            ),
            "other",
        ),
        (
            make(
                "g",
                json!([{"type": "deny", "table": "salaries"}]),
                Some("data_retention"),
            ),
            "data_retention",
        ),
    ];
    for (policy, expected) in &cases {
        let r = env.post("/api/v1/policies").json(policy).send().await;
        r.expect(201);
        // Answered as given; derived ones only in filters and counts.
        match policy.get("policy_type") {
            Some(t) => assert_eq!(&r.body["policy_type"], t),
            None => assert!(r.body.get("policy_type").is_none(), "{}", r.text),
        }
        let r = env
            .get(&format!("/api/v1/policies?policy_type={expected}"))
            .send()
            .await;
        assert!(
            r.body["items"]
                .as_array()
                .is_some_and(|items| items.iter().any(|i| i["id"] == policy["id"])),
            "{expected}: {}",
            r.text
        );
    }
    let r = env
        .get("/api/v1/policies?policy_type=access_control")
        .send()
        .await;
    r.expect(200);
    assert_eq!(r.body["total"], 1, "{}", r.text);
    assert_eq!(r.body["items"][0]["id"], "a");
    env.get("/api/v1/policies?policy_type=nonsense")
        .send()
        .await
        .expect_error(400, "bad_request");
    let r = env.get("/api/v1/policies/dashboard").send().await;
    r.expect(200);
    let by_type = &r.body["policies"]["by_policy_type"];
    for (_, expected) in &cases {
        assert_eq!(by_type[*expected], 1, "{expected}: {by_type}");
    }
    // An explicit type survives PATCH; a bad one is a 422 with the field.
    let r = env
        .patch("/api/v1/policies/a")
        .if_match(1)
        .json(&json!({"policy_type": "other"}))
        .send()
        .await;
    r.expect(200);
    assert_eq!(r.body["policy_type"], "other");
    let r = env
        .post("/api/v1/policies")
        .json(&make("bad", json!([]), Some("security")))
        .send()
        .await;
    r.expect_error(422, "invalid_policy");
    assert!(
        fields(&r).contains(&"policy_type".to_string()),
        "{}",
        r.text
    );
    // Evaluations still work: the engine never sees the field.
    let r = env
        .post("/api/v1/evaluate")
        .json(&json!({"sql": "SELECT 1", "context": {"user": "u"}}))
        .send()
        .await;
    r.expect(200);
}

async fn a_revoked_token_is_refused_at_once(env: Env) {
    // The viewer's token works (and is now in this instance's cache).
    let me = env.get("/api/v1/me").token(&env.viewer).send().await;
    me.expect(200);
    let id = me.body["token_id"].as_str().expect("token_id").to_string();
    env.delete(&format!("/api/v1/tokens/{id}"))
        .token(&env.editor)
        .send()
        .await
        .expect_error(403, "forbidden");
    // Another organization's admin cannot see it.
    env.delete(&format!("/api/v1/tokens/{id}"))
        .token(&env.other)
        .send()
        .await
        .expect_error(404, "not_found");
    // Not itself.
    let own = env.get("/api/v1/me").send().await.body["token_id"]
        .as_str()
        .unwrap()
        .to_string();
    env.delete(&format!("/api/v1/tokens/{own}"))
        .send()
        .await
        .expect_error(409, "conflict");
    let r = env.delete(&format!("/api/v1/tokens/{id}")).send().await;
    r.expect(200);
    assert_eq!(r.body["revoked"], true);
    // At once, not after the cache's second.
    env.get("/api/v1/me")
        .token(&env.viewer)
        .send()
        .await
        .expect_error(401, "unauthorized");
    env.delete(&format!("/api/v1/tokens/{id}"))
        .send()
        .await
        .expect_error(404, "not_found");
}
