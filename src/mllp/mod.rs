//! MLLP (Minimal Lower Layer Protocol) transport for HL7 v2: framing codec, client, TLS.

pub mod client;
pub mod codec;
pub mod pool;
pub mod tls;

pub use client::{MllpClient, MllpConfig, MllpError};
pub use codec::{FrameError, MllpCodec};
pub use pool::MllpPool;
