//! `verdict test`: passing and failing suites, exit codes, the JSON, text and JUnit
//! reports (the JUnit one checked by `xmllint --schema`), coverage and mutation scores.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_verdict");

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/suite")
        .join(name)
}

struct Run {
    code: i32,
    stdout: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", self.stdout))
    }
}

fn verdict(args: &[&str]) -> Run {
    let out = Command::new(BIN).args(args).output().expect("run verdict");
    Run {
        code: out.status.code().expect("exit code"),
        stdout: String::from_utf8(out.stdout).expect("UTF-8 stdout"),
    }
}

/// `verdict test` on the fixture policy set with a fixture suite and extra flags.
fn test(tests: &str, extra: &[&str]) -> Run {
    let policies = fixture("policies.yaml");
    let tests = if Path::new(tests).is_absolute() {
        PathBuf::from(tests)
    } else {
        fixture(tests)
    };
    let mut args = vec![
        "test",
        "--policies",
        policies.to_str().unwrap(),
        "--tests",
        tests.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    verdict(&args)
}

fn temp_file(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("verdict-suite-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_passing_suite_exits_0_with_every_case_passed() {
    let run = test("real.yaml", &["--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    let report = run.json();
    assert_eq!(report["passed"], 6);
    assert_eq!(report["failed"], 0);
    assert_eq!(report["total"], 6);
    let cases = report["cases"].as_array().unwrap();
    assert_eq!(cases[2]["name"], "nobody reads salaries");
    assert_eq!(cases[2]["verdict"], "block");
    assert_eq!(cases[2]["rule"], "deny");
    assert!(cases.iter().all(|c| c["passed"] == true));
    assert!(cases
        .iter()
        .all(|c| c["mismatches"] == serde_json::json!([])));
    // Without the flags, no coverage and no mutation in the report.
    assert!(report.get("coverage").is_none());
    assert!(report.get("mutation").is_none());
}

#[test]
fn a_failing_suite_exits_1_and_says_what_differs() {
    let run = test("failing.yaml", &["--format", "json"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let report = run.json();
    assert_eq!(
        (report["passed"].as_u64(), report["failed"].as_u64()),
        (Some(1), Some(1))
    );
    let failed = &report["cases"][1];
    assert_eq!(failed["passed"], false);
    assert_eq!(
        failed["mismatches"],
        serde_json::json!([
            {"field": "verdict", "expected": "allow", "actual": "row_filter"},
            {"field": "row_filters", "expected": [],
             "actual": [{"table": "public.orders", "predicate": "tenant_id = 1"}]}
        ])
    );
    // The text report says the same for people.
    let text = test("failing.yaml", &[]);
    assert_eq!(text.code, 1);
    assert!(
        text.stdout.contains("ok   nobody reads salaries\n"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout
            .contains("FAIL analysts see every order <wrong & on purpose>\n     verdict: expected \"allow\", got \"row_filter\"\n"),
        "{}",
        text.stdout
    );
    assert!(text.stdout.contains("1 passed, 1 failed, 2 cases\n"));
}

#[test]
fn bad_input_exits_2_with_a_structured_error() {
    let check = |run: Run, code: &str| -> Value {
        assert_eq!(run.code, 2, "{}", run.stdout);
        let doc = run.json();
        assert_eq!(doc["error"]["code"], code, "{doc}");
        assert!(!doc["error"]["message"].as_str().unwrap().is_empty());
        doc["error"].clone()
    };
    let unknown = temp_file(
        "unknown.yaml",
        "tests:\n  - name: a\n    sql: SELECT 1\n    expect: {verdict: allow, rows: 3}\n",
    );
    let err = check(test(unknown.to_str().unwrap(), &[]), "invalid_tests");
    assert_eq!(err["problems"][0]["field"], "tests[0].expect.rows");
    assert!(err["problems"][0]["message"]
        .as_str()
        .unwrap()
        .contains("unknown field `rows`"));
    let bad = temp_file(
        "bad.json",
        r#"{"tests":[{"name":"a","sql":"SELECT 1","expect":{"verdict":"maybe","rule":"nope"}}]}"#,
    );
    let err = check(test(bad.to_str().unwrap(), &[]), "invalid_tests");
    let fields: Vec<&str> = err["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["tests[0].expect.verdict", "tests[0].expect.rule"]);
    let broken = temp_file("broken.json", "{\"tests\": [");
    let err = check(test(broken.to_str().unwrap(), &[]), "invalid_tests");
    assert!(err["problems"][0]["line"].is_u64());
    check(test("missing.yaml", &[]), "io_error");
    let policies = temp_file(
        "policies.json",
        r#"{"policies":[{"id":"p","rules":[{"type":"nope"}]}]}"#,
    );
    check(
        verdict(&[
            "test",
            "--policies",
            policies.to_str().unwrap(),
            "--tests",
            fixture("real.yaml").to_str().unwrap(),
        ]),
        "invalid_policy",
    );
    check(test("real.yaml", &["--format", "xml"]), "invalid_arguments");
    check(
        verdict(&["test", "--policies", "-", "--tests", "-"]),
        "invalid_arguments",
    );
}

#[test]
fn coverage_lists_the_rules_no_case_exercised() {
    let weak = test("weak.json", &["--format", "json", "--coverage"]).json();
    assert_eq!(
        weak["coverage"],
        serde_json::json!({
            "rules": 8,
            "exercised": 6,
            "uncovered": [
                {"policy": "protect-secrets", "rule": 1, "type": "deny"},
                {"policy": "protect-secrets", "rule": 2, "type": "deny"}
            ]
        })
    );
    let real = test("real.yaml", &["--format", "json", "--coverage"]).json();
    assert_eq!(real["coverage"]["exercised"], 8);
    assert_eq!(real["coverage"]["uncovered"], serde_json::json!([]));
    let text = test("weak.json", &["--coverage"]);
    assert!(text.stdout.contains(
        "coverage: 6 of 8 rules exercised\n  not exercised: policy `protect-secrets` rule 1 (deny)\n"
    ));
}

#[test]
fn a_suite_that_only_checks_not_blocked_scores_low_and_a_real_one_high() {
    let score = |tests: &str| -> (f64, Value) {
        let run = test(tests, &["--format", "json", "--mutate"]);
        assert_eq!(run.code, 0, "{}", run.stdout);
        let report = run.json();
        let m = report["mutation"].clone();
        (m["score"].as_f64().unwrap(), m)
    };
    let (weak, weak_m) = score("weak.json");
    let (real, real_m) = score("real.yaml");
    eprintln!("mutation score: weak {weak}, real {real}");
    assert!(weak < 0.3, "weak suite scored {weak}: {weak_m}");
    assert!(real >= 0.9, "real suite scored {real}: {real_m}");
    // Every rule of the enforced policies has a mutant: 2 per row filter and per limit with
    // max_rows/max_joins, 1 per mask, deny and restriction.
    assert_eq!(real_m["total"], 11);
    assert_eq!(weak_m["total"], 11);
    let survivors = |m: &Value| -> Vec<String> {
        m["mutants"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|x| x.get("killed_by").is_none())
            .map(|x| format!("{} {} {}", x["policy"], x["rule"], x["mutation"]))
            .collect()
    };
    assert!(survivors(&weak_m).contains(&"\"tenant-isolation\" 1 \"filter_true\"".to_string()));
    // The real suite catches the row filter made TRUE with its predicate check.
    let killer = real_m["mutants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| {
            x["policy"] == "tenant-isolation" && x["rule"] == 1 && x["mutation"] == "filter_true"
        })
        .unwrap()["killed_by"]
        .clone();
    assert_eq!(killer, "analysts see their tenant's orders");
    let text = test("weak.json", &["--mutate"]);
    assert!(
        text.stdout
            .contains("mutation score: 0.00 (0 of 11 mutants killed)\n"),
        "{}",
        text.stdout
    );
    assert!(text
        .stdout
        .contains("  survived: policy `protect-secrets` rule 1 (deny): drop\n"));
}

/// `xmllint`, installed under CI when missing; `None` (skip) only outside CI.
fn xmllint() -> Option<&'static str> {
    let found = || {
        Command::new("xmllint")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if found() {
        return Some("xmllint");
    }
    if std::env::var("CI").as_deref() != Ok("true") {
        eprintln!(
            "skipped: xmllint is missing (apt-get install -y libxml2-utils); CI=true installs it"
        );
        return None;
    }
    let installed = Command::new("apt-get")
        .args(["install", "-y", "libxml2-utils"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        installed && found(),
        "CI=true: cannot install xmllint (libxml2-utils)"
    );
    Some("xmllint")
}

#[test]
fn junit_output_validates_against_the_junit_schema() {
    let Some(xmllint) = xmllint() else { return };
    let schema = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/junit.xsd");
    for (tests, code) in [("real.yaml", 0), ("failing.yaml", 1), ("weak.json", 0)] {
        let run = test(tests, &["--format", "junit", "--coverage", "--mutate"]);
        assert_eq!(run.code, code, "{}", run.stdout);
        let path = temp_file(&format!("{tests}.xml"), &run.stdout);
        let out = Command::new(xmllint)
            .args(["--noout", "--schema"])
            .arg(&schema)
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{tests}: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            run.stdout
        );
    }
    let run = test("failing.yaml", &["--format", "junit"]);
    assert!(
        run.stdout.contains(r#"tests="2" failures="1""#),
        "{}",
        run.stdout
    );
    assert!(run
        .stdout
        .contains(r#"<testcase name="analysts see every order &lt;wrong &amp; on purpose&gt;""#));
    assert!(run
        .stdout
        .contains(r#"<failure message="mismatch in verdict, row_filters" type="mismatch">verdict: expected &quot;allow&quot;, got &quot;row_filter&quot;"#));
    // The schema is a real check: a report without its required parts is refused.
    let broken = temp_file(
        "broken.xml",
        &run.stdout.replace(" hostname=\"localhost\"", ""),
    );
    let out = Command::new(xmllint)
        .args(["--noout", "--schema"])
        .arg(&schema)
        .arg(&broken)
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "the schema accepted a testsuite without hostname"
    );
}
