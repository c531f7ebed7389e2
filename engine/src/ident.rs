//! Identifiers: PostgreSQL case folding, and quoting when printed.

use sqlparser::ast::{Ident, ObjectName, ObjectNamePart};

/// The most bytes a name has in PostgreSQL (`NAMEDATALEN - 1`): it cuts every longer
/// identifier it reads (quoted or not, after case folding) to this many bytes, at a
/// character boundary.
pub const MAX_NAME_BYTES: usize = 63;

/// The name PostgreSQL means by an identifier: unquoted ones fold ASCII letters to lower case
/// (as PostgreSQL does in multibyte encodings such as UTF8), and every name is cut to
/// [`MAX_NAME_BYTES`] ([`truncate`]), so two identifiers that differ only past that are one
/// name, as they are to PostgreSQL.
pub fn normalize(ident: &Ident) -> String {
    normalized(ident).into_owned()
}

/// [`normalize`] without allocating when the identifier is already in normal form.
pub fn normalized(ident: &Ident) -> std::borrow::Cow<'_, str> {
    let value = ident.value.as_str();
    let folded = ident.quote_style.is_none() && value.bytes().any(|b| b.is_ascii_uppercase());
    if folded {
        let mut lower = value.to_ascii_lowercase();
        let keep = truncate(&lower).len();
        lower.truncate(keep);
        std::borrow::Cow::Owned(lower)
    } else {
        std::borrow::Cow::Borrowed(truncate(value))
    }
}

/// The identifier case-folded as [`normalize`] does, but not cut to [`MAX_NAME_BYTES`]:
/// for policy files, where a longer name is a mistake to report.
pub fn folded(ident: &Ident) -> String {
    if ident.quote_style.is_some() {
        ident.value.clone()
    } else {
        ident.value.to_ascii_lowercase()
    }
}

/// The name as PostgreSQL keeps it: its longest prefix of at most [`MAX_NAME_BYTES`] bytes
/// that ends on a character boundary (PostgreSQL's `truncate_identifier`, `pg_mbcliplen`).
pub fn truncate(name: &str) -> &str {
    if name.len() <= MAX_NAME_BYTES {
        return name;
    }
    let mut end = MAX_NAME_BYTES;
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    name.get(..end).unwrap_or_default()
}

/// An identifier for a normalized name, quoted whenever printing it bare could change its meaning.
pub fn make_ident(name: &str) -> Ident {
    if needs_quotes(name) {
        Ident::with_quote('"', name)
    } else {
        Ident::new(name)
    }
}

/// Whether a normalized name must be double-quoted to mean itself.
pub fn needs_quotes(name: &str) -> bool {
    let mut chars = name.chars();
    let simple = match chars.next() {
        Some(c) => {
            (c.is_ascii_lowercase() || c == '_')
                && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        }
        None => false,
    };
    if !simple {
        return true;
    }
    is_reserved_word(name) || COLUMN_NAME_WORDS.binary_search(&name).is_ok()
}

/// Whether `word` (in any letter case) is one of PostgreSQL's reserved key words, or of
/// those reserved but allowed as function or type names: bare, PostgreSQL never reads it as
/// a table or column name (a column-name key word such as `date` it does).
pub fn is_reserved_word(word: &str) -> bool {
    RESERVED_WORDS
        .binary_search_by(|w| w.bytes().cmp(word.bytes().map(|b| b.to_ascii_lowercase())))
        .is_ok()
}

/// PostgreSQL's reserved key words, and those reserved "but can be function or type"
/// (`kwlist.h`: `RESERVED_KEYWORD`, `TYPE_FUNC_NAME_KEYWORD`), sorted.
const RESERVED_WORDS: &[&str] = &[
    "all",
    "analyse",
    "analyze",
    "and",
    "any",
    "array",
    "as",
    "asc",
    "asymmetric",
    "authorization",
    "binary",
    "both",
    "case",
    "cast",
    "check",
    "collate",
    "collation",
    "column",
    "concurrently",
    "constraint",
    "create",
    "cross",
    "current_catalog",
    "current_date",
    "current_role",
    "current_schema",
    "current_time",
    "current_timestamp",
    "current_user",
    "default",
    "deferrable",
    "desc",
    "distinct",
    "do",
    "else",
    "end",
    "except",
    "false",
    "fetch",
    "for",
    "foreign",
    "freeze",
    "from",
    "full",
    "grant",
    "group",
    "having",
    "ilike",
    "in",
    "initially",
    "inner",
    "intersect",
    "into",
    "is",
    "isnull",
    "join",
    "lateral",
    "leading",
    "left",
    "like",
    "limit",
    "localtime",
    "localtimestamp",
    "natural",
    "not",
    "notnull",
    "null",
    "offset",
    "on",
    "only",
    "or",
    "order",
    "outer",
    "overlaps",
    "placing",
    "primary",
    "references",
    "returning",
    "right",
    "select",
    "session_user",
    "similar",
    "some",
    "symmetric",
    "system_user",
    "table",
    "tablesample",
    "then",
    "to",
    "trailing",
    "true",
    "union",
    "unique",
    "user",
    "using",
    "variadic",
    "verbose",
    "when",
    "where",
    "window",
    "with",
];

