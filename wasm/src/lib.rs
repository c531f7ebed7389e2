#![doc = include_str!("../README.md")]

pub mod api;
mod js;

pub use js::{evaluate, evaluate_json, validate, validate_json, version, PolicyEngine};
