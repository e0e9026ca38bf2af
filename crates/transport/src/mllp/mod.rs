//! MLLP (Minimal Lower Layer Protocol) transport for HL7 v2: framing codec, client, TLS.

pub mod client;
pub mod codec;
pub mod pool;
/// TLS is shared with the FHIR client; `mllp::tls` stays as the name MLLP users know.
pub use crate::tls;
pub use crate::tls as mllp_tls;

pub use client::{MllpClient, MllpConfig, MllpError};
pub use codec::{FrameError, MllpCodec};
pub use pool::MllpPool;
