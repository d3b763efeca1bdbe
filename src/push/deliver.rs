//! One push request: the RFC 8291 encryption of the payload (web-push-native), the
//! VAPID header, the RFC 8030 headers, and what the push service's answer means.

use std::time::{Duration, SystemTime};

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use serde::Serialize;
use web_push_native::{p256, Auth};

use super::endpoint;
use super::vapid::Vapid;
use crate::error::{Error, Result};
use crate::store::push::SubscriptionRecord;

/// The JSON a service worker decrypts (PROTOCOL.md "Push notifications").
#[derive(Debug, Clone, Serialize)]
pub struct Payload {
    /// Conversation.
    pub conv: u64,
    /// Newest message's seq.
    pub seq: u64,
    /// Its sender.
    pub sender: String,
    /// Group name, or the sender's display name (username until profiles exist).
    pub title: String,
    /// The text when `push.include_body`, else "".
    pub body: String,
    /// Wire kind ("text", "image", ...).
    pub kind: String,
    /// The recipient's unread count in the conversation.
    pub unread: u64,
}

/// What a push service's answer means for the subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// 2xx: taken.
    Sent,
    /// 404 or 410: the subscription is gone; delete it.
    Gone,
    /// 429 or 5xx (or no answer): try again, not before this many seconds if the
    /// service said (Retry-After).
    Retry {
        /// Status, 0 for no answer.
        status: u16,
        /// Retry-After in seconds from the answer, if given (seconds or a date).
        after: Option<u64>,
    },
    /// Anything else: logged, not retried.
    Failed(u16),
}

/// Validates a subscription's keys as a browser sends them (base64url, padded or not);
/// the decoded p256dh (65-byte uncompressed point on P-256) and auth (16 bytes).
pub fn decode_keys(p256dh: &str, auth: &str) -> Result<(Vec<u8>, Vec<u8>)> {
    let b64 = |s: &str| URL_SAFE_NO_PAD.decode(s.trim_end_matches('='));
    let key = b64(p256dh).map_err(|_| Error::bad("keys.p256dh is not base64url"))?;
    if key.len() != 65 || p256::PublicKey::from_sec1_bytes(&key).is_err() {
        return Err(Error::bad(
            "keys.p256dh is not an uncompressed P-256 public key",
        ));
    }
    let secret = b64(auth).map_err(|_| Error::bad("keys.auth is not base64url"))?;
    if secret.len() != 16 {
        return Err(Error::bad("keys.auth is not 16 bytes"));
    }
    Ok((key, secret))
}

/// The pieces of one request, made on the worker thread before it is sent.
pub struct Request {
    /// Where, checked.
    pub target: endpoint::Checked,
    /// Encrypted body.
    pub body: Vec<u8>,
    /// `Authorization` value.
    pub authorization: String,
    /// `TTL` value.
    pub ttl_secs: u64,
    /// `Topic` value.
    pub topic: String,
}

/// Encrypts `payload` for `sub` and signs for its endpoint's origin.
pub fn prepare(
    sub: &SubscriptionRecord,
    target: endpoint::Checked,
    payload: &Payload,
    vapid: &Vapid,
    contact: &str,
    ttl_secs: u64,
) -> Result<Request> {
    let json = serde_json::to_vec(payload).map_err(|e| Error::Internal(e.to_string()))?;
    let ua_public = p256::PublicKey::from_sec1_bytes(&sub.p256dh)
        .map_err(|_| Error::Internal("stored p256dh unreadable".into()))?;
    if sub.auth.len() != 16 {
        return Err(Error::Internal("stored auth secret unreadable".into()));
    }
    let auth = Auth::clone_from_slice(&sub.auth);
    let body = web_push_native::encrypt(json, &ua_public, &auth)
        .map_err(|e| Error::Internal(format!("push encryption: {e}")))?;
    Ok(Request {
        authorization: vapid.authorization(&target.origin, contact)?,
        target,
        body,
        ttl_secs,
        topic: payload.conv.to_string(),
    })
}

/// Sends `req` with `client` (redirects off) and classifies the answer; no answer
/// within `timeout` (silence, or bytes that are not HTTP) is a retry like any
/// unreachable service, so no push service can hold the worker.
pub async fn send(client: &awc::Client, req: Request, timeout: Duration) -> Outcome {
    let mut builder = client
        .post(req.target.uri.clone())
        .timeout(timeout)
        .insert_header(("TTL", req.ttl_secs.to_string()))
        .insert_header(("Urgency", "high"))
        .insert_header(("Topic", req.topic))
        .insert_header(("Content-Encoding", "aes128gcm"))
        .insert_header(("Content-Type", "application/octet-stream"))
        .insert_header(("Authorization", req.authorization));
    if let Some(addr) = req.target.address {
        builder = builder.address(addr);
    }
    match builder.send_body(req.body).await {
        Ok(response) => {
            let status = response.status().as_u16();
            let after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| retry_after_secs(v, SystemTime::now()));
            classify(status, after)
        }
        Err(e) => {
            tracing::debug!(error = %e, origin = %req.target.origin, "push service unreachable");
            Outcome::Retry {
                status: 0,
                after: None,
            }
        }
    }
}

/// `Retry-After` (RFC 9110 10.2.3) as seconds from `now`: delay-seconds, or an
/// HTTP-date (rounded up, 0 when already past), so both forms are honoured alike;
/// `None` when it is neither.
pub fn retry_after_secs(value: &str, now: SystemTime) -> Option<u64> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(secs);
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(
        at.duration_since(now)
            .map_or(0, |d| d.as_secs() + u64::from(d.subsec_nanos() > 0)),
    )
}

/// What an answer with `status` (and `Retry-After` seconds) means.
pub fn classify(status: u16, after: Option<u64>) -> Outcome {
    match status {
        200..=299 => Outcome::Sent,
        404 | 410 => Outcome::Gone,
        429 | 500..=599 => Outcome::Retry { status, after },
        other => Outcome::Failed(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_takes_seconds_and_http_dates() {
        // 2015-10-21T07:28:00Z
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480);
        let date = "Wed, 21 Oct 2015 07:28:00 GMT";
        assert_eq!(retry_after_secs(" 120 ", at), Some(120));
        assert_eq!(
            retry_after_secs(date, at - Duration::from_secs(90)),
            Some(90)
        );
        assert_eq!(
            retry_after_secs(date, at - Duration::from_millis(1500)),
            Some(2)
        );
        assert_eq!(retry_after_secs(date, at + Duration::from_secs(5)), Some(0));
        // the obsolete forms RFC 9110 still asks recipients to read
        let rfc850 = "Wednesday, 21-Oct-15 07:28:00 GMT";
        assert_eq!(
            retry_after_secs(rfc850, at - Duration::from_secs(1)),
            Some(1)
        );
        for bad in ["", "soon", "-5", "1.5", "Wed, 32 Oct 2015 07:28:00 GMT"] {
            assert_eq!(retry_after_secs(bad, at), None, "{bad:?}");
        }
    }
}
