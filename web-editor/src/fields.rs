//! The policy form: one input per field of the draft (addressed by JSON pointer), problems
//! shown at the field they belong to, and a card per rule with the fields of its type.

use leptos::prelude::*;
use serde_json::{json, Value};
use verdict_engine::policy::{Operation, StatementKind};
use verdict_engine::Problem;

use crate::model;

/// The draft's validation problems, as the engine reports them.
pub type Problems = Signal<Vec<Problem>>;

/// Whether a problem's field is `field` or inside it.
pub fn belongs(problem_field: &str, field: &str) -> bool {
    problem_field == field
        || problem_field
            .strip_prefix(field)
            .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
}

/// `line L, column C: message`, or the message alone.
pub fn describe(p: &Problem) -> String {
    match (p.line, p.column) {
        (Some(l), Some(c)) => format!("line {l}, column {c}: {}", p.message),
        _ => p.message.clone(),
    }
}

/// The source line a problem points at and a caret under its column.
pub fn caret(source: &str, p: &Problem) -> Option<(String, String)> {
    let line = usize::try_from(p.line?).ok()?;
    let col = usize::try_from(p.column?).ok()?;
    let text = source.lines().nth(line.checked_sub(1)?)?;
    let pad: String = text
        .chars()
        .take(col.saturating_sub(1))
        .map(|c| if c == '\t' { '\t' } else { ' ' })
        .collect();
    Some((text.to_string(), format!("{pad}^")))
}

/// Asks the editor page to show the form input of a problem's field (set by a problem's
/// link; the page switches to the form and focuses the input).
#[derive(Clone, Copy)]
pub struct FocusRequest(pub RwSignal<Option<String>>);

/// Focuses the form input bound to `field` (`data-field`), or failing that the nearest
/// enclosing field that has one (`rules[1].mask.kind` → `rules[1].mask` → `rules[1]`, the
/// rule's card). Returns whether something took the focus.
pub fn focus_field(field: &str) -> bool {
    use wasm_bindgen::JsCast;
    let Some(doc) = web_sys::window().and_then(|w| w.document()) else {
        return false;
    };
    let mut at = field;
    loop {
        let selector = format!(
            "[data-field=\"{}\"]",
            at.replace('\\', "\\\\").replace('"', "\\\"")
        );
        if let Some(el) = doc
            .query_selector(&selector)
            .ok()
            .flatten()
            .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok())
        {
            el.scroll_into_view();
            return el.focus().is_ok();
        }
        match at.rfind(['.', '[']) {
            Some(cut) if cut > 0 => at = at.get(..cut).unwrap_or(""),
            _ => return false,
        }
    }
}

/// A problem's field as a link to its input: `Rule 2 › predicate` (the form's numbering),
/// with the engine's path (`rules[1].predicate`) as its title.
#[component]
pub fn ProblemLink(#[prop(into)] field: String) -> impl IntoView {
    let request = use_context::<FocusRequest>();
    let label = crate::live::field_label(&field);
    let title = format!("{field} — show the field");
    view! {
        <button type="button" class="link mono" title=title data-problem-field=field.clone()
            on:click=move |_| match request {
                Some(FocusRequest(r)) => r.set(Some(field.clone())),
                None => { focus_field(&field); }
            }>{label}</button>
    }
}

/// The problems of one field, under it.
#[component]
pub fn FieldProblems(
    problems: Problems,
    #[prop(into)] field: String,
    /// The field's text, to show the line a positioned problem points at.
    #[prop(optional)]
    source: Option<Signal<String>>,
    /// Only problems of this very field (for containers whose parts show their own).
    #[prop(optional)]
    exact: bool,
) -> impl IntoView {
    let field2 = field.clone();
    let mine = Memo::new(move |_| {
        problems
            .get()
            .into_iter()
            .filter(|p| {
                if exact {
                    p.field == field2
                } else {
                    belongs(&p.field, &field2)
                }
            })
            .collect::<Vec<_>>()
    });
    let testid = format!("problem-{}", field.replace(['[', ']', '.'], "-"));
    view! {
        <div class="problems" role="alert">
            {move || mine.get().into_iter().map(|p| {
                let snippet = source.and_then(|s| caret(&s.get(), &p));
                view! {
                    <div class="problem" data-testid=testid.clone()>
                        <span class="problem-msg">{describe(&p)}</span>
                        {snippet.map(|(line, mark)| view! {
                            <pre class="caret" aria-hidden="true">{line}"\n"<span class="mark">{mark}</span></pre>
                        })}
                    </div>
                }
            }).collect::<Vec<_>>()}
        </div>
    }
}

