//! Errors for input that is not a statement to judge: bad policy files, bad contexts.

use serde::Serialize;

/// Bad input that the caller must fix; the CLI prints it as `{"error": {...}}` and exits 2.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{message}")]
pub struct InputError {
    /// A stable, machine-readable code such as `invalid_policy` or `invalid_context`.
    pub code: String,
    /// A lowercase sentence saying what is wrong.
    pub message: String,
    /// Every problem found, when the input is a policy set.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<crate::policy::Problem>,
}

impl InputError {
    /// A new error without a problem list.
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        InputError {
            code: code.to_string(),
            message: message.into(),
            problems: Vec::new(),
        }
    }

    /// `yaml_unsupported`: `what` (e.g. "the policy set") is not JSON, and this build reads
    /// no YAML (the engine's `yaml` feature is off, as in the npm package).
    #[cfg_attr(feature = "yaml", allow(dead_code))]
    pub(crate) fn yaml_unsupported(what: &str) -> Self {
        InputError::new(
            "yaml_unsupported",
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
