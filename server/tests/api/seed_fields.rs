//! Seed 001's policy fields on `/api/v1/policies`: `table_name`, `row_filter_dsl` (a JSON
//! predicate tree compiled to a row filter), `column_masks`, `external_id` (unique per
//! organization) and `source`; accepted on POST, PUT and PATCH, returned on read,
//! versioned, filterable, validated with JSON paths, and applied by `/evaluate`.

use serde_json::{json, Value};

use crate::case;
use crate::support::{alice, Env};
use crate::Case;

pub fn all() -> Vec<Case> {
    vec![
        case!(seed_fields_round_trip_and_apply),
        case!(seed_fields_change_with_put_and_patch),
        case!(seed_fields_bad_trees_are_422_with_paths),
        case!(seed_fields_hostile_values_stay_values),
        case!(seed_fields_external_id_is_unique_and_filters),
        case!(seed_fields_are_in_the_openapi_document),
        case!(seed_fields_mask_full_is_redact),
    ]
}

fn seed_policy(id: &str) -> Value {
    json!({
        "id": id, "name": "Customer tenant isolation (imported)",
        "table_name": "customers",
        "row_filter_dsl": {"and": [
            {"eq": ["tenant_id", {"ctx": "attr.tenant_id"}]},
            {"is_not_null": "name"}
        ]},
        "column_masks": {"email": "email", "ssn": {"kind": "partial", "show_last": 4}},
        "external_id": format!("collibra:{id}"),
        "source": "imported",
        "rules": [],
        "assignments": [{"kind": "everyone", "value": "*"}]
    })
}

async fn evaluate(env: &Env, sql: &str) -> Value {
    let r = env
        .post("/api/v1/evaluate")
        .json(&json!({"sql": sql, "context": alice()}))
        .send()
        .await;
    r.expect(200);
    r.body
}

async fn seed_fields_round_trip_and_apply(env: Env) {
    env.set_catalog().await;
    let created = env.create(&seed_policy("cust-tenant")).await;
    let r = env.get("/api/v1/policies/cust-tenant").send().await;
    r.expect(200);
    for body in [&created.body, &r.body] {
        for f in [
            "table_name",
            "row_filter_dsl",
            "column_masks",
            "external_id",
            "source",
        ] {
            assert_eq!(body[f], seed_policy("cust-tenant")[f], "{f}: {body}");
        }
        assert_eq!(
            body["rules"],
            json!([]),
            "the compiled rules are not stored"
        );
    }
    // A policy that gives no source is `manual`.
    let mut plain =
        json!({"id": "plain", "name": "Plain", "rules": [{"type": "deny", "table": "salaries"}]});
    env.create(&plain).await;
    let r = env.get("/api/v1/policies/plain").send().await;
    assert_eq!(r.body["source"], "manual", "{}", r.body);
    plain["source"] = json!("derived");

    let v = evaluate(&env, "SELECT id, name, email, ssn FROM customers").await;
    let sql = v["rewritten_sql"].as_str().unwrap_or_default().to_string();
    assert!(sql.contains("tenant_id = 1"), "{v}");
    assert!(sql.contains("IS NOT NULL"), "{v}");
    let masked: Vec<&str> = v["masked_columns"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["column"].as_str())
        .collect();
    assert!(masked.contains(&"email") && masked.contains(&"ssn"), "{v}");
    assert!(
        v["matched_policies"].to_string().contains("cust-tenant"),
        "{v}"
    );
    println!("    {}: rewritten {sql}", env.backend.name());
}

