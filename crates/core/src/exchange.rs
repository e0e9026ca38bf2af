//! One exchange's data as it crossed the wire: the request after templating and the response as
//! received. Transports produce them; checks, captures and snapshots read them. Plain data, so
//! the checks can be tested without a network.

/// A request after templating: exactly what goes on the wire.
#[derive(Debug, Clone, Default)]
pub struct HttpRequest {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    /// Send the run's credentials even when `url` is on another origin than the target (a step's
    /// explicit `send_credentials: true`). Off, they go to the target's origin only.
    pub credentials_anywhere: bool,
}

/// A response as received. Header names are lower-case; repeated headers stay separate entries.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    /// As received: names lower-case, repeated headers kept, no copy into strings per response.
    pub headers: http::HeaderMap,
    /// Shared with the transport: no copy of the body per response.
    pub body: bytes::Bytes,
}

impl HttpResponse {
    /// The first value of a header, by case-insensitive name (None when it is not UTF-8).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers_named(name).next()
    }

    /// Every value of a header, in order, by case-insensitive name.
    pub fn headers_named<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a str> + 'a {
        let name = http::HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes()).ok();
        name.into_iter()
            .flat_map(|n| self.headers.get_all(n).iter())
            .filter_map(|v| std::str::from_utf8(v.as_bytes()).ok())
    }

    /// A response built by hand (tests, recorded exchanges). Invalid header names are skipped.
    pub fn from_parts(
        status: u16,
        headers: &[(&str, &str)],
        body: impl Into<bytes::Bytes>,
    ) -> Self {
        let mut map = http::HeaderMap::new();
        for (k, v) in headers {
            if let (Ok(k), Ok(v)) = (
                http::HeaderName::from_bytes(k.to_ascii_lowercase().as_bytes()),
                http::HeaderValue::from_str(v),
            ) {
                map.append(k, v);
            }
        }
        HttpResponse {
            status,
            headers: map,
            body: body.into(),
        }
    }
}
