//! Load only goes where it is meant to: a target off this machine needs an explicit opt-in.

use std::net::IpAddr;

/// True when every address `host` resolves to is a loopback address.
pub async fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        return ip.is_loopback();
    }
    match tokio::net::lookup_host((host, 0)).await {
        Ok(addrs) => {
            let addrs: Vec<_> = addrs.collect();
            !addrs.is_empty() && addrs.iter().all(|a| a.ip().is_loopback())
        }
        Err(_) => false,
    }
}

/// The host part of `host:port`.
pub fn host_of(addr: &str) -> &str {
    match addr.rsplit_once(':') {
        Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) => h,
        _ => addr,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn loopback_detection() {
        assert!(is_loopback_host("127.0.0.1").await);
        assert!(is_loopback_host("127.8.9.1").await);
        assert!(is_loopback_host("[::1]").await);
        assert!(is_loopback_host("localhost").await);
        assert!(!is_loopback_host("10.0.0.1").await);
        assert!(!is_loopback_host("192.168.1.10").await);
        assert_eq!(host_of("emr.example:2575"), "emr.example");
    }
}
