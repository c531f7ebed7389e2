//! Component tests in headless Chromium (wasm-bindgen-test): each test mounts a component
//! into its own element of the page and checks what it renders and what it writes back.
#![cfg(target_arch = "wasm32")]
// Helpers outside `#[test]` functions unwrap too: a failure here is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::sync::Arc;

use leptos::prelude::*;
use serde_json::{json, Value};
use verdict_web_editor::editor::{PolicyForm, RawEditor, RawState};
use verdict_web_editor::fields::{FieldProblems, Problems};
use verdict_web_editor::live;
use verdict_web_editor::preview::{Preview, Shared};
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;
use web_sys::{HtmlElement, HtmlInputElement, HtmlTextAreaElement};

wasm_bindgen_test_configure!(run_in_browser);

/// A fresh element on the page to mount one component into.
fn host() -> HtmlElement {
    let doc = document();
    let el: HtmlElement = doc.create_element("div").unwrap().unchecked_into();
    doc.body().unwrap().append_child(&el).unwrap();
    el
}

/// Lets the reactive system run its effects (they are scheduled, not synchronous).
async fn settle() {
    for _ in 0..3 {
        let p = js_sys::Promise::new(&mut |resolve, _| {
            window()
                .set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, 0)
                .unwrap();
        });
        wasm_bindgen_futures::JsFuture::from(p).await.unwrap();
    }
}

fn find(root: &HtmlElement, testid: &str) -> Option<HtmlElement> {
    root.query_selector(&format!("[data-testid='{testid}']"))
        .unwrap()
        .map(|e| e.unchecked_into())
}

fn text(root: &HtmlElement, testid: &str) -> String {
    find(root, testid)
        .map(|e| e.text_content().unwrap_or_default())
        .unwrap_or_default()
}

fn type_into(el: &HtmlElement, value: &str) {
    if let Some(t) = el.dyn_ref::<HtmlTextAreaElement>() {
        t.set_value(value);
    } else if let Some(i) = el.dyn_ref::<HtmlInputElement>() {
        i.set_value(value);
    }
    let ev = web_sys::Event::new("input").unwrap();
    el.dispatch_event(&ev).unwrap();
}

fn catalog() -> Value {
    json!({"tables": [
        {"name": "public.orders", "columns": [{"name": "id", "type": "integer"},
            {"name": "tenant_id", "type": "integer"}, {"name": "email", "type": "text"}]},
        {"name": "public.salaries", "columns": [{"name": "id", "type": "integer"}]}]})
}

fn every_rule_type() -> Value {
    json!({"id": "all", "assignments": [{"kind": "everyone", "value": "*"}], "rules": [
        {"type": "row_filter", "table": "orders", "predicate": "tenant_id = ctx.attr.tenant_id"},
        {"type": "column_mask", "table": "orders", "column": "email", "mask": {"kind": "partial", "show_last": 4}},
        {"type": "deny", "table": "salaries", "operations": ["delete"]},
        {"type": "query_restriction", "denied_functions": ["pg_sleep"], "require_where": true},
        {"type": "query_limit", "max_rows": 100}]})
}

