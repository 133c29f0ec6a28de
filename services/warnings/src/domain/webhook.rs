//! Webhooks after the Standard Webhooks convention (standardwebhooks.com): event types, signing
//! secrets and signatures, the back-off between attempts, and which targets may be called.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::{KeyInit, Mac};
use rand::RngCore;

/// An event a subscriber is told of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    /// A warning was raised.
    Raised,
    /// Its colour was raised.
    Escalated,
    /// A deadline passed unmet.
    Overdue,
    /// It was resolved.
    Resolved,
}

impl EventType {
    /// All four.
    pub const ALL: [EventType; 4] = [
        EventType::Raised,
        EventType::Escalated,
        EventType::Overdue,
        EventType::Resolved,
    ];

    /// Stored code.
    pub fn code(self) -> &'static str {
        match self {
            EventType::Raised => "RAISED",
            EventType::Escalated => "ESCALATED",
            EventType::Overdue => "OVERDUE",
            EventType::Resolved => "RESOLVED",
        }
    }

    /// The event type of a stored code.
    pub fn from_code(code: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|e| e.code() == code)
    }

    /// The `type` of the payload, e.g. `warning.raised`.
    pub fn name(self) -> &'static str {
        match self {
            EventType::Raised => "warning.raised",
            EventType::Escalated => "warning.escalated",
            EventType::Overdue => "warning.overdue",
            EventType::Resolved => "warning.resolved",
        }
    }
}

/// Prefix of a signing secret.
pub const SECRET_PREFIX: &str = "whsec_";

/// A fresh signing secret: `whsec_` and the base64 of 32 random bytes.
pub fn new_secret() -> String {
    let mut bytes = [0_u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{SECRET_PREFIX}{}", STANDARD.encode(bytes))
}

/// The key bytes of a secret (the base64 after `whsec_`).
pub fn secret_key(secret: &str) -> Option<Vec<u8>> {
    STANDARD
        .decode(secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret))
        .ok()
}

/// The `webhook-signature` of a message: `v1,` and the base64 HMAC-SHA256 of
/// `{id}.{timestamp}.{body}`.
pub fn sign(key: &[u8], id: &str, timestamp: i64, body: &str) -> String {
    let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key)
        .expect("HMAC takes any key length");
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// The pause after failed attempt `attempt` (from 1): `first`, doubling, at most `most`.
pub fn backoff(
    attempt: u32,
    first: std::time::Duration,
    most: std::time::Duration,
) -> std::time::Duration {
    let factor = 2_u32.saturating_pow(attempt.saturating_sub(1).min(30));
    first.saturating_mul(factor).min(most)
}

/// Where an endpoint's URL points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `https`.
    pub https: bool,
    /// Host name or address (an IPv6 literal without brackets).
    pub host: String,
    /// Port.
    pub port: u16,
    /// `host[:port]` as written, for the Host header.
    pub authority: String,
    /// Path and query.
    pub path: String,
}

/// Parses an endpoint URL: http(s), a host, no credentials, at most 2,000 characters.
pub fn parse_target(url: &str) -> Result<Target, String> {
    if url.len() > 2_000 {
        return Err("at most 2,000 characters".into());
    }
    let uri: http::Uri = url.parse().map_err(|e| format!("not a URL: {e}"))?;
    let https = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        _ => return Err("an http:// or https:// URL is required".into()),
    };
    let authority = uri
        .authority()
        .ok_or_else(|| "the URL has no host".to_owned())?;
    if authority.as_str().contains('@') {
        return Err("the URL must not carry credentials".into());
    }
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    if host.is_empty() {
        return Err("the URL has no host".into());
    }
    Ok(Target {
        https,
        port: authority.port_u16().unwrap_or(if https { 443 } else { 80 }),
        authority: authority.as_str().to_owned(),
        host,
        path: uri
            .path_and_query()
            .map_or("/".to_owned(), |p| p.as_str().to_owned()),
    })
}