async fn seed_fields_change_with_put_and_patch(env: Env) {
    env.set_catalog().await;
    let rev = env.create(&seed_policy("p1")).await.etag();
    // PATCH: another tree, and the source.
    let r = env
        .patch("/api/v1/policies/p1")
        .if_match(rev)
        .json(&json!({"row_filter_dsl": {"in": ["tenant_id", [1, 2]]}, "source": "derived"}))
        .send()
        .await;
    r.expect(200);
    assert_eq!(
        r.body["row_filter_dsl"],
        json!({"in": ["tenant_id", [1, 2]]})
    );
    assert_eq!(r.body["source"], "derived");
    let v = evaluate(&env, "SELECT id FROM customers").await;
    assert!(
        v["rewritten_sql"].as_str().unwrap().contains("IN (1, 2)"),
        "{v}"
    );
    // PATCH null removes the tree (and its filter); the masks stay.
    let r = env
        .patch("/api/v1/policies/p1")
        .if_match(r.etag())
        .json(&json!({"row_filter_dsl": null}))
        .send()
        .await;
    r.expect(200);
    assert!(r.body.get("row_filter_dsl").is_none(), "{}", r.body);
    let v = evaluate(&env, "SELECT id, email FROM customers").await;
    assert_eq!(v["row_filters"], json!([]), "{v}");
    assert!(v["masked_columns"].to_string().contains("email"), "{v}");
    // PUT replaces every field: the masks go, the external id changes.
    let mut whole = seed_policy("p1");
    whole.as_object_mut().unwrap().remove("column_masks");
    whole.as_object_mut().unwrap().remove("assignments");
    whole["external_id"] = json!("collibra:renamed");
    let r = env
        .put("/api/v1/policies/p1")
        .if_match(r.etag())
        .json(&whole)
        .send()
        .await;
    r.expect(200);
    assert_eq!(r.body["external_id"], "collibra:renamed");
    assert!(r.body.get("column_masks").is_none());
    assert_eq!(r.body["source"], "imported");
    // Versioned like the rest: each version's snapshot holds the fields it had.
    let r = env.get("/api/v1/policies/p1/versions").send().await;
    r.expect(200);
    let text = r.body.to_string();
    for f in ["row_filter_dsl", "column_masks", "external_id", "source"] {
        assert!(text.contains(f), "{f} in {text}");
    }
    let r = env.get("/api/v1/policies/p1/versions/2").send().await;
    r.expect(200);
    assert!(
        r.body.to_string().contains("\"derived\""),
        "version 2 has source derived: {}",
        r.body
    );
}

async fn seed_fields_bad_trees_are_422_with_paths(env: Env) {
    env.set_catalog().await;
    let before = env.fingerprint().await;
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"and": [{"eq": ["tenant_id", 1]}, {"in": ["status", []]}]}),
            "row_filter_dsl.and[1].in[1]",
        ),
        (json!({"raw": "1=1"}), "row_filter_dsl.raw"),
        (json!({"eq": ["a", 1], "ne": ["b", 2]}), "row_filter_dsl"),
        (
            json!({"eq": ["tenant_id", {"ctx": "password"}]}),
            "row_filter_dsl.eq[1].ctx",
        ),
        (json!({"eq": ["tenant_id", null]}), "row_filter_dsl.eq[1]"),
        // A column the catalog does not have: the engine's problem, named by the field.
        (json!({"eq": ["no_such_column", 1]}), "row_filter_dsl"),
    ];
    for (tree, field) in cases {
        let mut p = seed_policy("bad");
        p["row_filter_dsl"] = tree.clone();
        let r = env.post("/api/v1/policies").json(&p).send().await;
        r.expect_error(422, "invalid_policy");
        let fields: Vec<&str> = r.body["error"]["details"]["problems"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|p| p["field"].as_str())
            .collect();
        assert!(fields.contains(&field), "{tree}: {field} not in {}", r.body);
    }
    // A deep tree is refused, not a stack overflow.
    let mut deep = json!({"eq": ["tenant_id", 1]});
    for _ in 0..100 {
        deep = json!({ "not": deep });
    }
    let mut p = seed_policy("bad");
    p["row_filter_dsl"] = deep;
    env.post("/api/v1/policies")
        .json(&p)
        .send()
        .await
        .expect(422);
    // Masks on an unknown column or of an unknown kind; fields without `table_name`.
    let mut p = seed_policy("bad");
    p["column_masks"] = json!({"nope": "redact"});
    let r = env.post("/api/v1/policies").json(&p).send().await;
    r.expect(422);
    assert!(r.text.contains("column_masks.nope"), "{}", r.body);
    let mut p = seed_policy("bad");
    p["column_masks"] = json!({"email": "scramble"});
    env.post("/api/v1/policies")
        .json(&p)
        .send()
        .await
        .expect(422);
    let mut p = seed_policy("bad");
    p.as_object_mut().unwrap().remove("table_name");
    let r = env.post("/api/v1/policies").json(&p).send().await;
    r.expect(422);
    assert!(r.text.contains("needs `table_name`"), "{}", r.body);
    for (field, value) in [
        ("source", json!("scraped")),
        ("external_id", json!("")),
        ("table_name", json!("")),
        ("row_filter_dsl", json!("tenant_id = 1")),
        ("column_masks", json!(["email"])),
    ] {
        let mut p = seed_policy("bad");
        p[field] = value;
        let r = env.post("/api/v1/policies").json(&p).send().await;
        r.expect(422);
        assert!(r.text.contains(field), "{field}: {}", r.body);
    }
    // /policies/compile answers the same problems, and the normalized policy when valid.
    let mut p = seed_policy("bad");
    p["row_filter_dsl"] = json!({"and": [{"eq": ["tenant_id", 1]}, {"in": ["status", []]}]});
    let r = env.post("/api/v1/policies/compile").json(&p).send().await;
    r.expect(200);
    assert_eq!(r.body["valid"], false, "{}", r.body);
    assert!(r.text.contains("row_filter_dsl.and[1].in[1]"), "{}", r.body);
    let r = env
        .post("/api/v1/policies/compile")
        .json(&seed_policy("good"))
        .send()
        .await;
    r.expect(200);
    assert_eq!(r.body["valid"], true, "{}", r.body);
    assert_eq!(
        r.body["policy"]["row_filter_dsl"],
        seed_policy("good")["row_filter_dsl"]
    );
    assert_eq!(env.fingerprint().await, before, "nothing was stored");
}

