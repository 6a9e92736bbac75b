//! Error kinds of the request path and the one place that turns them into responses.
//!
//! Every refusal reaches the client in dockerd's own error shape, `{"message": "…"}`
//! with a fitting status, so the docker CLI prints `Error response from daemon: …`.

use bytes::Bytes;
use http::{header, Response, StatusCode};
use http_body_util::{BodyExt, Full};

use crate::proxy::ProxyBody;

/// What went wrong with a request, from the client's point of view.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// The policy refused the request (the message lists rule ids and reasons).
    #[error("{0}")]
    Denied(String),
    /// The request is malformed or ambiguous.
    #[error("{0}")]
    BadRequest(String),
    /// An inspected body is larger than the configured cap.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// An inspected body did not arrive within the configured time.
    #[error("{0}")]
    RequestTimeout(String),
    /// A framing Portcullis does not forward (transfer codings other than chunked).
    #[error("{0}")]
    NotImplemented(String),
    /// The upstream daemon could not be reached or broke the exchange.
    #[error("{0}")]
    UpstreamUnreachable(String),
    /// The upstream daemon did not answer in time.
    #[error("{0}")]
    UpstreamTimeout(String),
}

impl ProxyError {
    pub fn status(&self) -> StatusCode {
        match self {
            ProxyError::Denied(_) => StatusCode::FORBIDDEN,
            ProxyError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ProxyError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ProxyError::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ProxyError::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
            ProxyError::UpstreamUnreachable(_) => StatusCode::BAD_GATEWAY,
            ProxyError::UpstreamTimeout(_) => StatusCode::GATEWAY_TIMEOUT,
        }
    }

    /// Whether the client connection must be closed after the response (the request
    /// framing can no longer be trusted).
    pub fn closes_connection(&self) -> bool {
        matches!(
            self,
            ProxyError::BadRequest(_)
                | ProxyError::NotImplemented(_)
                | ProxyError::PayloadTooLarge(_)
                | ProxyError::RequestTimeout(_)
        )
    }

    /// The response the client receives.
    pub fn into_response(self) -> Response<ProxyBody> {
        let status = self.status();
        let close = self.closes_connection();
        let body = serde_json::json!({ "message": self.to_string() }).to_string();
        let mut builder = Response::builder()
            .status(status)
            .header(header::CONTENT_TYPE, "application/json");
        if close {
            builder = builder.header(header::CONNECTION, "close");
        }
        builder
            .body(
                Full::new(Bytes::from(body))
                    .map_err(|never| match never {})
                    .boxed_unsync(),
            )
            .expect("static response parts are valid")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn docker_error_shape() {
        let r = ProxyError::Denied("PC-1001: no".into()).into_response();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let body = r.into_body().collect().await.unwrap().to_bytes();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["message"], "PC-1001: no");
        let r = ProxyError::PayloadTooLarge("big".into()).into_response();
        assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(r.headers()[header::CONNECTION], "close");
        let r = ProxyError::RequestTimeout("slow".into()).into_response();
        assert_eq!(r.status(), StatusCode::REQUEST_TIMEOUT);
        assert_eq!(r.headers()[header::CONNECTION], "close");
        assert_eq!(
            ProxyError::UpstreamUnreachable("x".into()).status(),
            StatusCode::BAD_GATEWAY
        );
        assert_eq!(
            ProxyError::UpstreamTimeout("x".into()).status(),
            StatusCode::GATEWAY_TIMEOUT
        );
    }
}
