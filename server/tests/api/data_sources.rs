//! `/api/v1/data-sources` and the data preview "as this user", against a real PostgreSQL
//! (the suite's cluster) holding real rows: credentials never answered, admin-only writes,
//! masked cells and filtered-out counts, blocked verdicts running nothing, the viewer
//! setting, read-only transactions, timeouts and PostgreSQL's errors as structured answers.

use serde_json::{json, Value};
use sqlx::Connection;

use crate::case;
use crate::support::{alice, example_policy, Env, Resp};
use crate::Case;

pub fn all() -> Vec<Case> {
    vec![
        case!(data_source_crud_never_answers_credentials),
        case!(data_source_preview_shows_masked_cells_and_filtered_rows),
        case!(data_source_preview_is_read_only_bounded_and_structured),
        case!(data_source_preview_is_in_the_openapi_document),
    ]
}

/// The password of every data source URL these cases register.
pub const SECRET: &str = "s3cret-Preview-pw-91";

static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// A fresh database in the suite's cluster with the example catalog's tables and rows:
/// customers 1–3 of tenant 1, 4–6 of tenant 2; orders 1–4 (tenant 1: 1, 2; tenant 2: 3, 4).
/// Answers the data source URL (with a password; the cluster trusts loopback).
pub async fn data_database(env: &Env) -> String {
    let port = env
        .cluster_port
        .expect("the data-source cases start the cluster");
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let name = format!("preview_data_{}_{n}", env.backend.name());
    sqlx::any::install_default_drivers();
    let mut admin =
        sqlx::AnyConnection::connect(&format!("postgres://postgres@127.0.0.1:{port}/postgres"))
            .await
            .expect("connect to the cluster");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .expect("create database");
    admin.close().await.ok();
    let mut conn =
        sqlx::AnyConnection::connect(&format!("postgres://postgres@127.0.0.1:{port}/{name}"))
            .await
            .expect("connect to the data database");
    let seed =
        "CREATE TABLE customers (id integer PRIMARY KEY, tenant_id integer, name text, email text, \
           ssn text, password_hash text, created_at date);
         CREATE TABLE orders (id integer PRIMARY KEY, tenant_id integer, customer_id integer, \
           amount numeric(12,2), status text, ordered_at date);
         CREATE TABLE salaries (employee_id integer, tenant_id integer, amount numeric(12,2));
         INSERT INTO customers VALUES
           (1, 1, 'Ann', 'ann@one.example', '111-22-3331', 'h1', '2024-01-05'),
           (2, 1, 'Ben', 'ben@one.example', '111-22-3332', 'h2', '2024-02-05'),
           (3, 1, 'Cy', NULL, '111-22-3333', 'h3', '2024-03-05'),
           (4, 2, 'Dee', 'dee@two.example', '222-33-4441', 'h4', '2024-04-05'),
           (5, 2, 'Eve', 'eve@two.example', '222-33-4442', 'h5', '2024-05-05'),
           (6, 2, 'Fay', 'fay@two.example', '222-33-4443', 'h6', '2024-06-05');
         INSERT INTO orders VALUES
           (1, 1, 1, 10.50, 'open', '2024-07-01'), (2, 1, 2, 20.00, 'paid', '2024-07-02'),
           (3, 2, 4, 30.25, 'open', '2024-07-03'), (4, 2, 5, 40.00, 'open', '2024-07-04');
         INSERT INTO salaries VALUES (1, 1, 1000.00)";
    for statement in seed.split(';') {
        sqlx::query(statement)
            .execute(&mut conn)
            .await
            .expect("seed the data database");
    }
    conn.close().await.ok();
    format!("postgres://postgres:{SECRET}@127.0.0.1:{port}/{name}")
}

/// Fails when an answer carries the data source's password.
#[track_caller]
fn no_secret(r: &Resp) {
    assert!(
        !r.text.contains(SECRET) && !r.text.contains("s3cret"),
        "an answer carries the data source's password: {}",
        r.text
    );
}

