//! GET /ws: the WebSocket handshake, and the socket's bytes to and from its session.
//!
//! An upgrade request does not go through the actix-web app: actix-http hands it here
//! with the raw connection ([`serve`], installed by `server.rs` as the upgrade service).
//! Served inside the app, a WebSocket kept actix-http's HTTP/1 dispatcher alive for the
//! socket's whole life, with its two 8 KiB buffers (measured: 14.6 KiB of node RSS per
//! idle socket). Taken over here, an idle socket holds no read or write buffer at all:
//! reads go through a buffer on the stack (6.6 KiB per idle socket, docs/benchmarks.md).
//!
//! A bad token never fails the handshake: the session says `unauthorized` and closes 4001.

use std::{
    cell::RefCell,
    pin::Pin,
    rc::Rc,
    task::{Context, Poll},
    time::Duration,
};

use actix_codec::{AsyncRead, AsyncWrite, Framed, ReadBuf};
use actix_http::{
    body::{self, BodySize},
    error::PayloadError,
    h1,
    header::{HeaderMap, HeaderValue, SEC_WEBSOCKET_PROTOCOL},
    ws, ConnectionType, HttpMessage, Request, Response,
};
use actix_web::{
    web::{Bytes, BytesMut},
    HttpResponse, ResponseError,
};
use futures_util::{FutureExt, SinkExt, Stream, StreamExt};
use tokio::{io::AsyncWriteExt, time::timeout};

use crate::actors::session::{self, Handshake};
use crate::auth;
use crate::error::Error;
use crate::node::{ConnectionSlot, Node};

/// The subprotocol the node speaks, answered when the client offers it.
const SUBPROTOCOL: &str = "chatnode.v1";

/// Bytes read from the socket per read call, into a buffer on the stack.
const READ_CHUNK: usize = 8 * 1024;

/// Frames gathered into one socket write, at most (about).
const WRITE_BATCH: usize = 32 * 1024;

/// Reads in a row before the session gets to decode what came: a flooding client
/// cannot keep the reader looping.
const MAX_READS_IN_A_ROW: u8 = 8;

/// After the session has written its close frame, the socket is read (and what comes
/// thrown away) until the client closes too, for at most this long and this many
/// bytes. Closed with unread bytes in its receive queue, a socket sends a reset, and
/// a client still writing (a flood, the rest of an oversized frame) then loses the
/// close frame and its code (4008, 4009) with it.
const LINGER: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 1 << 20;

/// Serves one `Connection: Upgrade` request: a WebSocket on /ws, an HTTP error
/// otherwise. Returns once the socket is closed.
pub async fn serve<T>(
    node: Node,
    req: Request,
    mut framed: Framed<T, h1::Codec>,
) -> Result<(), actix_web::Error>
where
    T: AsyncRead + AsyncWrite + Unpin + 'static,
{
    if req.path() != "/ws" {
        let err = Error::NotFound("no such route".into());
        return respond(&mut framed, err.error_response().into()).await;
    }
    let mut accept = match ws::handshake(req.head()) {
        Ok(builder) => builder,
        Err(e) => return respond(&mut framed, e.into()).await,
    };
    let ip = req
        .peer_addr()
        .map(|a| a.ip())
        .unwrap_or(std::net::IpAddr::from([0, 0, 0, 0]));
    let Some(slot) = node.take_slot(ip) else {
        return respond(&mut framed, Error::Unavailable.error_response().into()).await;
    };
    let handshake = match find_token(&req) {
        None => Handshake::NoToken,
        Some(token) => match auth::check_token(&node.store, &token) {
            Ok(user) => Handshake::Authed {
                user,
                token_hash: auth::token_hash(&token),
            },
            Err(_) => Handshake::BadToken,
        },
    };
    if offered_protocols(req.headers()).any(|p| p == SUBPROTOCOL) {
        accept.insert_header((
            SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static(SUBPROTOCOL),
        ));
    }
    let accepted = accept.finish().drop_body();
    // The request's headers point into the 8 KiB buffer it was read into: let both go
    // before the socket settles down for hours.
    drop(req);
    framed.send((accepted, BodySize::None).into()).await?;

    // What the client sent right behind the handshake is already in the read buffer;
    // a copy of it goes to the session, the 8 KiB buffer goes away.
    let parts = framed.into_parts();
    let early = (!parts.read_buf.is_empty()).then(|| Bytes::copy_from_slice(&parts.read_buf));
    drop((parts.read_buf, parts.write_buf));
    pump(parts.io, early, node, slot, handshake).await
}

/// Runs a session on `io` until either side ends it: the socket's bytes go to the
/// session as they come, what the session writes goes to the socket.
async fn pump<T>(
    io: T,
    early: Option<Bytes>,
    node: Node,
    slot: ConnectionSlot,
    handshake: Handshake,
) -> Result<(), actix_web::Error>
where
    T: AsyncRead + AsyncWrite + Unpin + 'static,
{
    let (reader, mut writer) = tokio::io::split(io);
    // shared with the session's input, so that it can be drained after the session ends
    let reader = Rc::new(RefCell::new(reader));
    let incoming = Incoming {
        reader: reader.clone(),
        early,
        reads_in_a_row: 0,
    };
    // A client that takes no bytes for a whole heartbeat timeout is gone (a mobile
    // network can swallow a connection without a reset for many minutes).
    let stalled = node.settings.heartbeat_timeout();
    // Boxed: handed to `relay` as a pointer, the session is not kept twice in this
    // future (a value moved into an async fn is: measured +2 KiB per idle socket).
    let outgoing = Box::pin(session::run(node.session_env(), handshake, incoming));
    drop(node);
    // The session (its registry entry, its presence, its connection slot) ends with
    // `relay`, not after the linger, which is boxed too: it is needed only for the
    // moment of closing.
    let relayed = relay(outgoing, &mut writer, stalled).await;
    drop(slot);
    if relayed? {
        let _ = writer.shutdown().await;
        Box::pin(linger(reader)).await;
    }
    Ok(())
}

