//! Origins (scheme, host, port), as browsers and curl scope credentials: a token given for one
//! server goes to that server only. A URL's origin is read straight from its text, without a
//! full parse, because the load path compares one per request.

/// The origin of an absolute `http(s)` URL, borrowed from its text: (scheme, host, port), the
/// host without IPv6 brackets or user info, the port made explicit.
pub fn origin_of(url: &str) -> Option<(&str, &str, u16)> {
    let (scheme, rest) = url.split_once("://")?;
    let default_port = if scheme.eq_ignore_ascii_case("https") {
        443
    } else if scheme.eq_ignore_ascii_case("http") {
        80
    } else {
        return None;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    // `user:pass@host`: the host is after the last `@`.
    let host_port = authority.rsplit('@').next().unwrap_or(authority);
    let (host, port) = if let Some(v6) = host_port.strip_prefix('[') {
        let (h, after) = v6.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None if after.is_empty() => default_port,
            None => return None,
        };
        (h, port)
    } else {
        match host_port.rsplit_once(':') {
            Some((h, p)) if !p.is_empty() => (h, p.parse().ok()?),
            Some((h, _)) => (h, default_port),
            None => (host_port, default_port),
        }
    };
    if host.is_empty() {
        return None;
    }
    Some((scheme, host, port))
}

/// An origin that credentials are bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    scheme: String,
    host: String,
    port: u16,
}

impl Origin {
    pub fn of(url: &str) -> Option<Origin> {
        let (s, h, p) = origin_of(url)?;
        Some(Origin {
            scheme: s.to_ascii_lowercase(),
            host: h.to_ascii_lowercase(),
            port: p,
        })
    }

    /// True when `url` is on this origin (scheme and host compared without case).
    pub fn contains(&self, url: &str) -> bool {
        origin_of(url).is_some_and(|(s, h, p)| {
            p == self.port
                && s.eq_ignore_ascii_case(&self.scheme)
                && h.eq_ignore_ascii_case(&self.host)
        })
    }

    pub fn host(&self) -> &str {
        &self.host
    }
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "{}://[{}]:{}", self.scheme, self.host, self.port)
        } else {
            write!(f, "{}://{}:{}", self.scheme, self.host, self.port)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        assert_eq!(origin_of("http://h:8080/fhir?x"), Some(("http", "h", 8080)));
        assert_eq!(
            origin_of("https://H.example/fhir"),
            Some(("https", "H.example", 443))
        );
        assert_eq!(origin_of("http://[::1]/x"), Some(("http", "::1", 80)));
        assert_eq!(origin_of("http://[::1]:9/x"), Some(("http", "::1", 9)));
        assert_eq!(
            origin_of("http://u:p@evil:81/x"),
            Some(("http", "evil", 81))
        );
        assert_eq!(origin_of("/Patient"), None);
        assert_eq!(origin_of("ftp://h/x"), None);
        let o = Origin::of("http://127.0.0.1:4000/fhir").unwrap();
        assert!(o.contains("http://127.0.0.1:4000/fhir/Patient?page=2"));
        assert!(o.contains("HTTP://127.0.0.1:4000"));
        assert!(!o.contains("http://127.0.0.1:4001/fhir/Patient"));
        assert!(!o.contains("https://127.0.0.1:4000/fhir/Patient"));
        assert!(!o.contains("http://localhost:4000/fhir"));
        assert!(!o.contains("http://127.0.0.1:4000@evil:4000/fhir"));
        assert_eq!(o.to_string(), "http://127.0.0.1:4000");
    }
}
