//! Load only goes where it is meant to: a target off this machine needs an explicit opt-in.

pub use emr_transport::fhir::guard::is_loopback_host;

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
