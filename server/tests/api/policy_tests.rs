//! `/api/v1/policy-tests`: storing the organization's test suite, and every change to
//! policies, assignments and the catalog refused (422 with the failing cases) when it makes
//! a case fail, unless an admin overrides it with a reason, which is audited.

use serde_json::{json, Value};

use crate::case;
use crate::support::{example_policy, Env};
use crate::Case;

pub fn all() -> Vec<Case> {
    vec![
        case!(policy_tests_round_trip_checked_and_audited),
        case!(a_change_that_fails_the_tests_is_refused_unless_an_admin_overrides),
        case!(every_kind_of_change_runs_the_tests),
        case!(concurrent_changes_pass_the_gate_one_after_the_other),
        case!(policy_tests_are_in_the_openapi_document),
    ]
}

/// Analysts of tenant 1 see only their orders: the tenant-isolation policy's first rule.
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

/// protect-secrets, assigned to everyone (unassigned policies never apply).
fn secrets() -> Value {
    let mut p = example_policy("protect-secrets");
    p["assignments"] = json!([{"kind": "everyone", "value": "*"}]);
    p
}

async fn audit_actions(env: &Env) -> Vec<Value> {
    let r = env.get("/api/v1/audit").send().await;
    r.expect(200);
    r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["object_type"] == "policy_tests")
        .cloned()
        .collect()
}

