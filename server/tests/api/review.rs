//! Change review: with the organization's `review.required` on, changes become change
//! requests (`draft` → `in_review` → `approved` → `active`, or `rejected`) that only an
//! editor or admin other than the author approves, and only published versions are
//! enforced.

use serde_json::{json, Value};

use crate::case;
use crate::support::{alice, example_policy, Env, Resp};
use crate::Case;

pub fn all() -> Vec<Case> {
    vec![
        case!(review_flow_with_two_users_enforces_only_active_versions),
        case!(review_needs_n_approvals_from_others),
        case!(concurrent_approvals_are_all_counted),
        case!(concurrent_proposals_take_their_own_versions),
        case!(every_kind_of_change_becomes_a_change_request),
        case!(a_catalog_change_is_reviewed_too),
        case!(publishing_runs_the_policy_tests_and_an_admin_may_override),
        case!(concurrent_publishes_of_one_policy_exactly_one_wins),
        case!(review_off_changes_apply_directly),
        case!(review_is_in_the_openapi_document),
    ]
}

async fn require_review(env: &Env, approvals: i64) {
    let r = env
        .put("/api/v1/settings")
        .json(&json!({"redacted_attributes": [], "review": {"required": true, "approvals": approvals}}))
        .send()
        .await;
    r.expect(200);
    assert_eq!(
        r.body["review"],
        json!({"required": true, "approvals": approvals})
    );
}

/// The verdict of `sql` for alice (analyst of tenant 1).
async fn verdict(env: &Env, sql: &str) -> String {
    let r = env
        .post("/api/v1/evaluate")
        .token(&env.viewer)
        .json(&json!({"sql": sql, "context": alice()}))
        .send()
        .await;
    r.expect(200);
    r.body["verdict"].as_str().unwrap().to_string()
}

fn step<'a>(env: &'a Env, token: &str, id: &str, n: i64, what: &str) -> crate::support::Call<'a> {
    env.post(&format!("/api/v1/policies/{id}/versions/{n}/{what}"))
        .token(token)
}

async fn review(env: &Env, token: &str, id: &str, n: i64, decision: &str, comment: &str) -> Resp {
    step(env, token, id, n, "review")
        .json(&json!({"decision": decision, "comment": comment}))
        .send()
        .await
}

async fn audit_actions(env: &Env) -> Vec<String> {
    let r = env.get("/api/v1/audit?limit=500").send().await;
    r.expect(200);
    r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect()
}

