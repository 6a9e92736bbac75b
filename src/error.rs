//! Error kinds of the request path and the one place that turns them into responses.
//!
//! Every refusal reaches the client in dockerd's own error shape, `{"message": "…"}`
//! with a fitting status, so the docker CLI prints `Error response from daemon: …`.

use std::borrow::Cow;

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

    /// The message for the client and the logs: the error's text with the user-info of
    /// any URL in it redacted (a denial may quote a query value such as a build's
    /// `remote=https://user:token@host/…`).
    pub fn message(&self) -> String {
        redact_userinfo(&self.to_string()).into_owned()
    }

    /// The response the client receives.
    pub fn into_response(self) -> Response<ProxyBody> {
        let status = self.status();
        let close = self.closes_connection();
        let body = serde_json::json!({ "message": self.message() }).to_string();
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

/// `s` with the user-info of every `scheme://user:secret@host` in it replaced by `***`.
/// The authority ends where RFC 3986 ends it (`/`, `?`, `#`), or at whitespace or a
/// double quote (the end of a value quoted in a message); the user-info is everything
/// in it up to the last `@`.
pub fn redact_userinfo(s: &str) -> Cow<'_, str> {
    let mut out = String::new();
    let mut done = 0;
    let mut from = 0;
    while let Some(at) = s[from..].find("://") {
        let start = from + at + 3;
        let len = s[start..]
            .find(|c: char| matches!(c, '/' | '?' | '#' | '"') || c.is_whitespace())
            .unwrap_or(s.len() - start);
        let end = start + len;
        if let Some(user_end) = s[start..end].rfind('@') {
            out.push_str(&s[done..start]);
            out.push_str("***");
            done = start + user_end;
        }
        from = end;
    }
    if done == 0 {
        return Cow::Borrowed(s);
    }
    out.push_str(&s[done..]);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_user_info_is_redacted() {
        let cases = [
            (
                r#"PC-1024: the daemon would fetch the build context "https://user:tok3n@git.example.com/r.git#main" (policy "default")"#,
                r#"PC-1024: the daemon would fetch the build context "https://***@git.example.com/r.git#main" (policy "default")"#,
            ),
            ("git://t@h", "git://***@h"),
            ("http://a@b@c:80/x?y=@z", "http://***@c:80/x?y=@z"),
            (
                "two: http://u:p@h1/ and https://k@h2?q",
                "two: http://***@h1/ and https://***@h2?q",
            ),
            ("quoted \"http://u:p\"@x\"", "quoted \"http://u:p\"@x\""),
            ("no user: https://host/p@v1", "no user: https://host/p@v1"),
            ("no url: user@host, a://", "no url: user@host, a://"),
            ("ünïcode https://ü:ß@h", "ünïcode https://***@h"),
            (r#""https://u:p\u{7f}q@h""#, r#""https://***@h""#),
        ];
        for (input, want) in cases {
            assert_eq!(redact_userinfo(input), want, "{input}");
        }
        let e = ProxyError::Denied("fetch \"http://u:secret@h/\"".into());
        assert_eq!(e.message(), "fetch \"http://***@h/\"");
    }

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
