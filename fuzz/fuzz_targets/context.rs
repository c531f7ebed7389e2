//! Arbitrary context files (JSON when they start with `{`, YAML otherwise): each loads or
//! gives a structured error; a context that loads evaluates fixed statements cleanly.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use verdict_engine::{Context, PolicySet};
use verdict_fuzz::{bounded, check_error, check_evaluation, policies, STATEMENTS};

static SET: OnceLock<PolicySet> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let set = SET.get_or_init(policies);
    let text = String::from_utf8_lossy(data);
    bounded("loading and evaluation", || {
        let first = Context::from_str_any(&text);
        assert_eq!(
            first,
            Context::from_str_any(&text),
            "loading is not deterministic"
        );
        match first {
            Err(err) => check_error(&err),
            Ok(ctx) => {
                for sql in STATEMENTS {
                    check_evaluation(set, sql, &ctx);
                }
            }
        }
    });
});
