//! User Timing spans (`performance.measure`) around the editor's per-keystroke work: the
//! draft's validation, the evaluation, the SQL highlighting, the verdict's rendering and the
//! `localStorage` writes. They show in the browser's performance tools and let the
//! end-to-end test split a keystroke's latency into its parts.
//!
//! Off unless the page sets `window.verdictPerf = true` (the measure buffer would otherwise
//! grow with every keystroke of a long session).

use wasm_bindgen::JsValue;

fn enabled(window: &web_sys::Window) -> bool {
    js_sys::Reflect::get(window, &JsValue::from_str("verdictPerf"))
        .map(|v| v.is_truthy())
        .unwrap_or(false)
}

/// Runs `f`; when spans are on, records its duration as the measure `verdict:NAME`.
pub fn span<T>(name: &str, f: impl FnOnce() -> T) -> T {
    let Some((window, performance)) =
        web_sys::window().and_then(|w| w.performance().map(|p| (w, p)))
    else {
        return f();
    };
    if !enabled(&window) {
        return f();
    }
    let start = performance.now();
    let out = f();
    let end = performance.now();
    measure(&performance, name, start, end);
    out
}

fn measure(performance: &web_sys::Performance, name: &str, start: f64, end: f64) {
    let options = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&options, &"start".into(), &start.into());
    let _ = js_sys::Reflect::set(&options, &"end".into(), &end.into());
    let Ok(f) = js_sys::Reflect::get(performance, &"measure".into()) else {
        return;
    };
    if let Ok(f) = wasm_bindgen::JsCast::dyn_into::<js_sys::Function>(f) {
        let _ = f.call2(
            performance,
            &JsValue::from_str(&format!("verdict:{name}")),
            &options,
        );
    }
}
