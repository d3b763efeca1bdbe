//! The endpoint guard: a push subscription names a URL the node will POST to, so a user
//! could point it at the node's own network (SSRF). Endpoints must be `https://` and
//! resolve only to public addresses, unless their origin is in `push.allowed_endpoints`.
//! The check runs when a subscription is made and again before every send, and the
//! request then goes to the address that was checked (a name that re-resolves elsewhere
//! in between is not followed); redirects are never followed.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use actix_web::http::Uri;

use crate::error::{Error, Result};

/// Longest endpoint accepted (browsers' are a few hundred bytes).
pub const MAX_ENDPOINT_BYTES: usize = 2048;

/// An endpoint that passed the guard.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The parsed URL.
    pub uri: Uri,
    /// `scheme://host[:port]`, the VAPID `aud`.
    pub origin: String,
    /// The address to connect to; `None` for an allowed origin (connected as named).
    pub address: Option<SocketAddr>,
}

/// `scheme://host[:port]` of `uri` (the port only when given), lower-cased.
pub fn origin_of(uri: &Uri) -> Option<String> {
    let scheme = uri.scheme_str()?.to_ascii_lowercase();
    let authority = uri.authority()?;
    let host = authority.host().to_ascii_lowercase();
    Some(match authority.port_u16() {
        Some(port) => format!("{scheme}://{host}:{port}"),
        None => format!("{scheme}://{host}"),
    })
}

fn default_port(scheme: &str) -> u16 {
    if scheme == "http" {
        80
    } else {
        443
    }
}

/// Parses and checks `endpoint` against `allowed` origins, resolving its host; the
/// error says why it was refused (a 400 for the subscriber).
pub async fn check(endpoint: &str, allowed: &[String]) -> Result<Checked> {
    let refuse = |why: &str| Err(Error::bad(format!("push endpoint refused: {why}")));
    if endpoint.len() > MAX_ENDPOINT_BYTES {
        return refuse("longer than 2048 bytes");
    }
    let Ok(uri) = endpoint.parse::<Uri>() else {
        return refuse("not a URL");
    };
    let Some(origin) = origin_of(&uri) else {
        return refuse("not an absolute URL");
    };
    let scheme = uri.scheme_str().unwrap_or_default().to_ascii_lowercase();
    if scheme != "https" && scheme != "http" {
        return refuse("not https://");
    }
    let Some(authority) = uri.authority() else {
        return refuse("no host");
    };
    if authority.as_str().contains('@') {
        return refuse("credentials in the URL");
    }
    if allowed.iter().any(|a| a.eq_ignore_ascii_case(&origin)) {
        return Ok(Checked {
            uri,
            origin,
            address: None,
        });
    }
    if scheme != "https" {
        return refuse("not https:// (and not in push.allowed_endpoints)");
    }
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    let port = authority.port_u16().unwrap_or(default_port(&scheme));
    let addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => match tokio::net::lookup_host((host, port)).await {
            Ok(found) => found.collect(),
            Err(_) => return refuse("its host does not resolve"),
        },
    };
    if addrs.is_empty() {
        return refuse("its host does not resolve");
    }
    if addrs.iter().any(|a| !is_public(a.ip())) {
        return refuse("it resolves to a loopback, private or reserved address");
    }
    Ok(Checked {
        uri,
        origin,
        address: addrs.first().copied(),
    })
}

/// Whether `ip` is a public unicast address (not loopback, private, link-local,
/// shared, documentation, multicast, unspecified or otherwise reserved).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let s = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local
                || (s[0] & 0xffc0) == 0xfe80 // link-local
                || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
                || (s[0] == 0x0064 && s[1] == 0xff9b) // NAT64 to anything
                || (s[0] == 0x2002) // 6to4 to anything
                || s[0..6] == [0, 0, 0, 0, 0, 0]) // IPv4-compatible
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_unspecified()
        || ip.is_multicast()
        || o[0] == 0
        || (o[0] == 100 && (o[1] & 0xc0) == 64) // shared 100.64/10
        || (o[0] == 192 && o[1] == 0 && o[2] == 0) // IETF 192.0.0/24
        || (o[0] == 198 && (o[1] & 0xfe) == 18) // benchmarking 198.18/15
        || o[0] >= 240) // reserved
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn private_and_reserved_addresses_are_not_public() {
        for a in [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "::1",
            "::",
            "fc00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.1.2.3",
            "64:ff9b::a00:1",
        ] {
            assert!(!is_public(a.parse().unwrap()), "{a}");
        }
        for a in ["1.1.1.1", "8.8.8.8", "2606:4700::1111"] {
            assert!(is_public(a.parse().unwrap()), "{a}");
        }
    }

    #[actix_web::test]
    async fn refusals_name_their_reason() {
        let allowed = vec!["http://127.0.0.1:9999".to_string()];
        for bad in [
            "http://push.example.com/x",
            "https://10.0.0.1/x",
            "https://[::1]/x",
            "https://localhost/x",
            "https://127.0.0.1:9998/x",
            "ftp://push.example.com/x",
            "/relative",
            "https://user:pw@1.1.1.1/x",
        ] {
            assert!(check(bad, &allowed).await.is_err(), "{bad}");
        }
        let long = format!("https://1.1.1.1/{}", "a".repeat(10 * 1024));
        assert!(check(&long, &allowed).await.is_err());
        let ok = check("http://127.0.0.1:9999/push/1", &allowed)
            .await
            .unwrap();
        assert_eq!(ok.origin, "http://127.0.0.1:9999");
        assert!(ok.address.is_none());
        let public = check("https://1.1.1.1/p", &allowed).await.unwrap();
        assert_eq!(public.origin, "https://1.1.1.1");
        assert_eq!(public.address, Some("1.1.1.1:443".parse().unwrap()));
    }
}
