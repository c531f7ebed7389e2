//! The editor's documents as JSON values: a draft policy in the server's shape (the engine's
//! policy object plus `assignments`), conversions to what the engine and the server take,
//! and field diffs. Pure: no DOM, so it is tested natively.

use serde_json::{json, Map, Value};

/// Members the server adds to a stored policy; never sent back and never shown in the form.
pub const METADATA_KEYS: &[&str] = &[
    "assigned",
    "revision",
    "created_at",
    "created_by",
    "updated_at",
    "updated_by",
];

/// Rule types, in the order the "add rule" menu lists them.
pub const RULE_TYPES: &[(&str, &str)] = &[
    ("row_filter", "Row filter"),
    ("column_mask", "Column mask"),
    ("deny", "Deny"),
    ("data_retention", "Data retention"),
    ("query_restriction", "Query restriction"),
    ("query_limit", "Query limit"),
];

/// The JSON names of an engine list of `(name, value)` pairs (`Operation::ALL`,
/// `StatementKind::ALL`), in its order: the words a checkbox group offers.
pub fn names<T>(all: &'static [(&'static str, T)]) -> Vec<&'static str> {
    all.iter().map(|(name, _)| *name).collect()
}

/// The numeric fields of a `query_limit` rule.
pub const LIMIT_FIELDS: &[(&str, &str)] = &[
    ("max_rows", "Max rows (LIMIT)"),
    ("max_joins", "Max joins"),
    ("queries_per_hour", "Queries per hour"),
    ("queries_per_day", "Queries per day"),
    ("max_execution_ms", "Max execution (ms)"),
];

/// The lists of an `except` (and `applies_to`) object.
pub const SUBJECT_LISTS: &[(&str, &str)] = &[
    ("users", "Users"),
    ("roles", "Roles"),
    ("workspaces", "Workspaces"),
    ("data_sources", "Data sources"),
    ("purposes", "Purposes"),
];

/// A new policy: enabled, enforced, no rules yet, and assigned to no one: the author
/// chooses where it applies (a policy applied to everyone by default is a risky start).
pub fn new_policy(id: &str) -> Value {
    json!({
        "id": id,
        "name": "",
        "priority": 0,
        "enabled": true,
        "mode": "enforce",
        "rules": [],
        "assignments": [],
    })
}

/// A new rule of a type, with the fields its form shows filled with starting values.
pub fn new_rule(rule_type: &str, table: &str) -> Value {
    match rule_type {
        "row_filter" => json!({"type": "row_filter", "table": table, "predicate": ""}),
        "column_mask" => {
            json!({"type": "column_mask", "table": table, "column": "", "mask": {"kind": "redact"}})
        }
        "deny" => json!({"type": "deny", "table": table}),
        "data_retention" => {
            json!({"type": "data_retention", "table": table, "column": "", "keep": "90 days"})
        }
        "query_restriction" => {
            json!({"type": "query_restriction", "denied_functions": ["pg_sleep"]})
        }
        _ => json!({"type": "query_limit", "max_rows": 1000}),
    }
}

/// Splits a JSON pointer (`/rules/0/mask/kind`) into its tokens.
fn tokens(pointer: &str) -> Vec<String> {
    pointer
        .split('/')
        .skip(1)
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect()
}

/// Sets the value at a JSON pointer, creating objects on the way; `None` removes it.
pub fn set_pointer(doc: &mut Value, pointer: &str, value: Option<Value>) {
    let toks = tokens(pointer);
    let Some((last, parents)) = toks.split_last() else {
        if let Some(v) = value {
            *doc = v;
        }
        return;
    };
    let mut node = doc;
    for tok in parents {
        if !node.is_object() && !node.is_array() {
            *node = Value::Object(Map::new());
        }
        node = match node {
            Value::Object(map) => map
                .entry(tok.clone())
                .or_insert_with(|| Value::Object(Map::new())),
            Value::Array(items) => match tok.parse::<usize>().ok().and_then(|i| items.get_mut(i)) {
                Some(item) => item,
                None => return,
            },
            _ => return,
        };
    }
    match node {
        Value::Object(map) => match value {
            Some(v) => {
                map.insert(last.clone(), v);
            }
            None => {
                map.remove(last);
            }
        },
        Value::Array(items) => {
            if let Ok(i) = last.parse::<usize>() {
                match value {
                    Some(v) => {
                        if let Some(slot) = items.get_mut(i) {
                            *slot = v;
                        } else if i == items.len() {
                            items.push(v);
                        }
                    }
                    None => {
                        if i < items.len() {
                            items.remove(i);
                        }
                    }
                }
            }
        }
        other => {
            if let Some(v) = value {
                let mut map = Map::new();
                map.insert(last.clone(), v);
                *other = Value::Object(map);
            }
        }
    }
}