async fn version_statuses(env: &Env, id: &str) -> Vec<(i64, String)> {
    let r = env
        .get(&format!("/api/v1/policies/{id}/versions"))
        .send()
        .await;
    r.expect(200);
    r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["version"].as_i64().unwrap(),
                v["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn secrets() -> Value {
    let mut p = example_policy("protect-secrets");
    p["assignments"] = json!([{"kind": "everyone", "value": "*"}]);
    p
}

async fn review_flow_with_two_users_enforces_only_active_versions(env: Env) {
    env.set_catalog().await;
    env.create(&example_policy("tenant-isolation")).await;
    assert_eq!(verdict(&env, "SELECT id FROM orders").await, "row_filter");
    require_review(&env, 1).await;

    // A new policy proposed by the editor is not enforced, nor listed as a policy.
    let r = env
        .post("/api/v1/policies")
        .token(&env.editor)
        .json(&secrets())
        .send()
        .await;
    r.expect(202);
    assert_eq!(r.body["status"], "draft");
    assert_eq!(r.body["action"], "create");
    assert_eq!(r.body["author"], "eve");
    assert_eq!(r.body["base_revision"], 0);
    assert_eq!(r.body["version"], 1);
    assert_eq!(
        r.headers["location"],
        "/api/v1/policies/protect-secrets/versions/1"
    );
    env.get("/api/v1/policies/protect-secrets")
        .send()
        .await
        .expect_error(404, "not_found");
    assert_ne!(verdict(&env, "SELECT * FROM salaries").await, "block");
    let r = env
        .get("/api/v1/policies/protect-secrets/versions/1")
        .send()
        .await;
    r.expect(200);
    assert_eq!(r.body["status"], "draft");

    // The editor drops the orders filter: a proposed version 2; revision 1 stays enforced.
    let path = "/api/v1/policies/tenant-isolation";
    let r = env
        .patch(path)
        .token(&env.editor)
        .if_match(1)
        .json(&json!({"rules": [{"type": "row_filter", "table": "customers", "predicate": "tenant_id = ctx.attr.tenant_id"}]}))
        .send()
        .await;
    r.expect(202);
    assert_eq!(r.body["version"], 2);
    assert_eq!(r.body["base_revision"], 1);
    assert_eq!(r.body["changed_fields"], json!(["rules"]));
    let current = env.get(path).send().await;
    current.expect(200);
    assert_eq!(current.etag(), 1);
    assert_eq!(current.body["rules"].as_array().unwrap().len(), 2);
    assert_eq!(verdict(&env, "SELECT id FROM orders").await, "row_filter");
    assert_eq!(
        version_statuses(&env, "tenant-isolation").await,
        [(2, "draft".to_string()), (1, "active".to_string())]
    );

    // Steps out of order are 409; the author cannot approve; viewers cannot review.
    review(&env, &env.admin, "tenant-isolation", 2, "approve", "ok")
        .await
        .expect_error(409, "invalid_transition");
    step(&env, &env.viewer, "tenant-isolation", 2, "submit")
        .send()
        .await
        .expect_error(403, "forbidden");
    let r = step(&env, &env.editor, "tenant-isolation", 2, "submit")
        .send()
        .await;
    r.expect(200);
    assert_eq!(r.body["status"], "in_review");
    step(&env, &env.editor, "tenant-isolation", 2, "submit")
        .send()
        .await
        .expect_error(409, "invalid_transition");
    step(&env, &env.editor, "tenant-isolation", 2, "publish")
        .send()
        .await
        .expect_error(409, "invalid_transition");
    review(&env, &env.editor, "tenant-isolation", 2, "approve", "mine")
        .await
        .expect_error(403, "self_approval");
    review(&env, &env.viewer, "tenant-isolation", 2, "approve", "fine")
        .await
        .expect_error(403, "forbidden");
    step(&env, &env.admin, "tenant-isolation", 2, "review")
        .json(&json!({"decision": "maybe"}))
        .send()
        .await
        .expect(422);
    assert_eq!(verdict(&env, "SELECT id FROM orders").await, "row_filter");

    // Another user approves with a comment; the editor publishes.
    let r = review(
        &env,
        &env.admin,
        "tenant-isolation",
        2,
        "approve",
        "orders move to their own store",
    )
    .await;
    r.expect(200);
    assert_eq!(r.body["status"], "approved");
    assert_eq!(r.body["approvals"], 1);
    assert_eq!(r.body["reviews"][0]["reviewer"], "ada");
    assert_eq!(
        r.body["reviews"][0]["comment"],
        "orders move to their own store"
    );
    let r = step(&env, &env.editor, "tenant-isolation", 2, "publish")
        .send()
        .await;
    r.expect(200);
    assert_eq!(r.body["status"], "active");
    assert_eq!(r.body["published_by"], "eve");
    let current = env.get(path).send().await;
    assert_eq!(current.etag(), 2);
    assert_eq!(current.body["rules"].as_array().unwrap().len(), 1);
    assert_eq!(verdict(&env, "SELECT id FROM orders").await, "allow");
    assert_eq!(
        version_statuses(&env, "tenant-isolation").await,
        [(2, "active".to_string()), (1, "archived".to_string())]
    );
    step(&env, &env.editor, "tenant-isolation", 2, "publish")
        .send()
        .await
        .expect_error(409, "invalid_transition");

    // The new policy is rejected: never enforced.
    step(&env, &env.editor, "protect-secrets", 1, "submit")
        .send()
        .await
        .expect(200);
    let r = review(
        &env,
        &env.admin,
        "protect-secrets",
        1,
        "reject",
        "too broad",
    )
    .await;
    r.expect(200);
    assert_eq!(r.body["status"], "rejected");
    step(&env, &env.admin, "protect-secrets", 1, "publish")
        .send()
        .await
        .expect_error(409, "invalid_transition");
    assert_ne!(verdict(&env, "SELECT * FROM salaries").await, "block");

    // The list, filtered and paginated.
    let list = |q: &'static str| {
        let env = env.clone();
        async move {
            let r = env
                .get(&format!("/api/v1/change-requests{q}"))
                .token(&env.viewer)
                .send()
                .await;
            r.expect(200);
            r.body
        }
    };
    let ids = |body: &Value| -> Vec<(String, i64, String)> {
        body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["policy_id"].as_str().unwrap().to_string(),
                    c["version"].as_i64().unwrap(),
                    c["status"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let all = list("").await;
    assert_eq!(ids(&all).len(), 2, "{all}");
    assert_eq!(
        ids(&list("?status=active").await),
        [("tenant-isolation".to_string(), 2, "active".to_string())]
    );
    assert_eq!(
        ids(&list("?status=rejected").await),
        [("protect-secrets".to_string(), 1, "rejected".to_string())]
    );
    assert_eq!(ids(&list("?author=eve").await).len(), 2);
    assert_eq!(ids(&list("?author=ada").await).len(), 0);
    assert_eq!(ids(&list("?reviewer=ada").await).len(), 2);
    assert_eq!(ids(&list("?reviewer=vic").await).len(), 0);
    assert_eq!(ids(&list("?policy_id=protect-secrets").await).len(), 1);
    let first = list("?limit=1").await;
    let cursor = first["next_cursor"].as_str().unwrap().to_string();
    let r = env
        .get(&format!("/api/v1/change-requests?limit=1&cursor={cursor}"))
        .send()
        .await;
    r.expect(200);
    assert!(r.body.get("next_cursor").is_none(), "{}", r.text);
    let mut paged = ids(&first);
    paged.extend(ids(&r.body));
    assert_eq!(paged, ids(&all));
    env.get("/api/v1/change-requests?status=pending")
        .send()
        .await
        .expect_error(400, "bad_request");
    env.get("/api/v1/change-requests?cursor=zz")
        .send()
        .await
        .expect_error(400, "bad_request");

    // Another organization sees none of it.
    let r = env
        .get("/api/v1/change-requests")
        .token(&env.other)
        .send()
        .await;
    assert_eq!(r.body["items"], json!([]));
    review(&env, &env.other, "tenant-isolation", 2, "approve", "x")
        .await
        .expect_error(404, "not_found");

    // Every step is audited.
    let actions = audit_actions(&env).await;
    for (action, times) in [
        ("change_request.create", 2),
        ("change_request.submit", 2),
        ("change_request.review", 2),
        ("change_request.publish", 1),
    ] {
        assert_eq!(
            actions.iter().filter(|a| *a == action).count(),
            times,
            "{action} in {actions:?}"
        );
    }
}

async fn review_needs_n_approvals_from_others(env: Env) {
    env.set_catalog().await;
    require_review(&env, 2).await;
    let second = verdict_server::create_token(&env.db, "acme", "ed", "editor", None)
        .await
        .unwrap()
        .token;
    env.post("/api/v1/policies")
        .token(&env.editor)
        .json(&secrets())
        .send()
        .await
        .expect(202);
    step(&env, &env.editor, "protect-secrets", 1, "submit")
        .send()
        .await
        .expect(200);
    let r = review(&env, &env.admin, "protect-secrets", 1, "approve", "one").await;
    r.expect(200);
    assert_eq!(r.body["status"], "in_review");
    assert_eq!(r.body["approvals"], 1);
    assert_eq!(r.body["approvals_required"], 2);
    review(&env, &env.admin, "protect-secrets", 1, "approve", "again")
        .await
        .expect_error(409, "already_reviewed");
    step(&env, &env.admin, "protect-secrets", 1, "publish")
        .send()
        .await
        .expect_error(409, "invalid_transition");
    let r = review(&env, &second, "protect-secrets", 1, "approve", "two").await;
    r.expect(200);
    assert_eq!(r.body["status"], "approved");
    assert_ne!(verdict(&env, "SELECT * FROM salaries").await, "block");
    let r = step(&env, &env.editor, "protect-secrets", 1, "publish")
        .send()
        .await;
    r.expect(200);
    assert_eq!(r.body["status"], "active");
    let p = env.get("/api/v1/policies/protect-secrets").send().await;
    p.expect(200);
    assert_eq!(p.etag(), 1);
    assert_eq!(p.body["created_by"], "eve");
    assert_eq!(verdict(&env, "SELECT * FROM salaries").await, "block");
    // Approvals outside 1–10 are refused, and so is a null review.
    env.put("/api/v1/settings")
        .json(&json!({"redacted_attributes": [], "review": null}))
        .send()
        .await
        .expect_error(422, "invalid_request");
    env.put("/api/v1/settings")
        .json(&json!({"redacted_attributes": [], "review": {"required": true, "approvals": 0}}))
        .send()
        .await
        .expect_error(422, "invalid_request");
}

async fn concurrent_approvals_are_all_counted(env: Env) {
    env.set_catalog().await;
    env.create(&example_policy("tenant-isolation")).await;
    require_review(&env, 2).await;
    let second = verdict_server::create_token(&env.db, "acme", "ed", "editor", None)
        .await
        .unwrap()
        .token;
    let path = "/api/v1/policies/tenant-isolation";
    for round in 0..4 {
        let r = env
            .patch(path)
            .token(&env.editor)
            .if_match(1)
            .json(&json!({"description": format!("round {round}")}))
            .send()
            .await;
        r.expect(202);
        let n = r.body["version"].as_i64().unwrap();
        step(&env, &env.editor, "tenant-isolation", n, "submit")
            .send()
            .await
            .expect(200);
        let (a, b) = tokio::join!(
            review(&env, &env.admin, "tenant-isolation", n, "approve", "a"),
            review(&env, &second, "tenant-isolation", n, "approve", "b"),
        );
        a.expect(200);
        b.expect(200);
        let r = env
            .get("/api/v1/change-requests?policy_id=tenant-isolation")
            .send()
            .await;
        let item = r.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["version"] == n)
            .unwrap()
            .clone();
        assert_eq!(item["approvals"], 2, "{item}");
        assert_eq!(item["status"], "approved", "{item}");
    }
}

async fn concurrent_proposals_take_their_own_versions(env: Env) {
    env.set_catalog().await;
    env.create(&example_policy("tenant-isolation")).await;
    require_review(&env, 1).await;
    let path = "/api/v1/policies/tenant-isolation";
    let propose = |text: &'static str| {
        env.patch(path)
            .token(&env.editor)
            .if_match(1)
            .json(&json!({ "description": text }))
            .send()
    };
    let mut versions = Vec::new();
    for _ in 0..4 {
        let (a, b, c) = tokio::join!(propose("a"), propose("b"), propose("c"));
        for r in [a, b, c] {
            r.expect(202);
            versions.push(r.body["version"].as_i64().unwrap());
        }
    }
    versions.sort_unstable();
    assert_eq!(versions, (2..=13).collect::<Vec<i64>>());
}

