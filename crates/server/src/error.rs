//! The one error type of the HTTP layer.
//!
//! Every failure becomes `{"error":{"code":"...","message":"...","field":...}}` with a
//! status that says whose fault it was: 4xx for the caller's mistakes (with a message
//! that says what to fix), 500 for ours. A store error is logged with its details and
//! answered with a bare 500: database messages are not for callers.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use leadscore_store::StoreError;
use serde::Serialize;

/// A request failure.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No key, or one we do not know (or revoked): 401.
    #[error("{0}")]
    Unauthorized(String),
    /// A valid key without the role this route needs: 403.
    #[error("{0}")]
    Forbidden(String),
    /// No such contact or route: 404.
    #[error("{0}")]
    NotFound(String),
    /// The body or the batch is larger than allowed: 413.
    #[error("{message}")]
    TooLarge {
        /// What was too large and the limit.
        message: String,
        /// The field at fault, if any (`batch`).
        field: Option<String>,
    },
    /// A malformed request (bad JSON, wrong query parameter): 400.
    #[error("{message}")]
    BadRequest {
        /// What is wrong.
        message: String,
        /// The field or parameter at fault.
        field: Option<String>,
    },
    /// Well-formed but not acceptable (wrong attribute types): 422.
    #[error("{message}")]
    Unprocessable {
        /// What is wrong.
        message: String,
        /// The field at fault.
        field: Option<String>,
    },
    /// The store failed: logged, answered 500 without details.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Another failure of ours (a stored value we cannot read back): logged, 500.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// A 400 naming `field`.
    pub fn bad_request(message: impl Into<String>, field: Option<&str>) -> Self {
        Error::BadRequest {
            message: message.into(),
            field: field.map(str::to_owned),
        }
    }

    /// A 422 naming `field`.
    pub fn unprocessable(message: impl Into<String>, field: Option<&str>) -> Self {
        Error::Unprocessable {
            message: message.into(),
            field: field.map(str::to_owned),
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Error::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Error::Forbidden(_) => StatusCode::FORBIDDEN,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Error::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Error::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Error::Store(_) | Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The machine-readable `code`.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Unauthorized(_) => "unauthorized",
            Error::Forbidden(_) => "forbidden",
            Error::NotFound(_) => "not_found",
            Error::TooLarge { .. } => "payload_too_large",
            Error::BadRequest { .. } => "bad_request",
            Error::Unprocessable { .. } => "invalid",
            Error::Store(_) | Error::Internal(_) => "internal",
        }
    }

    /// The body's `error` object (also used inside a batch response).
    pub fn body(&self) -> ErrorBody {
        let (message, field) = match self {
            Error::Store(_) | Error::Internal(_) => {
                ("internal error; see the server log".to_owned(), None)
            }
            Error::TooLarge { message, field }
            | Error::BadRequest { message, field }
            | Error::Unprocessable { message, field } => (message.clone(), field.clone()),
            other => (other.to_string(), None),
        };
        ErrorBody {
            code: self.code(),
            message,
            field,
        }
    }
}

/// `{"code","message","field"}`: the `error` member of every error response.
#[derive(Debug, Clone, Serialize)]
pub struct ErrorBody {
    /// Machine-readable kind (`unauthorized`, `bad_request`, ...).
    pub code: &'static str,
    /// What went wrong, for a person.
    pub message: String,
    /// The field or parameter at fault; `null` when none is.
    pub field: Option<String>,
}

/// The envelope `{"error": ...}`.
#[derive(Serialize)]
struct Envelope {
    error: ErrorBody,
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        match &self {
            Error::Store(error) => tracing::error!(%error, "store error"),
            Error::Internal(error) => tracing::error!(%error, "internal error"),
            _ => {}
        }
        let mut response = (self.status(), Json(Envelope { error: self.body() })).into_response();
        if matches!(self, Error::Unauthorized(_)) {
            // RFC 9110: a 401 names its schemes (Basic for /v1, Bearer for /api/v1).
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static(
                    "Basic realm=\"leadscore\", Bearer realm=\"leadscore\"",
                ),
            );
        }
        response
    }
}

/// Result of a handler.
pub type Result<T, E = Error> = std::result::Result<T, E>;
