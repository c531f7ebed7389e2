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

/// A data preview answer as the server gives it (`POST /api/v1/data-sources/{id}/preview`).
fn preview_answer() -> Value {
    let column = |name: &str, type_name: &str, masked: bool| json!({"name": name, "type_name": type_name, "masked": masked});
    let set = |columns: Vec<Value>, rows: Value, truncated: bool, count: i64| {
        json!({"sql": "SELECT …", "columns": columns, "rows": rows, "truncated": truncated,
            "cells_cut": false, "count": count, "count_bounded": false, "query": true, "elapsed_ms": 3})
    };
    json!({
        "verdict": {"verdict": "row_filter"},
        "ran": true,
        "as_context": set(
            vec![column("name", "text", false), column("email", "text", true), column("ssn", "text", true)],
            json!([["Ann", "a***@one.example", "***-**-3331"], ["Cy", null, "***-**-3333"]]),
            false, 2),
        "as_author": set(
            vec![column("name", "text", false), column("email", "text", false), column("ssn", "text", false)],
            json!([["Ann", "ann@one.example", "111-22-3331"], ["Ben", "ben@one.example", "111-22-3332"],
                ["Cy", null, "111-22-3333"], ["Dee", "dee@two.example", "222-33-4441"]]),
            true, 6),
        "masked_columns": ["email", "ssn"],
        "filtered_out": 4,
        "filtered_out_bounded": false,
        "data_source": {"id": "ds_1", "name": "warehouse", "url": "postgres://127.0.0.1/warehouse"}
    })
}