#[wasm_bindgen_test]
async fn the_form_has_the_fields_of_every_rule_type() {
    let root = host();
    let draft = RwSignal::new(every_rule_type());
    let problems: Problems = Signal::derive(Vec::new);
    let cat = Signal::derive(catalog);
    let _h = leptos::mount::mount_to(root.clone(), move || {
        view! { <PolicyForm draft=draft problems=problems catalog=cat/> }
    });
    settle().await;
    for i in 0..5 {
        assert!(
            find(&root, &format!("rule-{i}")).is_some(),
            "rule {i} missing"
        );
    }
    let predicate: HtmlTextAreaElement = find(&root, "rule-0-predicate").unwrap().unchecked_into();
    assert_eq!(predicate.value(), "tenant_id = ctx.attr.tenant_id");
    let show_last: HtmlInputElement = find(&root, "rule-1-mask-show-last")
        .unwrap()
        .unchecked_into();
    assert_eq!(show_last.value(), "4");
    let delete: HtmlInputElement = find(&root, "rule-2-op-delete").unwrap().unchecked_into();
    assert!(delete.checked());
    let funcs: HtmlInputElement = find(&root, "rule-3-denied-functions")
        .unwrap()
        .unchecked_into();
    assert_eq!(funcs.value(), "pg_sleep");
    let rows: HtmlInputElement = find(&root, "rule-4-max-rows").unwrap().unchecked_into();
    assert_eq!(rows.value(), "100");

    // Typing writes the draft, with numbers as numbers and lists as lists.
    type_into(&find(&root, "rule-1-mask-show-last").unwrap(), "2");
    type_into(&find(&root, "rule-2-columns").unwrap(), "id, tenant_id");
    settle().await;
    let d = draft.get_untracked();
    assert_eq!(d["rules"][1]["mask"]["show_last"], json!(2));
    assert_eq!(d["rules"][2]["columns"], json!(["id", "tenant_id"]));

    // Removing a rule re-renders the cards.
    find(&root, "rule-0-remove").unwrap().click();
    settle().await;
    assert!(find(&root, "rule-4").is_none());
    assert_eq!(draft.get_untracked()["rules"][0]["type"], "column_mask");
}

#[wasm_bindgen_test]
async fn the_raw_tab_and_the_draft_stay_in_sync() {
    let root = host();
    let draft = RwSignal::new(json!({"id": "p", "rules": []}));
    let _h = leptos::mount::mount_to(root.clone(), move || view! { <RawEditor draft=draft/> });
    settle().await;
    let raw: HtmlTextAreaElement = find(&root, "raw-text").unwrap().unchecked_into();
    assert!(raw.value().contains("\"id\": \"p\""));

    // The form (here: the signal) changes the text...
    draft.update(|d| d["name"] = json!("Named"));
    settle().await;
    assert!(
        raw.value().contains("\"name\": \"Named\""),
        "{}",
        raw.value()
    );

    // ...valid text changes the draft, invalid text says where it is wrong.
    type_into(
        &raw.clone().unchecked_into(),
        "{\"id\": \"p\", \"priority\": 7}",
    );
    settle().await;
    assert_eq!(draft.get_untracked(), json!({"id": "p", "priority": 7}));
    type_into(
        &raw.clone().unchecked_into(),
        "{\"id\": \"p\",\n  \"priority\": }",
    );
    settle().await;
    assert!(
        text(&root, "raw-error").starts_with("line 2, column"),
        "{}",
        text(&root, "raw-error")
    );
    assert_eq!(draft.get_untracked(), json!({"id": "p", "priority": 7}));

    // Broken text is kept until fixed or discarded: the format cannot be switched under it.
    find(&root, "raw-yaml").unwrap().click();
    settle().await;
    assert!(raw.value().contains("\"priority\": }"), "{}", raw.value());
    find(&root, "raw-discard").unwrap().click();
    settle().await;
    assert!(find(&root, "raw-error").is_none());

    // YAML shows the same draft.
    find(&root, "raw-yaml").unwrap().click();
    settle().await;
    assert!(raw.value().contains("priority: 7"), "{}", raw.value());
}

