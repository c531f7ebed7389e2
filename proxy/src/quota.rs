//! `queries_per_hour` and `queries_per_day`, counted per principal and policy in fixed
//! windows (the UTC clock hour, the UTC day) by this proxy process, for a standalone
//! policy set; on a store the store's counters are used (`judge::OnStore`).

use std::collections::HashMap;
use std::sync::Mutex;

use verdict_engine::verdict::LimitNote;

/// (principal, policy, kind).
type Key = (String, String, &'static str);

/// The counters of one proxy process.
#[derive(Debug, Default)]
pub struct Quotas {
    /// Key → (window number, statements counted in it).
    windows: Mutex<HashMap<Key, (u64, u64)>>,
}

fn window(kind: &str) -> Option<(&'static str, u64)> {
    match kind {
        "queries_per_hour" => Some(("queries_per_hour", 3600)),
        "queries_per_day" => Some(("queries_per_day", 86_400)),
        _ => None,
    }
}

impl Quotas {
    /// Counts one statement of `principal` against every quota in `limits`, at `now`
    /// (seconds since the Unix epoch); when one is used up, counts nothing and returns it.
    pub fn admit(&self, principal: &str, limits: &[LimitNote], now: u64) -> Result<(), LimitNote> {
        let quotas: Vec<(&LimitNote, &'static str, u64)> = limits
            .iter()
            .filter_map(|l| window(&l.kind).map(|(kind, len)| (l, kind, now / len)))
            .collect();
        if quotas.is_empty() {
            return Ok(());
        }
        let Ok(mut windows) = self.windows.lock() else {
            // A poisoned lock: fail closed.
            return Err(quotas
                .first()
                .map(|q| q.0.clone())
                .unwrap_or_else(|| LimitNote {
                    policy: String::new(),
                    rule_index: 0,
                    kind: "queries_per_hour".into(),
                    value: 0,
                }));
        };
        for (limit, kind, number) in &quotas {
            let key = (principal.to_string(), limit.policy.clone(), *kind);
            let used = match windows.get(&key) {
                Some((w, n)) if w == number => *n,
                _ => 0,
            };
            if used >= limit.value {
                return Err((*limit).clone());
            }
        }
        for (limit, kind, number) in quotas {
            let entry = windows
                .entry((principal.to_string(), limit.policy.clone(), kind))
                .or_insert((number, 0));
            if entry.0 != number {
                *entry = (number, 0);
            }
            entry.1 += 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(kind: &str, value: u64) -> LimitNote {
        LimitNote {
            policy: "p".into(),
            rule_index: 0,
            kind: kind.into(),
            value,
        }
    }

    #[test]
    fn counts_per_principal_and_window() {
        let q = Quotas::default();
        let limits = [
            note("queries_per_hour", 2),
            note("queries_per_day", 3),
            note("max_execution_ms", 5),
        ];
        let t = 10 * 86_400;
        assert!(q.admit("a", &limits, t).is_ok());
        assert!(q.admit("a", &limits, t + 1).is_ok());
        assert_eq!(
            q.admit("a", &limits, t + 2).unwrap_err().kind,
            "queries_per_hour"
        );
        assert!(
            q.admit("b", &limits, t + 2).is_ok(),
            "another principal has its own count"
        );
        // The next hour: the hourly quota is back, the daily one has one left.
        assert!(q.admit("a", &limits, t + 3600).is_ok());
        assert_eq!(
            q.admit("a", &limits, t + 3601).unwrap_err().kind,
            "queries_per_day"
        );
        assert!(q.admit("a", &limits, t + 86_400).is_ok());
        assert!(q.admit("a", &[note("max_execution_ms", 1)], t).is_ok());
    }
}