/// The text form of a value at a pointer: strings as they are, numbers printed, else "".
pub fn text_at(doc: &Value, pointer: &str) -> String {
    match doc.pointer(pointer) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Bool(b)) => b.to_string(),
        _ => String::new(),
    }
}

/// A list of strings at a pointer (a lone string counts as a one-item list).
pub fn list_at(doc: &Value, pointer: &str) -> Vec<String> {
    match doc.pointer(pointer) {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        Some(Value::String(s)) => vec![s.clone()],
        _ => Vec::new(),
    }
}

/// A comma-separated list as JSON strings, trimmed, empty entries dropped.
pub fn parse_list(text: &str) -> Vec<Value> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| Value::String(s.to_string()))
        .collect()
}

/// The value a number field holds: an integer when the text is one, else the text itself
/// (so the engine reports it), `None` when empty.
pub fn number_value(text: &str) -> Option<Value> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    Some(match t.parse::<i64>() {
        Ok(n) => json!(n),
        Err(_) => Value::String(t.to_string()),
    })
}

/// The draft without the server's metadata (what the raw tab shows and what is saved).
pub fn strip_metadata(draft: &Value) -> Value {
    match draft {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| !METADATA_KEYS.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// `(kind, value)` of each assignment of a draft.
pub fn assignments(draft: &Value) -> Vec<(String, String)> {
    draft
        .get("assignments")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|a| {
                    Some((
                        a.get("kind")?.as_str()?.to_string(),
                        a.get("value")?.as_str()?.to_string(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The policy object the engine takes, as the server builds it for its active set:
/// metadata dropped, user/role/workspace/data source/purpose assignments as `applies_to`.
pub fn engine_policy(draft: &Value) -> Value {
    let mut obj = match strip_metadata(draft) {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    let specs = assignments(draft);
    obj.remove("assignments");
    // Seed fields (`table_name`, `row_filter_dsl`, `column_masks`) become rules as the
    // server makes them; a tree that does not compile stays, so that the engine names it.
    let mut expanded = obj.clone();
    if verdict_engine::policy::dsl::expand_seed_fields(&mut expanded).is_ok() {
        obj = expanded;
    }
    for f in verdict_api_model::SERVER_FIELDS {
        obj.remove(*f);
    }
    let applies_to =
        verdict_engine::policy::applies_to_of(specs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    if !applies_to.is_empty() {
        obj.insert("applies_to".to_string(), Value::Object(applies_to));
    }
    Value::Object(obj)
}

/// Whether the server would put this policy in its active set at all (it has an assignment).
pub fn is_assigned(draft: &Value) -> bool {
    !assignments(draft).is_empty()
}

/// The body of a PATCH that turns `stored` into `draft`: every field of the draft, `null`
/// for fields the draft dropped, and the assignment list.
pub fn patch_body(stored: &Value, draft: &Value) -> Value {
    let mut body = match strip_metadata(draft) {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    if let Value::Object(old) = strip_metadata(stored) {
        for key in old.keys() {
            if !body.contains_key(key) && key != "assignments" {
                body.insert(key.clone(), Value::Null);
            }
        }
    }
    if !body.contains_key("assignments") {
        body.insert("assignments".into(), json!([]));
    }
    Value::Object(body)
}

/// One field that differs between two policies.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldChange {
    /// A top-level field, `rules[i]` for one rule, or `assignments`.
    pub field: String,
    /// `added`, `removed` or `changed` (from `a` to `b`).
    pub change: &'static str,
    pub before: Value,
    pub after: Value,
}

fn change(field: String, a: Option<&Value>, b: Option<&Value>) -> Option<FieldChange> {
    if a == b {
        return None;
    }
    let change = match (a, b) {
        (None, Some(_)) => "added",
        (Some(_), None) => "removed",
        _ => "changed",
    };
    Some(FieldChange {
        field,
        change,
        before: a.cloned().unwrap_or(Value::Null),
        after: b.cloned().unwrap_or(Value::Null),
    })
}

/// The field-level difference from `a` to `b` (metadata ignored; rules compared one by one,
/// assignments as a set), in the same terms as the server's version diff.
pub fn field_diff(a: &Value, b: &Value) -> Vec<FieldChange> {
    let empty = Map::new();
    let (sa, sb) = (strip_metadata(a), strip_metadata(b));
    let pa = sa.as_object().unwrap_or(&empty);
    let pb = sb.as_object().unwrap_or(&empty);
    let mut keys: Vec<&String> = pa.keys().chain(pb.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut out = Vec::new();
    for key in keys {
        let (va, vb) = (pa.get(key), pb.get(key));
        match (key.as_str(), va, vb) {
            ("rules", Some(Value::Array(ra)), Some(Value::Array(rb))) => {
                for i in 0..ra.len().max(rb.len()) {
                    out.extend(change(format!("rules[{i}]"), ra.get(i), rb.get(i)));
                }
            }
            ("assignments", _, _) => {
                let mut xa = assignments(a);
                let mut xb = assignments(b);
                xa.sort();
                xb.sort();
                if xa != xb {
                    out.extend(change(key.clone(), va, vb));
                }
            }
            _ => out.extend(change(key.clone(), va, vb)),
        }
    }
    out
}

/// A short one-line form of a value for diffs and lists.
pub fn short(value: &Value) -> String {
    match value {
        Value::Null => "—".to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The types of the rules of a policy, deduplicated, in order.
pub fn rule_types(policy: &Value) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    if let Some(rules) = policy.get("rules").and_then(Value::as_array) {
        for r in rules {
            if let Some(t) = r.get("type").and_then(Value::as_str) {
                if !out.iter().any(|x| x == t) {
                    out.push(t.to_string());
                }
            }
        }
    }
    out
}

/// Table names listed by a catalog value, in order.
pub fn catalog_tables(catalog: &Value) -> Vec<String> {
    catalog
        .get("tables")
        .and_then(Value::as_array)
        .map(|ts| {
            ts.iter()
                .filter_map(|t| t.get("name").and_then(Value::as_str).map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Column names of a catalog table, matched on the unqualified or qualified name.
pub fn catalog_columns(catalog: &Value, table: &str) -> Vec<String> {
    let want = table.trim().to_lowercase();
    let bare = want.rsplit('.').next().unwrap_or("").to_string();
    let Some(tables) = catalog.get("tables").and_then(Value::as_array) else {
        return Vec::new();
    };
    for t in tables {
        let name = t
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_lowercase();
        let name_bare = name.rsplit('.').next().unwrap_or("").to_string();
        if name == want
            || (name_bare == bare && !want.contains('.'))
            || name == format!("public.{want}")
        {
            return t
                .get("columns")
                .and_then(Value::as_array)
                .map(|cs| {
                    cs.iter()
                        .filter_map(|c| match c {
                            Value::String(s) => Some(s.clone()),
                            Value::Object(o) => {
                                o.get("name").and_then(Value::as_str).map(str::to_string)
                            }
                            _ => None,
                        })
                        .collect()
                })
                .unwrap_or_default();
        }
    }
    Vec::new()
}

/// Parses policy text in JSON or YAML (`yaml`) into a value.
pub fn parse_text(text: &str, yaml: bool) -> Result<Value, String> {
    if yaml {
        serde_yaml_ng::from_str::<Value>(text).map_err(|e| match e.location() {
            Some(loc) => format!(
                "line {}, column {}: {}",
                loc.line(),
                loc.column(),
                strip_location(&e.to_string())
            ),
            None => e.to_string(),
        })
    } else {
        serde_json::from_str::<Value>(text)
            .map_err(|e| format!("line {}, column {}: {}", e.line(), e.column(), json_msg(&e)))
    }
}

fn json_msg(e: &serde_json::Error) -> String {
    let s = e.to_string();
    match s.find(" at line ") {
        Some(i) => s.get(..i).unwrap_or(&s).to_string(),
        None => s,
    }
}

fn strip_location(s: &str) -> String {
    match s.find(" at line ") {
        Some(i) => s.get(..i).unwrap_or(s).to_string(),
        None => s.to_string(),
    }
}

/// Prints a value as JSON (indented) or YAML.
pub fn print_text(value: &Value, yaml: bool) -> String {
    if yaml {
        serde_yaml_ng::to_string(value).unwrap_or_default()
    } else {
        serde_json::to_string_pretty(value).unwrap_or_default()
    }
}

/// Who wins one field of a three-way merge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pick {
    Theirs,
    Mine,
}

/// One field that differs between their saved copy and my draft, with the copy both
/// started from.
#[derive(Debug, Clone, PartialEq)]
pub struct MergeField {
    /// A top-level field, `rules[i]` for one rule, or `assignments`.
    pub field: String,
    pub base: Option<Value>,
    pub theirs: Option<Value>,
    pub mine: Option<Value>,
    /// The side that changed it alone, or `None` when both changed it (a conflict: the
    /// author must choose).
    pub suggested: Option<Pick>,
}

fn merge_slot(value: &Value, field: &str) -> Option<Value> {
    if let Some(i) = field
        .strip_prefix("rules[")
        .and_then(|r| r.strip_suffix(']'))
        .and_then(|n| n.parse::<usize>().ok())
    {
        return value
            .get("rules")
            .and_then(Value::as_array)?
            .get(i)
            .cloned();
    }
    value.get(field).cloned()
}

/// The fields where `theirs` and `mine` differ, each with `base` (what both started from)
/// and who changed it: a field only they changed keeps theirs, one only I changed keeps
/// mine, one both changed differently is a conflict. Assignments compare as a set.
pub fn merge_fields(base: &Value, theirs: &Value, mine: &Value) -> Vec<MergeField> {
    let same = |field: &str, a: &Option<Value>, b: &Option<Value>| {
        if field == "assignments" {
            let set = |v: &Option<Value>| {
                let mut x = v
                    .as_ref()
                    .map(|a| assignments(&json!({"assignments": a})))
                    .unwrap_or_default();
                x.sort();
                x
            };
            set(a) == set(b)
        } else {
            a == b
        }
    };
    field_diff(theirs, mine)
        .into_iter()
        .map(|c| {
            let field = c.field;
            let (b, t, m) = (
                merge_slot(&strip_metadata(base), &field),
                merge_slot(&strip_metadata(theirs), &field),
                merge_slot(&strip_metadata(mine), &field),
            );
            let suggested = if same(&field, &b, &t) {
                Some(Pick::Mine)
            } else if same(&field, &b, &m) {
                Some(Pick::Theirs)
            } else {
                None
            };
            MergeField {
                field,
                base: b,
                theirs: t,
                mine: m,
                suggested,
            }
        })
        .collect()
}

/// Their copy with each chosen field taken from mine (a field without a choice keeps
/// theirs). Rules are merged by position; a rule absent from the chosen side is dropped.
pub fn apply_merge(theirs: &Value, fields: &[MergeField], picks: &[Option<Pick>]) -> Value {
    let mut out = strip_metadata(theirs);
    let mut rules: Vec<Option<Value>> = out
        .get("rules")
        .and_then(Value::as_array)
        .map(|r| r.iter().cloned().map(Some).collect())
        .unwrap_or_default();
    let mut rules_touched = false;
    for (f, pick) in fields.iter().zip(picks) {
        if *pick != Some(Pick::Mine) {
            continue;
        }
        let index = f
            .field
            .strip_prefix("rules[")
            .and_then(|r| r.strip_suffix(']'))
            .and_then(|n| n.parse::<usize>().ok());
        match index {
            Some(i) => {
                if rules.len() <= i {
                    rules.resize(i + 1, None);
                }
                if let Some(slot) = rules.get_mut(i) {
                    *slot = f.mine.clone();
                }
                rules_touched = true;
            }
            None => set_pointer(&mut out, &format!("/{}", f.field), f.mine.clone()),
        }
    }
    if rules_touched {
        let list: Vec<Value> = rules.into_iter().flatten().collect();
        set_pointer(&mut out, "/rules", Some(Value::Array(list)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_engine_rule_type_can_be_added_and_loads() {
        let engine: Vec<&str> = verdict_engine::policy::RuleType::ALL
            .iter()
            .map(|(n, _)| *n)
            .collect();
        let menu: Vec<&str> = RULE_TYPES.iter().map(|(n, _)| *n).collect();
        assert_eq!(menu, engine);
        // Each new rule, completed the way its form asks, is a rule the engine loads.
        for (t, _) in RULE_TYPES {
            let mut rule = new_rule(t, "orders");
            if rule.get("predicate").is_some() {
                rule["predicate"] = json!("tenant_id = 1");
            }
            if rule.get("column").is_some() {
                rule["column"] = json!(if *t == "data_retention" {
                    "created_at"
                } else {
                    "email"
                });
            }
            let set = json!({"policies": [{"id": "p", "rules": [rule]}]});
            assert!(
                verdict_engine::PolicySet::parse(&set.to_string()).is_ok(),
                "{t}: {set}"
            );
        }
    }

    #[test]
    fn set_pointer_creates_and_removes() {
        let mut doc = json!({"rules": [{"type": "column_mask"}]});
        set_pointer(&mut doc, "/rules/0/mask/kind", Some(json!("hash")));
        assert_eq!(doc["rules"][0]["mask"]["kind"], "hash");
        set_pointer(&mut doc, "/rules/0/mask", None);
        assert_eq!(doc["rules"][0], json!({"type": "column_mask"}));
        set_pointer(&mut doc, "/rules/1", Some(json!({"type": "deny"})));
        assert_eq!(doc["rules"].as_array().unwrap().len(), 2);
        set_pointer(&mut doc, "/rules/0", None);
        assert_eq!(doc["rules"][0]["type"], "deny");
        set_pointer(&mut doc, "/except/users", Some(json!(["dpo"])));
        assert_eq!(doc["except"]["users"][0], "dpo");
    }

    #[test]
    fn engine_policy_compiles_seed_fields_as_the_server_does() {
        let draft = json!({"id": "p", "rules": [], "table_name": "orders", "source": "imported",
            "row_filter_dsl": {"eq": ["tenant_id", {"ctx": "attr.tenant_id"}]},
            "column_masks": {"email": "redact"}});
        let p = engine_policy(&draft);
        let rules = p["rules"].as_array().unwrap();
        assert_eq!(rules.len(), 2, "{p}");
        assert_eq!(rules[0]["type"], "row_filter");
        assert_eq!(rules[0]["table"], "orders");
        assert_eq!(rules[1]["type"], "column_mask");
        assert!(
            p.get("row_filter_dsl").is_none() && p.get("source").is_none(),
            "{p}"
        );
        verdict_engine::PolicySet::from_json(&json!([p])).unwrap();
    }

    #[test]
    fn engine_policy_turns_assignments_into_applies_to() {
        let draft = json!({"id": "p", "revision": 3, "assigned": true, "rules": [],
            "policy_type": "access_control", "action": "block", "risk": "high",
            "assignments": [{"kind": "role", "value": "analyst"}, {"kind": "user", "value": "bob"},
                            {"kind": "everyone", "value": "*"}]});
        let p = engine_policy(&draft);
        assert_eq!(
            p,
            json!({"id": "p", "rules": [], "applies_to": {"users": ["bob"], "roles": ["analyst"]}})
        );
    }

    #[test]
    fn patch_body_clears_dropped_fields() {
        let stored = json!({"id": "p", "name": "n", "description": "d", "revision": 2,
            "assignments": [{"kind": "everyone", "value": "*", "id": "a1"}]});
        let draft = json!({"id": "p", "name": "m", "assignments": []});
        assert_eq!(
            patch_body(&stored, &draft),
            json!({"id": "p", "name": "m", "assignments": [], "description": null})
        );
    }

    #[test]
    fn field_diff_compares_rules_one_by_one() {
        let a = json!({"id": "p", "priority": 1, "rules": [{"type": "deny", "table": "t"}],
            "assignments": [{"kind": "role", "value": "x", "id": "1"}], "revision": 1});
        let b = json!({"id": "p", "priority": 2, "rules": [{"type": "deny", "table": "t"},
            {"type": "deny", "table": "u"}], "assignments": [{"kind": "role", "value": "x"}], "revision": 2});
        let d = field_diff(&a, &b);
        let fields: Vec<(&str, &str)> = d.iter().map(|c| (c.field.as_str(), c.change)).collect();
        assert_eq!(fields, vec![("priority", "changed"), ("rules[1]", "added")]);
    }

    #[test]
    fn parse_text_reports_positions() {
        let err = parse_text("{\n  \"id\": }", false).unwrap_err();
        assert!(err.starts_with("line 2, column"), "{err}");
        let v = parse_text("id: p\nrules: []\n", true).unwrap();
        assert_eq!(v, json!({"id": "p", "rules": []}));
    }

    #[test]
    fn catalog_lookup_by_bare_name() {
        let cat = json!({"tables": [{"name": "public.orders", "columns": [{"name": "id"}, "tenant_id"]}]});
        assert_eq!(catalog_columns(&cat, "orders"), vec!["id", "tenant_id"]);
        assert_eq!(
            catalog_columns(&cat, "public.orders"),
            vec!["id", "tenant_id"]
        );
        assert!(catalog_columns(&cat, "x").is_empty());
    }

    #[test]
    fn three_way_merge_keeps_each_side_s_own_changes() {
        let base = json!({"id": "p", "name": "A", "priority": 0, "assignments": [{"kind": "role", "value": "r"}],
            "rules": [{"type": "column_mask", "table": "t", "column": "c", "mask": {"kind": "email"}},
                      {"type": "deny", "table": "u"}]});
        let mut theirs = base.clone();
        theirs["name"] = json!("Theirs");
        theirs["rules"][0]["mask"] = json!({"kind": "hash"});
        theirs["revision"] = json!(2);
        let mut mine = base.clone();
        mine["name"] = json!("Mine");
        mine["priority"] = json!(5);
        mine["rules"][1] = json!({"type": "deny", "table": "v"});
        let fields = merge_fields(&base, &theirs, &mine);
        let summary: Vec<(&str, Option<Pick>)> = fields
            .iter()
            .map(|f| (f.field.as_str(), f.suggested))
            .collect();
        assert_eq!(
            summary,
            [
                ("name", None),
                ("priority", Some(Pick::Mine)),
                ("rules[0]", Some(Pick::Theirs)),
                ("rules[1]", Some(Pick::Mine)),
            ]
        );
        // The suggestions, with the conflict given to them: their mask change survives.
        let mut picks: Vec<Option<Pick>> = fields.iter().map(|f| f.suggested).collect();
        picks[0] = Some(Pick::Theirs);
        let merged = apply_merge(&theirs, &fields, &picks);
        assert_eq!(merged["name"], "Theirs");
        assert_eq!(merged["priority"], 5);
        assert_eq!(merged["rules"][0]["mask"]["kind"], "hash");
        assert_eq!(merged["rules"][1]["table"], "v");
        assert!(merged.get("revision").is_none());
        // Mine everywhere is the overwrite: it reverts their mask.
        let all_mine = vec![Some(Pick::Mine); fields.len()];
        let overwrite = apply_merge(&theirs, &fields, &all_mine);
        assert_eq!(overwrite["rules"][0]["mask"]["kind"], "email");
        assert_eq!(overwrite["name"], "Mine");
    }

    #[test]
    fn merge_adds_and_drops_whole_rules_and_fields() {
        let base = json!({"id": "p", "rules": [{"type": "deny", "table": "a"}]});
        let theirs =
            json!({"id": "p", "description": "d", "rules": [{"type": "deny", "table": "a"}]});
        let mine = json!({"id": "p", "rules": [{"type": "deny", "table": "a"}, {"type": "deny", "table": "b"}]});
        let fields = merge_fields(&base, &theirs, &mine);
        let picks: Vec<Option<Pick>> = fields.iter().map(|f| f.suggested).collect();
        let merged = apply_merge(&theirs, &fields, &picks);
        assert_eq!(merged["description"], "d");
        assert_eq!(merged["rules"].as_array().map(Vec::len), Some(2));
        // Choosing "mine" for a field I never had removes it.
        let mut picks = picks;
        let at = fields
            .iter()
            .position(|f| f.field == "description")
            .unwrap();
        picks[at] = Some(Pick::Mine);
        let merged = apply_merge(&theirs, &fields, &picks);
        assert!(merged.get("description").is_none());
    }
}
