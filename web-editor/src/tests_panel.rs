//! The Tests panel: the organization's stored policy tests (`GET /api/v1/policy-tests`)
//! run in this page by the engine's test runner against the draft's set (the other stored
//! policies with the draft in place of its stored copy), again after every edit of the
//! draft: red or green per case with what differed, and the rules no case exercised.
//!
//! A run waits for a pause in typing ([`DEBOUNCE_MS`]) so that it never delays the live
//! verdict a keystroke is waiting for.

use std::sync::Arc;
use std::time::Duration;

use leptos::prelude::*;
use leptos::task::spawn_local;
use serde_json::Value;
use verdict_engine::{run_suite, Suite, SuiteReport};

use crate::api;
use crate::app::Session;
use crate::live::Loaded;
use crate::model;
use crate::preview::Shared;

/// How long the draft must stay unchanged before the tests run again.
pub const DEBOUNCE_MS: u64 = 120;

/// The stored suite, as the panel knows it.
#[derive(Debug, Clone, PartialEq)]
pub enum Stored {
    Loading,
    /// The server answered with no case.
    Empty,
    Ready(Shared<Suite>),
    Failed(String),
}

/// One run of the suite over the draft.
#[derive(Debug)]
pub struct Run {
    /// Absent when the draft's set does not validate (nothing to run against).
    pub report: Option<SuiteReport>,
    /// Counts runs (exposed as `data-run`).
    pub seq: u64,
}

/// The suite and its last run, shared by the editor page and the panel.
#[derive(Clone, Copy)]
pub struct TestsState {
    pub stored: RwSignal<Stored>,
    pub run: RwSignal<Option<Shared<Run>>>,
}

/// The suite of a `GET /api/v1/policy-tests` answer.
pub fn suite_of(body: &Value) -> Stored {
    match body.get("suite") {
        Some(s)
            if s.get("tests")
                .and_then(Value::as_array)
                .is_some_and(Vec::is_empty) =>
        {
            Stored::Empty
        }
        Some(s) => match Suite::from_json(s) {
            Ok(suite) => Stored::Ready(Shared(Arc::new(suite))),
            Err(e) => Stored::Failed(format!("the stored tests do not read: {}", e.message)),
        },
        None => Stored::Failed("the server's answer holds no suite".into()),
    }
}

/// Runs the suite over a loaded set.
pub fn run_over(loaded: &Loaded, suite: &Suite) -> Option<SuiteReport> {
    loaded.set.as_ref().map(|set| run_suite(set, suite))
}

impl TestsState {
    /// Loads the organization's suite and runs it after each change of `loaded` (the
    /// draft's set), once typing pauses.
    pub fn start(session: Session, loaded: Memo<Shared<Loaded>>) -> TestsState {
        let state = TestsState {
            stored: RwSignal::new(Stored::Loading),
            run: RwSignal::new(None),
        };
        spawn_local(async move {
            let a = api::call("GET", "/api/v1/policy-tests", &session.token(), None, None).await;
            state.stored.set(match a {
                Ok(a) if a.ok() => suite_of(&a.body),
                Ok(a) => Stored::Failed(format!("cannot read the policy tests: {}", a.message())),
                Err(e) => Stored::Failed(e),
            });
        });
        let generation = StoredValue::new(0u64);
        Effect::new(move |_| {
            loaded.track();
            let Stored::Ready(_) = state.stored.get() else {
                return;
            };
            let mine = generation.get_value() + 1;
            generation.set_value(mine);
            set_timeout(
                // The page may be gone when the timer fires (a save that opened the change
                // request, a link): then its signals are disposed and nothing runs.
                move || {
                    if generation.try_get_value() != Some(mine) {
                        return;
                    }
                    let Some(Stored::Ready(suite)) = state.stored.try_get_untracked() else {
                        return;
                    };
                    let Some(l) = loaded.try_get_untracked() else {
                        return;
                    };
                    let report = crate::perf::span("tests", || run_over(&l.0, &suite.0));
                    let Some(seq) = state
                        .run
                        .try_with_untracked(|r| r.as_ref().map_or(0, |r| r.0.seq) + 1)
                    else {
                        return;
                    };
                    state
                        .run
                        .try_set(Some(Shared(Arc::new(Run { report, seq }))));
                },
                Duration::from_millis(DEBOUNCE_MS),
            );
        });
        state
    }

    /// The tab's label: "Tests", with passed/total once run.
    pub fn label(&self) -> String {
        match self
            .run
            .get()
            .and_then(|r| r.0.report.as_ref().map(|rep| (rep.passed, rep.total)))
        {
            Some((passed, total)) => format!("Tests {passed}/{total}"),
            None => "Tests".into(),
        }
    }
}