pub async fn register(env: &Env, name: &str, url: &str) -> String {
    let r = env
        .post("/api/v1/data-sources")
        .json(&json!({"name": name, "url": url}))
        .send()
        .await;
    r.expect(201);
    no_secret(&r);
    r.body["id"].as_str().expect("id").to_string()
}

async fn data_source_crud_never_answers_credentials(env: Env) {
    let url = data_database(&env).await;
    let port = env.cluster_port.expect("port");
    let body = json!({"name": "Warehouse", "url": url});

    // Admins only write; editors and viewers are refused and nothing is stored.
    for token in [&env.editor, &env.viewer] {
        let r = env
            .post("/api/v1/data-sources")
            .token(token)
            .json(&body)
            .send()
            .await;
        r.expect_error(403, "forbidden");
        no_secret(&r);
    }
    let r = env.post("/api/v1/data-sources").json(&body).send().await;
    r.expect(201);
    no_secret(&r);
    let id = r.body["id"].as_str().expect("id").to_string();
    assert!(id.starts_with("dsr_"), "{}", r.text);
    let db = url.rsplit('/').next().expect("database").to_string();
    assert_eq!(
        r.body["url"],
        format!("postgres://postgres:***@127.0.0.1:{port}/{db}")
    );
    assert_eq!(r.body["has_password"], true);
    assert_eq!(r.body["user"], "postgres");
    assert_eq!(r.body["database"], db.as_str());
    assert_eq!(r.body["created_by"], "ada");

    // Every reader sees the redacted form; another organization sees nothing.
    for token in [&env.admin, &env.editor, &env.viewer] {
        let r = env.get("/api/v1/data-sources").token(token).send().await;
        r.expect(200);
        no_secret(&r);
        assert_eq!(r.body["items"].as_array().expect("items").len(), 1);
        let r = env
            .get(&format!("/api/v1/data-sources/{id}"))
            .token(token)
            .send()
            .await;
        r.expect(200);
        no_secret(&r);
        assert_eq!(r.body["name"], "Warehouse");
    }
    env.get(&format!("/api/v1/data-sources/{id}"))
        .token(&env.other)
        .send()
        .await
        .expect_error(404, "not_found");
    let r = env
        .get("/api/v1/data-sources")
        .token(&env.other)
        .send()
        .await;
    assert_eq!(r.body["items"], json!([]));

    // Bad URLs are refused at the field, without echoing the password.
    for bad in [
        format!("mysql://u:{SECRET}@h/d"),
        format!("postgres://u:{SECRET}@h/d?host=/tmp"),
        format!("postgres://u:{SECRET}@h/d?sslkey=/etc/passwd"),
        format!("postgres://u:{SECRET}@h/"),
        "postgres://h/d".to_string(),
        "x".repeat(2001),
    ] {
        let r = env
            .post("/api/v1/data-sources")
            .json(&json!({"name": "Bad", "url": bad}))
            .send()
            .await;
        r.expect_error(422, "invalid_request");
        no_secret(&r);
        assert_eq!(r.body["error"]["details"]["problems"][0]["field"], "url");
    }
    for bad in [
        json!({"name": "", "url": url}),
        json!({"name": "No url"}),
        json!({"name": "X", "url": url, "password": "p"}),
    ] {
        let r = env.post("/api/v1/data-sources").json(&bad).send().await;
        assert_eq!(r.status.as_u16(), 422, "{}", r.text);
        no_secret(&r);
    }
    // The name is unique in the organization.
    let r = env.post("/api/v1/data-sources").json(&body).send().await;
    r.expect_error(409, "data_source_exists");
    no_secret(&r);

    // PUT without `url` keeps the credentials; with one, replaces them.
    let r = env
        .put(&format!("/api/v1/data-sources/{id}"))
        .json(&json!({"name": "Warehouse replica"}))
        .send()
        .await;
    r.expect(200);
    no_secret(&r);
    assert_eq!(r.body["name"], "Warehouse replica");
    assert_eq!(r.body["has_password"], true);
    env.put(&format!("/api/v1/data-sources/{id}"))
        .token(&env.editor)
        .json(&json!({"name": "Mine"}))
        .send()
        .await
        .expect_error(403, "forbidden");
    let r = env
        .put(&format!("/api/v1/data-sources/{id}"))
        .json(&json!({"name": "Warehouse replica", "url": format!("postgres://reader@127.0.0.1:{port}/{db}")}))
        .send()
        .await;
    r.expect(200);
    assert_eq!(r.body["has_password"], false);
    assert_eq!(r.body["user"], "reader");
    env.put(&format!("/api/v1/data-sources/{id}"))
        .json(&json!({"name": "Warehouse replica", "url": url}))
        .send()
        .await
        .expect(200);

    // The audit trail records each change with the redacted URL only.
    let r = env.get("/api/v1/audit").send().await;
    r.expect(200);
    no_secret(&r);
    let actions: Vec<&str> = r.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|e| e["object_id"] == id.as_str())
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert_eq!(
        actions,
        [
            "data_source.update",
            "data_source.update",
            "data_source.update",
            "data_source.create"
        ]
    );
    // The stored URL has no password; the password is only there sealed.
    let stored: (String, Option<String>) =
        sqlx::query_as("SELECT url, password_sealed FROM data_sources WHERE id = $1")
            .bind(&id)
            .fetch_one(&env.db.read)
            .await
            .expect("stored url");
    assert_eq!(stored.0, url.replace(&format!(":{SECRET}@"), "@"));
    let sealed = stored.1.expect("a sealed password");
    assert!(
        sealed.starts_with("v1:") && !sealed.contains(SECRET),
        "{sealed}"
    );
    let audit_text: Vec<(Option<String>,)> = sqlx::query_as("SELECT detail FROM audit_log")
        .fetch_all(&env.db.read)
        .await
        .expect("audit");
    assert!(audit_text
        .iter()
        .all(|(d,)| !d.as_deref().unwrap_or("").contains(SECRET)));

    // Delete: admins only, then gone.
    env.delete(&format!("/api/v1/data-sources/{id}"))
        .token(&env.editor)
        .send()
        .await
        .expect_error(403, "forbidden");
    env.delete(&format!("/api/v1/data-sources/{id}"))
        .send()
        .await
        .expect(204);
    env.get(&format!("/api/v1/data-sources/{id}"))
        .send()
        .await
        .expect_error(404, "not_found");
    env.post(&format!("/api/v1/data-sources/{id}/preview"))
        .json(&json!({"sql": "SELECT 1"}))
        .send()
        .await
        .expect_error(404, "not_found");
}

