//! The native side of the wasm/native benchmark on the system allocator
//! (`native_bench_common/mod.rs` says what it does).

#[path = "native_bench_common/mod.rs"]
mod common;

fn main() -> std::process::ExitCode {
    common::main()
}
