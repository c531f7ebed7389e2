//! Page sizes and cursors shared by the list endpoints.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::ApiError;

/// The largest page any list endpoint returns.
pub const MAX_LIMIT: i64 = 500;

/// The page size asked for, or `default`; 1–500.
pub fn limit(asked: Option<i64>, default: i64) -> Result<i64, ApiError> {
    match asked {
        None => Ok(default),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(n) => Err(ApiError::bad_request(format!(
            "`limit` must be between 1 and {MAX_LIMIT}, not {n}"
        ))),
    }
}

/// Cuts `items` (fetched with `limit + 1`) to `limit`; returns the last kept item when
/// another page follows.
pub fn trim<T>(items: &mut Vec<T>, limit: i64) -> Option<&T> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    if items.len() > limit {
        items.truncate(limit);
        items.last()
    } else {
        None
    }
}

/// The cursors of the list endpoints, written and read only here. Lists with a composite
/// key (the policy list's sort key and id, change requests) use this opaque form: the hex
/// of the key's JSON.
pub fn encode_cursor<T: Serialize>(key: &T) -> String {
    // INVARIANT: the keys are numbers, strings and JSON values, which always serialize; an
    // empty cursor would only be refused on the next page.
    hex::encode(serde_json::to_vec(key).unwrap_or_default())
}

/// The cursor of lists ordered by a sequence number (the audit trail, the evaluation log,
/// violations): the number itself, as the OpenAPI document declares (an integer).
pub fn encode_seq_cursor(seq: i64) -> String {
    seq.to_string()
}

/// The sequence number of a cursor [`encode_seq_cursor`] wrote, or a 400.
pub fn decode_seq_cursor(cursor: &str) -> Result<i64, ApiError> {
    cursor.parse::<i64>().map_err(|_| bad_cursor())
}

fn bad_cursor() -> ApiError {
    ApiError::bad_request("`cursor` is not a cursor this server gave")
}

/// The key of a cursor [`encode_cursor`] wrote, or a 400 for any other text.
pub fn decode_cursor<T: DeserializeOwned>(cursor: &str) -> Result<T, ApiError> {
    let bytes = hex::decode(cursor).map_err(|_| bad_cursor())?;
    serde_json::from_slice(&bytes).map_err(|_| bad_cursor())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_other_text() {
        let c = encode_cursor(&(7_i64, "p-1".to_string(), 3_i64));
        assert_eq!(
            decode_cursor::<(i64, String, i64)>(&c).unwrap(),
            (7, "p-1".into(), 3)
        );
        assert_eq!(decode_cursor::<i64>(&encode_cursor(&42_i64)).unwrap(), 42);
        assert_eq!(encode_seq_cursor(-5), "-5");
        assert_eq!(
            decode_seq_cursor(&encode_seq_cursor(i64::MIN)).unwrap(),
            i64::MIN
        );
        assert_eq!(decode_seq_cursor("x1").unwrap_err().code, "bad_request");
        for bad in ["", "zz", "42", &hex::encode("[1,2")] {
            let e = decode_cursor::<(i64, String, i64)>(bad).unwrap_err();
            assert_eq!(e.code, "bad_request");
        }
    }
}
