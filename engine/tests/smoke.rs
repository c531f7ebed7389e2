use verdict_engine::{evaluate, Context, PolicySet};

#[test]
fn smoke() {
    let set = PolicySet::parse(include_str!("fixtures/policies.json")).unwrap();
    let ctx = Context::from_json_str(r#"{"user":"alice","roles":["analyst"],"attributes":{"tenant_id":1}}"#).unwrap();
    for sql in [
        "SELECT o.id, c.email FROM orders o JOIN customers c ON c.id = o.customer_id WHERE c.ssn LIKE '%1' ORDER BY 1",
        "SELECT * FROM customers",
        "SELECT id, name FROM customers",
        "WITH orders AS (SELECT 1 AS id) SELECT * FROM orders",
        "WITH x AS (SELECT * FROM orders), orders AS (SELECT 1) SELECT * FROM x",
        "SELECT public.orders.id FROM public.orders",
        "SELECT (SELECT count(*) FROM orders WHERE orders.customer_id = c.id) FROM customers AS c(a, b)",
        "SELECT * FROM salaries",
        "SELECT pg_read_file('/etc/passwd')",
        "SELECT * FROM pg_catalog.pg_class",
        "DELETE FROM orders",
        "SELECT row_to_json(c) FROM customers c",
        "SELECT 1; DROP TABLE x",
        "",
        "SELEC 1",
    ] {
        let v = evaluate(&set, sql, &ctx);
        println!("{sql}\n  => {}\n", v.to_json());
    }
}
