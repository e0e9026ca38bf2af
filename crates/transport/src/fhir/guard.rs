//! The rule that load stays on this machine unless asked (`--allow-remote`), for every host a
//! run contacts.

use emr_core::origin::origin_of;

use super::TransportError;

/// The rule that load stays on this machine unless asked (`--allow-remote`), applied to every
/// host a run contacts: a templated absolute URL, a followed `next` link, a token endpoint. A
/// decision per host is remembered, so a name is resolved once, not per request.
#[derive(Debug, Default)]
pub struct RemoteGuard {
    allow_remote: bool,
    decided: std::sync::Mutex<std::collections::HashMap<String, bool>>,
}

impl RemoteGuard {
    pub fn new(allow_remote: bool) -> Self {
        RemoteGuard {
            allow_remote,
            ..RemoteGuard::default()
        }
    }

    /// Ok when `url`'s host is on this machine, or remote hosts are allowed.
    pub async fn check(&self, url: &str) -> Result<(), TransportError> {
        if self.allow_remote {
            return Ok(());
        }
        let host = origin_of(url).map(|(_, h, _)| h.to_ascii_lowercase());
        let Some(host) = host else {
            return Ok(()); // not an http(s) URL: the transport refuses it with its own message
        };
        let known = self
            .decided
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&host)
            .copied();
        let local = match known {
            Some(l) => l,
            None => {
                let l = is_loopback_host(&host).await;
                self.decided
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(host.clone(), l);
                l
            }
        };
        if local {
            Ok(())
        } else {
            Err(TransportError::Refused(format!(
                "{host} is not on this machine: load against another host needs --allow-remote \
                 (the URL came from the scenario, a response or a token endpoint)"
            )))
        }
    }
}

/// True when every address `host` resolves to is a loopback address.
pub async fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_guard_refuses_remote_hosts_unless_allowed() {
        let g = RemoteGuard::new(false);
        assert!(g.check("http://127.0.0.1:9/x").await.is_ok());
        assert!(g.check("http://[::1]:9/x").await.is_ok());
        let e = g.check("http://10.1.2.3/fhir").await.unwrap_err();
        assert!(e.to_string().contains("--allow-remote"), "{e}");
        assert!(RemoteGuard::new(true)
            .check("http://10.1.2.3/")
            .await
            .is_ok());
    }
}