/// Column-name key words (`kwlist.h`: `COL_NAME_KEYWORD`, sorted): PostgreSQL reads them
/// as names in some places only (`date` as a column, not as a function), so the engine
/// quotes them everywhere, which is never wrong.
const COLUMN_NAME_WORDS: &[&str] = &[
    "between",
    "bigint",
    "bit",
    "boolean",
    "char",
    "character",
    "coalesce",
    "date",
    "dec",
    "decimal",
    "exists",
    "extract",
    "float",
    "greatest",
    "grouping",
    "inout",
    "int",
    "integer",
    "interval",
    "least",
    "national",
    "nchar",
    "none",
    "normalize",
    "nullif",
    "numeric",
    "out",
    "overlay",
    "position",
    "precision",
    "real",
    "row",
    "setof",
    "smallint",
    "substring",
    "time",
    "timestamp",
    "treat",
    "trim",
    "values",
    "varchar",
    "xmlattributes",
    "xmlconcat",
    "xmlelement",
    "xmlexists",
    "xmlforest",
    "xmlnamespaces",
    "xmlparse",
    "xmlpi",
    "xmlroot",
    "xmlserialize",
    "xmltable",
];

/// Prints a normalized name, quoting it when needed.
pub fn display(name: &str) -> String {
    Shown(name).to_string()
}

/// A normalized name as [`make_ident`]'s identifier prints, written without building the
/// identifier: bare, or double-quoted with `"` doubled.
#[derive(Debug, Clone, Copy)]
pub struct Shown<'a>(pub &'a str);

impl Shown<'_> {
    /// Writes the name to `out`; into a `String`, without the formatting machinery's
    /// dynamic calls.
    pub fn write_to<W: std::fmt::Write>(&self, out: &mut W) -> std::fmt::Result {
        if !needs_quotes(self.0) {
            return out.write_str(self.0);
        }
        out.write_char('"')?;
        let mut rest = self.0;
        while let Some(at) = rest.find('"') {
            out.write_str(&rest[..=at])?;
            out.write_char('"')?;
            rest = &rest[at + 1..];
        }
        out.write_str(rest)?;
        out.write_char('"')
    }
}

impl std::fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.write_to(f)
    }
}

/// The identifier parts of an object name, or `None` when a part is not a plain identifier.
pub fn object_parts(name: &ObjectName) -> Option<Vec<&Ident>> {
    name.0
        .iter()
        .map(|part| match part {
            ObjectNamePart::Identifier(ident) => Some(ident),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_words_are_sorted_found_in_any_case_and_printed_quoted() {
        assert!(RESERVED_WORDS.windows(2).all(|w| w[0] < w[1]));
        for w in RESERVED_WORDS {
            assert!(is_reserved_word(w) && is_reserved_word(&w.to_ascii_uppercase()));
            assert!(needs_quotes(w), "{w} would print bare");
        }
        for name in ["orders", "date", "int", "row", "onl", "onlyx", "", "ÖNLY"] {
            assert!(!is_reserved_word(name), "{name}");
        }
        assert!(is_reserved_word("OnLy"));
    }

    #[test]
    fn cuts_names_to_63_bytes_at_a_character_boundary() {
        let a63 = "a".repeat(63);
        assert_eq!(normalize(&Ident::new(format!("{a63}x"))), a63);
        assert_eq!(normalize(&Ident::new(format!("{}XY", "A".repeat(63)))), a63);
        assert_eq!(normalize(&Ident::with_quote('"', format!("{a63}Q"))), a63);
        assert_eq!(normalize(&Ident::new(a63.clone())), a63);
        // 62 ASCII bytes and a two-byte character: the character does not fit.
        let cut = format!("{}é", "b".repeat(62));
        assert_eq!(
            normalize(&Ident::with_quote('"', cut.clone())),
            "b".repeat(62)
        );
        assert_eq!(truncate(&format!("{}€", "c".repeat(61))), "c".repeat(61));
        assert_eq!(
            truncate(&format!("{}€", "c".repeat(60))),
            format!("{}€", "c".repeat(60))
        );
        assert_eq!(truncate("€".repeat(30).as_str()).len(), 63);
        assert_eq!(truncate("é".repeat(40).as_str()).len(), 62);
        assert_eq!(folded(&Ident::new(format!("{a63}X"))), format!("{a63}x"));
        assert!(matches!(
            normalized(&Ident::new("orders")),
            std::borrow::Cow::Borrowed(_)
        ));
    }

    #[test]
    fn folds_unquoted_and_keeps_quoted() {
        assert_eq!(normalize(&Ident::new("Orders")), "orders");
        assert_eq!(normalize(&Ident::with_quote('"', "Orders")), "Orders");
    }

    #[test]
    fn column_name_words_are_sorted_and_not_reserved() {
        assert!(COLUMN_NAME_WORDS.windows(2).all(|w| w[0] < w[1]));
        assert!(COLUMN_NAME_WORDS.iter().all(|w| !is_reserved_word(w)));
        assert!(needs_quotes("date") && needs_quotes("row") && !is_reserved_word("date"));
    }

    #[test]
    fn quotes_keywords_and_mixed_case() {
        assert_eq!(display("public"), "public");
        assert_eq!(display("orders"), "orders");
        assert_eq!(display("user"), "\"user\"");
        assert_eq!(display("Orders"), "\"Orders\"");
        assert_eq!(display("a b"), "\"a b\"");
        assert_eq!(display("we\"ird"), "\"we\"\"ird\"");
    }

    #[test]
    fn shown_prints_as_the_identifier_does() {
        for name in [
            "", "public", "orders", "user", "Orders", "a b", "we\"ird", "\"", "\"\"", "x\"", "\"x",
            "a\"\"b", "select", "_x1", "1x", "é", "tab\tle", "zz_top",
        ] {
            // Names sqlparser would print as others are refused where names are read
            // (crate::parse::reprints); for the rest both print alike.
            if crate::parse::reprints(name, '"') {
                assert_eq!(
                    Shown(name).to_string(),
                    make_ident(name).to_string(),
                    "{name:?}"
                );
            }
        }
        assert_eq!(Shown("a\"\"b").to_string(), "\"a\"\"\"\"b\"");
    }
}
