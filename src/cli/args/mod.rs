//! Flag groups shared by several commands, each declared once: output, MLLP (with TLS), auth,
//! HTTPS, faults of the sandbox, limits.

pub(crate) mod auth;
pub(crate) mod faults;
pub(crate) mod limits;
pub(crate) mod mllp;
pub(crate) mod output;
pub(crate) mod tls;

pub(crate) use auth::AuthArgs;
pub(crate) use faults::FaultArgs;
pub(crate) use limits::LimitArgs;
pub(crate) use mllp::MllpTlsArgs;
pub(crate) use output::OutputArgs;
pub(crate) use tls::HttpTlsArgs;
