#![no_main]

use emr_core::hl7::{batch, Message};
use emr_validate::hl7v2;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = batch::split_messages(&text);
    let Ok(msg) = Message::parse(&text) else {
        return;
    };
    let rendered = msg.render();
    let reparsed = match Message::parse(&rendered) {
        Ok(m) => m,
        Err(e) => panic!("render() output does not parse again: {e:?}\nrendered: {rendered:?}"),
    };
    assert_eq!(
        reparsed.render(),
        rendered,
        "render(parse(render(msg))) != render(msg)"
    );
    let _ = hl7v2::validate(&msg, &Default::default());
    let _ = msg.value("PID-3[2].1");
    let _ = msg.value("OBX[3]-5.1");
    let _ = batch::split_messages(&rendered);
});
