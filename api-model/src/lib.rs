#![doc = include_str!("../README.md")]

pub mod policy;
pub mod resource;
pub mod strict;

pub use policy::{
    id_ok, AssignmentInput, AssignmentSpec, AuditLevel, FieldProblem, Mask, MaskKind, MaskSpec,
    Mode, Operation, Policy, PolicyAction, PolicyType, RequireWhere, Risk, Rule, StatementKind,
    Subjects, WhereStatement,
};
pub use resource::{
    Assignment, Catalog, CatalogColumn, CatalogDocument, CatalogFunction, CatalogPut, CatalogTable,
    ColumnSpec, Context, DefaultAccess, Deleted, PolicyPatch, PolicyResource, PolicySetDraft,
    VerdictBody, VersionSnapshot,
};
