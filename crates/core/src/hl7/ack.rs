//! Acknowledgements: building one for a received message (the sandbox listener) and reading one
//! (the checks). Original mode: AA/AE/AR; enhanced mode: CA/CE/CR.

use super::message::{encode, Message, Segment};

/// An error to report in the ACK's ERR segment (HL7 table 0357 codes).
#[derive(Debug, Clone)]
pub struct AckError {
    /// 100 segment sequence error, 101 required field missing, 102 data type error,
    /// 200 unsupported message type, 207 application internal error, ...
    pub code: &'static str,
    pub text: String,
    /// `SEG^seq^field` location, when known.
    pub location: Option<String>,
}

pub const ACK_CODES: &[&str] = &["AA", "AE", "AR", "CA", "CE", "CR"];

/// Builds the ACK for `msg`: sender and receiver swapped, `ACK^<trigger>^ACK`, MSA-2 = the
/// message's MSH-10, an ERR segment when there is an error.
pub fn build_ack(
    msg: &Message,
    code: &str,
    control_id: &str,
    timestamp: &str,
    error: Option<&AckError>,
) -> Message {
    let d = msg.delimiters;
    // Raw field texts are copied as received (same delimiters, so no decode and re-encode).
    let msh_in = msg.segment("MSH", 1);
    let v = |n: usize| {
        msh_in
            .and_then(|s| s.fields.get(n - 1))
            .cloned()
            .unwrap_or_default()
    };
    let trigger = msh_in
        .map(|s| msg.component_of(s, 9, 2))
        .unwrap_or_default();
    let msh = Segment {
        name: "MSH".into(),
        fields: vec![
            d.field.to_string(),
            d.encoding_characters(),
            v(5),
            v(6),
            v(3),
            v(4),
            timestamp.to_string(),
            String::new(),
            format!("ACK{c}{trigger}{c}ACK", c = d.component),
            control_id.to_string(),
            v(11),
            v(12),
        ],
    };
    let mut msa = vec![code.to_string(), v(10)];
    if let Some(e) = error {
        msa.push(encode(&e.text, &d));
    }
    let mut segments = vec![
        msh,
        Segment {
            name: "MSA".into(),
            fields: msa,
        },
    ];
    if let Some(e) = error {
        let location = e.location.clone().unwrap_or_default();
        segments.push(Segment {
            name: "ERR".into(),
            // ERR-2 location, ERR-3 HL7 error code (CWE, table 0357), ERR-4 severity (v2.5+).
            fields: vec![
                String::new(),
                location,
                format!(
                    "{}{c}{}{c}HL70357",
                    e.code,
                    encode(&e.text, &d),
                    c = d.component
                ),
                "E".to_string(),
            ],
        });
    }
    Message {
        delimiters: d,
        segments,
    }
}

/// A minimal ACK for input that did not even parse: default delimiters, no MSH to echo.
pub fn build_reject(code: &str, control_id: &str, timestamp: &str, error: &AckError) -> Message {
    let stub = Message::parse("MSH|^~\\&|||||||||P|2.5.1").unwrap_or(Message {
        delimiters: Default::default(),
        segments: Vec::new(),
    });
    build_ack(&stub, code, control_id, timestamp, Some(error))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ack_swaps_parties_and_echoes_control_id() {
        let m = Message::parse(
            "MSH|^~\\&|LAB|L1|EMR|H1|20260101||ORU^R01^ORU_R01|C123|P|2.5.1\rPID|1\r",
        )
        .unwrap();
        let ack = build_ack(&m, "AA", "ACK1", "20260101120000", None);
        assert_eq!(ack.value("MSH-3").as_deref(), Some("EMR"));
        assert_eq!(ack.value("MSH-5").as_deref(), Some("LAB"));
        assert_eq!(ack.message_type(), "ACK^R01");
        assert_eq!(ack.value("MSA-1").as_deref(), Some("AA"));
        assert_eq!(ack.value("MSA-2").as_deref(), Some("C123"));
        assert_eq!(ack.value("MSH-12").as_deref(), Some("2.5.1"));
        let err = AckError {
            code: "200",
            text: "unsupported | type".into(),
            location: None,
        };
        let nak = build_ack(&m, "AR", "ACK2", "20260101120000", Some(&err));
        assert_eq!(nak.value("ERR-3.1").as_deref(), Some("200"));
        assert_eq!(nak.value("ERR-3.2").as_deref(), Some("unsupported | type"));
        assert!(Message::parse(&nak.render()).is_ok());
    }
}
