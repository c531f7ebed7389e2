//! `/api/v1/explain-row` and `/api/v1/who-sees` on the active set: the engine's answers,
//! exceptions taken into account without being used up, the organization's principals by
//! default, structured errors, and the OpenAPI entries.

use serde_json::{json, Value};

use crate::case;
use crate::support::{alice, example_policy, Env};
use crate::Case;

pub fn all() -> Vec<Case> {
    vec![
        case!(explain_row_blames_the_conjunct_on_the_active_set),
        case!(who_sees_lists_given_and_stored_principals),
        case!(explain_and_who_sees_are_in_the_openapi_document),
    ]
}

/// The example's tenant isolation and PII masks (analysts), and protect-secrets for everyone.
async fn setup(env: &Env) {
    env.set_catalog().await;
    env.create(&example_policy("tenant-isolation")).await;
    env.create(&example_policy("pii-masking")).await;
    let mut secrets = example_policy("protect-secrets");
    secrets["assignments"] = json!([{"kind": "everyone", "value": "*"}]);
    env.create(&secrets).await;
}

async fn explain_row_blames_the_conjunct_on_the_active_set(env: Env) {
    setup(&env).await;
    let body = json!({"table": "orders", "row": {"id": 9, "tenant_id": 2, "amount": 10},
        "context": alice()});
    let r = env.post("/api/v1/explain-row").json(&body).send().await;
    r.expect(200);
    assert_eq!(r.body["outcome"], "hidden");
    assert_eq!(r.body["visible"], false);
    let f = &r.body["filters"][0];
    assert_eq!(f["policy"], "tenant-isolation");
    assert_eq!(f["rule_index"], 0);
    assert_eq!(f["conjuncts"][0]["value"], "false");
    assert_eq!(f["conjuncts"][0]["blamed"], true);
    assert_eq!(
        f["conjuncts"][0]["context"],
        json!([{"reference": "ctx.attr.tenant_id", "value": 1}])
    );
    assert_eq!(
        r.body["admit_with"],
        json!([{"reference": "ctx.attr.tenant_id", "from": 1, "to": 2}])
    );
    assert_eq!(
        r.body["diagnostic_sql"],
        "SELECT (tenant_id = 1) AS c1 FROM public.orders WHERE id = 9"
    );
    assert_eq!(r.body["exceptions_applied"], json!([]));

    // The row of the caller's tenant is visible; a denied table hides every row.
    let mut visible = body.clone();
    visible["row"]["tenant_id"] = json!(1);
    let r = env.post("/api/v1/explain-row").json(&visible).send().await;
    r.expect(200);
    assert_eq!(r.body["outcome"], "visible");
    let r = env
        .post("/api/v1/explain-row")
        .json(&json!({"table": "salaries", "row": {"employee_id": 1}, "context": alice()}))
        .send()
        .await;
    r.expect(200);
    assert_eq!(r.body["outcome"], "hidden");
    assert_eq!(r.body["denied"]["policy"], "protect-secrets");

    // An exception for alice lifts the filter: the row is visible, the exception not used up.
    env.post("/api/v1/policies/tenant-isolation/exceptions")
        .json(&json!({"user": "alice", "max_uses": 1}))
        .send()
        .await
        .expect(201);
    let before = env.fingerprint().await;
    let r = env.post("/api/v1/explain-row").json(&body).send().await;
    r.expect(200);
    assert_eq!(r.body["outcome"], "visible", "{}", r.text);
    assert_eq!(r.body["filters"], json!([]));
    assert_eq!(
        r.body["exceptions_applied"][0]["policy_id"],
        "tenant-isolation"
    );
    assert_eq!(
        env.fingerprint().await,
        before,
        "nothing is stored or used up"
    );

    // Bad input: 422 with a code, never a 500.
    for (body, code) in [
        (json!({"table": "orders", "row": [1]}), "invalid_request"),
        (
            json!({"table": "orders", "row": {"nope": 1}}),
            "invalid_request",
        ),
        (json!({"table": "nowhere", "row": {}}), "invalid_request"),
        (
            json!({"table": "orders", "row": {}, "context": {"user": 1}}),
            "invalid_context",
        ),
        (
            json!({"table": "orders", "row": {}, "extra": 1}),
            "invalid_request",
        ),
        (json!({"row": {}}), "invalid_request"),
    ] {
        let r = env.post("/api/v1/explain-row").json(&body).send().await;
        assert_eq!(r.status.as_u16(), 422, "{body}: {}", r.text);
        assert_eq!(r.code(), code, "{body}: {}", r.text);
    }
}

