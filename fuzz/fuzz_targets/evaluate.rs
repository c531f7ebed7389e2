//! Arbitrary SQL text under the conformance policies, for a reader and a writer context.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use verdict_engine::{Context, PolicySet};
use verdict_fuzz::{bounded, check_evaluation, context, policies, READER, WRITER};

struct Fixed {
    set: PolicySet,
    contexts: [Context; 2],
}

static FIXED: OnceLock<Fixed> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let fixed = FIXED.get_or_init(|| Fixed {
        set: policies(),
        contexts: [context(READER), context(WRITER)],
    });
    let sql = String::from_utf8_lossy(data);
    bounded("evaluation", || {
        for ctx in &fixed.contexts {
            check_evaluation(&fixed.set, &sql, ctx);
        }
    });
});
