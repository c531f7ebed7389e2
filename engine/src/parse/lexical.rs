//! Lexical forms that sqlparser and PostgreSQL read differently, refused before parsing.
//!
//! The engine judges the tree sqlparser builds and prints it back; PostgreSQL reads the
//! printed text with its own lexer. Where the two lexers disagree on a form, the engine
//! would judge one statement and PostgreSQL run another, so each such form is refused
//! with what to write instead. Forms both read alike (nested comments, `E'…'` escapes,
//! tagged dollar quotes, `--` after an operator such as `*` or `<`, `.5e-3`, `$1`) pass.

use sqlparser::tokenizer::{Location, Token, TokenWithSpan, Whitespace};

use super::ParseError;

/// Refuses the forms PostgreSQL reads otherwise than sqlparser (see each arm).
pub(super) fn check(text: &str, tokens: &[TokenWithSpan]) -> Result<(), ParseError> {
    let lines = LineStarts::new(text);
    for (i, t) in tokens.iter().enumerate() {
        let next = tokens.get(i + 1).map(|t| &t.token);
        let at = t.span.start;
        match &t.token {
            // `U&'…'` (and `UESCAPE`): PostgreSQL decodes the escapes; sqlparser decodes
            // them with its own rules and does not read `UESCAPE` at all.
            Token::UnicodeStringLiteral(_) => return Err(unicode_escape(at, "string")),
            // `U&"…"`: PostgreSQL reads one name with escapes (`U&"\0070assword"` is
            // `password`), sqlparser the operator `&` between a column `u` and a name.
            Token::Word(w)
                if w.quote_style.is_none()
                    && w.value.eq_ignore_ascii_case("u")
                    && next == Some(&Token::Ampersand)
                    && tokens.get(i + 2).is_some_and(|t| is_quoted(&t.token)) =>
            {
                return Err(unicode_escape(at, "name"))
            }
            // `$1$…$1$`: PostgreSQL's tags start with a letter or `_` (`$1` is a parameter);
            // sqlparser takes digits too.
            Token::DollarQuotedString(s)
                if s.tag.as_deref().is_some_and(|tag| !pg_dollar_tag(tag)) =>
            {
                return Err(unsupported(
                    at,
                    "a dollar-quoted string whose tag does not start with a letter or `_` is not read alike by PostgreSQL",
                    "write the tag with letters, digits and `_`, starting with a letter ($tag$…$tag$), or use $$…$$",
                ))
            }
            // `0x1F`: sqlparser reads the bit string X'1F'; PostgreSQL 15 refuses it and
            // PostgreSQL 16 reads the integer 31.
            Token::HexStringLiteral(_) if lines.char_at(text, at) == Some('0') => {
                return Err(unsupported(
                    at,
                    "the number `0x…` is read differently by PostgreSQL versions and by the engine",
                    "write the number in decimal, or the bit string as X'…'",
                ))
            }
            // `1_000`: PostgreSQL 16 reads 1000, PostgreSQL 15 refuses it.
            Token::Number(n, _) if n.contains('_') => {
                return Err(unsupported(
                    at,
                    &format!("the number `{n}` has `_` separators, which PostgreSQL versions read differently"),
                    "write the number without `_`",
                ))
            }
            // `0b101`, `0o17`: sqlparser 0.64 reads one number in another base; PostgreSQL
            // 15 reads `0` followed by a name, 16 reads the number.
            Token::Number(n, _)
                if n.starts_with('0') && n.chars().nth(1).is_some_and(|c| c.is_ascii_alphabetic()) =>
            {
                return Err(unsupported(
                    at,
                    &format!("the number `{n}` has a base prefix: PostgreSQL 15 reads `0` followed by letters without a space, PostgreSQL 16 a number, which the engine does not read alike"),
                    "put a space (or AS) between a number and a name, and write numbers in decimal",
                ))
            }
            // `1e`, `123abc`, `0b101`, `0o17`: sqlparser reads a number and an alias;
            // PostgreSQL 15 refuses the trailing letters, 16 reads `0b…`/`0o…` as numbers.
            Token::Number(n, _) if matches!(next, Some(Token::Word(w)) if w.quote_style.is_none()) => {
                return Err(unsupported(
                    at,
                    &format!("the number `{n}` is followed by letters without a space, which PostgreSQL does not read as a number and a name"),
                    "put a space (or AS) between a number and a name, and write numbers in decimal",
                ))
            }
            // `@--`, `~/*`: PostgreSQL ends an operator where a comment starts; sqlparser
            // keeps the comment's start in the operator and reads what follows as SQL.
            Token::CustomBinaryOperator(op) if op.contains("--") || op.contains("/*") => {
                return Err(unsupported(
                    at,
                    &format!("the operator `{op}` runs into a comment, which PostgreSQL reads as the operator followed by a comment"),
                    "put a space between an operator and a comment",
                ))
            }
            // `$1abc`, `$name`: PostgreSQL's parameters are `$` and digits.
            Token::Placeholder(p)
                if !p
                    .strip_prefix('$')
                    .is_some_and(|d| !d.is_empty() && d.chars().all(|c| c.is_ascii_digit())) =>
            {
                return Err(unsupported(
                    at,
                    &format!("`{p}` is not a PostgreSQL parameter"),
                    "write parameters as $1, $2, …",
                ))
            }
            // `'a'\n'b'`: PostgreSQL joins string constants separated by a line break
            // (`'ab'`) and refuses them on one line; sqlparser reads the second as an alias.
            t if is_quote_string(t) && next_string_after_whitespace(tokens, i) => {
                return Err(unsupported(
                    at,
                    "two string constants follow one another, which PostgreSQL joins into one when a line break separates them",
                    "write one string constant, or join strings with ||",
                ))
            }
            _ => {}
        }
    }
    Ok(())
}