async fn who_sees_lists_given_and_stored_principals(env: Env) {
    setup(&env).await;
    let principals = json!([
        alice(),
        {"user": "bob"},
        {"name": "eve in an emergency", "context": {"user": "eve", "roles": ["analyst"],
            "attributes": {"tenant_id": 3}, "break_glass": true}},
        {"name": "carol, excepted", "context": {"user": "carol", "roles": ["analyst"],
            "attributes": {"tenant_id": 3}}, "exceptions": [{"policy": "pii-masking"}]}
    ]);
    let r = env
        .post("/api/v1/who-sees")
        .json(&json!({"table": "customers", "column": "email", "principals": principals}))
        .send()
        .await;
    r.expect(200);
    let access: Vec<&str> = r.body["access"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["access"].as_str().unwrap())
        .collect();
    // eve's break-glass skips the PII masks (they allow it), not tenant isolation.
    assert_eq!(
        access,
        ["masked_filtered", "raw", "filtered", "filtered"],
        "{}",
        r.text
    );
    assert_eq!(r.body["access"][0]["principal"], "alice");
    assert_eq!(r.body["access"][0]["masked"]["kind"], "email");
    assert_eq!(r.body["access"][0]["masked"]["policy"], "pii-masking");
    assert_eq!(
        r.body["access"][0]["filtered"][0]["predicate"],
        "tenant_id = 1"
    );
    assert_eq!(r.body["access"][2]["break_glass"], true);
    let r = env
        .post("/api/v1/who-sees")
        .json(&json!({"table": "customers", "column": "password_hash", "principals": principals}))
        .send()
        .await;
    r.expect(200);
    assert!(r.body["access"]
        .as_array()
        .unwrap()
        .iter()
        .all(|a| a["access"] == "denied" && a["denied"]["policy"] == "protect-secrets"));

    // Without principals: the organization's, with their stored exceptions.
    for (user, tenant) in [("ann", 1), ("zed", 2)] {
        env.post("/api/v1/principals")
            .json(
                &json!({"user": user, "password": "correct horse battery", "roles": ["analyst"],
                "attributes": {"tenant_id": tenant}}),
            )
            .send()
            .await
            .expect(201);
    }
    env.post("/api/v1/policies/pii-masking/exceptions")
        .json(&json!({"user": "zed", "max_uses": 5}))
        .send()
        .await
        .expect(201);
    let before = env.fingerprint().await;
    let r = env
        .post("/api/v1/who-sees")
        .json(&json!({"table": "customers", "column": "email"}))
        .send()
        .await;
    r.expect(200);
    let rows: Vec<(String, String)> = r.body["access"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["principal"].as_str().unwrap().to_string(),
                a["access"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("ann".to_string(), "masked_filtered".to_string()),
            ("zed".to_string(), "filtered".to_string())
        ],
        "{}",
        r.text
    );
    assert_eq!(
        r.body["access"][1]["exceptions"][0]["policy"],
        "pii-masking"
    );
    assert!(!r.text.contains("SCRAM"), "{}", r.text);
    assert_eq!(
        env.fingerprint().await,
        before,
        "nothing is stored or used up"
    );

    for (body, code) in [
        (
            json!({"table": "customers", "column": "nope"}),
            "invalid_request",
        ),
        (json!({"table": "customers"}), "invalid_request"),
        (
            json!({"table": "customers", "column": "email", "principals": [{"user": 3}]}),
            "invalid_context",
        ),
        (
            json!({"table": "customers", "column": "email", "principals": [{"context": {}, "exceptions": "all"}]}),
            "invalid_request",
        ),
    ] {
        let r = env.post("/api/v1/who-sees").json(&body).send().await;
        assert_eq!(r.status.as_u16(), 422, "{body}: {}", r.text);
        assert_eq!(r.code(), code, "{body}: {}", r.text);
    }
}

async fn explain_and_who_sees_are_in_the_openapi_document(env: Env) {
    let r = env.get("/openapi.json").no_token().send().await;
    r.expect(200);
    for (path, op, schema) in [
        ("/api/v1/explain-row", "explainRow", "ExplainRowRequest"),
        ("/api/v1/who-sees", "whoSees", "WhoSeesRequest"),
    ] {
        let item: &Value = &r.body["paths"][path]["post"];
        assert_eq!(item["operationId"], op);
        assert_eq!(
            item["requestBody"]["content"]["application/json"]["schema"]["$ref"],
            format!("#/components/schemas/{schema}")
        );
        for status in ["200", "401", "422"] {
            assert!(
                item["responses"].get(status).is_some(),
                "{path}: no {status}"
            );
        }
        assert_eq!(
            r.body["components"]["schemas"][schema]["additionalProperties"],
            false
        );
    }
    // Unauthenticated calls are refused.
    env.post("/api/v1/who-sees")
        .no_token()
        .json(&json!({"table": "orders", "column": "id"}))
        .send()
        .await
        .expect(401);
}