#[wasm_bindgen_test]
async fn leaving_the_raw_tab_keeps_its_format_and_its_broken_text() {
    let root = host();
    let draft = RwSignal::new(json!({"id": "p", "rules": []}));
    let state = RawState::new(draft);
    let open = RwSignal::new(true);
    let _h = leptos::mount::mount_to(root.clone(), move || {
        view! { {move || open.get().then(|| view! { <RawEditor draft=draft raw=state/> })} }
    });
    settle().await;
    find(&root, "raw-yaml").unwrap().click();
    settle().await;
    let broken = "id: p\nrules: [";
    type_into(&find(&root, "raw-text").unwrap(), broken);
    settle().await;
    assert!(!text(&root, "raw-error").is_empty());
    // Leave the tab (the form changes the draft meanwhile), then come back.
    open.set(false);
    settle().await;
    assert!(find(&root, "raw-text").is_none());
    draft.update(|d| d["name"] = json!("Named"));
    settle().await;
    open.set(true);
    settle().await;
    let raw: HtmlTextAreaElement = find(&root, "raw-text").unwrap().unchecked_into();
    assert_eq!(raw.value(), broken, "the broken text is kept");
    assert!(!text(&root, "raw-error").is_empty(), "with its error");
    assert_eq!(
        find(&root, "raw-yaml")
            .unwrap()
            .get_attribute("aria-checked")
            .as_deref(),
        Some("true"),
        "YAML is still chosen"
    );
    // Discarding it shows the draft, still as YAML.
    find(&root, "raw-discard").unwrap().click();
    settle().await;
    assert!(raw.value().contains("name: Named"), "{}", raw.value());
    open.set(false);
    settle().await;
    open.set(true);
    settle().await;
    let raw: HtmlTextAreaElement = find(&root, "raw-text").unwrap().unchecked_into();
    assert!(raw.value().contains("name: Named"), "{}", raw.value());
}

#[wasm_bindgen_test]
async fn an_unknown_mask_kind_shows_as_itself_with_its_problem() {
    for mask in [json!({"kind": "scramble"}), json!("scramble")] {
        let root = host();
        let policy = json!({"id": "p", "assignments": [{"kind": "everyone", "value": "*"}], "rules": [
            {"type": "column_mask", "table": "orders", "column": "email", "mask": mask}]});
        let loaded = live::load(&catalog(), &policy, &[]);
        assert!(!loaded.draft_problems.is_empty(), "{mask}");
        let draft = RwSignal::new(policy);
        let problems: Problems = Signal::derive(move || loaded.draft_problems.clone());
        let cat = Signal::derive(catalog);
        let _h = leptos::mount::mount_to(root.clone(), move || {
            view! { <PolicyForm draft=draft problems=problems catalog=cat/> }
        });
        settle().await;
        let select = find(&root, "rule-0-mask-kind").unwrap();
        let value = js_sys::Reflect::get(&select, &"value".into()).unwrap();
        assert_eq!(value.as_string().as_deref(), Some("scramble"), "{mask}");
        let label = select.closest("label").unwrap().unwrap();
        let shown = label.text_content().unwrap();
        // Shown as itself, not as the first option (`null`, a mask kind of its own).
        assert!(shown.contains("scramble (unknown)"), "{shown}");
        assert!(
            label
                .query_selector("[data-testid^='problem-']")
                .unwrap()
                .is_some(),
            "{mask}: no problem at the field: {shown}"
        );
    }
}

