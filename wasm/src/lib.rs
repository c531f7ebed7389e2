#![doc = include_str!("../README.md")]

pub mod api;
mod js;

/// The module's allocator (single-threaded wasm): talc behind size-class free lists
/// (verdict-wasm-alloc) instead of Rust's default dlmalloc; measured in wasm/README.md.
#[cfg(all(target_family = "wasm", not(target_feature = "atomics")))]
#[global_allocator]
static ALLOCATOR: verdict_wasm_alloc::WasmAllocator = verdict_wasm_alloc::wasm_allocator();

pub use js::{
    evaluate, evaluate_json, explain_row, run_tests, validate, validate_json, version, who_sees,
    PolicyEngine,
};
