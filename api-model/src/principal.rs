//! Principals: the logins of `verdict proxy`, stored per organization. The password is
//! given in clear (the server keeps only its SCRAM-SHA-256 verifier) or as a verifier
//! already computed; no answer ever carries it.

use serde::{Deserialize, Serialize};

/// Body of `POST /api/v1/principals` (with `user`) and `PUT /api/v1/principals/{user}`
/// (`user` absent or equal to the path's). A new principal needs exactly one of
/// `password` and `password_verifier`; a replacement without either keeps its password.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"user": "alice", "roles": ["analyst"], "attributes": {"region": "EU"}, "workspace": "sales", "purpose": "reporting", "password": "correct horse battery staple"})))]
#[serde(deny_unknown_fields)]
pub struct PrincipalInput {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default)]
    pub roles: Vec<String>,
    /// `ctx.attr.<name>` in predicates.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub attributes: serde_json::Map<String, serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
    /// The password in clear; stored only as its SCRAM-SHA-256 verifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// A verifier `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>` (as
    /// PostgreSQL and `verdict proxy --hash-password` write it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_verifier: Option<String>,
}

/// A stored principal, without its password.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PrincipalResource {
    pub user: String,
    pub roles: Vec<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub attributes: serde_json::Map<String, serde_json::Value>,
    pub workspace: Option<String>,
    pub data_source: Option<String>,
    pub purpose: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    pub created_by: String,
    /// RFC 3339.
    pub updated_at: String,
    pub updated_by: String,
}

/// The principals of an organization, by user name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PrincipalList {
    pub items: Vec<PrincipalResource>,
}
