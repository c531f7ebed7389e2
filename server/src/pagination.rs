//! Page sizes and cursors shared by the list endpoints.

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