/// The example's tenant isolation and PII masks (analysts), and protect-secrets for everyone.
async fn policies(env: &Env) {
    env.set_catalog().await;
    env.create(&example_policy("tenant-isolation")).await;
    env.create(&example_policy("pii-masking")).await;
    let mut secrets = example_policy("protect-secrets");
    secrets["assignments"] = json!([{"kind": "everyone", "value": "*"}]);
    env.create(&secrets).await;
}

fn column_names(set: &Value) -> Vec<String> {
    set["columns"]
        .as_array()
        .expect("columns")
        .iter()
        .map(|c| c["name"].as_str().expect("name").to_string())
        .collect()
}

/// The row of a result set whose first cell is `id`.
fn row<'a>(set: &'a Value, id: &str) -> &'a Value {
    set["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|r| r[0] == id)
        .unwrap_or_else(|| panic!("no row {id} in {set}"))
}

async fn data_source_preview_shows_masked_cells_and_filtered_rows(env: Env) {
    let url = data_database(&env).await;
    policies(&env).await;
    let id = register(&env, "Warehouse", &url).await;
    let path = format!("/api/v1/data-sources/{id}/preview");
    let before = env.fingerprint().await;

    let sql = "SELECT id, name, email, ssn FROM customers ORDER BY id";
    let r = env
        .post(&path)
        .json(&json!({"sql": sql, "context": alice()}))
        .send()
        .await;
    r.expect(200);
    no_secret(&r);
    let b = &r.body;
    assert_eq!(b["ran"], true);
    assert_eq!(b["verdict"]["verdict"], "row_filter", "{}", r.text);
    assert_eq!(b["masked_columns"], json!(["email", "ssn"]));
    assert_eq!(b["data_source"]["id"], id.as_str());

    // The author's rows: all six, raw.
    let author = &b["as_author"];
    assert_eq!(author["sql"], sql);
    assert_eq!(column_names(author), ["id", "name", "email", "ssn"]);
    assert_eq!(author["rows"].as_array().expect("rows").len(), 6);
    assert_eq!(author["count"], 6);
    assert_eq!(author["truncated"], false);
    assert_eq!(
        row(author, "4"),
        &json!(["4", "Dee", "dee@two.example", "222-33-4441"])
    );
    assert!(author["columns"]
        .as_array()
        .expect("columns")
        .iter()
        .all(|c| c["masked"] == false));

    // As alice sees them: her tenant's three rows, email and ssn masked.
    let seen = &b["as_context"];
    assert_eq!(seen["sql"], b["verdict"]["rewritten_sql"]);
    assert_eq!(column_names(seen), ["id", "name", "email", "ssn"]);
    let masked: Vec<bool> = seen["columns"]
        .as_array()
        .expect("columns")
        .iter()
        .map(|c| c["masked"].as_bool().expect("masked"))
        .collect();
    assert_eq!(masked, [false, false, true, true]);
    assert_eq!(seen["columns"][0]["type_name"], "INT4");
    let ids: Vec<&str> = seen["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| r[0].as_str().expect("id"))
        .collect();
    assert_eq!(ids, ["1", "2", "3"]);
    assert_eq!(seen["count"], 3);
    assert_eq!(b["filtered_out"], 3);
    assert_eq!(b["filtered_out_bounded"], false);
    for (id, raw_email, raw_ssn) in [
        ("1", "ann@one.example", "111-22-3331"),
        ("2", "ben@one.example", "111-22-3332"),
    ] {
        let cells = row(seen, id);
        let (email, ssn) = (
            cells[2].as_str().expect("email cell"),
            cells[3].as_str().expect("ssn cell"),
        );
        assert_ne!(email, raw_email, "email not masked: {cells}");
        assert!(!email.contains("ann") && !email.contains("ben"), "{email}");
        assert_ne!(ssn, raw_ssn, "ssn not masked: {cells}");
        assert!(
            ssn.ends_with(&raw_ssn[raw_ssn.len() - 4..]),
            "partial mask keeps the last 4: {ssn}"
        );
        assert_eq!(cells[1], row(author, id)[1], "unmasked cells are the same");
    }
    // A NULL stays null through the mask.
    assert_eq!(row(seen, "3")[2], Value::Null);

    // Numbers come back as PostgreSQL prints them; a context of tenant 2 sees its rows.
    let mut tenant2 = alice();
    tenant2["attributes"]["tenant_id"] = json!(2);
    let r = env
        .post(&path)
        .json(&json!({"sql": "SELECT id, amount FROM orders ORDER BY id", "context": tenant2}))
        .send()
        .await;
    r.expect(200);
    assert_eq!(
        r.body["as_context"]["rows"],
        json!([["3", "30.25"], ["4", "40.00"]])
    );
    assert_eq!(r.body["filtered_out"], 2);
    assert_eq!(r.body["masked_columns"], json!([]));

    // A blocked verdict runs nothing.
    let r = env
        .post(&path)
        .json(&json!({"sql": "SELECT id, password_hash FROM customers", "context": alice()}))
        .send()
        .await;
    r.expect(200);
    assert_eq!(r.body["verdict"]["verdict"], "block");
    assert_eq!(r.body["ran"], false);
    assert_eq!(r.body["as_context"], Value::Null);
    assert_eq!(r.body["as_author"], Value::Null);

    // A draft set instead of the active one: only a status filter, no masks.
    let draft = json!({"policies": [{"id": "open-only", "name": "Open orders only",
        "applies_to": {"roles": ["analyst"]},
        "rules": [{"type": "row_filter", "table": "orders", "predicate": "status = 'open'"}]}]});
    let r = env
        .post(&path)
        .json(&json!({"sql": "SELECT id, status FROM orders ORDER BY id", "context": alice(), "policy_set": draft}))
        .send()
        .await;
    r.expect(200);
    assert_eq!(r.body["verdict"]["policies"], json!(["open-only"]));
    assert_eq!(
        r.body["as_context"]["rows"],
        json!([["1", "open"], ["3", "open"], ["4", "open"]])
    );
    assert_eq!(r.body["filtered_out"], 1);

    // Viewers run it only where the organization allows it.
    let body = json!({"sql": sql, "context": alice()});
    env.post(&path)
        .token(&env.viewer)
        .json(&body)
        .send()
        .await
        .expect_error(403, "forbidden");
    env.post(&path)
        .token(&env.editor)
        .json(&body)
        .send()
        .await
        .expect(200);
    // Nothing was stored or used up by any preview.
    assert_eq!(env.fingerprint().await, before);
    env.put("/api/v1/settings")
        .json(&json!({"redacted_attributes": [], "data_preview_viewers": true}))
        .send()
        .await
        .expect(200);
    let r = env.get("/api/v1/settings").token(&env.viewer).send().await;
    assert_eq!(r.body["data_preview_viewers"], true);
    let r = env.post(&path).token(&env.viewer).json(&body).send().await;
    r.expect(200);
    assert_eq!(r.body["filtered_out"], 3);
}

async fn data_source_preview_is_read_only_bounded_and_structured(env: Env) {
    let url = data_database(&env).await;
    let id = register(&env, "Scratch", &url).await;
    let path = format!("/api/v1/data-sources/{id}/preview");
    let port = env.cluster_port.expect("port");

    // No policies: the verdict allows, and the statements run as written.
    let r = env
        .post(&path)
        .json(&json!({"sql": "SELECT g FROM generate_series(1, 250) AS g"}))
        .send()
        .await;
    r.expect(200);
    let seen = &r.body["as_context"];
    assert_eq!(seen["rows"].as_array().expect("rows").len(), 100);
    assert_eq!(seen["truncated"], true);
    assert_eq!(seen["count"], 250);
    assert_eq!(r.body["filtered_out"], 0);

    // Writes fail: the transaction is read only, and nothing changed.
    for write in [
        "DELETE FROM orders",
        "UPDATE customers SET email = 'x'",
        "INSERT INTO salaries VALUES (2, 1, 1.00)",
    ] {
        let r = env.post(&path).json(&json!({"sql": write})).send().await;
        r.expect_error(422, "data_source_error");
        assert_eq!(
            r.body["error"]["details"]["sqlstate"], "25006",
            "{write}: {}",
            r.text
        );
        assert_eq!(r.body["error"]["details"]["statement"], "rewritten");
        no_secret(&r);
    }
    let db = url.rsplit('/').next().expect("db").to_string();
    let mut conn =
        sqlx::AnyConnection::connect(&format!("postgres://postgres@127.0.0.1:{port}/{db}"))
            .await
            .expect("connect");
    let counts: (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM orders), (SELECT count(*) FROM salaries), \
         (SELECT count(*) FROM customers WHERE email = 'x')",
    )
    .fetch_one(&mut conn)
    .await
    .expect("counts");
    assert_eq!(counts, (4, 1, 0));
    conn.close().await.ok();

    // PostgreSQL's errors come back structured.
    let r = env
        .post(&path)
        .json(&json!({"sql": "SELECT 1 / 0 AS x"}))
        .send()
        .await;
    r.expect_error(422, "data_source_error");
    assert_eq!(r.body["error"]["details"]["sqlstate"], "22012");
    assert_eq!(r.body["error"]["details"]["message"], "division by zero");
    let r = env
        .post(&path)
        .json(&json!({"sql": "SELECT nosuch FROM orders"}))
        .send()
        .await;
    r.expect_error(422, "data_source_error");
    assert_eq!(r.body["error"]["details"]["sqlstate"], "42703");
    assert!(
        r.body["error"]["details"]["position"].as_i64().is_some(),
        "{}",
        r.text
    );

    // The engine blocks pg_sleep: nothing runs.
    let r = env
        .post(&path)
        .json(&json!({"sql": "SELECT pg_sleep(3)"}))
        .send()
        .await;
    r.expect(200);
    assert_eq!(r.body["verdict"]["verdict"], "block");
    assert_eq!(r.body["ran"], false);
    // A slow statement is stopped by the statement timeout.
    let r = env
        .post(&path)
        .json(&json!({"sql": "SELECT count(*) AS n FROM generate_series(1, 200000000) AS g", "timeout_ms": 200}))
        .send()
        .await;
    r.expect_error(422, "statement_timeout");
    assert_eq!(r.body["error"]["details"]["sqlstate"], "57014");
    assert_eq!(r.body["error"]["details"]["statement"], "rewritten");
    for bad in [json!(0), json!(5001), json!("x")] {
        let r = env
            .post(&path)
            .json(&json!({"sql": "SELECT 1", "timeout_ms": bad}))
            .send()
            .await;
        assert_eq!(r.status.as_u16(), 422, "{}", r.text);
    }
    // Bad requests are refused before anything runs.
    for bad in [
        json!({}),
        json!({"sql": "SELECT 1", "policy_id": "a", "policy": {}}),
        json!({"sql": "SELECT 1", "context": {"roles": "x"}}),
    ] {
        let r = env.post(&path).json(&bad).send().await;
        assert_eq!(r.status.as_u16(), 422, "{}", r.text);
    }

    // An unreachable data source: a structured 409, without the password.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("addr")
        .port();
    let gone = register(
        &env,
        "Gone",
        &format!("postgres://postgres:{SECRET}@127.0.0.1:{closed}/nothing"),
    )
    .await;
    let r = env
        .post(&format!("/api/v1/data-sources/{gone}/preview"))
        .json(&json!({"sql": "SELECT 1"}))
        .send()
        .await;
    r.expect_error(409, "data_source_unreachable");
    no_secret(&r);
    // A database that does not exist: PostgreSQL's refusal, structured.
    let missing = register(
        &env,
        "Missing",
        &format!("postgres://postgres:{SECRET}@127.0.0.1:{port}/no_such_db"),
    )
    .await;
    let r = env
        .post(&format!("/api/v1/data-sources/{missing}/preview"))
        .json(&json!({"sql": "SELECT 1"}))
        .send()
        .await;
    r.expect_error(409, "data_source_unreachable");
    assert_eq!(
        r.body["error"]["details"]["sqlstate"], "3D000",
        "{}",
        r.text
    );
    no_secret(&r);
}

async fn data_source_preview_is_in_the_openapi_document(env: Env) {
    let r = env.get("/openapi.json").no_token().send().await;
    r.expect(200);
    let paths = &r.body["paths"];
    for (path, methods) in [
        ("/api/v1/data-sources", &["get", "post"][..]),
        ("/api/v1/data-sources/{id}", &["get", "put", "delete"][..]),
        ("/api/v1/data-sources/{id}/preview", &["post"][..]),
    ] {
        for m in methods {
            assert!(paths[path][m]["operationId"].is_string(), "{m} {path}");
        }
    }
    let preview = &paths["/api/v1/data-sources/{id}/preview"]["post"];
    for status in ["200", "403", "404", "409", "422"] {
        assert!(preview["responses"][status].is_object(), "preview {status}");
    }
    let schemas = &r.body["components"]["schemas"];
    assert!(schemas["Preview"]["properties"]["filtered_out"].is_object());
    assert!(schemas["DataSource"]["properties"]["url"].is_object());
    assert!(schemas["Settings"]["properties"]["data_preview_viewers"].is_object());
}
