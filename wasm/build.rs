//! Gives the wasm32 test binaries (wasm-bindgen-test, unoptimised) a larger stack.
//!
//! The package is built without sqlparser's stack-growing wrappers (the engine's
//! `recursive-protection` feature), so it runs on wasm's own stack (1 MiB), which the
//! parser's recursion limit and the engine's depth limits keep it within: the release
//! build is tested at those limits (wasm/js/test/, "deep nesting"). Unoptimised test code
//! has far larger stack frames, so its tests get 16 MiB; the package itself is unchanged.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("wasm32") {
        println!("cargo:rustc-link-arg-tests=-zstack-size=16777216");
    }
}