/// True for an address a webhook must not reach unless the deployment allows it: loopback,
/// private, link-local, shared (CGNAT), unspecified, broadcast, multicast, documentation,
/// benchmarking and reserved ranges, and IPv6 forms that embed such an IPv4 address.
pub fn forbidden(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || a == 0
        || (a == 100 && (64..=127).contains(&b))
        || (a == 192 && b == 0 && c == 0)
        || (a == 192 && b == 0 && c == 2)
        || (a == 198 && (b == 18 || b == 19))
        || (a == 198 && b == 51 && c == 100)
        || (a == 203 && b == 0 && c == 113)
        || a >= 240
}

fn forbidden_v6(ip: Ipv6Addr) -> bool {
    let segments = ip.segments();
    let embedded = |high: u16, low: u16| {
        Ipv4Addr::new((high >> 8) as u8, high as u8, (low >> 8) as u8, low as u8)
    };
    if let Some(v4) = ip.to_ipv4_mapped() {
        return forbidden_v4(v4);
    }
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (segments[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
        || (segments[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
        || (segments[0] & 0xffc0) == 0xfec0 // site-local fec0::/10
        || (segments[0] == 0x2001 && segments[1] == 0x0db8) // documentation
        || (segments[0] == 0x2001 && segments[1] == 0) // Teredo
        || (segments[..6] == [0x0064, 0xff9b, 0, 0, 0, 0] && forbidden_v4(embedded(segments[6], segments[7])))
        || (segments[0] == 0x2002 && forbidden_v4(embedded(segments[1], segments[2]))) // 6to4
        || (segments[..6] == [0, 0, 0, 0, 0, 0] && forbidden_v4(embedded(segments[6], segments[7])))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_match_the_standard_webhooks_test_vector() {
        // from the Standard Webhooks reference libraries' tests
        let key = secret_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(
            sign(
                &key,
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1_614_265_330,
                r#"{"test": 2432232314}"#
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
        let secret = new_secret();
        assert!(secret.starts_with("whsec_"));
        assert_eq!(secret_key(&secret).unwrap().len(), 32);
    }

    #[test]
    fn attempts_back_off_from_ten_seconds_doubling_up_to_ten_hours() {
        let first = std::time::Duration::from_secs(10);
        let most = std::time::Duration::from_secs(36_000);
        let pauses: Vec<u64> = (1..=14)
            .map(|n| backoff(n, first, most).as_secs())
            .collect();
        assert_eq!(
            pauses,
            [
                10, 20, 40, 80, 160, 320, 640, 1_280, 2_560, 5_120, 10_240, 20_480, 36_000, 36_000
            ]
        );
        assert_eq!(backoff(200, first, most).as_secs(), 36_000);
    }

    #[test]
    fn loopback_private_link_local_and_their_ipv6_forms_are_forbidden() {
        for text in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "198.18.0.1",
            "240.0.0.1",
            "::1",
            "::",
            "fe80::1",
            "fc00::1",
            "fd12:3456::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
            "2001:db8::1",
        ] {
            assert!(forbidden(text.parse().unwrap()), "{text} must be forbidden");
        }
        for text in [
            "8.8.8.8",
            "172.32.0.1",
            "114.114.114.114",
            "2400:3200::1",
            "::ffff:8.8.8.8",
        ] {
            assert!(!forbidden(text.parse().unwrap()), "{text} is public");
        }
    }

    #[test]
    fn urls_must_be_http_with_a_host_and_no_credentials() {
        let target = parse_target("https://hooks.example.cn/shequ?x=1").unwrap();
        assert_eq!(
            (
                target.https,
                target.host.as_str(),
                target.port,
                target.path.as_str()
            ),
            (true, "hooks.example.cn", 443, "/shequ?x=1")
        );
        let v6 = parse_target("http://[2400:3200::1]:8080/").unwrap();
        assert_eq!((v6.host.as_str(), v6.port), ("2400:3200::1", 8080));
        for bad in ["ftp://x/", "https://user:pw@x/", "/relative", "https://"] {
            assert!(parse_target(bad).is_err(), "{bad}");
        }
    }
}
