//! The database setup for the role that runs rewritten SQL (`verdict db-setup`).
//!
//! PostgreSQL prints rows in the DETAIL of constraint errors: `Failing row contains (…)`
//! for NOT NULL, CHECK and partition errors, `Key (…)=(…)` for unique, exclusion and
//! foreign-key errors, every raw column included, masked and denied ones too. It leaves
//! the values out when row level security is enabled on the table and applies to the
//! current user. The setup enables it on every governed table with a permissive policy
//! that admits every row, so reads and writes see what they saw before (the engine's
//! rewriting stays the enforcement) and only the errors change.
//!
//! The SQL is a pure function of the policy set and the role: the command line prints it,
//! and the server or the WebAssembly package can give it out the same way.

use std::collections::BTreeSet;

use crate::catalog::TableName;
use crate::error::{ErrorCode, InputError};
use crate::policy::PolicySet;

/// PostgreSQL's longest identifier, in bytes (`NAMEDATALEN - 1`); longer names are cut.
pub const MAX_NAME_BYTES: usize = 63;

/// The name of the policy the setup creates on each table for `role` (PUBLIC: `None`).
pub fn policy_name(role: Option<&str>) -> String {
    match role {
        None => "verdict".to_string(),
        Some(r) => truncate(&format!("verdict_{r}")).to_string(),
    }
}

/// The tables the setup protects: every table a rule names and every catalog table, in
/// order.
pub fn governed_tables(set: &PolicySet) -> Vec<TableName> {
    let mut tables: BTreeSet<TableName> = set
        .policies
        .iter()
        .flat_map(|p| p.rules.iter().filter_map(|r| r.table().cloned()))
        .collect();
    if let Some(catalog) = &set.catalog {
        tables.extend(catalog.tables().iter().map(|t| t.name.clone()));
    }
    tables.into_iter().collect()
}

/// The setup SQL for `role` (the role that runs rewritten SQL), or for every role
/// (`PUBLIC`) without one. Run it as the tables' owner or a superuser, e.g.
/// `psql -v ON_ERROR_STOP=1 -f setup.sql`; it runs in one transaction and can run again.
pub fn db_setup_sql(set: &PolicySet, role: Option<&str>) -> Result<String, InputError> {
    if let Some(r) = role {
        check_role(r)?;
    }
    let tables = governed_tables(set);
    let policy = policy_name(role);
    let grantee = role.map_or_else(|| "PUBLIC".to_string(), quote_ident);
    let mut out = String::with_capacity(4096 + 160 * tables.len());
    out.push_str(&header(role, &grantee, &policy, tables.len()));
    out.push_str("\nBEGIN;\n\n");
    out.push_str(FUNCTIONS);
    out.push('\n');
    if let Some(r) = role {
        out.push_str("-- The role: it must exist, be no superuser and lack BYPASSRLS.\n");
        out.push_str(&format!(
            "SELECT pg_temp.verdict_check_role({});\n\n",
            quote_literal(r)
        ));
    }
    out.push_str(
        "-- Each governed table: row level security enabled (forced when the role owns the\n\
         -- table), and one permissive policy for the role that admits every row.\n",
    );
    for t in &tables {
        out.push_str(&format!(
            "-- {}\nSELECT pg_temp.verdict_protect({}, {}, {}, {});\n",
            comment(&format!(
                "{}.{}",
                quote_ident(&t.schema),
                quote_ident(&t.name)
            )),
            quote_literal(truncate(&t.schema)),
            quote_literal(truncate(&t.name)),
            role.map_or_else(|| "NULL".to_string(), quote_literal),
            quote_literal(&policy),
        ));
    }
    if tables.is_empty() {
        out.push_str("-- (the policy set names no table)\n");
    }
    out.push_str(
        "\nDROP FUNCTION pg_temp.verdict_protect(text, text, text, text);\n\
         DROP FUNCTION pg_temp.verdict_check_role(text);\n\
         \nCOMMIT;\n",
    );
    Ok(out)
}

