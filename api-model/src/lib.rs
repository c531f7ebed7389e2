#![doc = include_str!("../README.md")]

pub mod policy;
pub mod principal;
pub mod resource;
pub mod review;
pub mod strict;

pub use policy::{
    id_ok, AssignmentInput, AssignmentSpec, AuditLevel, Mask, MaskKind, MaskSpec, Mode, Operation,
    Policy, PolicyAction, PolicyOrigin, PolicyType, Problem, ProblemKind, RequireWhere, Risk, Rule,
    StatementKind, Subjects, WhereStatement,
};
pub use principal::{PrincipalInput, PrincipalList, PrincipalResource};
pub use resource::{
    Assignment, Catalog, CatalogColumn, CatalogDocument, CatalogFunction, CatalogPut, CatalogTable,
    ColumnSpec, Context, DefaultAccess, Deleted, PolicyPatch, PolicyResource, PolicySetDraft,
    VerdictBody, VersionSnapshot,
};
pub use review::{
    CatalogProposal, ChangeRequest, ChangeRequestPage, ChangeStatus, ChangeTarget, Review,
    ReviewDecision, ReviewInput, ReviewSettings,
};

/// Fields the API stores on a policy that the engine does not read and that change
/// nothing it decides (`policy_type`, `action`, `risk`, seed 001's `external_id` and
/// `source`): removed before a policy reaches the engine, by the server and the editor's
/// live preview alike. Seed 001's `table_name`, `row_filter_dsl` and `column_masks` are
/// not among them: they become rules (`verdict_engine::policy::dsl::expand_seed_fields`),
/// and dropping them would drop filters.
pub const SERVER_FIELDS: &[&str] = &["policy_type", "action", "risk", "external_id", "source"];
