//! Stateful query limits in `/api/v1/evaluate`: counted per policy and user in the store,
//! blocked with rule `query_limit` once reached, visible through `/api/v1/query-counts`,
//! never counted by dry runs, and exact under concurrency across two instances.

use serde_json::{json, Value};

use crate::case;
use crate::support::{alice, Env};
use crate::Case;

pub fn all() -> Vec<Case> {
    vec![
        case!(query_limits_count_block_and_show),
        case!(query_limit_is_exact_across_two_instances),
        case!(an_evaluation_is_read_whole),
        case!(violations_are_blocked_evaluations_with_action_and_risk),
    ]
}

fn limited(id: &str, per_hour: u64) -> Value {
    json!({
        "id": id, "name": format!("At most {per_hour} an hour"),
        "assignments": [{"kind": "role", "value": "analyst"}],
        "rules": [{"type": "query_limit", "queries_per_hour": per_hour, "queries_per_day": 1000, "max_execution_ms": 2500}]
    })
}

fn as_user(user: &str) -> Value {
    let mut ctx = alice();
    ctx["user"] = json!(user);
    ctx
}

async fn evaluate(env: &Env, ctx: &Value) -> Value {
    let r = env
        .post("/api/v1/evaluate")
        .json(&json!({"sql": "SELECT id FROM orders", "context": ctx}))
        .send()
        .await;
    r.expect(200);
    r.body
}

async fn query_limits_count_block_and_show(env: Env) {
    env.set_catalog().await;
    env.create(&limited("hourly", 3)).await;
    for n in 0..3 {
        let v = evaluate(&env, &alice()).await;
        assert_ne!(v["verdict"], "block", "evaluation {n}: {v}");
        assert_eq!(v["statement_timeout_ms"], 2500);
        assert_eq!(
            v["matched_policies"],
            json!([{"id": "hourly", "mode": "enforce"}])
        );
    }
    // Dry runs neither count nor block.
    let r = env
        .post("/api/v1/policy-evaluations")
        .json(&json!({"sql": "SELECT id FROM orders", "context": alice()}))
        .send()
        .await;
    r.expect(200);
    assert_ne!(r.body["verdict"], "block", "{}", r.text);
    let v = evaluate(&env, &alice()).await;
    assert_eq!(v["verdict"], "block", "{v}");
    assert_eq!(v["rule"], "query_limit");
    assert_eq!(v["blocked_by"]["policy"], "hourly");
    assert!(v.get("rewritten_sql").is_none(), "{v}");
    assert!(v.get("statement_timeout_ms").is_none(), "{v}");
    let reason = v["reason"].as_str().unwrap_or("");
    assert!(
        reason.contains("3 queries per hour") && reason.contains("`alice`"),
        "{reason}"
    );
    // The reset time is the end of the current hour, in RFC 3339.
    let counts = env.get("/api/v1/query-counts?user=alice").send().await;
    counts.expect(200);
    let items = counts.body["items"].as_array().expect("items");
    let hourly = items
        .iter()
        .find(|c| c["kind"] == "queries_per_hour")
        .expect("hourly counter");
    assert_eq!(hourly["count"], 3, "a blocked statement counts nothing");
    assert_eq!(hourly["limit"], 3);
    assert_eq!(hourly["policy_id"], "hourly");
    let resets = hourly["resets_at"].as_str().unwrap_or("");
    assert!(reason.contains(resets), "{reason} / {resets}");
    assert!(resets.ends_with(":00:00Z"), "{resets}");
    let daily = items
        .iter()
        .find(|c| c["kind"] == "queries_per_day")
        .expect("daily counter");
    assert_eq!(daily["count"], 3);
    // Another user has a counter of their own.
    let v = evaluate(&env, &as_user("bob")).await;
    assert_ne!(v["verdict"], "block", "{v}");
    // The log and the policy's history show the block.
    let r = env.get("/api/v1/evaluations?verdict=block").send().await;
    r.expect(200);
    let logged = &r.body["items"][0];
    assert_eq!(logged["rule"], "query_limit", "{}", r.text);
    assert_eq!(logged["blocked_policy"], "hourly");
    // A policy that acts only through limits is in the policy's history.
    let r = env.get("/api/v1/policies/hourly/evaluations").send().await;
    r.expect(200);
    let history = r.body["items"].as_array().expect("items");
    assert_eq!(history.len(), 5, "alice 3 + 1 blocked, bob 1: {}", r.text);
    assert_eq!(
        history
            .iter()
            .filter(|e| e["rule"] == "query_limit")
            .count(),
        1
    );
    // Raising the limit admits again (the counter keeps its count).
    env.patch("/api/v1/policies/hourly")
        .if_match(1)
        .json(&json!({"rules": [{"type": "query_limit", "queries_per_hour": 4}]}))
        .send()
        .await
        .expect(200);
    let v = evaluate(&env, &alice()).await;
    assert_ne!(v["verdict"], "block", "{v}");
    assert!(v.get("statement_timeout_ms").is_none(), "{v}");
    let v = evaluate(&env, &alice()).await;
    assert_eq!(v["verdict"], "block", "{v}");
}

