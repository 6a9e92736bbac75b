//! Errors of the request path, typed by whose fault they are (the client, the policy,
//! the daemon, Portcullis itself), and the one place that turns them into responses.
//!
//! Every refusal reaches the client in dockerd's own error shape, `{"message": "…"}`
//! with a fitting status, so the docker CLI prints `Error response from daemon: …`.
//! This module is a leaf: the pure pipeline and the proxy both use it, it uses neither.

use std::borrow::Cow;

use bytes::Bytes;
use http::{header, Response, StatusCode};
use http_body_util::Full;

/// Whose fault a failed request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The request is malformed, ambiguous, too large or too slow.
    Client,
    /// The policy refused the request.
    Policy,
    /// The daemon could not be reached, broke the exchange or was too slow.
    Daemon,
    /// Portcullis could not do its own part.
    Portcullis,
}

/// What the client did wrong (400, 408, 413, 501).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
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
}

/// The policy's refusal (403); the message lists rule ids and reasons.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Denial {
    pub message: String,
}

/// What went wrong at the daemon's end (502, 504).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DaemonError {
    /// The daemon could not be reached or broke the exchange.
    #[error("{0}")]
    Unreachable(String),
    /// The daemon did not answer in time.
    #[error("{0}")]
    Timeout(String),
}

/// Why a request was not served, by whose fault.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error(transparent)]
    Denied(#[from] Denial),
    #[error(transparent)]
    Daemon(#[from] DaemonError),
    /// Another tenant's (or the operator's) object, answered as the daemon answers for
    /// a missing one (404); the decision record names the rule (PC-1041).
    #[error("{0}")]
    Hidden(String),
    /// Portcullis failed at its own part (500).
    #[error("{0}")]
    Internal(String),
}

/// A streamed request body broke off on the client's side (bad chunking, reset). The
/// body forwarded upstream fails with this error, so an upstream failure caused by it
/// is found by type in the upstream error's sources and blamed on the client.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ClientBodyError(pub hyper::Error);

impl ProxyError {
    pub fn fault(&self) -> Fault {
        match self {
            ProxyError::Client(_) => Fault::Client,
            ProxyError::Denied(_) | ProxyError::Hidden(_) => Fault::Policy,
            ProxyError::Daemon(_) => Fault::Daemon,
            ProxyError::Internal(_) => Fault::Portcullis,
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ProxyError::Client(ClientError::BadRequest(_)) => StatusCode::BAD_REQUEST,
            ProxyError::Client(ClientError::PayloadTooLarge(_)) => StatusCode::PAYLOAD_TOO_LARGE,
            ProxyError::Client(ClientError::RequestTimeout(_)) => StatusCode::REQUEST_TIMEOUT,
            ProxyError::Client(ClientError::NotImplemented(_)) => StatusCode::NOT_IMPLEMENTED,
            ProxyError::Denied(_) => StatusCode::FORBIDDEN,
            ProxyError::Hidden(_) => StatusCode::NOT_FOUND,
            ProxyError::Daemon(DaemonError::Unreachable(_)) => StatusCode::BAD_GATEWAY,
            ProxyError::Daemon(DaemonError::Timeout(_)) => StatusCode::GATEWAY_TIMEOUT,
            ProxyError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Whether the client connection must be closed after the response (the request
    /// framing can no longer be trusted).
    pub fn closes_connection(&self) -> bool {
        self.fault() == Fault::Client
    }

    /// The message for the client and the logs: the error's text with the user-info of
    /// any URL in it redacted (a denial may quote a query value such as a build's
    /// `remote=https://user:token@host/…`).
    pub fn message(&self) -> String {
        redact_userinfo(&self.to_string()).into_owned()
    }

    /// The response the client receives.
    pub fn into_response(self) -> Response<Full<Bytes>> {
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
            .body(Full::new(Bytes::from(body)))
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
    use http_body_util::BodyExt;

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
        let e = ProxyError::from(Denial {
            message: "fetch \"http://u:secret@h/\"".into(),
        });
        assert_eq!(e.message(), "fetch \"http://***@h/\"");
    }

    #[tokio::test]
    async fn docker_error_shape() {
        let r = ProxyError::from(Denial {
            message: "PC-1001: no".into(),
        })
        .into_response();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let body = r.into_body().collect().await.unwrap().to_bytes();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["message"], "PC-1001: no");
        let r = ProxyError::from(ClientError::PayloadTooLarge("big".into())).into_response();
        assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(r.headers()[header::CONNECTION], "close");
        let r = ProxyError::from(ClientError::RequestTimeout("slow".into())).into_response();
        assert_eq!(r.status(), StatusCode::REQUEST_TIMEOUT);
        assert_eq!(r.headers()[header::CONNECTION], "close");
        assert_eq!(
            ProxyError::from(DaemonError::Unreachable("x".into())).status(),
            StatusCode::BAD_GATEWAY
        );
        assert_eq!(
            ProxyError::from(DaemonError::Timeout("x".into())).status(),
            StatusCode::GATEWAY_TIMEOUT
        );
    }
}
