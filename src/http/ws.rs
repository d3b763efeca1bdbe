//! GET /ws: finds the token (query, header, subprotocol) and starts a session.
//! A bad token never fails the handshake: the session says `unauthorized` and closes 4001.

use actix_web::{web, HttpRequest, HttpResponse};

use super::bearer;
use crate::actors::session::{self, Handshake};
use crate::auth;
use crate::error::Error;
use crate::node::Node;

/// The token from `?token=`, `Authorization: Bearer`, or the `token.T` subprotocol.
fn find_token(req: &HttpRequest) -> Option<String> {
    let from_query = req
        .query_string()
        .split('&')
        .find_map(|pair| pair.strip_prefix("token=").map(|t| t.to_string()));
    let from_protocol = || {
        req.headers()
            .get_all("sec-websocket-protocol")
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .find_map(|p| p.trim().strip_prefix("token.").map(str::to_string))
    };
    from_query
        .or_else(|| bearer(req).map(str::to_string))
        .or_else(from_protocol)
}

/// Upgrades to a WebSocket, or 503 at the connection limit.
pub async fn upgrade(
    req: HttpRequest,
    stream: web::Payload,
    node: web::Data<Node>,
) -> actix_web::Result<HttpResponse> {
    let ip = req
        .peer_addr()
        .map(|a| a.ip())
        .unwrap_or(std::net::IpAddr::from([0, 0, 0, 0]));
    let Some(slot) = node.take_slot(ip) else {
        return Err(Error::Unavailable.into());
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
    session::start(node.get_ref().clone(), slot, handshake, &req, stream)
}