async fn query_limit_is_exact_across_two_instances(env: Env) {
    // Two instances on one database (a second pool and state, as a second process has).
    let db2 = verdict_server::Db::connect(&env.url).await.unwrap();
    let mut second = env.clone();
    second.router = verdict_server::app(
        verdict_server::AppState::new(db2.clone()),
        verdict_server::DEFAULT_MAX_BODY_BYTES,
    );
    env.set_catalog().await;
    let limit = 50;
    env.create(&limited("burst", limit)).await;
    let mut handles = Vec::new();
    for n in 0..200 {
        let e = if n % 2 == 0 {
            env.clone()
        } else {
            second.clone()
        };
        handles.push(tokio::spawn(async move {
            let v = evaluate(&e, &alice()).await;
            v["verdict"].as_str().unwrap_or("").to_string()
        }));
    }
    let mut admitted = 0;
    let mut blocked = 0;
    for h in handles {
        match h.await.unwrap().as_str() {
            "block" => blocked += 1,
            _ => admitted += 1,
        }
    }
    println!(
        "query limit {limit} under 200 concurrent /evaluate on two instances ({}): {admitted} admitted, {blocked} blocked",
        env.backend.name()
    );
    assert_eq!(admitted, limit as usize, "exactly the limit is admitted");
    assert_eq!(blocked, 200 - limit as usize);
    let counts = second
        .get("/api/v1/query-counts?policy_id=burst")
        .send()
        .await;
    let hourly = counts.body["items"]
        .as_array()
        .and_then(|i| i.iter().find(|c| c["kind"] == "queries_per_hour").cloned())
        .expect("counter");
    assert_eq!(hourly["count"], limit);
    db2.close().await;
}

async fn an_evaluation_is_read_whole(env: Env) {
    env.set_catalog().await;
    env.create(&limited("hourly", 1)).await;
    let first = evaluate(&env, &alice()).await;
    let second = evaluate(&env, &alice()).await;
    for v in [&first, &second] {
        let id = v["evaluation_id"].as_str().expect("evaluation_id");
        let r = env.get(&format!("/api/v1/evaluations/{id}")).send().await;
        r.expect(200);
        assert_eq!(r.body["id"], id);
        assert_eq!(r.body["sql"], "SELECT id FROM orders");
        assert_eq!(r.body["user"], "alice");
        assert_eq!(r.body["context"]["attributes"], alice()["attributes"]);
        assert_eq!(r.body["context"]["roles"], json!(["analyst"]));
        assert_eq!(r.body["result"]["verdict"], v["verdict"]);
        assert_eq!(r.body["result"]["rule"], v["rule"]);
        assert_eq!(r.body["verdict"], v["verdict"]);
    }
    assert_eq!(second["rule"], "query_limit");
    // The organization may redact attributes in the records it answers.
    env.put("/api/v1/settings")
        .token(&env.editor)
        .json(&json!({"redacted_attributes": ["tenant_id"]}))
        .send()
        .await
        .expect_error(403, "forbidden");
    env.put("/api/v1/settings")
        .json(&json!({"redacted_attributes": ["tenant_id"]}))
        .send()
        .await
        .expect(200);
    let r = env.get("/api/v1/settings").send().await;
    assert_eq!(r.body["redacted_attributes"], json!(["tenant_id"]));
    let id = first["evaluation_id"].as_str().unwrap();
    let r = env.get(&format!("/api/v1/evaluations/{id}")).send().await;
    r.expect(200);
    assert_eq!(r.body["context"]["attributes"]["tenant_id"], "[redacted]");
    assert_eq!(
        r.body["context"]["attributes"]["region"],
        alice()["attributes"]["region"]
    );
    env.put("/api/v1/settings")
        .json(&json!({"redacted_attributes": ["*"]}))
        .send()
        .await
        .expect(200);
    let r = env.get(&format!("/api/v1/evaluations/{id}")).send().await;
    assert_eq!(r.body["context"]["attributes"]["region"], "[redacted]");
    env.put("/api/v1/settings")
        .json(&json!({"redacted_attributes": "tenant_id"}))
        .send()
        .await
        .expect(422);
    // Another organization's evaluation is not there.
    let id = first["evaluation_id"].as_str().unwrap();
    env.get(&format!("/api/v1/evaluations/{id}"))
        .token(&env.other)
        .send()
        .await
        .expect_error(404, "not_found");
    env.get("/api/v1/evaluations/ev_nothing")
        .send()
        .await
        .expect_error(404, "not_found");
}

async fn violations_are_blocked_evaluations_with_action_and_risk(env: Env) {
    env.set_catalog().await;
    env.create(&json!({
        "id": "no-salaries", "name": "Salaries are off limits", "action": "block", "risk": "high",
        "assignments": [{"kind": "role", "value": "analyst"}],
        "rules": [{"type": "deny", "table": "salaries"}]
    }))
    .await;
    env.create(&limited("hourly", 100)).await;
    for sql in ["SELECT * FROM salaries", "SELECT id FROM orders"] {
        env.post("/api/v1/evaluate")
            .json(&json!({"sql": sql, "context": alice()}))
            .send()
            .await
            .expect(200);
    }
    let r = env.get("/api/v1/violations").send().await;
    r.expect(200);
    let items = r.body["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{}", r.text);
    assert_eq!(items[0]["policy"], "no-salaries");
    assert_eq!(items[0]["action"], "block");
    assert_eq!(items[0]["risk"], "high");
    assert_eq!(items[0]["rule"], "deny");
    assert_eq!(items[0]["sql"], "SELECT * FROM salaries");
    let r = env
        .get("/api/v1/policies/no-salaries/violations")
        .send()
        .await;
    r.expect(200);
    assert_eq!(r.body["items"].as_array().map(Vec::len), Some(1));
    let r = env.get("/api/v1/policies/hourly/violations").send().await;
    r.expect(200);
    assert_eq!(r.body["items"].as_array().map(Vec::len), Some(0));
    env.get("/api/v1/policies/nothing/violations")
        .send()
        .await
        .expect_error(404, "not_found");
    let got = env.get("/api/v1/policies/no-salaries").send().await;
    assert_eq!(got.body["action"], "block");
    assert_eq!(got.body["risk"], "high");
}
