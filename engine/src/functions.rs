//! Functions that read data or files without naming a governed table, or change server
//! state: they cannot be proven safe, so any statement calling them is blocked (SPEC §7).

use sqlparser::ast::ObjectName;

use crate::ident;

/// Exact names, and why each is denied.
const DENIED: &[(&str, &str)] = &[
    ("pg_read_file", "it reads server files"),
    ("pg_read_binary_file", "it reads server files"),
    ("pg_ls_dir", "it lists server directories"),
    ("pg_stat_file", "it reads server file metadata"),
    ("pg_ls_logdir", "it lists server directories"),
    ("pg_ls_waldir", "it lists server directories"),
    ("pg_ls_tmpdir", "it lists server directories"),
    ("pg_ls_archive_statusdir", "it lists server directories"),
    ("pg_file_write", "it writes server files"),
    ("pg_file_rename", "it changes server files"),
    ("pg_file_unlink", "it removes server files"),
    ("pg_logdir_ls", "it lists server directories"),
    ("loread", "it reads large objects"),
    ("lowrite", "it writes large objects"),
    ("ts_stat", "it runs a query given as text"),
    ("ts_rewrite", "it can run a query given as text"),
    (
        "get_raw_page",
        "it reads raw table pages around the policies",
    ),
    (
        "heap_page_items",
        "it reads raw table pages around the policies",
    ),
    (
        "heap_page_item_attrs",
        "it reads raw table pages around the policies",
    ),
    (
        "tuple_data_split",
        "it reads raw table pages around the policies",
    ),
    (
        "bt_page_items",
        "it reads raw index pages around the policies",
    ),
    (
        "brin_page_items",
        "it reads raw index pages around the policies",
    ),
    (
        "gin_leafpage_items",
        "it reads raw index pages around the policies",
    ),
    ("pgstattuple", "it reveals statistics of tables' rows"),
    (
        "pg_buffercache_pages",
        "it reveals the server's cached pages",
    ),
    (
        "current_setting",
        "it reads server settings (only `verdict.` settings are allowed)",
    ),
    ("set_config", "it changes session settings"),
    ("pg_terminate_backend", "it controls server processes"),
    ("pg_cancel_backend", "it controls server processes"),
    ("pg_reload_conf", "it controls the server"),
    ("pg_rotate_logfile", "it controls the server"),
    ("pg_promote", "it controls the server"),
    ("pg_switch_wal", "it controls the server"),
    ("pg_create_restore_point", "it controls the server"),
    ("pg_backup_start", "it controls the server"),
    ("pg_backup_stop", "it controls the server"),
    ("pg_notify", "it sends notifications to other sessions"),
    (
        "pg_relation_size",
        "it reveals the size of a table's stored rows",
    ),
    (
        "pg_table_size",
        "it reveals the size of a table's stored rows",
    ),
    (
        "pg_total_relation_size",
        "it reveals the size of a table's stored rows",
    ),
    (
        "pg_indexes_size",
        "it reveals the size of a table's stored rows",
    ),
    (
        "pg_column_size",
        "it is not needed by queries and measures stored values",
    ),
];

/// Name prefixes, and why each family is denied.
const DENIED_PREFIXES: &[(&str, &str)] = &[
    ("lo_", "it reads or writes large objects or server files"),
    ("dblink", "it connects to other databases"),
    ("query_to_xml", "it runs a query given as text"),
    (
        "table_to_xml",
        "it reads a table by name, around the policies",
    ),
    ("cursor_to_xml", "it reads a cursor around the policies"),
    (
        "schema_to_xml",
        "it reads whole schemas around the policies",
    ),
    (
        "database_to_xml",
        "it reads the whole database around the policies",
    ),
    ("pg_sleep", "it holds the connection"),
    ("pg_stat_get_", "it reveals statistics of tables' rows"),
    (
        "pg_logical_",
        "it reads the write-ahead log, which holds every table's rows",
    ),
    (
        "pg_get_wal",
        "it reads the write-ahead log, which holds every table's rows",
    ),
    ("pg_replication_", "it controls replication"),
    ("pg_create_", "it changes server state"),
    ("pg_drop_replication", "it changes server state"),
];

/// The normalized function name, without a `pg_catalog.` qualifier.
pub fn normalized_name(name: &ObjectName) -> Option<String> {
    let parts = ident::object_parts(name)?;
    match parts.as_slice() {
        [f] => Some(ident::normalize(f)),
        [schema, f] if ident::normalize(schema) == "pg_catalog" => Some(ident::normalize(f)),
        _ => None,
    }
}

/// Why a call to this function is denied, or `None` when it may run.
pub fn denied_reason(name: &ObjectName) -> Option<&'static str> {
    if name.0.len() > 2 {
        // `db.schema.f(…)` is `schema.f` of the current database to PostgreSQL; the
        // engine, which does not know that name, would not recognise the function.
        return Some("it names a database; call it as `f(…)` or `schema.f(…)`");
    }
    let f = normalized_name(name)?;
    denied_reason_for(&f)
}

/// Why a call to this normalized name is denied.
pub fn denied_reason_for(f: &str) -> Option<&'static str> {
    if let Some((_, why)) = DENIED.iter().find(|(n, _)| *n == f) {
        return Some(why);
    }
    DENIED_PREFIXES
        .iter()
        .find(|(p, _)| f.starts_with(p))
        .map(|(_, why)| *why)
}

/// Whether `name` (normalized) is a built-in function that PostgreSQL would call on a whole
/// row written in functional notation (`t.name` for `name(t)`) when `t` has no column
/// `name`: the functions of `pg_catalog` that take one argument of type `record`,
/// `anyelement`, `anynonarray`, `anycompatible`, `anycompatiblenonarray` or `"any"`
/// (also as a variadic list), as PostgreSQL 15's `pg_proc` lists them. Needed only where
/// the relation's columns are unknown; with them, any name that is not a column counts.
pub fn takes_a_row(name: &str) -> bool {
    ROW_TAKING.binary_search(&name).is_ok()
}

/// [`takes_a_row`]'s names, sorted.
const ROW_TAKING: &[&str] = &[
    "any_out",
    "anycompatible_out",
    "anycompatiblenonarray_out",
    "anyelement_out",
    "anynonarray_out",
    "array_agg",
    "concat",
    "count",
    "cume_dist",
    "dense_rank",
    "first_value",
    "hash_record",
    "json_agg",
    "json_build_array",
    "json_build_object",
    "jsonb_agg",
    "jsonb_build_array",
    "jsonb_build_object",
    "lag",
    "last_value",
    "lead",
    "mode",
    "num_nonnulls",
    "num_nulls",
    "percent_rank",
    "pg_collation_for",
    "pg_column_compression",
    "pg_column_size",
    "pg_typeof",
    "quote_literal",
    "quote_nullable",
    "rank",
    "record_out",
    "record_send",
    "row_to_json",
    "to_json",
    "to_jsonb",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_taking_names_are_sorted() {
        assert!(ROW_TAKING.windows(2).all(|w| w[0] < w[1]));
        assert!(takes_a_row("row_to_json") && takes_a_row("to_jsonb") && !takes_a_row("name"));
    }

    #[test]
    fn denies_known_families() {
        for f in [
            "pg_read_file",
            "lo_import",
            "dblink_exec",
            "query_to_xml_and_xmlschema",
            "pg_sleep_for",
        ] {
            assert!(denied_reason_for(f).is_some(), "{f}");
        }
        for f in ["lower", "count", "row_to_json", "coalesce", "local_time"] {
            assert!(denied_reason_for(f).is_none(), "{f}");
        }
    }
}