/// What a text input writes into the draft.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The text; removed when empty.
    Text,
    /// The text, also when empty (required fields: the engine says what is wrong).
    Required,
    /// An integer (other text stays text so that the engine reports it); removed when empty.
    Number,
    /// A comma-separated list of strings; removed when empty.
    List,
    /// A JSON value when the text parses as one (numbers, true/false), else the text.
    Literal,
}

/// The value a text input holds, as the draft stores it.
pub fn input_value(kind: Kind, text: &str) -> Option<Value> {
    match kind {
        Kind::Text => (!text.is_empty()).then(|| Value::String(text.to_string())),
        Kind::Required => Some(Value::String(text.to_string())),
        Kind::Number => model::number_value(text),
        Kind::List => {
            let items = model::parse_list(text);
            (!items.is_empty()).then_some(Value::Array(items))
        }
        Kind::Literal => {
            let t = text.trim();
            if t.is_empty() {
                None
            } else {
                Some(match serde_json::from_str::<Value>(t) {
                    Ok(v @ (Value::Number(_) | Value::Bool(_))) => v,
                    _ => Value::String(text.to_string()),
                })
            }
        }
    }
}

/// The text an input shows for the value in the draft.
pub fn input_text(kind: Kind, doc: &Value, ptr: &str) -> String {
    match kind {
        Kind::List => model::list_at(doc, ptr).join(", "),
        _ => model::text_at(doc, ptr),
    }
}

/// A labelled text input (or text area) bound to one field of the draft.
#[component]
pub fn TextField(
    draft: RwSignal<Value>,
    problems: Problems,
    #[prop(into)] ptr: String,
    #[prop(into)] label: String,
    /// The engine's name of the field, for its problems (`rules[0].predicate`).
    #[prop(into)]
    field: String,
    #[prop(into)] testid: String,
    #[prop(default = Kind::Text)] kind: Kind,
    #[prop(optional)] multiline: bool,
    #[prop(optional, into)] placeholder: String,
    #[prop(optional, into)] hint: String,
    #[prop(optional, into)] list: Option<String>,
    #[prop(optional)] readonly: bool,
) -> impl IntoView {
    let p1 = ptr.clone();
    // A memo: a keystroke elsewhere in the draft leaves this input alone.
    let text = Memo::new(move |_| input_text(kind, &draft.get(), &p1));
    let write = move |value: String| {
        draft.update(|d| model::set_pointer(d, &ptr, input_value(kind, &value)));
    };
    let field_for_problems = field.clone();
    let invalid = Memo::new(move |_| {
        problems
            .get()
            .iter()
            .any(|p| belongs(&p.field, &field_for_problems))
    });
    let input = if multiline {
        let write = write.clone();
        view! {
            <textarea class="mono" rows="3" data-testid=testid data-field=field.clone() spellcheck="false" placeholder=placeholder
                aria-invalid=move || invalid.get().to_string()
                prop:value=move || text.get() readonly=readonly
                on:input=move |ev| write(event_target_value(&ev))></textarea>
        }
        .into_any()
    } else {
        view! {
            <input type="text" data-testid=testid data-field=field.clone() placeholder=placeholder list=list readonly=readonly
                aria-invalid=move || invalid.get().to_string()
                prop:value=move || text.get()
                on:input=move |ev| write(event_target_value(&ev))/>
        }
        .into_any()
    };
    let source = multiline.then_some(Signal::from(text));
    view! {
        <label class="field">
            <span>{label}</span>
            {input}
            {(!hint.is_empty()).then(|| view! { <small class="hint">{hint}</small> })}
            {match source {
                Some(s) => view! { <FieldProblems problems=problems field=field source=s/> }.into_any(),
                None => view! { <FieldProblems problems=problems field=field/> }.into_any(),
            }}
        </label>
    }
}

