//! HL7 v2: the ER7 message model (parse, render, escapes, field paths), ACKs, batch files, and
//! message-structure checks. Pure functions over text; the network lives in `mllp`.

pub mod ack;
pub mod batch;
pub mod message;
pub mod path;

pub use message::{Delimiters, Message, ParseError, Segment};
pub use path::FieldPath;