fn check_role(role: &str) -> Result<(), InputError> {
    let problem = if role.is_empty() {
        Some("the role name is empty".to_string())
    } else if role.contains('\0') {
        Some("the role name holds a NUL character".to_string())
    } else if role.len() > MAX_NAME_BYTES {
        Some(format!(
            "the role name is {} bytes long; PostgreSQL names have at most {MAX_NAME_BYTES}",
            role.len()
        ))
    } else if role.eq_ignore_ascii_case("public") {
        Some("`public` is not a role; leave out --role for a policy for every role".to_string())
    } else {
        None
    };
    match problem {
        Some(p) => Err(InputError::new(ErrorCode::InvalidArguments, p)),
        None => Ok(()),
    }
}

fn header(role: Option<&str>, grantee: &str, policy: &str, tables: usize) -> String {
    let who = match role {
        Some(_) => format!("role {}", comment(grantee)),
        None => "every role (PUBLIC)".to_string(),
    };
    let mut h = format!(
        "-- Verdict database setup for {who}: {tables} governed table(s).\n\
         --\n\
         -- PostgreSQL prints rows in the DETAIL of constraint errors (`Failing row contains (…)`,\n\
         -- `Key (…)=(…)`), masked and denied columns included. It leaves them out when row\n\
         -- level security is enabled on the table and applies to the current user. This\n\
         -- enables it on every governed table with the permissive policy {} for\n\
         -- {who} that admits every row (USING (true) WITH CHECK (true)): what the role\n\
         -- reads and writes does not change; Verdict's rewritten SQL stays the enforcement.\n\
         --\n\
         -- Run it as the tables' owner or a superuser: psql -v ON_ERROR_STOP=1 -f this.sql\n\
         -- It runs in one transaction and can run again (the policy is dropped and created).\n",
        comment(&quote_ident(policy)),
    );
    match role {
        Some(_) => h.push_str(
            "--\n\
             -- Row level security does not apply to a superuser, to a role with BYPASSRLS, or to\n\
             -- the table's owner (and the roles that inherit the owner's rights) unless forced:\n\
             -- the setup fails for the first two, and forces it where the role owns a table\n\
             -- (better: let another role own the tables). Roles without a policy of their own\n\
             -- see no rows of a table whose row level security is enabled: give them policies,\n\
             -- or leave out --role (one policy for PUBLIC) if other roles read these tables.\n",
        ),
        None => h.push_str(
            "--\n\
             -- Without --role the policy is for PUBLIC: no role's access changes, but nothing\n\
             -- checks the role that runs rewritten SQL (it must be no superuser, lack BYPASSRLS\n\
             -- and not own the tables, or errors still print rows). A table that already uses\n\
             -- row level security is refused: a policy for PUBLIC would widen its policies.\n",
        ),
    }
    h.push_str(
        "--\n\
         -- Not covered (a WARNING names each one found): foreign keys with ON UPDATE or ON\n\
         -- DELETE actions (CASCADE, SET NULL, SET DEFAULT) run their changes as the owner of\n\
         -- the referencing table, without row level security, so a constraint error they\n\
         -- cause prints the referencing row; and relations that are not tables (views).\n\
         -- Partitions are protected with their table: run it again after adding partitions.\n",
    );
    h
}

/// The helper functions, temporary (`pg_temp`: gone with the session, dropped at the end).
/// Names reach them as string literals and are quoted by `format('%I')`.
const FUNCTIONS: &str = r#"CREATE OR REPLACE FUNCTION pg_temp.verdict_check_role(grantee text) RETURNS void
LANGUAGE plpgsql AS $verdict$
DECLARE
  r record;
BEGIN
  SELECT oid, rolsuper, rolbypassrls INTO r FROM pg_catalog.pg_roles WHERE rolname = grantee;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'verdict: role % does not exist', pg_catalog.quote_ident(grantee);
  END IF;
  IF r.rolsuper THEN
    RAISE EXCEPTION 'verdict: role % is a superuser; row level security never applies to it',
      pg_catalog.quote_ident(grantee)
      USING HINT = 'run rewritten SQL as a role that is no superuser';
  END IF;
  IF r.rolbypassrls THEN
    RAISE EXCEPTION 'verdict: role % has BYPASSRLS; row level security never applies to it',
      pg_catalog.quote_ident(grantee)
      USING HINT = 'ALTER ROLE ' || pg_catalog.quote_ident(grantee) || ' NOBYPASSRLS';
  END IF;
  FOR r IN SELECT m.rolname FROM pg_catalog.pg_roles m
           WHERE m.rolname <> grantee AND (m.rolsuper OR m.rolbypassrls)
             AND pg_catalog.pg_has_role(grantee, m.oid, 'MEMBER') LOOP
    RAISE WARNING 'verdict: role % is a member of %, which is a superuser or has BYPASSRLS (SET ROLE would escape row level security)',
      pg_catalog.quote_ident(grantee), pg_catalog.quote_ident(r.rolname);
  END LOOP;