async fn policy_tests_round_trip_checked_and_audited(env: Env) {
    let r = env.get("/api/v1/policy-tests").send().await;
    r.expect(200);
    assert_eq!(r.body["revision"], 0);
    assert_eq!(r.body["suite"], json!({"tests": []}));
    assert_eq!(r.body["report"]["total"], 0);

    // Unknown fields and bad values: 422 with every problem and its path; nothing stored.
    let before = env.fingerprint().await;
    let mut bad = suite();
    bad["tests"][0]["expect"]["rows"] = json!(3);
    let r = env.put("/api/v1/policy-tests").json(&bad).send().await;
    r.expect_error(422, "invalid_tests");
    assert_eq!(
        r.body["error"]["details"]["problems"][0]["field"],
        "tests[0].expect.rows"
    );
    let mut bad = suite();
    bad["tests"][1]["expect"]["verdict"] = json!("maybe");
    bad["tests"][1]["name"] = json!("analysts see their tenant's orders");
    let r = env.put("/api/v1/policy-tests").json(&bad).send().await;
    r.expect_error(422, "invalid_tests");
    let fields: Vec<&str> = r.body["error"]["details"]["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["tests[1].name", "tests[1].expect.verdict"]);
    env.put("/api/v1/policy-tests")
        .token(&env.viewer)
        .json(&suite())
        .send()
        .await
        .expect_error(403, "forbidden");
    assert_eq!(env.fingerprint().await, before);
    assert_eq!(
        env.get("/api/v1/policy-tests").send().await.body["revision"],
        0
    );

    // Stored even though it fails (no policy yet): the answer says how it runs today.
    let r = env
        .put("/api/v1/policy-tests")
        .token(&env.editor)
        .json(&suite())
        .send()
        .await;
    r.expect(200);
    assert_eq!(r.body["revision"], 1);
    assert_eq!(r.body["suite"], suite());
    assert_eq!(r.body["report"]["failed"], 2, "{}", r.text);
    let r = env
        .get("/api/v1/policy-tests")
        .token(&env.viewer)
        .send()
        .await;
    r.expect(200);
    assert_eq!(r.body["suite"], suite());
    assert_eq!(r.body["revision"], 1);
    // Another organization has its own (none).
    let other = env
        .get("/api/v1/policy-tests")
        .token(&env.other)
        .send()
        .await;
    assert_eq!(other.body["revision"], 0);
    let audit = audit_actions(&env).await;
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(audit[0]["action"], "policy_tests.update");
    assert_eq!(audit[0]["detail"]["revision"], 1);
    assert_eq!(audit[0]["detail"]["cases"], 2);
}

async fn a_change_that_fails_the_tests_is_refused_unless_an_admin_overrides(env: Env) {
    env.set_catalog().await;
    env.create(&example_policy("tenant-isolation")).await;
    env.create(&secrets()).await;
    let r = env.put("/api/v1/policy-tests").json(&suite()).send().await;
    r.expect(200);
    assert_eq!(r.body["report"]["passed"], 2, "{}", r.text);

    // A change the tests do not notice goes through.
    let path = "/api/v1/policies/tenant-isolation";
    env.patch(path)
        .if_match(1)
        .json(&json!({"description": "still isolates tenants"}))
        .send()
        .await
        .expect(200);

    // Dropping the orders filter fails a case: refused with it, nothing changed.
    let weaker = json!({"rules": [
        {"type": "row_filter", "table": "customers", "predicate": "tenant_id = ctx.attr.tenant_id"}
    ]});
    let before = env.fingerprint().await;
    let r = env
        .patch(path)
        .token(&env.editor)
        .if_match(2)
        .json(&weaker)
        .send()
        .await;
    r.expect_error(422, "policy_tests_failed");
    let failed = r.body["error"]["details"]["failed_cases"]
        .as_array()
        .unwrap();
    assert_eq!(failed.len(), 1, "{}", r.text);
    assert_eq!(failed[0]["name"], "analysts see their tenant's orders");
    assert_eq!(failed[0]["mismatches"][0]["field"], "verdict");
    assert_eq!(failed[0]["mismatches"][0]["actual"], "allow");
    assert_eq!(env.fingerprint().await, before);

    // An editor cannot override; an empty reason is no reason.
    env.patch(path)
        .token(&env.editor)
        .if_match(2)
        .header("verdict-override-reason", "the auditors said so")
        .json(&weaker)
        .send()
        .await
        .expect_error(403, "forbidden");
    env.patch(path)
        .if_match(2)
        .header("verdict-override-reason", "   ")
        .json(&weaker)
        .send()
        .await
        .expect_error(400, "bad_request");
    // A malformed reason is refused first, whatever else is wrong with the request.
    for bad in ["", " leading space", "caf\u{e9}"] {
        env.patch(path)
            .if_match(99)
            .header("verdict-override-reason", bad)
            .json(&weaker)
            .send()
            .await
            .expect_error(400, "bad_request");
    }
    assert_eq!(env.fingerprint().await, before);

    // An admin with a reason: applied, and the override audited with the failing case.
    env.patch(path)
        .if_match(2)
        .header(
            "verdict-override-reason",
            "INC-42: orders move to another store",
        )
        .json(&weaker)
        .send()
        .await
        .expect(200);
    let audit = audit_actions(&env).await;
    let overrides: Vec<&Value> = audit
        .iter()
        .filter(|e| e["action"] == "policy_tests.override")
        .collect();
    assert_eq!(overrides.len(), 1, "{audit:?}");
    let detail = &overrides[0]["detail"];
    assert_eq!(detail["reason"], "INC-42: orders move to another store");
    assert_eq!(detail["change"], "policy.update");
    assert_eq!(
        detail["failed_cases"],
        json!(["analysts see their tenant's orders"])
    );
    assert_eq!(overrides[0]["actor"], "ada", "the admin of `acme`");
    // The stored tests now fail: the next change is refused too, until they are fixed.
    let r = env.get("/api/v1/policy-tests").send().await;
    assert_eq!(r.body["report"]["failed"], 1);
    env.patch(path)
        .if_match(3)
        .json(&json!({"priority": 5}))
        .send()
        .await
        .expect_error(422, "policy_tests_failed");
    let mut fixed = suite();
    fixed["tests"][0]["expect"] = json!({"verdict": "allow"});
    env.put("/api/v1/policy-tests")
        .json(&fixed)
        .send()
        .await
        .expect(200);
    env.patch(path)
        .if_match(3)
        .json(&json!({"priority": 5}))
        .send()
        .await
        .expect(200);
}

async fn every_kind_of_change_runs_the_tests(env: Env) {
    env.set_catalog().await;
    env.create(&example_policy("tenant-isolation")).await;
    env.create(&secrets()).await;
    let mut tests = suite();
    tests["tests"].as_array_mut().unwrap().push(json!({
        "name": "admins read orders", "context": {"user": "carol", "roles": ["admin"]},
        "sql": "SELECT id FROM orders", "expect": {"verdict": "allow"}}));
    let r = env.put("/api/v1/policy-tests").json(&tests).send().await;
    r.expect(200);
    assert_eq!(r.body["report"]["passed"], 3, "{}", r.text);
    let before = env.fingerprint().await;
    let refused = |r: crate::support::Resp| {
        r.expect_error(422, "policy_tests_failed");
    };
    // Delete.
    refused(
        env.delete("/api/v1/policies/protect-secrets")
            .if_match(1)
            .send()
            .await,
    );
    // An assignment removed (the policy no longer applies to analysts).
    refused(
        env.delete("/api/v1/policies/tenant-isolation/assignments?kind=role&value=analyst")
            .send()
            .await,
    );
    // A catalog that denies tables no enforced policy governs for the caller: admins no
    // longer read orders.
    let mut catalog = crate::support::catalog();
    catalog["default_access"] = json!("deny");
    let r = env.put("/api/v1/catalog").json(&catalog).send().await;
    r.expect_error(422, "policy_tests_failed");
    let failed = &r.body["error"]["details"]["failed_cases"];
    assert_eq!(failed[0]["name"], "admins read orders", "{}", r.text);
    assert_eq!(failed[0]["rule"], "default_deny", "{}", r.text);
    // A new policy that blocks orders for everyone.
    refused(
        env.post("/api/v1/policies")
            .json(&json!({"id": "no-orders", "name": "No orders",
                "rules": [{"type": "deny", "table": "orders"}],
                "assignments": [{"kind": "everyone", "value": "*"}]}))
            .send()
            .await,
    );
    assert_eq!(env.fingerprint().await, before);
    // A rollback to a version the tests reject: tenant-isolation v2 drops the orders filter
    // (applied by an audited override), rolling back to v1 restores it, fine; rolling
    // forward to v2 again is refused.
    let path = "/api/v1/policies/tenant-isolation";
    env.patch(path)
        .if_match(1)
        .header("verdict-override-reason", "test of rollbacks")
        .json(&json!({"rules": [
            {"type": "row_filter", "table": "customers", "predicate": "tenant_id = ctx.attr.tenant_id"}]}))
        .send()
        .await
        .expect(200);
    let mut fixed = suite();
    fixed["tests"][0]["expect"] = json!({"verdict": ["allow", "row_filter"]});
    env.put("/api/v1/policy-tests")
        .json(&fixed)
        .send()
        .await
        .expect(200);
    env.post(&format!("{path}/versions/1/rollback"))
        .if_match(2)
        .send()
        .await
        .expect(200);
    env.put("/api/v1/policy-tests")
        .json(&suite())
        .send()
        .await
        .expect(200);
    refused(
        env.post(&format!("{path}/versions/2/rollback"))
            .if_match(3)
            .send()
            .await,
    );
}

/// Two policies filter analysts' orders; the tests want them filtered. Deleting either is
/// fine, deleting both is not: sent at once, exactly one delete wins, round after round.
async fn concurrent_changes_pass_the_gate_one_after_the_other(env: Env) {
    env.set_catalog().await;
    let tests = json!({"tests": [{"name": "analysts' orders are filtered",
        "context": {"user": "alice", "roles": ["analyst"], "attributes": {"tenant_id": 1}},
        "sql": "SELECT id FROM orders", "expect": {"verdict": "row_filter"}}]});
    env.put("/api/v1/policy-tests")
        .json(&tests)
        .send()
        .await
        .expect(200);
    let filter = |id: &str, predicate: &str| {
        json!({"id": id, "name": id, "applies_to": {"roles": ["analyst"]},
            "rules": [{"type": "row_filter", "table": "orders", "predicate": predicate}]})
    };
    let mut survivor: Option<String> = None;
    for round in 0..6 {
        let a_id = format!("by-tenant-{round}");
        let b_id = format!("open-only-{round}");
        // Set-up: the new pair in, last round's survivor out (overridden where the tests
        // would refuse a step on its own).
        for p in [
            filter(&a_id, "tenant_id = ctx.attr.tenant_id"),
            filter(&b_id, "status = 'open'"),
        ] {
            env.post("/api/v1/policies")
                .header("verdict-override-reason", "test set-up")
                .json(&p)
                .send()
                .await
                .expect(201);
        }
        if let Some(old) = survivor.take() {
            let current = env.get(&format!("/api/v1/policies/{old}")).send().await;
            env.delete(&format!("/api/v1/policies/{old}"))
                .if_match(current.etag())
                .send()
                .await
                .expect(200);
        }
        let (a, b) = tokio::join!(
            env.delete(&format!("/api/v1/policies/{a_id}"))
                .if_match(1)
                .send(),
            env.delete(&format!("/api/v1/policies/{b_id}"))
                .if_match(1)
                .send(),
        );
        let mut statuses = [a.status.as_u16(), b.status.as_u16()];
        statuses.sort_unstable();
        assert_eq!(
            statuses,
            [200, 422],
            "round {round}: {} / {}",
            a.text,
            b.text
        );
        let (loser, kept) = if a.status.as_u16() == 422 {
            (&a, a_id)
        } else {
            (&b, b_id)
        };
        assert_eq!(loser.code(), "policy_tests_failed");
        let r = env.get("/api/v1/policy-tests").send().await;
        assert_eq!(r.body["report"]["passed"], 1, "round {round}: {}", r.text);
        survivor = Some(kept);
    }
}

async fn policy_tests_are_in_the_openapi_document(env: Env) {
    let r = env.get("/openapi.json").no_token().send().await;
    r.expect(200);
    let item = &r.body["paths"]["/api/v1/policy-tests"];
    assert_eq!(item["get"]["operationId"], "getPolicyTests");
    assert_eq!(item["put"]["operationId"], "putPolicyTests");
    assert_eq!(
        item["put"]["requestBody"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/PolicyTestSuite"
    );
    let case = &r.body["components"]["schemas"]["PolicyTestCase"];
    assert_eq!(case["additionalProperties"], false);
    for status in ["401", "403", "422"] {
        assert!(
            item["put"]["responses"].get(status).is_some(),
            "PUT /api/v1/policy-tests: no {status}"
        );
    }
    // Every gated change documents the override header and the 422 of failing tests,
    // bodiless ones (delete, rollback, assignment removals) included.
    let gated = [
        ("/api/v1/policies", "post"),
        ("/api/v1/policies/{id}", "patch"),
        ("/api/v1/policies/{id}", "put"),
        ("/api/v1/policies/{id}", "delete"),
        ("/api/v1/policies/{id}/versions/{n}/rollback", "post"),
        ("/api/v1/policies/{id}/assignments", "post"),
        ("/api/v1/policies/{id}/assignments", "delete"),
        (
            "/api/v1/policies/{id}/assignments/{assignment_id}",
            "delete",
        ),
        ("/api/v1/catalog", "put"),
    ];
    for (path, method) in gated {
        let op = &r.body["paths"][path][method];
        let header = op["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "Verdict-Override-Reason")
            .unwrap_or_else(|| panic!("{method} {path}: no override header"));
        assert_eq!(header["in"], "header");
        assert_eq!(header["required"], false);
        for status in ["400", "403", "422"] {
            assert!(
                op["responses"].get(status).is_some(),
                "{method} {path}: no {status}"
            );
        }
    }
    let not_gated = &r.body["paths"]["/api/v1/policies/{id}/exceptions"]["post"]["parameters"];
    assert!(!not_gated.to_string().contains("Verdict-Override-Reason"));
}