/// Writes what the session sends to the socket until the session ends (and drops it);
/// false if the client stopped taking bytes (it is gone: nothing to linger for).
async fn relay<W: AsyncWrite + Unpin>(
    mut outgoing: Pin<Box<impl Stream<Item = Result<Bytes, actix_web::Error>>>>,
    writer: &mut W,
    stalled: Duration,
) -> Result<bool, actix_web::Error> {
    while let Some(first) = outgoing.next().await {
        // Whatever else the session has ready goes out in the same write: under load
        // that is one syscall (and one packet) for many frames.
        let mut out = BytesMut::new();
        let mut chunk = first?;
        while let Some(next) = outgoing.next().now_or_never().flatten() {
            out.extend_from_slice(&chunk);
            chunk = next?;
            if out.len() >= WRITE_BATCH {
                break;
            }
        }
        if !out.is_empty() {
            out.extend_from_slice(&chunk);
            chunk = out.freeze();
        }
        let written = timeout(stalled, async {
            writer.write_all(&chunk).await?;
            writer.flush().await
        });
        match written.await {
            Ok(result) => result?,
            Err(_) => {
                tracing::debug!("socket took no bytes for a heartbeat timeout; dropped");
                return Ok(false);
            }
        }
    }
    Ok(true)
}

/// Reads and drops what the client still sends, until it closes, for at most
/// [`LINGER`] and [`LINGER_BYTES`]; through the same reader as the session's input.
async fn linger<R: AsyncRead + Unpin>(reader: Rc<RefCell<R>>) {
    let mut rest = Incoming {
        reader,
        early: None,
        reads_in_a_row: 0,
    };
    let drain = async {
        let mut total = 0;
        while let Some(Ok(chunk)) = rest.next().await {
            total += chunk.len();
            if total > LINGER_BYTES {
                break;
            }
        }
    };
    let _ = timeout(LINGER, drain).await;
}

/// Writes `res` (headers and body) and closes the connection after it.
async fn respond<T>(
    framed: &mut Framed<T, h1::Codec>,
    res: Response<body::BoxBody>,
) -> Result<(), actix_web::Error>
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    let (mut res, body) = res.into_parts();
    let bytes = body::to_bytes(body)
        .await
        .map_err(|e| Error::Internal(format!("error body: {e}")))?;
    res.head_mut().set_connection_type(ConnectionType::Close);
    framed
        .send((res.drop_body(), BodySize::Sized(bytes.len() as u64)).into())
        .await?;
    framed.send(h1::Message::Chunk(Some(bytes))).await?;
    framed.send(h1::Message::Chunk(None)).await?;
    Ok(())
}

/// The subprotocols the client offers, in its order.
fn offered_protocols(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all(SEC_WEBSOCKET_PROTOCOL)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
}

/// The token from `?token=`, `Authorization: Bearer`, or the `token.T` subprotocol.
fn find_token(req: &Request) -> Option<String> {
    let from_query = req
        .uri()
        .query()
        .unwrap_or_default()
        .split('&')
        .find_map(|pair| pair.strip_prefix("token=").map(str::to_string));
    let from_protocol = || {
        offered_protocols(req.headers()).find_map(|p| p.strip_prefix("token.").map(str::to_string))
    };
    from_query
        .or_else(|| super::bearer_in(req.headers()).map(str::to_string))
        .or_else(from_protocol)
}

/// The socket's bytes as the session's input stream. Holds no buffer between reads.
struct Incoming<R> {
    reader: Rc<RefCell<R>>,
    /// Bytes that came with the handshake's read, handed over first.
    early: Option<Bytes>,
    reads_in_a_row: u8,
}

impl<R: AsyncRead + Unpin> Stream for Incoming<R> {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some(early) = self.early.take() {
            return Poll::Ready(Some(Ok(early)));
        }
        if self.reads_in_a_row >= MAX_READS_IN_A_ROW {
            self.reads_in_a_row = 0;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); READ_CHUNK];
        let mut read = ReadBuf::uninit(&mut buf);
        let polled = Pin::new(&mut *self.reader.borrow_mut()).poll_read(cx, &mut read);
        match polled {
            Poll::Ready(Ok(())) if read.filled().is_empty() => Poll::Ready(None),
            Poll::Ready(Ok(())) => {
                self.reads_in_a_row += 1;
                Poll::Ready(Some(Ok(Bytes::copy_from_slice(read.filled()))))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Some(Err(PayloadError::Io(e)))),
            Poll::Pending => {
                self.reads_in_a_row = 0;
                Poll::Pending
            }
        }
    }
}

/// GET /ws without `Connection: Upgrade` (the upgrades never reach the app).
pub async fn not_upgraded() -> HttpResponse {
    Error::bad("GET /ws is a WebSocket: send the upgrade headers").error_response()
}