async fn every_kind_of_change_becomes_a_change_request(env: Env) {
    env.set_catalog().await;
    env.create(&example_policy("tenant-isolation")).await;
    env.create(&secrets()).await;
    require_review(&env, 1).await;
    let before = env.get("/api/v1/policies").send().await.body["items"].clone();
    let mut proposals = Vec::new();
    let r = env
        .post("/api/v1/policies/tenant-isolation/assignments")
        .token(&env.editor)
        .json(&json!({"kind": "role", "value": "auditor"}))
        .send()
        .await;
    r.expect(202);
    proposals.push(r.body.clone());
    let r = env
        .put("/api/v1/policies/tenant-isolation")
        .token(&env.editor)
        .if_match(1)
        .json(&json!({"id": "tenant-isolation", "name": "Renamed", "rules": [{"type": "deny", "table": "salaries"}]}))
        .send()
        .await;
    r.expect(202);
    proposals.push(r.body.clone());
    let r = env
        .delete("/api/v1/policies/protect-secrets")
        .token(&env.editor)
        .send()
        .await;
    r.expect(202);
    proposals.push(r.body.clone());
    let r = env
        .post("/api/v1/policies/tenant-isolation/versions/1/rollback")
        .token(&env.editor)
        .send()
        .await;
    r.expect(202);
    proposals.push(r.body.clone());
    let actions: Vec<(&str, i64)> = proposals
        .iter()
        .map(|p| {
            (
                p["action"].as_str().unwrap(),
                p["version"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            ("assignments", 2),
            ("update", 3),
            ("delete", 2),
            ("rollback", 4)
        ]
    );
    // Nothing enforced changed.
    assert_eq!(
        env.get("/api/v1/policies").send().await.body["items"],
        before
    );
    assert_eq!(verdict(&env, "SELECT * FROM salaries").await, "block");

    // The deletion, published, is in force; the assignment change, proposed against the
    // same revision as the update, is stale once the update is published.
    for (id, n) in [
        ("protect-secrets", 2),
        ("tenant-isolation", 3),
        ("tenant-isolation", 2),
    ] {
        step(&env, &env.editor, id, n, "submit")
            .send()
            .await
            .expect(200);
        review(&env, &env.admin, id, n, "approve", "ok")
            .await
            .expect(200);
    }
    step(&env, &env.admin, "protect-secrets", 2, "publish")
        .send()
        .await
        .expect(200);
    env.get("/api/v1/policies/protect-secrets")
        .send()
        .await
        .expect_error(404, "not_found");
    assert_ne!(verdict(&env, "SELECT * FROM salaries").await, "block");
    step(&env, &env.admin, "tenant-isolation", 3, "publish")
        .send()
        .await
        .expect(200);
    let r = step(&env, &env.admin, "tenant-isolation", 2, "publish")
        .send()
        .await;
    r.expect_error(409, "stale_change");
    assert_eq!(r.body["error"]["details"]["current_revision"], 3);
    let p = env.get("/api/v1/policies/tenant-isolation").send().await;
    assert_eq!(p.etag(), 3);
    assert_eq!(p.body["name"], "Renamed");
    assert_eq!(verdict(&env, "SELECT * FROM salaries").await, "block");
}

/// The example catalog with one more table, `public.invoices`.
fn catalog_with(table: &str) -> Value {
    let mut catalog = crate::support::catalog();
    catalog["tables"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": table, "columns": [{"name": "id", "type": "integer"}]}));
    catalog
}

async fn a_catalog_change_is_reviewed_too(env: Env) {
    env.set_catalog().await;
    env.create(&example_policy("tenant-isolation")).await;
    require_review(&env, 1).await;
    let r = env
        .put("/api/v1/catalog")
        .token(&env.editor)
        .json(&catalog_with("public.invoices"))
        .send()
        .await;
    r.expect(202);
    assert_eq!(r.body["target"], "catalog");
    assert!(r.body.get("policy_id").is_none(), "{}", r.text);
    assert_eq!(r.body["action"], "catalog");
    assert_eq!(r.body["version"], 1);
    assert_eq!(r.body["base_revision"], 1);
    assert_eq!(r.headers["location"], "/api/v1/catalog/versions/1");
    let current = env.get("/api/v1/catalog").send().await;
    assert_eq!(current.body["revision"], 1);
    assert_eq!(current.body["catalog"], crate::support::catalog());
    let proposed = env.get("/api/v1/catalog/versions/1").send().await;
    proposed.expect(200);
    assert_eq!(proposed.body["status"], "draft");
    assert_eq!(proposed.body["catalog"], catalog_with("public.invoices"));
    // A catalog that a stored policy does not validate against is refused at once.
    let mut broken = crate::support::catalog();
    broken["tables"]
        .as_array_mut()
        .unwrap()
        .retain(|t| t["name"] != "public.orders");
    env.put("/api/v1/catalog")
        .token(&env.editor)
        .json(&broken)
        .send()
        .await
        .expect(422);

    env.post("/api/v1/catalog/versions/1/submit")
        .token(&env.editor)
        .send()
        .await
        .expect(200);
    env.post("/api/v1/catalog/versions/1/review")
        .token(&env.editor)
        .json(&json!({"decision": "approve"}))
        .send()
        .await
        .expect_error(403, "self_approval");
    env.post("/api/v1/catalog/versions/1/review")
        .json(&json!({"decision": "approve", "comment": "invoices are ready"}))
        .send()
        .await
        .expect(200);
    let r = env
        .post("/api/v1/catalog/versions/1/publish")
        .token(&env.editor)
        .send()
        .await;
    r.expect(200);
    assert_eq!(r.body["status"], "active");
    let current = env.get("/api/v1/catalog").send().await;
    assert_eq!(current.body["revision"], 2);
    assert_eq!(current.body["catalog"], catalog_with("public.invoices"));

    // Two proposals against revision 2: the second to publish is stale.
    for table in ["public.refunds", "public.credits"] {
        env.put("/api/v1/catalog")
            .token(&env.editor)
            .json(&catalog_with(table))
            .send()
            .await
            .expect(202);
    }
    for n in [2, 3] {
        env.post(&format!("/api/v1/catalog/versions/{n}/submit"))
            .token(&env.editor)
            .send()
            .await
            .expect(200);
        env.post(&format!("/api/v1/catalog/versions/{n}/review"))
            .json(&json!({"decision": "approve"}))
            .send()
            .await
            .expect(200);
    }
    env.post("/api/v1/catalog/versions/3/publish")
        .send()
        .await
        .expect(200);
    let r = env.post("/api/v1/catalog/versions/2/publish").send().await;
    r.expect_error(409, "stale_change");
    assert_eq!(r.body["error"]["details"]["current_revision"], 3);
    let r = env
        .get("/api/v1/change-requests?target=catalog")
        .send()
        .await;
    let statuses: Vec<(i64, &str)> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["version"].as_i64().unwrap(),
                c["status"].as_str().unwrap(),
            )
        })
        .collect();
    let mut statuses = statuses;
    statuses.sort_unstable();
    assert_eq!(
        statuses,
        [(1, "archived"), (2, "approved"), (3, "active")],
        "{}",
        r.text
    );
    let r = env
        .get("/api/v1/change-requests?target=catalog&status=active")
        .send()
        .await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(
        env.get("/api/v1/change-requests?target=policy")
            .send()
            .await
            .body["items"],
        json!([])
    );
    env.get("/api/v1/catalog/versions/9")
        .send()
        .await
        .expect_error(404, "not_found");
}

