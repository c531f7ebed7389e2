//! Change review: the organization's review setting, change requests and their reviews.

use serde::{Deserialize, Serialize};

/// The organization's review setting: with `required`, every change to a policy (create,
/// update, delete, rollback, assignments) becomes a change request that `approvals`
/// reviewers other than its author approve before it is published.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ReviewSettings {
    pub required: bool,
    /// Approvals a change needs, 1–10.
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 10))]
    pub approvals: i64,
}

impl Default for ReviewSettings {
    fn default() -> Self {
        ReviewSettings {
            required: false,
            approvals: 1,
        }
    }
}

/// The most approvals a change can be made to need.
pub const MAX_APPROVALS: i64 = 10;

/// Where a proposed version is in its review: `draft` → `in_review` → `approved` →
/// `active` (published), or `rejected`; a published version that a later one replaced is
/// `archived`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ChangeStatus {
    Draft,
    InReview,
    Approved,
    Rejected,
    Active,
    Archived,
}

impl ChangeStatus {
    /// Every status with its name.
    pub const ALL: [(&'static str, ChangeStatus); 6] = [
        ("draft", ChangeStatus::Draft),
        ("in_review", ChangeStatus::InReview),
        ("approved", ChangeStatus::Approved),
        ("rejected", ChangeStatus::Rejected),
        ("active", ChangeStatus::Active),
        ("archived", ChangeStatus::Archived),
    ];

    /// Its name.
    pub fn as_str(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, s)| *s == self)
            .map_or("draft", |(n, _)| n)
    }

    /// The status named `text`.
    pub fn parse(text: &str) -> Option<ChangeStatus> {
        Self::ALL.iter().find(|(n, _)| *n == text).map(|(_, s)| *s)
    }
}

/// A reviewer's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ReviewDecision {
    Approve,
    Reject,
}

/// The body of `POST /api/v1/policies/{id}/versions/{n}/review`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ReviewInput {
    pub decision: ReviewDecision,
    /// Why; at most 4000 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(max_length = 4000, nullable = false))]
    pub comment: Option<String>,
}

/// One review of a change request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Review {
    pub reviewer: String,
    pub decision: ReviewDecision,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub comment: Option<String>,
    /// RFC 3339.
    pub created_at: String,
}

/// What a change request changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ChangeTarget {
    /// A policy (`policy_id`): its body, assignments or existence.
    Policy,
    /// The organization's catalog.
    Catalog,
}

/// A change request: a proposed version of a policy (or of the catalog) and its review.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChangeRequest {
    pub target: ChangeTarget,
    /// The policy; absent for a catalog change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub policy_id: Option<String>,
    /// The proposed version: `/api/v1/policies/{policy_id}/versions/{version}`, or
    /// `/api/v1/catalog/versions/{version}` for the catalog.
    pub version: i64,
    /// `create`, `update`, `delete`, `rollback`, `assignments` or `catalog`.
    pub action: String,
    pub status: ChangeStatus,
    pub author: String,
    /// The policy's (or the catalog's) revision the change was made against (0 for a new
    /// policy); it is published only while that is still the revision.
    pub base_revision: i64,
    /// The top-level fields the change touches.
    pub changed_fields: Vec<String>,
    /// Approvals so far, and how many it needs.
    pub approvals: i64,
    pub approvals_required: i64,
    pub reviews: Vec<Review>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub published_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub published_at: Option<String>,
}

/// A proposed catalog: `GET /api/v1/catalog/versions/{n}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CatalogProposal {
    pub version: i64,
    pub status: ChangeStatus,
    /// The proposed catalog (`null` removes it).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::Catalog>))]
    pub catalog: serde_json::Value,
    /// The catalog revision it was proposed against.
    pub base_revision: i64,
    pub author: String,
    /// RFC 3339.
    pub created_at: String,
}

/// A page of change requests, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChangeRequestPage {
    pub items: Vec<ChangeRequest>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub next_cursor: Option<String>,
}
