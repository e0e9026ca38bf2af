//! HL7 v2 logs → exchanges: batch files (FHS/BHS … BTS/FTS), MLLP-framed captures, messages one
//! after another or separated by blank lines. A log holds messages, not ACKs: each becomes a step
//! that expects a positive ACK.

use crate::record::build::{Exchange, Hl7Exchange};

pub fn exchanges(text: &str) -> Vec<Exchange> {
    emr_core::hl7::batch::split_messages(text)
        .into_iter()
        .map(|message| Exchange::Hl7(Hl7Exchange { message, ack: None }))
        .collect()
}