/// Analysts of tenant 1 see only their orders; nobody reads salaries.
fn suite() -> Value {
    json!({"tests": [
        {"name": "analysts see their tenant's orders",
         "context": {"user": "alice", "roles": ["analyst"], "attributes": {"tenant_id": 1}},
         "sql": "SELECT id FROM orders",
         "expect": {"verdict": "row_filter",
                    "row_filters": [{"table": "orders", "predicate": "tenant_id = 1"}]}},
        {"name": "nobody reads salaries",
         "sql": "SELECT * FROM salaries",
         "expect": {"verdict": "block", "blocked_by": {"policy": "protect-secrets", "rule": 1}}}
    ]})
}

async fn publishing_runs_the_policy_tests_and_an_admin_may_override(env: Env) {
    env.set_catalog().await;
    env.create(&example_policy("tenant-isolation")).await;
    env.create(&secrets()).await;
    env.put("/api/v1/policy-tests")
        .json(&suite())
        .send()
        .await
        .expect(200);
    require_review(&env, 1).await;
    // Proposing is not refused: the tests run when the change would take effect.
    env.patch("/api/v1/policies/tenant-isolation")
        .token(&env.editor)
        .if_match(1)
        .json(&json!({"rules": [{"type": "row_filter", "table": "customers", "predicate": "tenant_id = ctx.attr.tenant_id"}]}))
        .send()
        .await
        .expect(202);
    step(&env, &env.editor, "tenant-isolation", 2, "submit")
        .send()
        .await
        .expect(200);
    review(&env, &env.admin, "tenant-isolation", 2, "approve", "ok")
        .await
        .expect(200);
    let before = env.fingerprint().await;
    let r = step(&env, &env.editor, "tenant-isolation", 2, "publish")
        .send()
        .await;
    r.expect_error(422, "policy_tests_failed");
    assert_eq!(
        r.body["error"]["details"]["failed_cases"][0]["name"],
        "analysts see their tenant's orders"
    );
    step(&env, &env.editor, "tenant-isolation", 2, "publish")
        .header("verdict-override-reason", "INC-7")
        .send()
        .await
        .expect_error(403, "forbidden");
    assert_eq!(env.fingerprint().await, before);
    assert_eq!(verdict(&env, "SELECT id FROM orders").await, "row_filter");
    let r = step(&env, &env.admin, "tenant-isolation", 2, "publish")
        .header("verdict-override-reason", "INC-7: orders move out")
        .send()
        .await;
    r.expect(200);
    assert_eq!(r.body["status"], "active");
    assert_eq!(verdict(&env, "SELECT id FROM orders").await, "allow");
    let r = env.get("/api/v1/audit?limit=500").send().await;
    let overrides: Vec<&Value> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "policy_tests.override")
        .collect();
    assert_eq!(overrides.len(), 1, "{}", r.text);
    assert_eq!(overrides[0]["actor"], "ada");
    assert_eq!(overrides[0]["detail"]["change"], "change_request.publish");
    assert_eq!(overrides[0]["detail"]["reason"], "INC-7: orders move out");
    assert_eq!(
        overrides[0]["detail"]["failed_cases"],
        json!(["analysts see their tenant's orders"])
    );
}

