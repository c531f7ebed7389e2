//! Mounts the policy editor on the page (Trunk builds this binary to wasm).

fn main() {
    leptos::mount::mount_to_body(verdict_web_editor::App);
}
