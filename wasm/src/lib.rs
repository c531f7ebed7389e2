#![doc = include_str!("../README.md")]

pub mod api;
mod js;

/// The module's allocator (single-threaded wasm): talc instead of Rust's default dlmalloc;
/// smaller, and faster on the engine's many small allocations (scripts/build-wasm.sh).
#[cfg(all(target_family = "wasm", not(target_feature = "atomics")))]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

pub use js::{evaluate, evaluate_json, validate, validate_json, version, PolicyEngine};
