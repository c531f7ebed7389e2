//! Mounts the policy editor on the page (Trunk builds this binary to wasm).

/// The module's allocator (single-threaded wasm), as in the npm package (wasm/src/lib.rs):
/// talc behind size-class free lists (verdict-wasm-alloc) instead of Rust's dlmalloc.
#[cfg(all(target_family = "wasm", not(target_feature = "atomics")))]
#[global_allocator]
static ALLOCATOR: verdict_wasm_alloc::WasmAllocator = verdict_wasm_alloc::wasm_allocator();

fn main() {
    // A panic is a bug: say where it happened in the console before the module aborts.
    std::panic::set_hook(Box::new(|info| {
        web_sys::console::error_1(&format!("verdict editor: {info}").into());
    }));
    leptos::mount::mount_to_body(verdict_web_editor::App);
}
