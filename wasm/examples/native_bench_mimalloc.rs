//! The native side of the wasm/native benchmark on mimalloc, the allocator the `verdict`
//! binary links (`native_bench_common/mod.rs` says what it does).

#[path = "native_bench_common/mod.rs"]
mod common;

#[cfg(not(target_arch = "wasm32"))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    common::main()
}
