//! Arbitrary policy files (JSON when they start with `{` or `[`, YAML otherwise): each loads
//! or gives a structured error; a set that loads evaluates fixed statements cleanly.
#![no_main]

use libfuzzer_sys::fuzz_target;
use verdict_engine::PolicySet;
use verdict_fuzz::{bounded, check_error, check_evaluation, context, READER, STATEMENTS, WRITER};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    bounded("loading and evaluation", || {
        let first = PolicySet::parse(&text);
        let again = PolicySet::parse(&text);
        assert_eq!(first, again, "loading is not deterministic");
        match first {
            Err(err) => check_error(&err),
            Ok(set) => {
                let summary = set.summary();
                assert_eq!(summary.policies, set.policies.len());
                for ctx in [context(READER), context(WRITER)] {
                    for sql in STATEMENTS {
                        check_evaluation(&set, sql, &ctx);
                    }
                }
            }
        }
    });
});
