//! The HTTP face of [`AppError`]: status codes, the error envelope, and JSON/query extractors whose
//! rejections use that envelope and name the offending field.

use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use trove_core::AppError;
use utoipa::ToSchema;

/// The error envelope of every failed request.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Always `false`.
    pub ok: bool,
    /// A stable machine-readable code (`invalid_request`, `not_found`, `missing_org_capability`, …).
    pub error: String,
    /// What went wrong and, where possible, what to do.
    pub message: String,
    /// The request field at fault, for `invalid_request`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// An [`AppError`] on its way to becoming a response.
#[derive(Debug)]
pub struct ApiError(pub AppError);

impl From<AppError> for ApiError {
    fn from(error: AppError) -> Self {
        Self(error)
    }
}

/// What handlers return.
pub type ApiResult<T> = Result<T, ApiError>;

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let error = self.0;
        let status =
            StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if let AppError::Internal(source) = &error {
            // The detail goes to the log only; the client gets a generic message.
            tracing::error!(error = %source, "request failed");
        }
        let field = match &error {
            AppError::Invalid { field, .. } => field.clone(),
            _ => None,
        };
        let body = ErrorBody {
            ok: false,
            error: error.code().to_string(),
            message: error.public_message(),
            field,
        };
        let mut response = (status, axum::Json(body)).into_response();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            // The rest of the body was never read, so the connection cannot carry another request;
            // saying so stops clients from reusing it and failing their next call.
            response.headers_mut().insert(
                axum::http::header::CONNECTION,
                axum::http::HeaderValue::from_static("close"),
            );
        }
        response
    }
}

/// A JSON body whose rejections are 400s naming the field (or 413 when too large).
#[derive(Debug)]
pub struct AppJson<T>(pub T);

impl<T, S> FromRequest<S> for AppJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = match axum::body::Bytes::from_request(req, state).await {
            Ok(bytes) => bytes,
            Err(rejection) => {
                return Err(if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    AppError::PayloadTooLarge {
                        limit: crate::BODY_LIMIT,
                    }
                } else {
                    AppError::bad_request(rejection.body_text())
                }
                .into());
            }
        };
        parse_json(&bytes).map(AppJson).map_err(ApiError)
    }
}

/// Parses JSON, reporting the path of the field at fault (`members[2].role`) and what was wrong.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AppError> {
    // Trailing bytes after the value are reported as a body error, not a field error.
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let parsed = serde_path_to_error::deserialize::<_, T>(&mut de);
    if parsed.is_ok()
        && let Err(e) = de.end()
    {
        return Err(AppError::bad_request(format!("invalid JSON body: {e}")));
    }
    match parsed {
        Ok(value) => Ok(value),
        Err(error) => {
            let path = error.path().to_string();
            let inner = error.into_inner();
            let message = inner.to_string();
            // `missing field `x`` names its field in the message; point `field` at it too.
            let field = if path == "." || path.is_empty() {
                message
                    .split('`')
                    .nth(1)
                    .filter(|_| {
                        message.starts_with("missing field") || message.starts_with("unknown field")
                    })
                    .map(str::to_owned)
            } else {
                Some(path)
            };
            let message = match &field {
                Some(f) => format!("invalid JSON body at `{f}`: {message}"),
                None => format!("invalid JSON body: {message}"),
            };
            Err(AppError::Invalid { field, message })
        }
    }
}

/// Query parameters whose rejections are 400s in the error envelope.
#[derive(Debug)]
pub struct AppQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for AppQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| AppQuery(q.0))
            .map_err(|e: QueryRejection| ApiError(AppError::bad_request(e.body_text())))
    }
}
