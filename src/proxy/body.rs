//! Bodies: the one body type Portcullis sends, the bounded and timed reads of the
//! bodies the policy must see, the client's streamed body (whose failures are typed as
//! the client's), and the response body that reports its request when it ends.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Body, Frame, Incoming, SizeHint};

use super::record::RequestLog;
use crate::docker::route::OpKind;
use crate::error::{ClientBodyError, ClientError};
use crate::policy::pipeline;

pub use super::record::Observers;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// The body type of every request and response Portcullis sends.
pub type ProxyBody = UnsyncBoxBody<Bytes, BoxError>;

pub fn empty_body() -> ProxyBody {
    Empty::new().map_err(|never| match never {}).boxed_unsync()
}

pub fn full_body(b: impl Into<Bytes>) -> ProxyBody {
    Full::new(b.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// The client's body, streamed to the daemon; if the client's stream breaks (bad
/// chunking, reset), the upstream request fails with a [`ClientBodyError`] among its
/// sources, and the failure is the client's (400), not the daemon's (502).
pub fn client_stream(body: Incoming) -> ProxyBody {
    body.map_err(|e| BoxError::from(ClientBodyError(e)))
        .boxed_unsync()
}

/// The first allocation for an inspected body of announced length; it grows with
/// what actually arrives.
const FIRST_BODY_ALLOC: usize = 64 << 10;

fn body_too_large(cap: usize) -> ClientError {
    ClientError::PayloadTooLarge(format!(
        "request body is larger than the {cap} bytes Portcullis inspects"
    ))
}

fn body_read_error(e: impl std::fmt::Display) -> ClientError {
    ClientError::BadRequest(format!("could not read the request body: {e}"))
}

/// Run a body read under the body deadline.
pub async fn within_body_timeout<T>(
    limit: Duration,
    read: impl std::future::Future<Output = Result<T, ClientError>>,
) -> Result<T, ClientError> {
    match tokio::time::timeout(limit, read).await {
        Ok(r) => r,
        Err(_) => Err(ClientError::RequestTimeout(format!(
            "the request body did not arrive within {} s",
            limit.as_secs_f64()
        ))),
    }
}

/// Read a body that is inspected into one buffer of at most `cap` bytes.
///
/// Each frame is copied out as it arrives and dropped: a frame is a slice of the
/// connection's read buffer, so keeping the frames (as `Limited::collect` does) would
/// pin one read buffer per chunk, and a body of millions of one-byte chunks would
/// hold hundreds of megabytes under a 4 MiB cap.
pub async fn read_inspected<B>(mut body: B, cap: usize) -> Result<Bytes, ClientError>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    let announced = body.size_hint().lower();
    if announced > cap as u64 {
        return Err(body_too_large(cap));
    }
    let mut buf: Vec<u8> = Vec::with_capacity((announced as usize).min(FIRST_BODY_ALLOC));
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(body_read_error)?;
        let Some(data) = frame.data_ref() else {
            continue;
        };
        if data.len() > cap - buf.len() {
            return Err(body_too_large(cap));
        }
        if data.len() > buf.capacity() - buf.len() {
            // Grow by doubling, never past the cap.
            let want = (buf.len() + data.len()).max(buf.capacity() * 2).min(cap);
            buf.reserve_exact(want - buf.len());
        }
        buf.extend_from_slice(data);
    }
    Ok(Bytes::from(buf))
}

/// Read what a client sent on a route that takes no body: only whitespace is
/// tolerated (and dropped), up to `cap` bytes; the first other byte refuses the
/// request without reading on ([`pipeline::stray_body`]). Nothing is kept.
pub async fn refuse_body<B>(mut body: B, cap: usize, op: OpKind) -> Result<(), ClientError>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(body_read_error)?;
        let Some(data) = frame.data_ref() else {
            continue;
        };
        pipeline::stray_body(op, data)?;
        seen = seen.saturating_add(data.len());
        if seen > cap {
            return Err(body_too_large(cap));
        }
    }
    Ok(())
}

/// Most bytes of a refused request's streamed body read (and dropped) before the
/// refusal is answered.
pub const DRAIN_ON_REFUSAL: u64 = 256 << 20;

/// Read and drop a refused request's streamed body, at most `cap` bytes and for at most
/// `limit`. A client that reads the answer only once its body is sent (the docker CLI's
/// `load`, `import`, `build`) then sees the refusal, not a broken pipe.
pub async fn drain<B>(mut body: B, cap: u64, limit: Duration)
where
    B: Body<Data = Bytes> + Unpin,
{
    let read = async {
        let mut seen = 0u64;
        while let Some(Ok(frame)) = body.frame().await {
            if let Some(data) = frame.data_ref() {
                seen = seen.saturating_add(data.len() as u64);
                if seen > cap {
                    break;
                }
            }
        }
    };
    let _ = tokio::time::timeout(limit, read).await;
}

/// A streamed response body that logs its request when it ends or is dropped.
pub struct LoggedBody {
    inner: ProxyBody,
    log: RequestLog,
}

impl LoggedBody {
    pub fn new(inner: ProxyBody, log: RequestLog) -> Self {
        LoggedBody { inner, log }
    }
}

impl Drop for LoggedBody {
    fn drop(&mut self) {
        self.log.emit();
    }
}

impl Body for LoggedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        let r = Pin::new(&mut this.inner).poll_frame(cx);
        match &r {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(d) = frame.data_ref() {
                    this.log.bytes_out += d.len() as u64;
                }
            }
            Poll::Ready(Some(Err(e))) => {
                this.log.error = Some(format!("upstream body: {e}"));
                this.log.emit();
            }
            Poll::Ready(None) => this.log.emit(),
            Poll::Pending => {}
        }
        r
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
