#![no_main]

use emr_core::scenario::load::parse_scenario;
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let source = String::from_utf8_lossy(data);
    let _ = parse_scenario(Path::new("fuzz.yaml"), &source, &Default::default());
});