/// A labelled checkbox bound to a boolean field with a default.
#[component]
pub fn CheckField(
    draft: RwSignal<Value>,
    #[prop(into)] ptr: String,
    #[prop(into)] label: String,
    #[prop(into)] testid: String,
    default: bool,
) -> impl IntoView {
    let p1 = ptr.clone();
    let checked = Memo::new(move |_| {
        draft
            .get()
            .pointer(&p1)
            .and_then(Value::as_bool)
            .unwrap_or(default)
    });
    view! {
        <label class="check">
            <input type="checkbox" data-testid=testid prop:checked=move || checked.get()
                on:change=move |ev| {
                    let on = event_target_checked(&ev);
                    draft.update(|d| model::set_pointer(d, &ptr, Some(Value::Bool(on))));
                }/>
            " " {label}
        </label>
    }
}

/// A labelled select bound to a string field; the empty option removes the field.
#[component]
pub fn SelectField(
    draft: RwSignal<Value>,
    problems: Problems,
    #[prop(into)] ptr: String,
    #[prop(into)] label: String,
    #[prop(into)] field: String,
    #[prop(into)] testid: String,
    options: Vec<(String, String)>,
    /// What an absent field means (selected when the field is absent).
    #[prop(into)]
    default: String,
    /// The value shown, when it is not simply the text at `ptr` (a mask's short form).
    #[prop(optional)]
    value: Option<Memo<String>>,
) -> impl IntoView {
    let p1 = ptr.clone();
    let current = Memo::new(move |_| {
        let t = match value {
            Some(v) => v.get(),
            None => model::text_at(&draft.get(), &p1),
        };
        if t.is_empty() {
            None
        } else {
            Some(t)
        }
    });
    let known: Vec<String> = options.iter().map(|(v, _)| v.clone()).collect();
    // A value none of the options names (from the raw tab) shows as itself, selected, and
    // the field's problem says what is wrong with it; it is never shown as another value.
    let unknown = move || {
        current.get().filter(|c| !known.contains(c)).map(
            |c| view! { <option value=c.clone() selected=true>{format!("{c} (unknown)")}</option> },
        )
    };
    view! {
        <label class="field">
            <span>{label}</span>
            <select data-testid=testid data-field=field.clone() on:change=move |ev| {
                let v = event_target_value(&ev);
                draft.update(|d| model::set_pointer(d, &ptr, (!v.is_empty()).then_some(Value::String(v))));
            }>
                {options.into_iter().map(|(value, text)| {
                    let v2 = value.clone();
                    let d2 = default.clone();
                    view! {
                        <option value=value selected=move || current.get().unwrap_or_else(|| d2.clone()) == v2>{text}</option>
                    }
                }).collect::<Vec<_>>()}
                {unknown}
            </select>
            <FieldProblems problems=problems field=field/>
        </label>
    }
}

/// Checkboxes for a list of words (`operations`, `statements`); no box checked removes it.
#[component]
pub fn MultiCheck(
    draft: RwSignal<Value>,
    problems: Problems,
    #[prop(into)] ptr: String,
    #[prop(into)] label: String,
    #[prop(into)] field: String,
    #[prop(into)] testid: String,
    options: Vec<&'static str>,
) -> impl IntoView {
    let field_attr = field.clone();
    let p0 = ptr.clone();
    let selected = Memo::new(move |_| model::list_at(&draft.get(), &p0));
    let boxes = options
        .into_iter()
        .map(|opt| {
            let p2 = ptr.clone();
            let checked = move || selected.with(|s| s.iter().any(|x| x == opt));
            view! {
                <label class="check small">
                    <input type="checkbox" data-testid=format!("{testid}-{opt}") prop:checked=checked
                        on:change=move |ev| {
                            let on = event_target_checked(&ev);
                            draft.update(|d| {
                                let mut items = model::list_at(d, &p2);
                                items.retain(|x| x != opt);
                                if on {
                                    items.push(opt.to_string());
                                }
                                let v = (!items.is_empty()).then(|| json!(items));
                                model::set_pointer(d, &p2, v);
                            });
                        }/>
                    " " {opt}
                </label>
            }
        })
        .collect::<Vec<_>>();
    view! {
        <fieldset class="multi" data-field=field_attr tabindex="-1">
            <legend>{label}</legend>
            <div class="boxes">{boxes}</div>
            <FieldProblems problems=problems field=field/>
        </fieldset>
    }
}