#[wasm_bindgen_test]
async fn the_data_table_marks_masked_cells_and_the_filtered_out_count() {
    use verdict_web_editor::data::DataResult;
    let root = host();
    let _h = leptos::mount::mount_to(
        root.clone(),
        move || view! { <DataResult body=preview_answer()/> },
    );
    settle().await;
    let seen = find(&root, "data-as-context").unwrap();
    let own = find(&root, "data-as-author").unwrap();
    // Masked columns are marked in the header of the context's rows, and only there.
    let marked_headers = |el: &HtmlElement| {
        let heads = el.query_selector_all("th.col-masked").unwrap();
        (0..heads.length())
            .map(|i| heads.item(i).unwrap().text_content().unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(marked_headers(&seen), vec!["emailmasked", "ssnmasked"]);
    assert!(marked_headers(&own).is_empty());
    // Every cell of a masked column is marked (2 rows × 2 columns), a NULL one included,
    // and no cell of the author's rows.
    let masked = seen
        .query_selector_all("[data-testid='masked-cell']")
        .unwrap();
    assert_eq!(masked.length(), 4);
    assert_eq!(
        own.query_selector_all("[data-testid='masked-cell']")
            .unwrap()
            .length(),
        0
    );
    let null_masked = seen.query_selector("td.cell-masked.null").unwrap().unwrap();
    assert_eq!(null_masked.text_content().unwrap(), "NULL");
    assert_eq!(
        null_masked.get_attribute("title").as_deref(),
        Some("masked by a policy")
    );
    // The filtered-out rows are counted, and each caption says how many rows it shows.
    assert_eq!(text(&root, "data-filtered"), "4 rows filtered out");
    assert_eq!(text(&root, "data-masked"), "masked: email, ssn");
    assert!(seen.text_content().unwrap().contains("— 2 rows"));
    assert!(own.text_content().unwrap().contains("— 4 of 6 rows"));
    // A bound reached: "at least".
    let root2 = host();
    let mut bounded = preview_answer();
    bounded["filtered_out"] = json!(1);
    bounded["filtered_out_bounded"] = json!(true);
    let _h2 = leptos::mount::mount_to(root2.clone(), move || {
        let body = bounded.clone();
        view! { <DataResult body=body/> }
    });
    settle().await;
    assert_eq!(text(&root2, "data-filtered"), "at least 1 row filtered out");
}

#[wasm_bindgen_test]
async fn the_tests_panel_shows_each_case_red_or_green_and_the_uncovered_rules() {
    use verdict_web_editor::tests_panel::{
        run_over, suite_of, Run, Stored, TestsPanel, TestsState,
    };
    let root = host();
    let suite = suite_of(&json!({"suite": {"tests": [
        {"name": "email is masked", "context": {"user": "ann"}, "sql": "SELECT email FROM orders",
         "expect": {"verdict": "mask"}},
        {"name": "salaries are denied", "context": {"user": "ann"}, "sql": "SELECT * FROM salaries",
         "expect": {"verdict": "block"}}]}}));
    let ready = match suite.clone() {
        Stored::Ready(r) => Some(r),
        _ => None,
    }
    .expect("the suite reads");
    let draft = json!({"id": "p", "assignments": [{"kind": "everyone", "value": "*"}], "rules": [
        {"type": "column_mask", "table": "orders", "column": "email", "mask": {"kind": "redact"}},
        {"type": "row_filter", "table": "salaries", "predicate": "id > 0"}]});
    let report = run_over(&live::load(&catalog(), &draft, &[]), &ready.0);
    let state = TestsState {
        stored: RwSignal::new(suite),
        run: RwSignal::new(Some(Shared(Arc::new(Run { report, seq: 1 })))),
    };
    let _h = leptos::mount::mount_to(root.clone(), move || view! { <TestsPanel state=state/> });
    settle().await;
    assert_eq!(text(&root, "tests-summary"), "1 of 2 passed");
    let cases = root
        .query_selector_all("[data-testid='test-case']")
        .unwrap();
    assert_eq!(cases.length(), 2);
    let case = |i| -> web_sys::Element { cases.item(i).unwrap().unchecked_into() };
    assert_eq!(
        case(0).get_attribute("data-passed").as_deref(),
        Some("true")
    );
    assert_eq!(case(0).class_name(), "test-pass");
    assert_eq!(
        case(1).get_attribute("data-passed").as_deref(),
        Some("false")
    );
    assert_eq!(case(1).class_name(), "test-fail");
    assert!(
        case(1)
            .text_content()
            .unwrap()
            .contains("verdict: expected block, got row_filter"),
        "{}",
        case(1).text_content().unwrap()
    );
    assert_eq!(text(&root, "tests-coverage"), "2 of 2 rules exercised");
    assert!(find(&root, "tests-uncovered").is_none());
}

#[wasm_bindgen_test]
async fn why_is_this_row_hidden_names_the_conjunct_and_the_context_change() {
    use verdict_web_editor::explain::ExplainRow;
    let root = host();
    let draft = json!({"id": "tenancy", "assignments": [{"kind": "everyone", "value": "*"}], "rules": [
        {"type": "row_filter", "table": "orders", "predicate": "tenant_id = ctx.attr.tenant_id AND email IS NOT NULL"}]});
    let context = RwSignal::new(json!({"user": "ann", "attributes": {"tenant_id": 1}}));
    let cat = Signal::derive(catalog);
    let _h = leptos::mount::mount_to(root.clone(), move || {
        let d = draft.clone();
        let loaded = Memo::new_with_compare(
            move |_| Shared(Arc::new(live::load(&catalog(), &d, &[]))),
            |_, _| true,
        );
        view! { <ExplainRow loaded=loaded context=context catalog=cat/> }
    });
    settle().await;
    find(&root, "explain-toggle").unwrap().click();
    settle().await;
    let select: web_sys::HtmlSelectElement = find(&root, "explain-table").unwrap().unchecked_into();
    select.set_value("public.orders");
    select
        .dispatch_event(&web_sys::Event::new("change").unwrap())
        .unwrap();
    settle().await;
    type_into(&find(&root, "explain-col-id").unwrap(), "7");
    type_into(&find(&root, "explain-col-tenant_id").unwrap(), "2");
    type_into(&find(&root, "explain-col-email").unwrap(), "x@two.example");
    settle().await;
    assert_eq!(text(&root, "explain-outcome"), "hidden");
    let blamed = root
        .query_selector_all("[data-testid='explain-conjunct'][data-blamed='true']")
        .unwrap();
    assert_eq!(blamed.length(), 1);
    let row: HtmlElement = blamed.item(0).unwrap().unchecked_into();
    assert!(row
        .text_content()
        .unwrap()
        .contains("tenant_id = ctx.attr.tenant_id"));
    assert!(row
        .text_content()
        .unwrap()
        .contains("ctx.attr.tenant_id = 1"));
    assert!(text(&root, "explain-admit").contains("ctx.attr.tenant_id"));
    assert!(
        text(&root, "explain-sql").contains("c1"),
        "{}",
        text(&root, "explain-sql")
    );
    // Another context: the same row shows.
    context.update(|c| c["attributes"]["tenant_id"] = json!(2));
    settle().await;
    assert_eq!(text(&root, "explain-outcome"), "visible");
    // A pasted row fills the fields: a NULL email is hidden by the second conjunct.
    type_into(
        &find(&root, "explain-paste").unwrap(),
        r#"{"id": 8, "tenant_id": 2, "email": null}"#,
    );
    find(&root, "explain-paste-apply").unwrap().click();
    settle().await;
    assert_eq!(text(&root, "explain-outcome"), "hidden");
    let blamed = root
        .query_selector_all("[data-testid='explain-conjunct'][data-blamed='true']")
        .unwrap();
    assert_eq!(blamed.length(), 1);
    assert!(blamed
        .item(0)
        .unwrap()
        .text_content()
        .unwrap()
        .contains("email IS NOT NULL"));
}
