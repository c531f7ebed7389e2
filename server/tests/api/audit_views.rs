//! The API behind the editor's audit views (issue 22): deleted policies listed and
//! restored (audited, as a new version, back in the active set), and the evaluation log
//! filtered by user, policy and table.

use serde_json::{json, Value};

use crate::case;
use crate::support::{alice, example_policy, Env};
use crate::Case;

pub fn all() -> Vec<Case> {
    vec![
        case!(deleted_policies_are_listed_and_restored),
        case!(evaluation_log_filters_by_user_policy_and_table),
    ]
}

async fn setup(env: &Env) {
    env.set_catalog().await;
    env.create(&example_policy("tenant-isolation")).await;
    env.create(&example_policy("pii-masking")).await;
    let mut secrets = example_policy("protect-secrets");
    secrets["assignments"] = json!([{"kind": "everyone", "value": "*"}]);
    env.create(&secrets).await;
}

fn ids(items: &Value) -> Vec<String> {
    items
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["id"].as_str().expect("id").to_string())
        .collect()
}

async fn masks_email(env: &Env) -> bool {
    let r = env
        .post("/api/v1/policy-evaluations")
        .json(&json!({"sql": "SELECT email FROM customers", "context": alice()}))
        .send()
        .await;
    r.expect(200);
    r.body["masked_columns"]
        .as_array()
        .is_some_and(|m| m.iter().any(|c| c["column"] == "email"))
}

