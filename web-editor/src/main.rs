//! Mounts the policy editor on the page (Trunk builds this binary to wasm).

fn main() {
    // A panic is a bug: say where it happened in the console before the module aborts.
    std::panic::set_hook(Box::new(|info| {
        web_sys::console::error_1(&format!("verdict editor: {info}").into());
    }));
    leptos::mount::mount_to_body(verdict_web_editor::App);
}