/// A case's mismatches as one line.
fn why(case: &verdict_engine::suite::CaseReport) -> String {
    case.mismatches
        .iter()
        .map(|m| {
            format!(
                "{}: expected {}, got {}",
                m.field,
                model::short(&m.expected),
                model::short(&m.actual)
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The panel.
#[component]
pub fn TestsPanel(state: TestsState) -> impl IntoView {
    view! {
        <section class="card tests-panel" role="tabpanel" data-testid="tests-panel"
            data-run=move || state.run.get().map_or(0, |r| r.0.seq).to_string()>
            <h2>"Policy tests"</h2>
            <p class="muted small">"The organization's stored tests, run here against this draft after every edit (nothing is sent). Publishing re-runs them on the server."</p>
            {move || match state.stored.get() {
                Stored::Loading => view! { <p class="muted">"Loading…"</p> }.into_any(),
                Stored::Failed(m) => view! { <p class="error" role="alert" data-testid="tests-error">{m}</p> }.into_any(),
                Stored::Empty => view! {
                    <p class="muted" data-testid="tests-none">"The organization has no policy tests yet. Store them with "<code>"PUT /api/v1/policy-tests"</code>" (the format of "<code>"verdict test"</code>")."</p>
                }.into_any(),
                Stored::Ready(_) => match state.run.get() {
                    None => view! { <p class="muted">"Running…"</p> }.into_any(),
                    Some(run) => match &run.0.report {
                        None => view! {
                            <p class="error" data-testid="tests-blocked">"The draft's policy set does not validate: the tests run once the problems are fixed."</p>
                        }.into_any(),
                        Some(rep) => {
                            let ok = rep.all_passed();
                            let summary = format!("{} of {} passed", rep.passed, rep.total);
                            let uncovered = rep.coverage.as_ref().map(|c| (c.exercised, c.rules, c.uncovered.clone()));
                            view! {
                                <p><span class=if ok { "badge small badge-allow" } else { "badge small badge-block" } data-testid="tests-summary">{summary}</span></p>
                                <ul class="test-cases" data-testid="test-cases">
                                    {rep.cases.iter().map(|c| {
                                        let reason = if c.passed {
                                            format!("{} ({})", c.verdict.as_str(), model::short(&serde_json::to_value(c.rule).unwrap_or(Value::Null)))
                                        } else {
                                            why(c)
                                        };
                                        view! {
                                            <li class=if c.passed { "test-pass" } else { "test-fail" } data-testid="test-case"
                                                data-passed=c.passed.to_string()>
                                                <span class="test-mark" aria-hidden="true">{if c.passed { "✓" } else { "✗" }}</span>
                                                <span class="sr-only">{if c.passed { "passed: " } else { "failed: " }}</span>
                                                <strong>{c.name.clone()}</strong>
                                                <span class="small test-reason">{format!(" — {reason}")}</span>
                                            </li>
                                        }
                                    }).collect::<Vec<_>>()}
                                </ul>
                                {uncovered.map(|(exercised, rules, list)| view! {
                                    <h3>"Coverage"</h3>
                                    <p class="small" data-testid="tests-coverage">{format!("{exercised} of {rules} rules exercised")}</p>
                                    {(!list.is_empty()).then(|| view! {
                                        <p class="small">"Rules no case exercised:"</p>
                                        <ul class="small" data-testid="tests-uncovered">
                                            {list.into_iter().map(|r| view! {
                                                <li>{format!("{} rule {} ({})", r.policy, r.rule, r.rule_type)}</li>
                                            }).collect::<Vec<_>>()}
                                        </ul>
                                    })}
                                })}
                            }.into_any()
                        }
                    },
                },
            }}
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn catalog() -> Value {
        json!({"tables": [{"name": "public.orders", "columns": [
            {"name": "id", "type": "integer"}, {"name": "tenant_id", "type": "integer"},
            {"name": "email", "type": "text"}]}]})
    }

    #[test]
    fn the_suite_follows_the_draft() {
        let doc = json!({"suite": {"tests": [
            {"name": "email is masked", "context": {"user": "ann"}, "sql": "SELECT email FROM orders",
             "expect": {"verdict": "mask", "masked_columns": ["orders.email"]}}]}});
        let Stored::Ready(suite) = suite_of(&doc) else {
            panic!("the suite did not read");
        };
        let masking = json!({"id": "pii", "assignments": [{"kind": "everyone", "value": "*"}], "rules": [
            {"type": "column_mask", "table": "orders", "column": "email", "mask": {"kind": "redact"}},
            {"type": "deny", "table": "orders", "operations": ["delete"]}]});
        let loaded = crate::live::load(&catalog(), &masking, &[]);
        let rep = run_over(&loaded, &suite.0).expect("a report");
        assert_eq!((rep.passed, rep.total), (1, 1));
        // No case deletes: the deny is the rule nobody exercised.
        let cov = rep.coverage.expect("coverage");
        assert_eq!((cov.exercised, cov.rules), (1, 2));
        assert_eq!(cov.uncovered.len(), 1);
        assert_eq!(
            (cov.uncovered[0].rule, cov.uncovered[0].rule_type),
            (2, "deny")
        );
        // The draft without the mask: the case fails, and says why.
        let bare = json!({"id": "pii", "assignments": [{"kind": "everyone", "value": "*"}], "rules": [
            {"type": "deny", "table": "orders", "operations": ["delete"]}]});
        let loaded = crate::live::load(&catalog(), &bare, &[]);
        let rep = run_over(&loaded, &suite.0).expect("a report");
        assert_eq!(rep.failed, 1);
        assert!(why(&rep.cases[0]).contains("verdict: expected mask, got allow"));
        // A draft that does not validate: nothing to run against.
        let broken = json!({"id": "pii", "rules": [{"type": "nope"}]});
        assert!(run_over(&crate::live::load(&catalog(), &broken, &[]), &suite.0).is_none());
    }

    #[test]
    fn an_empty_or_unreadable_suite_is_said_so() {
        assert_eq!(suite_of(&json!({"suite": {"tests": []}})), Stored::Empty);
        assert!(matches!(
            suite_of(&json!({"suite": {"tests": [{"name": 1}]}})),
            Stored::Failed(_)
        ));
    }
}