/// One rule of the draft, with the fields of its type.
#[component]
pub fn RuleCard(
    draft: RwSignal<Value>,
    problems: Problems,
    index: usize,
    count: Signal<usize>,
    catalog: Signal<Value>,
) -> impl IntoView {
    let i = index;
    let base = format!("/rules/{i}");
    let f = move |name: &str| format!("rules[{i}].{name}");
    let p = move |name: &str| format!("/rules/{i}/{name}");
    let rule_type = Memo::new(move |_| model::text_at(&draft.get(), &format!("/rules/{i}/type")));
    let move_rule = move |delta: isize| {
        draft.update(|d| {
            if let Some(rules) = d.get_mut("rules").and_then(Value::as_array_mut) {
                let j = i as isize + delta;
                if j >= 0 && (j as usize) < rules.len() {
                    rules.swap(i, j as usize);
                }
            }
        });
    };
    let base2 = base.clone();
    let remove = move |_| draft.update(|d| model::set_pointer(d, &base2, None));
    let table_name = Memo::new(move |_| model::text_at(&draft.get(), &p("table")));
    let table_hint = move || {
        let cols = model::catalog_columns(&catalog.get(), &table_name.get());
        if cols.is_empty() {
            String::new()
        } else {
            format!("columns: {}", cols.join(", "))
        }
    };
    let columns_list = format!("rule-{i}-columns");
    let columns_list2 = columns_list.clone();
    let fields = move || {
        let t = rule_type.get();
        let table = view! {
            <TextField draft=draft problems=problems ptr=p("table") label="Table" field=f("table")
                testid=format!("rule-{i}-table") kind=Kind::Required list="catalog-tables".to_string()
                placeholder="orders or schema.orders"/>
            <small class="hint table-columns">{table_hint}</small>
        };
        match t.as_str() {
            "row_filter" => view! {
                {table}
                <TextField draft=draft problems=problems ptr=p("predicate") label="Predicate" field=f("predicate")
                    testid=format!("rule-{i}-predicate") kind=Kind::Required multiline=true
                    placeholder="tenant_id = ctx.attr.tenant_id"
                    hint="A SQL boolean expression over the table's columns; ctx.user, ctx.roles, ctx.purpose, ctx.workspace, ctx.data_source and ctx.attr.NAME are the caller's context."/>
            }.into_any(),
            "column_mask" => {
                let kind = Memo::new(move |_| {
                    let d = draft.get();
                    match d.pointer(&format!("/rules/{i}/mask")) {
                        Some(Value::String(s)) => s.clone(),
                        Some(m) => m.get("kind").and_then(Value::as_str).unwrap_or("").to_string(),
                        None => String::new(),
                    }
                });
                let kinds = verdict_engine::policy::Mask::KINDS.iter().map(|k| (k.to_string(), k.to_string())).collect();
                let options = move || match kind.get().as_str() {
                    "redact" => view! {
                        <TextField draft=draft problems=problems ptr=p("mask/replacement") label="Replacement (text columns)"
                            field=f("mask.replacement") testid=format!("rule-{i}-mask-replacement") placeholder="****"/>
                    }.into_any(),
                    "partial" => view! {
                        <div class="row">
                            <TextField draft=draft problems=problems ptr=p("mask/show_first") label="Show first" field=f("mask.show_first")
                                testid=format!("rule-{i}-mask-show-first") kind=Kind::Number placeholder="0"/>
                            <TextField draft=draft problems=problems ptr=p("mask/show_last") label="Show last" field=f("mask.show_last")
                                testid=format!("rule-{i}-mask-show-last") kind=Kind::Number placeholder="0"/>
                            <TextField draft=draft problems=problems ptr=p("mask/pad") label="Pad" field=f("mask.pad")
                                testid=format!("rule-{i}-mask-pad") placeholder="*"/>
                        </div>
                    }.into_any(),
                    "constant" => view! {
                        <TextField draft=draft problems=problems ptr=p("mask/value") label="Value" field=f("mask.value")
                            testid=format!("rule-{i}-mask-value") kind=Kind::Literal placeholder="'n/a' or 0"/>
                    }.into_any(),
                    "email" => view! { <small class="hint">"Keeps the domain: a@b.com becomes ****@b.com; a value without @ becomes ****."</small> }.into_any(),
                    "hash" => view! { <small class="hint">"Lowercase hex SHA-256 of the value's text."</small> }.into_any(),
                    "date_year" => view! { <small class="hint">"January 1 of the value's year; the type is kept."</small> }.into_any(),
                    _ => ().into_any(),
                };
                let cols = move || model::catalog_columns(&catalog.get(), &table_name.get());
                view! {
                    {table}
                    <TextField draft=draft problems=problems ptr=p("column") label="Column" field=f("column")
                        testid=format!("rule-{i}-column") kind=Kind::Required list=columns_list.clone()/>
                    <datalist id=columns_list.clone()>
                        {move || cols().into_iter().map(|c| view! { <option value=c/> }).collect::<Vec<_>>()}
                    </datalist>
                    <SelectField draft=draft problems=problems ptr=p("mask/kind") label="Mask" field=f("mask")
                        testid=format!("rule-{i}-mask-kind") options=kinds default="" value=kind/>
                    {options}
                }.into_any()
            }
            "deny" => view! {
                {table}
                <TextField draft=draft problems=problems ptr=p("columns") label="Columns (empty: the whole table)" field=f("columns")
                    testid=format!("rule-{i}-columns") kind=Kind::List placeholder="password_hash, ssn" list=columns_list2.clone()/>
                <MultiCheck draft=draft problems=problems ptr=p("operations") label="Operations (none checked: all)"
                    field=f("operations") testid=format!("rule-{i}-op") options=model::names(&Operation::ALL)/>
            }.into_any(),
            "data_retention" => {
                let cols = move || model::catalog_columns(&catalog.get(), &table_name.get());
                let list = format!("rule-{i}-retention-columns");
                view! {
                    {table}
                    <TextField draft=draft problems=problems ptr=p("column") label="Date or timestamp column" field=f("column")
                        testid=format!("rule-{i}-column") kind=Kind::Required list=list.clone() placeholder="created_at"/>
                    <datalist id=list>
                        {move || cols().into_iter().map(|c| view! { <option value=c/> }).collect::<Vec<_>>()}
                    </datalist>
                    <TextField draft=draft problems=problems ptr=p("keep") label="Keep" field=f("keep")
                        testid=format!("rule-{i}-keep") kind=Kind::Required placeholder="90 days"
                        hint="Rows older than this are hidden from reads and protected from updates and deletes; new rows are not checked. Units: hours, days, weeks, months, years."/>
                }.into_any()
            }
            "query_restriction" => {
                let rw_options = vec![
                    (String::new(), "Not required".to_string()),
                    ("true".to_string(), "On UPDATE and DELETE".to_string()),
                ];
                let rw_ptr = p("require_where");
                let rw_ptr2 = rw_ptr.clone();
                let rw_current = Memo::new(move |_| -> String { match draft.get().pointer(&rw_ptr2) {
                    Some(Value::Bool(true)) => "true".to_string(),
                    Some(Value::Array(a)) if !a.is_empty() => "true".to_string(),
                    _ => String::new(),
                } });
                view! {
                    <MultiCheck draft=draft problems=problems ptr=p("statements") label="Allowed statement kinds (none checked: the default kinds)"
                        field=f("statements") testid=format!("rule-{i}-stmt") options=model::names(&StatementKind::ALL)/>
                    <TextField draft=draft problems=problems ptr=p("denied_functions") label="Denied functions" field=f("denied_functions")
                        testid=format!("rule-{i}-denied-functions") kind=Kind::List placeholder="pg_sleep, dblink*"/>
                    <label class="field">
                        <span>"WHERE required"</span>
                        <select data-testid=format!("rule-{i}-require-where") data-field=f("require_where") on:change=move |ev| {
                            let v = event_target_value(&ev);
                            draft.update(|d| model::set_pointer(d, &rw_ptr, (v == "true").then_some(Value::Bool(true))));
                        }>
                            {rw_options.into_iter().map(|(v, t)| {
                                let v2 = v.clone();
                                view! { <option value=v selected=move || rw_current.get() == v2>{t}</option> }
                            }).collect::<Vec<_>>()}
                        </select>
                        <FieldProblems problems=problems field=f("require_where")/>
                    </label>
                }.into_any()
            }
            "query_limit" => view! {
                <div class="row wrap">
                    {model::LIMIT_FIELDS.iter().map(|(name, label)| view! {
                        <TextField draft=draft problems=problems ptr=p(name) label=*label field=f(name)
                            testid=format!("rule-{i}-{}", name.replace('_', "-")) kind=Kind::Number/>
                    }).collect::<Vec<_>>()}
                </div>
                <small class="hint">"Rows and joins are enforced in the rewritten SQL; the per-hour, per-day and time limits are reported in notes for the server to count."</small>
            }.into_any(),
            other => view! { <p class="error">{format!("unknown rule type `{other}`: edit it in the JSON tab")}</p> }.into_any(),
        }
    };
    let title = move || {
        let t = rule_type.get();
        let label = model::RULE_TYPES
            .iter()
            .find(|(k, _)| *k == t)
            .map(|(_, l)| l.to_string())
            .unwrap_or(t);
        format!("Rule {} · {label}", i + 1)
    };
    view! {
        // A form of its own (submitting does nothing): Chromium's form-field tracking, which
        // runs after each typed character, then walks this rule's controls, not the page's.
        <form class="rule card" data-testid=format!("rule-{i}") data-field=format!("rules[{i}]") tabindex="-1" aria-label=title
            on:submit=|ev| ev.prevent_default()>
            <div class="rule-head">
                <h3>{title}</h3>
                <span class="spacer"></span>
                <button type="button" class="ghost small" aria-label=format!("Move rule {} up", i + 1) disabled=move || i == 0
                    on:click=move |_| move_rule(-1)>"↑"</button>
                <button type="button" class="ghost small" aria-label=format!("Move rule {} down", i + 1) disabled={move || i + 1 >= count.get()}
                    on:click=move |_| move_rule(1)>"↓"</button>
                <button type="button" class="ghost small danger" aria-label=format!("Remove rule {}", i + 1) data-testid=format!("rule-{i}-remove")
                    on:click=remove>"Remove"</button>
            </div>
            <FieldProblems problems=problems field=format!("rules[{i}]") exact=true/>
            {fields}
            <TextField draft=draft problems=problems ptr=p("description") label="Description" field=f("description")
                testid=format!("rule-{i}-description")/>
        </form>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn belongs_matches_the_field_and_inside_it() {
        assert!(belongs("rules[0].predicate", "rules[0].predicate"));
        assert!(belongs("rules[0].mask.kind", "rules[0].mask"));
        assert!(belongs("rules[0].columns[1]", "rules[0].columns"));
        assert!(!belongs("rules[10].table", "rules[1]"));
        assert!(!belongs("rules[0].tablex", "rules[0].table"));
    }

    #[test]
    fn caret_points_at_the_column() {
        let p = Problem {
            policy: None,
            policy_index: Some(0),
            rule_index: Some(0),
            kind: verdict_engine::ProblemKind::Predicate,
            field: "rules[0].predicate".into(),
            message: "expected an expression".into(),
            line: Some(2),
            column: Some(3),
        };
        assert_eq!(
            caret("a = 1\nb = = 2", &p),
            Some(("b = = 2".to_string(), "  ^".to_string()))
        );
        assert_eq!(describe(&p), "line 2, column 3: expected an expression");
    }

    #[test]
    fn input_values() {
        assert_eq!(input_value(Kind::Text, ""), None);
        assert_eq!(input_value(Kind::Required, ""), Some(json!("")));
        assert_eq!(input_value(Kind::Number, "12"), Some(json!(12)));
        assert_eq!(input_value(Kind::Number, "1x"), Some(json!("1x")));
        assert_eq!(input_value(Kind::List, "a, b,,"), Some(json!(["a", "b"])));
        assert_eq!(input_value(Kind::Literal, "0"), Some(json!(0)));
        assert_eq!(input_value(Kind::Literal, "n/a"), Some(json!("n/a")));
    }
}
