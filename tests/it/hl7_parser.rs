//! The HL7 v2 parser over real-looking messages of each common event, and property tests.

use emr_core::hl7::message::{decode, encode};
use emr_core::hl7::{Delimiters, Message};
use emr_validate::hl7v2;
use proptest::prelude::*;

fn fixtures() -> Vec<(String, String)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hl7");
    let mut out: Vec<(String, String)> = std::fs::read_dir(&dir)
        .expect("fixtures")
        .map(|e| e.expect("entry").path())
        .map(|p| {
            (
                p.file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned(),
                std::fs::read_to_string(&p).expect("read"),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn every_event_round_trips_and_is_well_formed() {
    let all = fixtures();
    let events: Vec<String> = all
        .iter()
        .map(|(_, t)| Message::parse(t).expect("parses").message_type())
        .collect();
    assert_eq!(
        events,
        ["ADT^A01", "ADT^A03", "ADT^A04", "ADT^A08", "MDM^T02", "ORM^O01", "ORU^R01", "SIU^S12"]
    );
    for (name, text) in &all {
        let m = Message::parse(text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(&m.render(), text, "{name}: parse → render is not the input");
        let errors: Vec<String> = hl7v2::validate(&m, &Default::default())
            .errors()
            .map(|f| f.to_string())
            .collect();
        assert_eq!(errors, Vec::<String>::new(), "{name}");
    }
}

#[test]
fn fixture_values_decode() {
    let get = |file: &str, path: &str| {
        let (_, t) = fixtures()
            .into_iter()
            .find(|(n, _)| n == file)
            .expect("fixture");
        Message::parse(&t).expect("parses").value(path)
    };
    assert_eq!(
        get("adt_a01.hl7", "PID-3[2].1").as_deref(),
        Some("123-45-6789")
    );
    assert_eq!(get("adt_a01.hl7", "PID-5[2].2").as_deref(), Some("ADDIE"));
    assert_eq!(
        get("adt_a01.hl7", "PID-13[2].4").as_deref(),
        Some("adam@example.org")
    );
    assert_eq!(get("adt_a04.hl7", "PID-5.1").as_deref(), Some("O\\BRIEN"));
    assert_eq!(get("adt_a04.hl7", "PID-11.2").as_deref(), Some("APT | 4"));
    assert_eq!(
        get("orm_o01.hl7", "OBR-13").as_deref(),
        Some("Fasting & no meds\nafter midnight")
    );
    assert_eq!(get("oru_r01.hl7", "OBX[3]-5").as_deref(), Some("4.1"));
    assert_eq!(
        get("oru_r01.hl7", "NTE-3[2]").as_deref(),
        Some("Read back confirmed")
    );
    assert_eq!(get("mdm_t02.hl7", "TXA-12").as_deref(), Some("DOC0099881"));
}

/// Arbitrary text for a field value, including delimiters, escapes and line breaks.
fn value() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[A-Za-z0-9 .,:'/|^~&\\\\\n-]{0,12}").expect("regex")
}

fn segment_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("PID"),
        Just("PV1"),
        Just("OBX"),
        Just("NTE"),
        Just("ZX1")
    ]
    .prop_map(str::to_string)
}

proptest! {
    #[test]
    fn render_then_parse_gives_the_same_message(
        segs in proptest::collection::vec((segment_name(), proptest::collection::vec(proptest::collection::vec(value(), 1..3), 0..6)), 0..5),
        control in "[A-Z0-9]{1,10}",
    ) {
        let d = Delimiters::default();
        let mut text = format!("MSH|^~\\&|A|B|C|D|20260101||ADT^A08|{control}|P|2.5.1\r");
        for (name, fields) in &segs {
            text.push_str(name);
            for comps in fields {
                let encoded: Vec<String> = comps.iter().map(|v| encode(v, &d)).collect();
                text.push('|');
                text.push_str(&encoded.join("^"));
            }
            text.push('\r');
        }
        let m = Message::parse(&text).expect("a rendered message parses");
        prop_assert_eq!(m.render(), text.clone());
        prop_assert_eq!(m.control_id(), control);
        for (i, (name, fields)) in segs.iter().enumerate() {
            let occurrence = segs[..i].iter().filter(|(n, _)| n == name).count() + 1;
            for (f, comps) in fields.iter().enumerate() {
                for (c, v) in comps.iter().enumerate() {
                    let path = format!("{name}[{occurrence}]-{}.{}", f + 1, c + 1);
                    prop_assert_eq!(m.value(&path).unwrap_or_default(), v.clone(), "{}", path);
                }
            }
        }
    }

    #[test]
    fn escaping_round_trips(v in "\\PC{0,40}") {
        let d = Delimiters::default();
        prop_assert_eq!(decode(&encode(&v, &d), &d), v);
    }

    #[test]
    fn parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = Message::parse(&format!("MSH|^~\\&|{text}"));
        let _ = Message::parse(&text);
    }
}
