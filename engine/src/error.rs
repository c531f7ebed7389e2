//! Errors for input that is not a statement to judge: bad policy files, bad contexts.

use serde::{Deserialize, Serialize};

/// Every `code` an [`InputError`] carries, in the engine and its shells (CLI, wasm): one
/// closed set, so that a new code is added here and the TypeScript definitions, the
/// server's mapping and every `match` follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The policy set (or one policy) does not load; `problems` lists why.
    InvalidPolicy,
    /// The caller's context is not a valid context.
    InvalidContext,
    /// Evaluation options (`options`) are not valid.
    InvalidOptions,
    /// Command-line arguments are not valid.
    InvalidArguments,
    /// A request document (explain-row, who-sees, …) is not valid.
    InvalidRequest,
    /// The input cannot be read as text.
    InvalidInput,
    /// A policy test suite does not load.
    InvalidTests,
    /// A row given to explain-row is not valid.
    InvalidRow,
    /// A table name is not valid.
    InvalidTable,
    /// A column name is not valid.
    InvalidColumn,
    /// A table the request names is not in the catalog.
    UnknownRelation,
    /// A column the request names is not in the table.
    UnknownColumn,
    /// A dialect the engine does not speak.
    UnsupportedDialect,
    /// The input is not JSON and this build reads no YAML.
    YamlUnsupported,
    /// A file cannot be read or written.
    IoError,
    /// A fault of the engine itself, never of the input.
    InternalError,
    /// The proxy failed to start or run (CLI).
    ProxyError,
    /// The server failed to start or run (CLI).
    ServerError,
}

impl ErrorCode {
    /// Every code, in declaration order.
    pub const ALL: [ErrorCode; 18] = [
        ErrorCode::InvalidPolicy,
        ErrorCode::InvalidContext,
        ErrorCode::InvalidOptions,
        ErrorCode::InvalidArguments,
        ErrorCode::InvalidRequest,
        ErrorCode::InvalidInput,
        ErrorCode::InvalidTests,
        ErrorCode::InvalidRow,
        ErrorCode::InvalidTable,
        ErrorCode::InvalidColumn,
        ErrorCode::UnknownRelation,
        ErrorCode::UnknownColumn,
        ErrorCode::UnsupportedDialect,
        ErrorCode::YamlUnsupported,
        ErrorCode::IoError,
        ErrorCode::InternalError,
        ErrorCode::ProxyError,
        ErrorCode::ServerError,
    ];

    /// The code's JSON name.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidPolicy => "invalid_policy",
            ErrorCode::InvalidContext => "invalid_context",
            ErrorCode::InvalidOptions => "invalid_options",
            ErrorCode::InvalidArguments => "invalid_arguments",
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidInput => "invalid_input",
            ErrorCode::InvalidTests => "invalid_tests",
            ErrorCode::InvalidRow => "invalid_row",
            ErrorCode::InvalidTable => "invalid_table",
            ErrorCode::InvalidColumn => "invalid_column",
            ErrorCode::UnknownRelation => "unknown_relation",
            ErrorCode::UnknownColumn => "unknown_column",
            ErrorCode::UnsupportedDialect => "unsupported_dialect",
            ErrorCode::YamlUnsupported => "yaml_unsupported",
            ErrorCode::IoError => "io_error",
            ErrorCode::InternalError => "internal_error",
            ErrorCode::ProxyError => "proxy_error",
            ErrorCode::ServerError => "server_error",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for ErrorCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// Bad input that the caller must fix; the CLI prints it as `{"error": {...}}` and exits 2.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct InputError {
    /// A stable, machine-readable code such as `invalid_policy` or `invalid_context`.
    pub code: ErrorCode,
    /// A lowercase sentence saying what is wrong.
    pub message: String,
    /// Every problem found, when the input is a policy set.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<crate::policy::Problem>,
}

impl InputError {
    /// A new error without a problem list.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        InputError {
            code,
            message: message.into(),
            problems: Vec::new(),
        }
    }

    /// `yaml_unsupported`: `what` (e.g. "the policy set") is not JSON, and this build reads
    /// no YAML (the engine's `yaml` feature is off, as in the npm package).
    #[cfg_attr(feature = "yaml", allow(dead_code))]
    pub(crate) fn yaml_unsupported(what: &str) -> Self {
        InputError::new(
            ErrorCode::YamlUnsupported,
            format!(
                "{what} is not JSON (it does not start with `{{` or `[`) and this build reads \
                 no YAML; convert it to JSON"
            ),
        )
    }

    /// The `{"error": {...}}` JSON document for this error.
    pub fn to_json(&self) -> String {
        let doc = serde_json::json!({ "error": self });
        doc.to_string()
    }
}