#[wasm_bindgen_test]
async fn the_preview_follows_the_draft_the_context_and_the_query() {
    let root = host();
    let draft = RwSignal::new(
        json!({"id": "p", "assignments": [{"kind": "everyone", "value": "*"}], "rules": []}),
    );
    let context = RwSignal::new(
        json!({"user": "alice", "roles": ["analyst"], "attributes": {"tenant_id": 1}}),
    );
    let sql = RwSignal::new("SELECT id, email FROM orders".to_string());
    let cat = Signal::derive(catalog);
    let _h = leptos::mount::mount_to(root.clone(), move || {
        let loaded = Memo::new_with_compare(
            move |_| Shared(Arc::new(live::load(&catalog(), &draft.get(), &[]))),
            |_, _| true,
        );
        view! { <Preview loaded=loaded context=context sql=sql catalog=cat/> }
    });
    settle().await;
    assert_eq!(text(&root, "verdict-badge"), "allow");

    draft.update(|d| {
        d["rules"] = json!([{"type": "column_mask", "table": "orders", "column": "email", "mask": {"kind": "hash"}}])
    });
    settle().await;
    assert_eq!(text(&root, "verdict-badge"), "mask");
    assert!(text(&root, "masked-columns").contains("public.orders.email"));

    draft.update(|d| {
        if let Some(rules) = d["rules"].as_array_mut() {
            rules.push(json!({"type": "row_filter", "table": "orders", "predicate": "tenant_id = ctx.attr.tenant_id"}));
        }
    });
    settle().await;
    assert_eq!(text(&root, "verdict-badge"), "row_filter");
    assert!(text(&root, "rewritten-sql").contains("tenant_id = 1"));
    // The rewrite is highlighted against the original.
    let mark = root
        .query_selector("[data-testid='rewritten-sql'] mark")
        .unwrap();
    assert!(mark.is_some());

    // The context is substituted as typed: another tenant, another predicate.
    context.update(|c| c["attributes"]["tenant_id"] = json!(2));
    settle().await;
    assert!(text(&root, "rewritten-sql").contains("tenant_id = 2"));

    // Typing a query re-evaluates it.
    type_into(
        &find(&root, "sql-input").unwrap(),
        "SELECT * FROM salaries, pg_read_file('x')",
    );
    settle().await;
    assert_eq!(text(&root, "verdict-badge"), "block");

    // A broken predicate: no verdict, the problem with its position.
    draft.update(|d| d["rules"][1]["predicate"] = json!("tenant_id =\n  = 1"));
    settle().await;
    assert_eq!(text(&root, "verdict-badge"), "invalid");
    assert!(
        text(&root, "preview-problems").contains("line 2, column 3"),
        "{}",
        text(&root, "preview-problems")
    );
}

#[wasm_bindgen_test]
async fn predicate_problems_show_a_caret_at_the_column() {
    let root = host();
    let loaded = live::load(
        &catalog(),
        &json!({"id": "p", "assignments": [{"kind": "everyone", "value": "*"}],
            "rules": [{"type": "row_filter", "table": "orders", "predicate": "tenant_id IN (1,\n 2,, 3)"}]}),
        &[],
    );
    let problems: Problems = Signal::derive(move || loaded.draft_problems.clone());
    let source = Signal::derive(|| "tenant_id IN (1,\n 2,, 3)".to_string());
    let _h = leptos::mount::mount_to(root.clone(), move || {
        view! { <FieldProblems problems=problems field="rules[0].predicate" source=source/> }
    });
    settle().await;
    let shown = text(&root, "problem-rules-0--predicate");
    assert!(shown.contains("line 2, column 4"), "{shown}");
    let caret = root
        .query_selector(".caret")
        .unwrap()
        .unwrap()
        .text_content()
        .unwrap();
    assert_eq!(caret, " 2,, 3)\n   ^");
}

#[wasm_bindgen_test]
async fn the_context_editor_applies_presets_and_types_attributes() {
    let root = host();
    let context = RwSignal::new(json!({}));
    let _h = leptos::mount::mount_to(root.clone(), move || {
        view! { <verdict_web_editor::preview::ContextEditor context=context/> }
    });
    settle().await;
    let preset: web_sys::HtmlSelectElement = find(&root, "ctx-preset").unwrap().unchecked_into();
    preset.set_value("Analyst of tenant 2");
    preset
        .dispatch_event(&web_sys::Event::new("change").unwrap())
        .unwrap();
    settle().await;
    assert_eq!(context.get_untracked()["user"], "bob");
    assert_eq!(context.get_untracked()["attributes"]["tenant_id"], 2);
    let user: HtmlInputElement = find(&root, "ctx-user").unwrap().unchecked_into();
    assert_eq!(user.value(), "bob");

    // Attribute values are typed: numbers stay numbers, other text is a string.
    type_into(&find(&root, "ctx-attr-0-value").unwrap(), "42");
    type_into(&find(&root, "ctx-roles").unwrap(), "analyst, auditor");
    settle().await;
    let c = context.get_untracked();
    assert_eq!(c["attributes"]["tenant_id"], 42);
    assert_eq!(c["roles"], json!(["analyst", "auditor"]));
    type_into(&find(&root, "ctx-attr-1-value").unwrap(), "EU-west");
    settle().await;
    assert_eq!(context.get_untracked()["attributes"]["region"], "EU-west");
}