async fn concurrent_publishes_of_one_policy_exactly_one_wins(env: Env) {
    env.set_catalog().await;
    env.create(&example_policy("tenant-isolation")).await;
    require_review(&env, 1).await;
    let path = "/api/v1/policies/tenant-isolation";
    for round in 0..5 {
        let base = env.get(path).send().await.etag();
        let mut versions = Vec::new();
        for side in ["a", "b"] {
            let r = env
                .patch(path)
                .token(&env.editor)
                .if_match(base)
                .json(&json!({"description": format!("round {round} side {side}")}))
                .send()
                .await;
            r.expect(202);
            let n = r.body["version"].as_i64().unwrap();
            step(&env, &env.editor, "tenant-isolation", n, "submit")
                .send()
                .await
                .expect(200);
            review(&env, &env.admin, "tenant-isolation", n, "approve", "ok")
                .await
                .expect(200);
            versions.push(n);
        }
        let (a, b) = tokio::join!(
            step(
                &env,
                &env.editor,
                "tenant-isolation",
                versions[0],
                "publish"
            )
            .send(),
            step(&env, &env.admin, "tenant-isolation", versions[1], "publish").send(),
        );
        let mut statuses = [a.status.as_u16(), b.status.as_u16()];
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 409], "{} / {}", a.text, b.text);
        let (winner, loser, n) = if a.status.as_u16() == 200 {
            (&a, &b, versions[0])
        } else {
            (&b, &a, versions[1])
        };
        assert_eq!(loser.code(), "stale_change", "{}", loser.text);
        assert_eq!(winner.body["status"], "active");
        let current = env.get(path).send().await;
        assert_eq!(current.etag(), n);
        assert_eq!(
            current.body["description"],
            format!(
                "round {round} side {}",
                if n == versions[0] { "a" } else { "b" }
            )
        );
    }
}