END
$verdict$;

CREATE OR REPLACE FUNCTION pg_temp.verdict_protect(nsp text, rel text, grantee text, policy text)
RETURNS void LANGUAGE plpgsql AS $verdict$
DECLARE
  c record;
  fk record;
  part record;
  name text := pg_catalog.quote_ident(nsp) || '.' || pg_catalog.quote_ident(rel);
BEGIN
  SELECT k.oid, k.relkind, k.relowner, k.relrowsecurity INTO c
    FROM pg_catalog.pg_class k JOIN pg_catalog.pg_namespace n ON n.oid = k.relnamespace
   WHERE n.nspname = nsp AND k.relname = rel;
  IF NOT FOUND THEN
    RAISE WARNING 'verdict: table % does not exist; skipped', name;
    RETURN;
  END IF;
  IF c.relkind NOT IN ('r', 'p') THEN
    RAISE WARNING 'verdict: % is not a table (relkind %); row level security cannot be enabled on it, so errors of writes through it may print rows', name, c.relkind;
    RETURN;
  END IF;
  IF grantee IS NULL THEN
    IF c.relrowsecurity AND (EXISTS (SELECT 1 FROM pg_catalog.pg_policy p WHERE p.polrelid = c.oid AND p.polname <> policy)
                             OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_policy p WHERE p.polrelid = c.oid AND p.polname = policy)) THEN
      RAISE EXCEPTION 'verdict: table % already uses row level security; a policy for PUBLIC would widen what its policies admit', name
        USING HINT = 'run verdict db-setup with --role, the role that runs rewritten SQL';
    END IF;
  ELSIF pg_catalog.pg_has_role(grantee, c.relowner, 'USAGE') THEN
    EXECUTE pg_catalog.format('ALTER TABLE %I.%I FORCE ROW LEVEL SECURITY', nsp, rel);
    RAISE WARNING 'verdict: role % owns table % (or has its owner''s rights): row level security is forced on it, so the owner role itself now sees only rows a policy admits', pg_catalog.quote_ident(grantee), name
      USING HINT = 'let another role own the table, and grant the role only the privileges it needs';
  END IF;
  EXECUTE pg_catalog.format('ALTER TABLE %I.%I ENABLE ROW LEVEL SECURITY', nsp, rel);
  EXECUTE pg_catalog.format('DROP POLICY IF EXISTS %I ON %I.%I', policy, nsp, rel);
  EXECUTE pg_catalog.format('CREATE POLICY %I ON %I.%I AS PERMISSIVE FOR ALL TO %s USING (true) WITH CHECK (true)',
    policy, nsp, rel, coalesce(pg_catalog.quote_ident(grantee), 'PUBLIC'));
  -- Partitions: a unique index of a partition reports with the partition's own row level
  -- security, so each one, at every level, is protected the same way.
  FOR part IN SELECT n.nspname, k.relname
                FROM pg_catalog.pg_inherits i
                JOIN pg_catalog.pg_class k ON k.oid = i.inhrelid
                JOIN pg_catalog.pg_namespace n ON n.oid = k.relnamespace
               WHERE i.inhparent = c.oid AND c.relkind = 'p' LOOP
    PERFORM pg_temp.verdict_protect(part.nspname::text, part.relname::text, grantee, policy);
  END LOOP;
  FOR fk IN SELECT f.conname, f.conrelid::pg_catalog.regclass AS referencing
              FROM pg_catalog.pg_constraint f
             WHERE f.contype = 'f' AND f.confrelid = c.oid
               AND (f.confupdtype NOT IN ('a', 'r') OR f.confdeltype NOT IN ('a', 'r')) LOOP
    RAISE WARNING 'verdict: foreign key % of % references % with an ON UPDATE or ON DELETE action; the action runs as the owner of %, without row level security, and a constraint error it causes prints that table''s row',
      pg_catalog.quote_ident(fk.conname), fk.referencing, name, fk.referencing
      USING HINT = 'use NO ACTION or RESTRICT, or deny update and delete of the referenced table to contexts that must not see the referencing rows';
  END LOOP;
