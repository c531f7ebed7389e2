//! The one error shape of the API: `{"error": {"code", "message", "details"?}}`.
//!
//! Every failure a caller can cause is a 4xx with a stable `code`; a 5xx only ever means a
//! fault of the server or its database, and its message never echoes internals.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use verdict_engine::{ErrorCode, InputError, Problem, ProblemKind};

/// An error answered to the caller.
#[derive(Debug, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Boxed: errors travel in every `Result` of the server, and stay small so.
    pub details: Option<Box<Value>>,
    /// What a 500 hides from the caller; logged when the error is answered (so that a
    /// background reader, such as the proxy's store check, logs it as it sees fit).
    pub cause: Option<Box<str>>,
}

/// Shorthand for handler results.
pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// An error with a status, a code and a message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            details: None,
            cause: None,
        }
    }

    /// The same error with `details`.
    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(Box::new(details));
        self
    }

    /// Adds `details.problems` holding one problem of the request body.
    pub fn with_problem(self, kind: ProblemKind, field: &str, message: impl Into<String>) -> Self {
        self.with_problems(vec![Problem::new(kind, field, message)])
    }

    /// Adds `details.problems`: problems of the request body, in the engine's shape.
    pub fn with_problems(self, problems: Vec<Problem>) -> Self {
        self.with_details(json!({ "problems": problems }))
    }

    /// 400 with code `bad_request`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// 422 with code `invalid_request`: well-formed JSON whose content is wrong.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request", message)
    }

    /// 404 for anything the caller's organization does not have.
    pub fn not_found(what: &str, id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} `{id}` does not exist"),
        )
    }

    /// 403 for a role that may not do this.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 409 for a state conflict.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }

    /// A 500 whose message hides the cause; the cause goes to the server's log when the
    /// error is answered.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        let mut err = Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the server failed to handle the request; nothing was changed",
        );
        err.cause = Some(cause.to_string().into_boxed_str());
        err
    }

    /// The cause of a 500, else the message: for logs, never for callers.
    pub fn cause(&self) -> &str {
        self.cause.as_deref().unwrap_or(&self.message)
    }

    /// The engine's rejection of a policy, a policy set or a context, as a 422 that lists
    /// every problem the engine found.
    pub fn from_engine(err: InputError) -> Self {
        let code = match err.code {
            ErrorCode::InvalidPolicy => "invalid_policy",
            ErrorCode::InvalidContext => "invalid_context",
            _ => "invalid_request",
        };
        let details =
            (!err.problems.is_empty()).then(|| Box::new(json!({ "problems": err.problems })));
        ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code,
            message: err.message,
            details,
            cause: None,
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> Self {
        // A unique-key violation that a handler did not foresee is still the caller's
        // conflict, not a server fault.
        if let sqlx::Error::Database(db) = &err {
            if db.is_unique_violation() {
                return ApiError::conflict("the object already exists");
            }
            // PostgreSQL's "character not in repertoire": a NUL inside a text value.
            if db.code().as_deref() == Some("22021") {
                return ApiError::invalid("text values must not contain NUL characters");
            }
        }
        ApiError::internal(err)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Some(cause) = &self.cause {
            eprintln!("verdict-server: internal error: {cause}");
        }
        let mut error = json!({ "code": self.code, "message": self.message });
        if let (Some(details), Some(obj)) = (self.details, error.as_object_mut()) {
            obj.insert("details".to_string(), *details);
        }
        let body = json!({ "error": error }).to_string();
        let mut response = (self.status, body).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if self.status == StatusCode::UNAUTHORIZED {
            // RFC 9110 §11.6.1: a 401 says how to authenticate (RFC 6750 for Bearer).
            let challenge = if self.message.starts_with("missing") {
                "Bearer realm=\"verdict\""
            } else {
                "Bearer realm=\"verdict\", error=\"invalid_token\""
            };
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        response
    }
}
