//! A table of bad requests: each gets the expected 4xx with the error shape, and leaves
//! every stored byte as it was.

use axum::http::Method;
use serde_json::{json, Value};

use crate::case;
use crate::support::{alice, example_policy, Env};
use crate::Case;

pub fn all() -> Vec<Case> {
    vec![case!(bad_requests_change_nothing)]
}

enum Body {
    None,
    Json(Value),
    Raw(&'static str, Vec<u8>),
}

enum Who {
    Admin,
    Viewer,
    Other,
    NoToken,
    Header(&'static str),
}

struct Bad {
    name: &'static str,
    method: Method,
    path: String,
    who: Who,
    if_match: Option<&'static str>,
    body: Body,
    status: u16,
    code: &'static str,
}

fn bad(
    name: &'static str,
    method: Method,
    path: &str,
    body: Body,
    status: u16,
    code: &'static str,
) -> Bad {
    Bad {
        name,
        method,
        path: path.to_string(),
        who: Who::Admin,
        if_match: None,
        body,
        status,
        code,
    }
}

fn table() -> Vec<Bad> {
    use Method as M;
    let policies = "/api/v1/policies";
    let p = "/api/v1/policies/tenant-isolation";
    let json_ct = |bytes: &[u8]| Body::Raw("application/json", bytes.to_vec());
    let policy = |v: Value| Body::Json(v);
    let rule = |r: Value| Body::Json(json!({"id": "new", "name": "Policy new", "rules": [r]}));
    let mut rows = vec![
        bad(
            "malformed json",
            M::POST,
            policies,
            json_ct(b"{\"id\":"),
            400,
            "malformed_json",
        ),
        bad(
            "trailing garbage",
            M::POST,
            policies,
            json_ct(b"{\"id\": \"a\"} x"),
            400,
            "malformed_json",
        ),
        bad(
            "empty body",
            M::POST,
            policies,
            json_ct(b""),
            400,
            "malformed_json",
        ),
        bad(
            "no content type",
            M::POST,
            policies,
            Body::Raw("", b"{\"id\": \"a\"}".to_vec()),
            415,
            "unsupported_media_type",
        ),
        bad(
            "text/plain",
            M::POST,
            policies,
            Body::Raw("text/plain", b"{\"id\": \"a\"}".to_vec()),
            415,
            "unsupported_media_type",
        ),
        bad(
            "huge body",
            M::POST,
            policies,
            json_ct(format!("{{\"id\": \"{}\"}}", "a".repeat(2 * 1024 * 1024)).as_bytes()),
            413,
            "body_too_large",
        ),
        bad(
            "not utf-8",
            M::POST,
            policies,
            json_ct(b"{\"id\": \"\xff\xfe\"}"),
            400,
            "malformed_json",
        ),
        bad(
            "array instead of policy",
            M::POST,
            policies,
            policy(json!([{"id": "a"}])),
            422,
            "invalid_request",
        ),
        bad(
            "string instead of policy",
            M::POST,
            policies,
            policy(json!("policy")),
            422,
            "invalid_request",
        ),
        bad(
            "no id",
            M::POST,
            policies,
            policy(json!({"rules": []})),
            422,
            "invalid_policy",
        ),
        bad(
            "numeric id",
            M::POST,
            policies,
            policy(json!({"id": 5})),
            422,
            "invalid_policy",
        ),
        bad(
            "id with a slash",
            M::POST,
            policies,
            policy(json!({"id": "a/b"})),
            422,
            "invalid_policy",
        ),
        bad(
            "id too long",
            M::POST,
            policies,
            policy(json!({"id": "a".repeat(200)})),
            422,
            "invalid_policy",
        ),
        bad(
            "unknown rule type",
            M::POST,
            policies,
            rule(json!({"type": "teleport", "table": "orders"})),
            422,
            "invalid_policy",
        ),
        bad(
            "predicate does not parse",
            M::POST,
            policies,
            rule(json!({"type": "row_filter", "table": "orders", "predicate": "tenant_id = = 1"})),
            422,
            "invalid_policy",
        ),
        bad(
            "predicate with a statement",
            M::POST,
            policies,
            rule(
                json!({"type": "row_filter", "table": "orders", "predicate": "1=1; DROP TABLE orders"}),
            ),
            422,
            "invalid_policy",
        ),
        bad(
            "unknown column",
            M::POST,
            policies,
            rule(json!({"type": "row_filter", "table": "orders", "predicate": "colour = 'red'"})),
            422,
            "invalid_policy",
        ),
        bad(
            "unknown table",
            M::POST,
            policies,
            rule(json!({"type": "deny", "table": "nowhere"})),
            422,
            "invalid_policy",
        ),
        bad(
            "unknown ctx reference",
            M::POST,
            policies,
            rule(
                json!({"type": "row_filter", "table": "orders", "predicate": "tenant_id = ctx.tenant"}),
            ),
            422,
            "invalid_policy",
        ),
        bad(
            "unknown mask kind",
            M::POST,
            policies,
            rule(
                json!({"type": "column_mask", "table": "customers", "column": "email", "mask": {"kind": "scramble"}}),
            ),
            422,
            "invalid_policy",
        ),
        bad(
            "priority not an integer",
            M::POST,
            policies,
            policy(json!({"id": "new", "priority": "high"})),
            422,
            "invalid_policy",
        ),
        bad(
            "unknown policy field",
            M::POST,
            policies,
            policy(json!({"id": "new", "colour": "red"})),
            422,
            "invalid_policy",
        ),
        bad(
            "duplicate id",
            M::POST,
            policies,
            policy(example_policy("tenant-isolation")),
            409,
            "conflict",
        ),
        bad(
            "assignments not a list",
            M::POST,
            policies,
            policy(json!({"id": "new", "assignments": "everyone"})),
            422,
            "invalid_request",
        ),
        bad(
            "applies_to not an object",
            M::POST,
            policies,
            policy(json!({"id": "new", "applies_to": ["x"]})),
            422,
            "invalid_request",
        ),
        bad(
            "unknown policy",
            M::GET,
            "/api/v1/policies/nope",
            Body::None,
            404,
            "not_found",
        ),
        bad(
            "NUL in the id",
            M::GET,
            "/api/v1/policies/a%00b",
            Body::None,
            404,
            "not_found",
        ),
        bad(
            "patch without If-Match",
            M::PATCH,
            p,
            policy(json!({"priority": 1})),
            428,
            "if_match_required",
        ),
        bad(
            "patch with bad JSON",
            M::PATCH,
            p,
            json_ct(b"{priority: 1}"),
            400,
            "malformed_json",
        ),
        bad(
            "delete unknown",
            M::DELETE,
            "/api/v1/policies/nope",
            Body::None,
            404,
            "not_found",
        ),
        bad(
            "version not a number",
            M::GET,
            &format!("{p}/versions/abc"),
            Body::None,
            400,
            "bad_request",
        ),
        bad(
            "version missing",
            M::GET,
            &format!("{p}/versions/99"),
            Body::None,
            404,
            "not_found",
        ),
        bad(
            "diff to a word",
            M::GET,
            &format!("{p}/versions/1/diff/latest"),
            Body::None,
            400,
            "bad_request",
        ),
        bad(
            "rollback to a missing version",
            M::POST,
            &format!("{p}/versions/99/rollback"),
            Body::None,
            404,
            "not_found",
        ),
        bad(
            "bad limit",
            M::GET,
            "/api/v1/policies?limit=abc",
            Body::None,
            400,
            "bad_request",
        ),
        bad(
            "unknown query parameter",
            M::GET,
            "/api/v1/policies?colour=red",
            Body::None,
            400,
            "bad_request",
        ),
        bad(
            "evaluate: sql not a string",
            M::POST,
            "/api/v1/evaluate",
            Body::Json(json!({"sql": ["SELECT 1"]})),
            422,
            "invalid_request",
        ),
        bad(
            "evaluate: no sql",
            M::POST,
            "/api/v1/evaluate",
            Body::Json(json!({"context": alice()})),
            422,
            "invalid_request",
        ),
        bad(
            "evaluate: unknown field",
            M::POST,
            "/api/v1/evaluate",
            Body::Json(json!({"sql": "SELECT 1", "policy": {}})),
            422,
            "invalid_request",
        ),
        bad(
            "evaluate: roles not a list",
            M::POST,
            "/api/v1/evaluate",
            Body::Json(json!({"sql": "SELECT 1", "context": {"roles": 5}})),
            422,
            "invalid_context",
        ),
        bad(
            "evaluate: unknown context field",
            M::POST,
            "/api/v1/evaluate",
            Body::Json(json!({"sql": "SELECT 1", "context": {"tenant": 1}})),
            422,
            "invalid_context",
        ),
        bad(
            "evaluate: NUL in the SQL",
            M::POST,
            "/api/v1/evaluate",
            Body::Json(json!({"sql": "SELECT 1\u{0}"})),
            422,
            "invalid_request",
        ),
        bad(
            "dataset with NUL",
            M::POST,
            "/api/v1/evaluate",
            Body::Json(json!({"sql": "SELECT 1", "dataset": "a\u{0}"})),
            422,
            "invalid_request",
        ),
        bad(
            "assignment with NUL",
            M::POST,
            &format!("{p}/assignments"),
            Body::Json(json!({"kind": "role", "value": "a\u{0}"})),
            422,
            "invalid_request",
        ),
        bad(
            "exception for a NUL user",
            M::POST,
            &format!("{p}/exceptions"),
            Body::Json(json!({"user": "a\u{0}", "max_uses": 1})),
            422,
            "invalid_request",
        ),
        bad(
            "reserved id",
            M::POST,
            policies,
            policy(json!({"id": "dashboard"})),
            422,
            "invalid_policy",
        ),
        bad(
            "evaluate: malformed JSON",
            M::POST,
            "/api/v1/evaluate",
            json_ct(b"{\"sql\": \"SELECT 1\""),
            400,
            "malformed_json",
        ),
        bad(
            "evaluate: SQL over the limit",
            M::POST,
            "/api/v1/evaluate",
            Body::Json(json!({"sql": format!("SELECT {}", "1+".repeat(150_000))})),
            413,
            "sql_too_large",
        ),
        bad(
            "dry run: two sources",
            M::POST,
            "/api/v1/policy-evaluations",
            Body::Json(
                json!({"sql": "SELECT 1", "policy_id": "tenant-isolation", "policy_set": {"policies": []}}),
            ),
            422,
            "invalid_request",
        ),
        bad(
            "dry run: invalid draft",
            M::POST,
            "/api/v1/policy-evaluations",
            Body::Json(
                json!({"sql": "SELECT 1", "policy": {"id": "d", "name": "Policy d", "rules": [{"type": "deny"}]}}),
            ),
            422,
            "invalid_policy",
        ),
        bad(
            "dry run: unknown policy",
            M::POST,
            "/api/v1/policy-evaluations",
            Body::Json(json!({"sql": "SELECT 1", "policy_id": "nope"})),
            404,
            "not_found",
        ),
        bad(
            "exception without bound",
            M::POST,
            &format!("{p}/exceptions"),
            Body::Json(json!({"user": "bob"})),
            422,
            "invalid_request",
        ),
        bad(
            "assignment of an unknown kind",
            M::POST,
            &format!("{p}/assignments"),
            Body::Json(json!({"kind": "galaxy", "value": "x"})),
            422,
            "invalid_request",
        ),
        bad(
            "catalog as an array",
            M::PUT,
            "/api/v1/catalog",
            Body::Json(json!([])),
            422,
            "invalid_request",
        ),
        bad(
            "catalog that breaks a policy",
            M::PUT,
            "/api/v1/catalog",
            Body::Json(json!({"tables": []})),
            422,
            "invalid_policy",
        ),
        bad(
            "replay without a draft",
            M::POST,
            "/api/v1/policies/replay",
            Body::Json(json!({})),
            422,
            "invalid_request",
        ),
        bad(
            "unknown endpoint",
            M::GET,
            "/api/v2/policies",
            Body::None,
            404,
            "not_found",
        ),
        bad(
            "wrong method",
            M::PUT,
            policies,
            Body::Json(json!({})),
            405,
            "method_not_allowed",
        ),
    ];
    let mut with = |mut b: Bad, who: Who, if_match: Option<&'static str>| {
        b.who = who;
        b.if_match = if_match;
        rows.push(b);
    };
    with(
        bad(
            "stale revision",
            M::PATCH,
            p,
            policy(json!({"priority": 1})),
            412,
            "stale_revision",
        ),
        Who::Admin,
        Some("\"7\""),
    );
    with(
        bad(
            "If-Match not a revision",
            M::PATCH,
            p,
            policy(json!({"priority": 1})),
            400,
            "bad_request",
        ),
        Who::Admin,
        Some("soon"),
    );
    with(
        bad(
            "patch breaks the predicate",
            M::PATCH,
            p,
            policy(
                json!({"rules": [{"type": "row_filter", "table": "orders", "predicate": "tenant_id ="}]}),
            ),
            422,
            "invalid_policy",
        ),
        Who::Admin,
        Some("\"1\""),
    );
    with(
        bad(
            "patch enabled as text",
            M::PATCH,
            p,
            policy(json!({"enabled": "yes"})),
            422,
            "invalid_policy",
        ),
        Who::Admin,
        Some("\"1\""),
    );
    with(
        bad(
            "patch changes the id",
            M::PATCH,
            p,
            policy(json!({"id": "renamed"})),
            422,
            "invalid_request",
        ),
        Who::Admin,
        Some("\"1\""),
    );
    with(
        bad(
            "no token",
            M::GET,
            policies,
            Body::None,
            401,
            "unauthorized",
        ),
        Who::NoToken,
        None,
    );
    with(
        bad(
            "unknown token",
            M::GET,
            policies,
            Body::None,
            401,
            "unauthorized",
        ),
        Who::Header("Bearer vdt_0000"),
        None,
    );
    with(
        bad(
            "empty bearer",
            M::GET,
            policies,
            Body::None,
            401,
            "unauthorized",
        ),
        Who::Header("Bearer "),
        None,
    );
    with(
        bad(
            "basic auth",
            M::GET,
            policies,
            Body::None,
            401,
            "unauthorized",
        ),
        Who::Header("Basic YWRhOmFkYQ=="),
        None,
    );
    with(
        bad(
            "huge token",
            M::GET,
            policies,
            Body::None,
            401,
            "unauthorized",
        ),
        Who::Header(Box::leak(
            format!("Bearer {}", "x".repeat(5000)).into_boxed_str(),
        )),
        None,
    );
    with(
        bad(
            "other organization reads",
            M::GET,
            p,
            Body::None,
            404,
            "not_found",
        ),
        Who::Other,
        None,
    );
    with(
        bad(
            "other organization patches",
            M::PATCH,
            p,
            policy(json!({"priority": 1})),
            404,
            "not_found",
        ),
        Who::Other,
        Some("\"1\""),
    );
    with(
        bad(
            "other organization deletes",
            M::DELETE,
            p,
            Body::None,
            404,
            "not_found",
        ),
        Who::Other,
        None,
    );
    with(
        bad(
            "viewer patches",
            M::PATCH,
            p,
            policy(json!({"priority": 1})),
            403,
            "forbidden",
        ),
        Who::Viewer,
        Some("\"1\""),
    );
    with(
        bad(
            "viewer creates",
            M::POST,
            policies,
            policy(json!({"id": "v"})),
            403,
            "forbidden",
        ),
        Who::Viewer,
        None,
    );
    with(
        bad("viewer deletes", M::DELETE, p, Body::None, 403, "forbidden"),
        Who::Viewer,
        None,
    );
    rows
}

async fn bad_requests_change_nothing(env: Env) {
    env.set_catalog().await;
    env.create(&example_policy("tenant-isolation")).await;
    env.post("/api/v1/evaluate")
        .json(&json!({"sql": "SELECT * FROM orders", "context": alice()}))
        .send()
        .await
        .expect(200);
    let before = env.fingerprint().await;
    let rows = table();
    assert!(rows.len() >= 40, "only {} bad requests", rows.len());
    for row in rows {
        let mut call = env.method(row.method.clone(), &row.path);
        call = match row.who {
            Who::Admin => call,
            Who::Viewer => call.token(&env.viewer),
            Who::Other => call.token(&env.other),
            Who::NoToken => call.no_token(),
            Who::Header(h) => call.no_token().header("authorization", h),
        };
        if let Some(m) = row.if_match {
            call = call.header("if-match", m);
        }
        call = match row.body {
            Body::None => call,
            Body::Json(v) => call.json(&v),
            Body::Raw(ct, bytes) => {
                let call = call.raw(bytes);
                if ct.is_empty() {
                    call
                } else {
                    call.header("content-type", ct)
                }
            }
        };
        let r = call.send().await;
        assert!(
            r.status.as_u16() == row.status && r.code() == row.code,
            "{}: expected {} {}, got {} {}",
            row.name,
            row.status,
            row.code,
            r.status,
            r.text.chars().take(400).collect::<String>()
        );
        assert!(
            r.body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{}: {}",
            row.name,
            r.text
        );
        assert_eq!(
            env.fingerprint().await,
            before,
            "{} changed the data",
            row.name
        );
    }
}