async fn review_off_changes_apply_directly(env: Env) {
    env.set_catalog().await;
    let r = env.get("/api/v1/settings").send().await;
    assert_eq!(r.body["review"], json!({"required": false, "approvals": 1}));
    env.create(&example_policy("tenant-isolation")).await;
    let path = "/api/v1/policies/tenant-isolation";
    let r = env
        .patch(path)
        .token(&env.editor)
        .if_match(1)
        .json(&json!({"description": "direct"}))
        .send()
        .await;
    r.expect(200);
    assert_eq!(r.etag(), 2);
    assert_eq!(
        version_statuses(&env, "tenant-isolation").await,
        [(2, "active".to_string()), (1, "archived".to_string())]
    );
    // A change request left from a time review was on keeps its number; direct changes
    // after review is off again take the next one.
    require_review(&env, 1).await;
    env.patch(path)
        .token(&env.editor)
        .if_match(2)
        .json(&json!({"description": "proposed"}))
        .send()
        .await
        .expect(202);
    // Settings without `review` leave it as it is.
    let r = env
        .put("/api/v1/settings")
        .json(&json!({"redacted_attributes": []}))
        .send()
        .await;
    assert_eq!(r.body["review"]["required"], true);
    env.put("/api/v1/settings")
        .json(&json!({"redacted_attributes": [], "review": {"required": false, "approvals": 1}}))
        .send()
        .await
        .expect(200);
    let r = env
        .patch(path)
        .token(&env.editor)
        .if_match(2)
        .json(&json!({"description": "direct again"}))
        .send()
        .await;
    r.expect(200);
    assert_eq!(r.etag(), 4);
    assert_eq!(
        version_statuses(&env, "tenant-isolation").await,
        [
            (4, "active".to_string()),
            (3, "draft".to_string()),
            (2, "archived".to_string()),
            (1, "archived".to_string())
        ]
    );
    let r = env.get("/api/v1/change-requests").send().await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 1);
    let r = env
        .get("/api/v1/policies/tenant-isolation/versions")
        .send()
        .await;
    assert_eq!(r.body["total"], 4);
}

