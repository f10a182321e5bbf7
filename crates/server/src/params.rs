//! Query-string parameters shared by the list routes: the query string itself and the
//! page size, each with the same 400 answer wherever it is read.

use axum::extract::Query;
use axum::extract::rejection::QueryRejection;

use crate::error::{Error, Result};

/// Page size of a list when the request names none (never above the server's maximum).
pub(crate) const DEFAULT_LIMIT: u32 = 50;

/// The query string as `T`, or 400 saying what was wrong with it.
pub(crate) fn query<T>(query: std::result::Result<Query<T>, QueryRejection>) -> Result<T> {
    query
        .map(|Query(q)| q)
        .map_err(|e| Error::bad_request(format!("bad query string: {}", e.body_text()), None))
}

/// `?limit=`: a whole number from 1 to `max`; [`DEFAULT_LIMIT`] (at most `max`) when
/// absent; 400 naming `limit` otherwise.
pub(crate) fn limit(text: Option<&str>, max: u32) -> Result<u32> {
    match text {
        None => Ok(DEFAULT_LIMIT.min(max)),
        Some(text) => match text.parse::<u32>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(Error::bad_request(
                format!("`limit` must be a whole number from 1 to {max}, found `{text}`"),
                Some("limit"),
            )),
        },
    }
}
