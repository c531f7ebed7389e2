//! Mounts the policy editor on the page (Trunk builds this binary to wasm).

/// The module's allocator (single-threaded wasm): talc, as in the npm package
/// (wasm/src/lib.rs), instead of Rust's default dlmalloc.
#[cfg(all(target_family = "wasm", not(target_feature = "atomics")))]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

fn main() {
    // A panic is a bug: say where it happened in the console before the module aborts.
    std::panic::set_hook(Box::new(|info| {
        web_sys::console::error_1(&format!("verdict editor: {info}").into());
    }));
    leptos::mount::mount_to_body(verdict_web_editor::App);
}
