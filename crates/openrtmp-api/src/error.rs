//! The API's error answers: one enum, each variant mapped to a status and a JSON body.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

/// Why a request failed; rendered as `{"error": "<message>"}` (plus `errors` for `422`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// No or wrong bearer token (`401`).
    #[error("missing or invalid bearer token")]
    Unauthorized,
    /// No stream with this name (`404`).
    #[error("stream {app}/{stream} not found")]
    StreamNotFound {
        /// Application name.
        app: String,
        /// Stream name.
        stream: String,
    },
    /// No connection with this id (`404`).
    #[error("connection {conn_id} not found")]
    ConnectionNotFound {
        /// Connection id.
        conn_id: u64,
    },
    /// The stream has no push target with this id (`404`).
    #[error("stream {app}/{stream} has no push target {id}")]
    TargetNotFound {
        /// Application name.
        app: String,
        /// Stream name.
        stream: String,
        /// Target id.
        id: u64,
    },
    /// The stream is not pulled from an origin (`404`).
    #[error("stream {app}/{stream} is not pulled from an origin")]
    NotPulled {
        /// Application name.
        app: String,
        /// Stream name.
        stream: String,
    },
    /// The stream is not recorded (`404`).
    #[error("stream {app}/{stream} is not recorded")]
    NotRecorded {
        /// Application name.
        app: String,
        /// Stream name.
        stream: String,
    },
    /// No recording segment with this name (`404`).
    #[error("recording {app}/{stream}/{file} not found")]
    RecordingNotFound {
        /// Application name.
        app: String,
        /// Stream name.
        stream: String,
        /// File name.
        file: String,
    },
    /// The request conflicts with what exists (`409`): a push target the stream already
    /// has, a recording being written.
    #[error("conflict: {reason}")]
    Conflict {
        /// What it conflicts with.
        reason: String,
    },
    /// No such route (`404`).
    #[error("no such route: {path}")]
    RouteNotFound {
        /// The path asked for.
        path: String,
    },
    /// A malformed path, query or body (`400`).
    #[error("bad request: {reason}")]
    BadRequest {
        /// What was wrong.
        reason: String,
    },
    /// The configuration change was refused (`422`).
    #[error("invalid configuration")]
    InvalidConfig {
        /// The validation problems.
        errors: Vec<String>,
    },
    /// The embedding program provided no handler for this (`501`).
    #[error("{what} is not available on this server")]
    NotImplemented {
        /// The missing feature.
        what: &'static str,
    },
    /// Something failed inside the API (`500`).
    #[error("internal error: {reason}")]
    Internal {
        /// What failed.
        reason: String,
    },
}

impl ApiError {
    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::StreamNotFound { .. }
            | ApiError::ConnectionNotFound { .. }
            | ApiError::TargetNotFound { .. }
            | ApiError::NotPulled { .. }
            | ApiError::RecordingNotFound { .. }
            | ApiError::NotRecorded { .. }
            | ApiError::RouteNotFound { .. } => StatusCode::NOT_FOUND,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::InvalidConfig { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::NotImplemented { .. } => StatusCode::NOT_IMPLEMENTED,
            ApiError::Internal { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = serde_json::json!({ "error": self.to_string() });
        if let ApiError::InvalidConfig { errors } = &self {
            body["errors"] = serde_json::json!(errors);
        }
        let mut response = (self.status(), Json(body)).into_response();
        if self == ApiError::Unauthorized {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