async fn deleted_policies_are_listed_and_restored(env: Env) {
    setup(&env).await;
    let r = env.get("/api/v1/deleted-policies").send().await;
    r.expect(200);
    assert_eq!(r.body["items"], json!([]));
    assert!(masks_email(&env).await);
    let before = env.get("/api/v1/policies/pii-masking").send().await;
    before.expect(200);

    env.delete("/api/v1/policies/pii-masking")
        .if_match(1)
        .send()
        .await
        .expect(200);
    assert!(!masks_email(&env).await, "a deleted policy no longer masks");
    for token in [&env.admin, &env.viewer] {
        let r = env
            .get("/api/v1/deleted-policies")
            .token(token)
            .send()
            .await;
        r.expect(200);
        assert_eq!(ids(&r.body["items"]), ["pii-masking"]);
        let item = &r.body["items"][0];
        assert_eq!(item["name"], "Mask customer PII");
        assert_eq!(item["deleted_by"], "ada");
        assert_eq!(item["revision"], 2);
        assert_eq!(item["restores_version"], 1);
        assert!(item["deleted_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z')));
    }
    // Another organization sees none of it.
    let r = env
        .get("/api/v1/deleted-policies")
        .token(&env.other)
        .send()
        .await;
    assert_eq!(r.body["items"], json!([]));

    // Viewers may not restore; a live policy is not deleted; a stale revision is refused.
    env.post("/api/v1/policies/pii-masking/restore")
        .token(&env.viewer)
        .send()
        .await
        .expect_error(403, "forbidden");
    env.post("/api/v1/policies/tenant-isolation/restore")
        .send()
        .await
        .expect_error(409, "not_deleted");
    env.post("/api/v1/policies/nope/restore")
        .send()
        .await
        .expect_error(404, "not_found");
    env.post("/api/v1/policies/pii-masking/restore")
        .if_match(1)
        .send()
        .await
        .expect_error(412, "stale_revision");
    env.post("/api/v1/policies/pii-masking/restore")
        .token(&env.other)
        .send()
        .await
        .expect_error(404, "not_found");

    // An editor restores it: the same policy and assignments, a new revision and version.
    let r = env
        .post("/api/v1/policies/pii-masking/restore")
        .token(&env.editor)
        .if_match(2)
        .send()
        .await;
    r.expect(200);
    assert_eq!(r.etag(), 3);
    assert_eq!(r.body["rules"], before.body["rules"]);
    let kinds = |v: &Value| -> Vec<(String, String)> {
        v.as_array()
            .expect("assignments")
            .iter()
            .map(|a| (a["kind"].to_string(), a["value"].to_string()))
            .collect()
    };
    assert_eq!(
        kinds(&r.body["assignments"]),
        kinds(&before.body["assignments"])
    );
    assert!(masks_email(&env).await, "the restored policy masks again");
    let r = env.get("/api/v1/deleted-policies").send().await;
    assert_eq!(r.body["items"], json!([]));
    let versions = env
        .get("/api/v1/policies/pii-masking/versions")
        .send()
        .await;
    versions.expect(200);
    let actions: Vec<&str> = versions.body["items"]
        .as_array()
        .expect("versions")
        .iter()
        .filter_map(|v| v["action"].as_str())
        .collect();
    assert!(actions.contains(&"restore"), "{actions:?}");
    let audit = env.get("/api/v1/audit?object_id=pii-masking").send().await;
    let latest = &audit.body["items"][0];
    assert_eq!(latest["action"], "policy.restore");
    assert_eq!(latest["actor"], "eve");
    assert_eq!(latest["detail"]["restored_version"], 1);
    assert_eq!(latest["fields"], json!(["deleted"]));
    env.post("/api/v1/policies/pii-masking/restore")
        .send()
        .await
        .expect_error(409, "not_deleted");

    // Documented.
    let doc = env.get("/openapi.json").no_token().send().await;
    assert!(doc.body["paths"]["/api/v1/deleted-policies"]["get"].is_object());
    assert!(
        doc.body["paths"]["/api/v1/policies/{id}/restore"]["post"]["responses"]["409"].is_object()
    );
}

async fn evaluate(env: &Env, user: &str, tenant: i64, sql: &str) {
    let context = json!({"user": user, "roles": ["analyst"], "attributes": {"tenant_id": tenant}});
    env.post("/api/v1/evaluate")
        .json(&json!({"sql": sql, "context": context}))
        .send()
        .await
        .expect(200);
}

async fn list(env: &Env, query: &str) -> Vec<Value> {
    let r = env
        .get(&format!("/api/v1/evaluations?{query}"))
        .send()
        .await;
    r.expect(200);
    r.body["items"].as_array().expect("items").clone()
}

fn sqls(items: &[Value]) -> Vec<&str> {
    items.iter().filter_map(|i| i["sql"].as_str()).collect()
}

async fn evaluation_log_filters_by_user_policy_and_table(env: Env) {
    setup(&env).await;
    evaluate(&env, "alice", 1, "SELECT email FROM customers").await;
    evaluate(&env, "alice", 1, "SELECT amount FROM public.orders").await;
    evaluate(&env, "bob", 2, "SELECT id FROM orders").await;
    evaluate(&env, "bob", 2, "SELECT 1 AS preorders").await;
    env.post("/api/v1/evaluate")
        .json(&json!({"sql": "SELECT * FROM salaries", "context": {"user": "carol"}}))
        .send()
        .await
        .expect(200);
    let all = list(&env, "").await;
    assert_eq!(all.len(), 5);

    let alice_items = list(&env, "user=alice").await;
    assert_eq!(
        sqls(&alice_items),
        [
            "SELECT amount FROM public.orders",
            "SELECT email FROM customers"
        ]
    );
    assert!(list(&env, "user=nobody").await.is_empty());

    // A policy's filter returns exactly the evaluations that list it.
    for policy in ["tenant-isolation", "pii-masking", "protect-secrets"] {
        let got = list(&env, &format!("policy={policy}")).await;
        let expected: Vec<&Value> = all
            .iter()
            .filter(|e| {
                e["policies"]
                    .as_array()
                    .is_some_and(|p| p.iter().any(|x| x == policy))
            })
            .collect();
        assert!(!got.is_empty(), "{policy}");
        assert_eq!(got.len(), expected.len(), "{policy}");
        assert!(got.iter().all(|e| e["policies"]
            .as_array()
            .is_some_and(|p| p.iter().any(|x| x == policy))));
    }
    let carol = list(&env, "policy=protect-secrets&user=carol").await;
    assert_eq!(sqls(&carol), ["SELECT * FROM salaries"]);
    assert_eq!(carol[0]["verdict"], "block");

    // Tables by name, qualified or not, as whole identifiers only.
    let orders = list(&env, "table=orders").await;
    assert_eq!(
        sqls(&orders),
        ["SELECT id FROM orders", "SELECT amount FROM public.orders"]
    );
    assert_eq!(sqls(&list(&env, "table=public.ORDERS").await).len(), 2);
    assert_eq!(
        sqls(&list(&env, "table=customers&user=alice").await),
        ["SELECT email FROM customers"]
    );
    assert_eq!(
        sqls(&list(&env, "table=orders&user=bob&verdict=row_filter").await),
        ["SELECT id FROM orders"]
    );
    assert!(
        list(&env, "table=order_").await.is_empty(),
        "LIKE wildcards are literal"
    );
    // With a page smaller than the candidates, the cursor walks on.
    let r = env
        .get("/api/v1/evaluations?table=orders&limit=1")
        .send()
        .await;
    assert_eq!(
        sqls(r.body["items"].as_array().expect("items")),
        ["SELECT id FROM orders"]
    );
    let cursor = r.body["next_cursor"].as_str().expect("cursor").to_string();
    let r = env
        .get(&format!(
            "/api/v1/evaluations?table=orders&limit=1&cursor={cursor}"
        ))
        .send()
        .await;
    assert_eq!(
        sqls(r.body["items"].as_array().expect("items")),
        ["SELECT amount FROM public.orders"]
    );

    // The per-policy trail takes the same filters.
    let r = env
        .get("/api/v1/policies/tenant-isolation/evaluations?user=bob&table=orders")
        .send()
        .await;
    r.expect(200);
    assert_eq!(
        sqls(r.body["items"].as_array().expect("items")),
        ["SELECT id FROM orders"]
    );

    for bad in [
        "user=",
        "policy=",
        "table=",
        &format!("table={}", "t".repeat(257)),
    ] {
        env.get(&format!("/api/v1/evaluations?{bad}"))
            .send()
            .await
            .expect_error(400, "bad_request");
    }
    let doc = env.get("/openapi.json").no_token().send().await;
    let names: Vec<&str> = doc.body["paths"]["/api/v1/evaluations"]["get"]["parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    for name in ["user", "policy", "table", "verdict", "from", "to"] {
        assert!(names.contains(&name), "{name} in {names:?}");
    }
}
