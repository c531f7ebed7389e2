#![doc = include_str!("../README.md")]

mod builtins;
pub mod catalog;
pub mod context;
mod error;
mod evaluate;
pub mod functions;
mod ident;
mod leak;
mod literal;
pub mod mask;
pub mod parse;
pub mod policy;
pub mod print;
mod prove;
pub mod restrict;
pub mod rewrite;
pub mod select;
pub mod setup;
pub mod verdict;
mod walk;

pub use context::Context;
pub use error::InputError;
pub use policy::{PolicySet, Problem, Summary};
pub use verdict::{Decision, Verdict};

pub use evaluate::evaluate;

/// Whether this build reads YAML text (the `yaml` feature); without it YAML input is the
/// error `yaml_unsupported`.
pub const READS_YAML: bool = cfg!(feature = "yaml");
