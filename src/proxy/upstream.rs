//! The connection to the Docker daemon: unix socket, plain TCP, or TLS (a remote
//! daemon or Swarm manager), pooled with keep-alive by hyper-util's client.

use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpStream, UnixStream};
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// Where the daemon listens.
#[derive(Clone)]
pub enum UpstreamAddr {
    Unix(PathBuf),
    Tcp(String),
    Tls {
        addr: String,
        server_name: ServerName<'static>,
        config: Arc<rustls::ClientConfig>,
    },
}

impl std::fmt::Debug for UpstreamAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UpstreamAddr::Unix(p) => write!(f, "unix://{}", p.display()),
            UpstreamAddr::Tcp(a) => write!(f, "tcp://{a}"),
            UpstreamAddr::Tls { addr, .. } => write!(f, "tcp+tls://{addr}"),
        }
    }
}

/// One connection to the daemon.
pub enum UpstreamStream {
    Unix(UnixStream),
    Tcp(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Connection for UpstreamStream {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

macro_rules! delegate {
    ($self:ident, $s:ident => $e:expr) => {
        match $self.get_mut() {
            UpstreamStream::Unix($s) => {
                let $s = Pin::new($s);
                $e
            }
            UpstreamStream::Tcp($s) => {
                let $s = Pin::new($s);
                $e
            }
            UpstreamStream::Tls($s) => {
                let $s = Pin::new(&mut **$s);
                $e
            }
        }
    };
}

impl AsyncRead for UpstreamStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        delegate!(self, s => s.poll_read(cx, buf))
    }
}

impl AsyncWrite for UpstreamStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        delegate!(self, s => s.poll_write(cx, buf))
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        delegate!(self, s => s.poll_write_vectored(cx, bufs))
    }
    fn is_write_vectored(&self) -> bool {
        match self {
            UpstreamStream::Unix(s) => s.is_write_vectored(),
            UpstreamStream::Tcp(s) => s.is_write_vectored(),
            UpstreamStream::Tls(s) => s.is_write_vectored(),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        delegate!(self, s => s.poll_flush(cx))
    }
    /// Half-close: `shutdown(SHUT_WR)` on the socket (after close_notify for TLS), so
    /// the daemon sees stdin EOF while its output keeps flowing back.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        delegate!(self, s => s.poll_shutdown(cx))
    }
}

/// A hyper-util connector that dials the configured daemon address whatever the URI.
#[derive(Clone)]
pub struct Connector {
    addr: Arc<UpstreamAddr>,
    connect_timeout: Duration,
}

impl Connector {
    pub fn new(addr: UpstreamAddr, connect_timeout: Duration) -> Self {
        Connector {
            addr: Arc::new(addr),
            connect_timeout,
        }
    }

    pub fn addr(&self) -> &UpstreamAddr {
        &self.addr
    }

    /// Dial the daemon once.
    pub async fn connect(&self) -> io::Result<UpstreamStream> {
        crate::metrics::UPSTREAM_CONNECTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dial = async {
            match &*self.addr {
                UpstreamAddr::Unix(path) => {
                    UnixStream::connect(path).await.map(UpstreamStream::Unix)
                }
                UpstreamAddr::Tcp(addr) => {
                    let s = TcpStream::connect(addr).await?;
                    s.set_nodelay(true)?;
                    Ok(UpstreamStream::Tcp(s))
                }
                UpstreamAddr::Tls {
                    addr,
                    server_name,
                    config,
                } => {
                    let s = TcpStream::connect(addr).await?;
                    s.set_nodelay(true)?;
                    let tls = TlsConnector::from(config.clone())
                        .connect(server_name.clone(), s)
                        .await?;
                    Ok(UpstreamStream::Tls(Box::new(tls)))
                }
            }
        };
        match tokio::time::timeout(self.connect_timeout, dial).await {
            Ok(r) => r,
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("connecting to the daemon at {:?} timed out", self.addr),
            )),
        }
    }
}

impl tower_service::Service<http::Uri> for Connector {
    type Response = TokioIo<UpstreamStream>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Self::Response>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: http::Uri) -> Self::Future {
        let this = self.clone();
        Box::pin(async move { this.connect().await.map(TokioIo::new) })
    }
}
