//! Identifiers: PostgreSQL case folding, and quoting when printed.

use sqlparser::ast::{Ident, ObjectName, ObjectNamePart};
use sqlparser::keywords::ALL_KEYWORDS;

/// The name PostgreSQL means by an identifier: unquoted ones fold to lowercase.
pub fn normalize(ident: &Ident) -> String {
    if ident.quote_style.is_some() {
        ident.value.clone()
    } else {
        ident.value.to_lowercase()
    }
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
    let upper = name.to_ascii_uppercase();
    ALL_KEYWORDS.binary_search(&upper.as_str()).is_ok()
}

/// Prints a normalized name, quoting it when needed.
pub fn display(name: &str) -> String {
    make_ident(name).to_string()
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
    fn folds_unquoted_and_keeps_quoted() {
        assert_eq!(normalize(&Ident::new("Orders")), "orders");
        assert_eq!(normalize(&Ident::with_quote('"', "Orders")), "Orders");
    }

    #[test]
    fn quotes_keywords_and_mixed_case() {
        assert_eq!(display("orders"), "orders");
        assert_eq!(display("user"), "\"user\"");
        assert_eq!(display("Orders"), "\"Orders\"");
        assert_eq!(display("a b"), "\"a b\"");
        assert_eq!(display("we\"ird"), "\"we\"\"ird\"");
    }
}
