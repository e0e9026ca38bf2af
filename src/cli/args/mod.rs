//! Flag groups shared by several commands, each declared once: output, MLLP (with TLS), auth,
//! HTTPS, faults of the sandbox, limits.

pub mod auth;
pub mod faults;
pub mod limits;
pub mod mllp;
pub mod output;
pub mod tls;

pub use auth::AuthArgs;
pub use faults::FaultArgs;
pub use limits::LimitArgs;
pub use mllp::MllpTlsArgs;
pub use output::OutputArgs;
pub use tls::HttpTlsArgs;