async fn review_is_in_the_openapi_document(env: Env) {
    let r = env.get("/openapi.json").no_token().send().await;
    r.expect(200);
    let paths = &r.body["paths"];
    for (path, op, id) in [
        (
            "/api/v1/policies/{id}/versions/{n}/submit",
            "post",
            "submitChangeRequest",
        ),
        (
            "/api/v1/policies/{id}/versions/{n}/review",
            "post",
            "reviewChangeRequest",
        ),
        (
            "/api/v1/policies/{id}/versions/{n}/publish",
            "post",
            "publishChangeRequest",
        ),
        ("/api/v1/change-requests", "get", "listChangeRequests"),
        ("/api/v1/catalog/versions/{n}", "get", "getCatalogVersion"),
        (
            "/api/v1/catalog/versions/{n}/submit",
            "post",
            "submitCatalogChange",
        ),
        (
            "/api/v1/catalog/versions/{n}/review",
            "post",
            "reviewCatalogChange",
        ),
        (
            "/api/v1/catalog/versions/{n}/publish",
            "post",
            "publishCatalogChange",
        ),
    ] {
        assert_eq!(paths[path][op]["operationId"], id, "{path}");
    }
    let review = &paths["/api/v1/policies/{id}/versions/{n}/review"]["post"];
    assert_eq!(
        review["requestBody"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/ReviewInput"
    );
    for status in ["200", "403", "404", "409", "422"] {
        assert!(
            review["responses"].get(status).is_some(),
            "review: {status}"
        );
    }
    let publish = &paths["/api/v1/policies/{id}/versions/{n}/publish"]["post"];
    assert!(publish["responses"].get("409").is_some());
    assert!(publish["responses"].get("422").is_some());
    assert!(publish["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["name"] == "Verdict-Override-Reason"));
    let schemas = &r.body["components"]["schemas"];
    for name in [
        "ChangeRequest",
        "ChangeRequestPage",
        "ChangeStatus",
        "ReviewSettings",
    ] {
        assert!(schemas.get(name).is_some(), "schema {name}");
    }
    // A change that review turns into a change request answers 202 with it.
    for (path, op) in [
        ("/api/v1/policies", "post"),
        ("/api/v1/policies/{id}", "patch"),
        ("/api/v1/policies/{id}", "put"),
        ("/api/v1/policies/{id}", "delete"),
        ("/api/v1/policies/{id}/versions/{n}/rollback", "post"),
        ("/api/v1/policies/{id}/assignments", "post"),
        ("/api/v1/catalog", "put"),
    ] {
        assert_eq!(
            paths[path][op]["responses"]["202"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/ChangeRequest",
            "{op} {path}"
        );
    }
}