async fn seed_fields_hostile_values_stay_values(env: Env) {
    env.set_catalog().await;
    let hostile = "x' OR '1'='1";
    let mut p = seed_policy("hostile");
    p["row_filter_dsl"] = json!({"or": [
        {"eq": ["name", hostile]},
        {"eq": ["name", {"ctx": "attr.a\" OR 1=1 --"}]}
    ]});
    p.as_object_mut().unwrap().remove("column_masks");
    env.create(&p).await;
    let mut ctx = alice();
    ctx["attributes"]["a\" OR 1=1 --"] = json!("Ann");
    let r = env
        .post("/api/v1/evaluate")
        .json(&json!({"sql": "SELECT id FROM customers", "context": ctx}))
        .send()
        .await;
    r.expect(200);
    let sql = r.body["rewritten_sql"].as_str().unwrap();
    assert!(sql.contains("name = 'x'' OR ''1''=''1'"), "{sql}");
    assert!(sql.contains("name = 'Ann'"), "{sql}");
    assert!(!sql.contains("OR 1=1"), "{sql}");
    // Hostile column names are identifiers: unknown to the catalog, refused.
    let mut p = seed_policy("hostile2");
    p["row_filter_dsl"] = json!({"eq": ["tenant_id = 1 OR true --", 1]});
    env.post("/api/v1/policies")
        .json(&p)
        .send()
        .await
        .expect(422);
}