END
$verdict$;
"#;

/// `"name"`, every `"` doubled: an identifier PostgreSQL reads as exactly `name`.
pub fn quote_ident(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 2);
    out.push('"');
    for c in name.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// A string literal of `text`: `'…'` with every quote doubled, or `E'…'` with quotes and
/// backslashes escaped when it holds a backslash, so `standard_conforming_strings` does not
/// change what it reads.
pub fn quote_literal(text: &str) -> String {
    let escaped = text.contains('\\');
    let mut out = String::with_capacity(text.len() + 3);
    if escaped {
        out.push('E');
    }
    out.push('\'');
    for c in text.chars() {
        if c == '\'' || (escaped && c == '\\') {
            out.push(c);
        }
        out.push(c);
    }
    out.push('\'');
    out
}

/// Text safe inside a `--` comment: control characters (a line break would end the
/// comment and make the rest SQL) escaped.
fn comment(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// A name cut to PostgreSQL's [`MAX_NAME_BYTES`] at a character boundary, as PostgreSQL
/// cuts it.
fn truncate(name: &str) -> &str {
    let mut end = name.len().min(MAX_NAME_BYTES);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    name.get(..end).unwrap_or(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(text: &str) -> PolicySet {
        PolicySet::parse(text).unwrap()
    }

    #[test]
    fn every_governed_and_catalog_table_is_protected_once() {
        let s = set(
            r#"{"catalog": {"tables": [{"name": "public.a", "columns": [{"name": "x"}]},
                                       {"name": "s.b", "columns": [{"name": "x"}]}]},
                "policies": [{"id": "p", "rules": [
                  {"type": "row_filter", "table": "a", "predicate": "x = 1"},
                  {"type": "deny", "table": "s.b", "columns": ["x"]}]}]}"#,
        );
        assert_eq!(
            governed_tables(&s),
            vec![TableName::new("public", "a"), TableName::new("s", "b")]
        );
        let sql = db_setup_sql(&s, Some("app")).unwrap();
        assert!(
            sql.contains("SELECT pg_temp.verdict_protect('public', 'a', 'app', 'verdict_app');")
        );
        assert!(sql.contains("SELECT pg_temp.verdict_protect('s', 'b', 'app', 'verdict_app');"));
        assert!(sql.contains("SELECT pg_temp.verdict_check_role('app');"));
        assert_eq!(sql.matches("verdict_protect('").count(), 2);
        let public = db_setup_sql(&s, None).unwrap();
        assert!(public.contains("verdict_protect('public', 'a', NULL, 'verdict');"));
        assert!(!public.contains("verdict_check_role('"));
    }

    #[test]
    fn names_are_quoted_and_cannot_leave_their_literal_or_comment() {
        let s = set(r#"{"policies": [{"id": "p", "rules": [
                  {"type": "deny", "table": "\"we'ird\\x\".\"t\nx\""}]}]}"#);
        let sql = db_setup_sql(&s, Some("o'ne\\il")).unwrap();
        // Literals: quotes doubled; a backslash makes it an E'' literal with it doubled.
        assert!(sql.contains("E'o''ne\\\\il'"), "{sql}");
        assert!(
            sql.contains("verdict_protect(E'we''ird\\\\x', 't\nx', "),
            "{sql}"
        );
        // The line break of the table's name is escaped in the comment.
        assert!(sql.contains("-- \"we'ird\\x\".\"t\\nx\"\n"), "{sql}");
        assert!(!sql.lines().any(|l| l == "x\""), "{sql}");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_literal("a'b"), "'a''b'");
        assert_eq!(quote_literal("a\\'b"), "E'a\\\\''b'");
    }

    #[test]
    fn bad_role_names_are_refused() {
        let s = set(r#"{"policies": []}"#);
        for bad in ["", "a\0b", "public", "PUBLIC", &"r".repeat(64)] {
            let e = db_setup_sql(&s, Some(bad)).unwrap_err();
            assert_eq!(e.code, "invalid_arguments", "{bad:?}");
        }
        assert!(db_setup_sql(&s, Some(&"r".repeat(63))).is_ok());
        // Long role names give a policy name PostgreSQL keeps whole.
        assert_eq!(policy_name(Some(&"é".repeat(40))).len(), 62);
    }
}
