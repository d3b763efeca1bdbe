//! The one place where an [`Error`] becomes an HTTP answer: its status, and a body
//! `{"error":{"code","message"}}` with the protocol's code.

use actix_web::{http::StatusCode, HttpResponse, ResponseError};
use serde_json::json;

use crate::error::Error;

impl ResponseError for Error {
    fn status_code(&self) -> StatusCode {
        match self {
            Error::BadRequest(_) => StatusCode::BAD_REQUEST,
            Error::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Error::Unauthorized => StatusCode::UNAUTHORIZED,
            Error::Forbidden(_) | Error::NotSender => StatusCode::FORBIDDEN,
            Error::NoSuchConversation | Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Error::Conflict => StatusCode::CONFLICT,
            Error::RateLimited | Error::TooManySessions => StatusCode::TOO_MANY_REQUESTS,
            Error::RecallWindowPassed | Error::EditWindowPassed | Error::NotEditable(_) => {
                StatusCode::CONFLICT
            }
            Error::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let Error::Internal(detail) = self {
            tracing::error!(%detail, "internal error");
        }
        let code = match self {
            Error::BadRequest(_) => "bad_request",
            other => other.code(),
        };
        let mut res = HttpResponse::build(self.status_code());
        if let Error::MethodNotAllowed(allow) = self {
            res.insert_header((actix_web::http::header::ALLOW, *allow));
        }
        res.json(json!({"error": {"code": code, "message": self.client_message()}}))
    }
}