async fn seed_fields_external_id_is_unique_and_filters(env: Env) {
    env.set_catalog().await;
    env.create(&seed_policy("a")).await;
    let mut b = seed_policy("b");
    b["external_id"] = json!("collibra:a");
    let r = env.post("/api/v1/policies").json(&b).send().await;
    r.expect_error(409, "external_id_taken");
    b["external_id"] = json!("collibra:b");
    b["source"] = json!("derived");
    b["table_name"] = json!("orders");
    b["row_filter_dsl"] = json!({"eq": ["tenant_id", {"ctx": "attr.tenant_id"}]});
    b["column_masks"] = json!({"status": "redact"});
    let rev = env.create(&b).await.etag();
    // PATCH onto a taken id is refused too.
    let r = env
        .patch("/api/v1/policies/b")
        .if_match(rev)
        .json(&json!({"external_id": "collibra:a"}))
        .send()
        .await;
    r.expect_error(409, "external_id_taken");
    // Another organization may use the same id.
    let mut other = seed_policy("a");
    other.as_object_mut().unwrap().remove("assignments");
    env.put("/api/v1/catalog")
        .token(&env.other)
        .json(&crate::support::catalog())
        .send()
        .await
        .expect(200);
    env.post("/api/v1/policies")
        .token(&env.other)
        .json(&other)
        .send()
        .await
        .expect(201);
    let ids = |r: &crate::support::Resp| -> Vec<String> {
        r.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_str().unwrap().to_string())
            .collect()
    };
    let r = env
        .get("/api/v1/policies?external_id=collibra:b")
        .send()
        .await;
    assert_eq!(ids(&r), ["b"]);
    let r = env.get("/api/v1/policies?source=derived").send().await;
    assert_eq!(ids(&r), ["b"]);
    let r = env.get("/api/v1/policies?source=imported").send().await;
    assert_eq!(ids(&r), ["a"]);
    let r = env.get("/api/v1/policies?table=orders").send().await;
    assert_eq!(ids(&r), ["b"]);
    env.get("/api/v1/policies?source=scraped")
        .send()
        .await
        .expect(400);
    // Their type counts the rules they become: a tree alone is row-level security.
    let mut d = seed_policy("d");
    d["external_id"] = json!("collibra:d");
    d.as_object_mut().unwrap().remove("column_masks");
    env.create(&d).await;
    let r = env
        .get("/api/v1/policies?policy_type=row_level_security")
        .send()
        .await;
    assert_eq!(ids(&r), ["d"]);
    let r = env.get("/api/v1/policies?policy_type=other").send().await;
    assert_eq!(ids(&r), ["a", "b"], "a tree and masks are a mix");
    // Deleting frees the id.
    let r = env.get("/api/v1/policies/a").send().await;
    env.delete("/api/v1/policies/a")
        .if_match(r.etag())
        .send()
        .await
        .expect(200);
    let mut c = seed_policy("c");
    c["external_id"] = json!("collibra:a");
    env.create(&c).await;
}

async fn seed_fields_are_in_the_openapi_document(env: Env) {
    let r = env.get("/openapi.json").no_token().send().await;
    r.expect(200);
    let schemas = &r.body["components"]["schemas"];
    for schema in ["Policy", "PolicyResource", "PolicyPatch"] {
        for f in [
            "table_name",
            "row_filter_dsl",
            "column_masks",
            "external_id",
            "source",
        ] {
            assert!(
                schemas[schema]["properties"].get(f).is_some(),
                "{schema}.{f}"
            );
        }
    }
    assert_eq!(
        schemas["PolicyOrigin"]["enum"],
        json!(["manual", "imported", "derived"])
    );
    // Links from a created policy to the operations on it.
    let links = &r.body["paths"]["/api/v1/policies"]["post"]["responses"]["201"]["links"];
    for op in ["getPolicy", "replacePolicy", "patchPolicy", "deletePolicy"] {
        assert_eq!(links[op]["operationId"], op, "{links}");
        assert_eq!(links[op]["parameters"]["path.id"], "$response.body#/id");
    }
    assert_eq!(
        links["patchPolicy"]["parameters"]["header.If-Match"],
        "$response.header.ETag"
    );
    let params = r.body["paths"]["/api/v1/policies"]["get"]["parameters"].to_string();
    for p in ["\"table\"", "\"external_id\"", "\"source\""] {
        assert!(params.contains(p), "{p}");
    }
}

/// `full` is read as `redact`, in `column_masks` as in rules, and stored as `redact`.
async fn seed_fields_mask_full_is_redact(env: Env) {
    env.set_catalog().await;
    let mut p = seed_policy("full");
    p["column_masks"] = json!({"ssn": "full", "email": {"kind": "full", "replacement": "x"}});
    p["rules"] =
        json!([{"type": "column_mask", "table": "customers", "column": "name", "mask": "full"}]);
    // Elsewhere `full` is just a word.
    p["labels"] = json!({"mask": "full"});
    let r = env.post("/api/v1/policies").json(&p).send().await;
    r.expect(201);
    assert_eq!(r.body["column_masks"]["ssn"], "redact", "{}", r.body);
    assert_eq!(
        r.body["column_masks"]["email"]["kind"], "redact",
        "{}",
        r.body
    );
    assert_eq!(r.body["rules"][0]["mask"], "redact", "{}", r.body);
    assert_eq!(r.body["labels"]["mask"], "full", "{}", r.body);
    let v = evaluate(&env, "SELECT name, ssn, email FROM customers").await;
    let kinds: Vec<&str> = v["masked_columns"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["kind"].as_str())
        .collect();
    assert_eq!(kinds, ["redact", "redact", "redact"], "{v}");
}