fn unicode_escape(at: Location, what: &str) -> ParseError {
    unsupported(
        at,
        &format!("a Unicode-escape {what} (U&…) is not read alike by PostgreSQL and the engine"),
        &format!(
            "write the {what} with its characters as they are (U&\"\\0070\" is \"p\"); for the operator `&` after a column named `u`, put spaces around it"
        ),
    )
}

fn unsupported(at: Location, why: &str, hint: &str) -> ParseError {
    ParseError::Unsupported(format!("{why}{at}; {hint}"))
}

fn is_quoted(t: &Token) -> bool {
    match t {
        Token::Word(w) => w.quote_style.is_some(),
        other => is_string(other),
    }
}

fn is_string(t: &Token) -> bool {
    is_quote_string(t) || matches!(t, Token::DollarQuotedString(_))
}

/// String constants between single quotes, which PostgreSQL continues across a line break.
fn is_quote_string(t: &Token) -> bool {
    matches!(
        t,
        Token::SingleQuotedString(_)
            | Token::EscapedStringLiteral(_)
            | Token::NationalStringLiteral(_)
            | Token::UnicodeStringLiteral(_)
            | Token::HexStringLiteral(_)
            | Token::SingleQuotedByteStringLiteral(_)
    )
}

/// Whether the token after `i`, past whitespace and `--` comments (which PostgreSQL's
/// continuation skips; a `/* */` comment ends it), is a string constant.
fn next_string_after_whitespace(tokens: &[TokenWithSpan], i: usize) -> bool {
    for t in tokens.iter().skip(i + 1) {
        match &t.token {
            Token::Whitespace(
                Whitespace::Space
                | Whitespace::Tab
                | Whitespace::Newline
                | Whitespace::SingleLineComment { .. },
            ) => {}
            other => return is_quote_string(other),
        }
    }
    false
}

/// Whether PostgreSQL reads `tag` as a dollar-quote tag: a letter, `_` or a non-ASCII
/// character, then those or digits.
fn pg_dollar_tag(tag: &str) -> bool {
    let mut chars = tag.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || !c.is_ascii())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || !c.is_ascii())
}

/// Byte offsets of the lines of a text, to find a token's first character.
struct LineStarts(Vec<usize>);

impl LineStarts {
    fn new(text: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(
            text.char_indices()
                .filter(|(_, c)| *c == '\n')
                .map(|(i, _)| i + 1),
        );
        LineStarts(starts)
    }

    /// The character at a 1-based line and column (columns count characters).
    fn char_at(&self, text: &str, at: Location) -> Option<char> {
        let line = usize::try_from(at.line).ok()?.checked_sub(1)?;
        let column = usize::try_from(at.column).ok()?.checked_sub(1)?;
        let start = *self.0.get(line)?;
        text.get(start..)?.chars().nth(column)
    }
}
