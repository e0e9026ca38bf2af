#![no_main]

//! The template engine on arbitrary templates: every render ends (fuel) within 32 MB of output,
//! and nothing panics.

use std::sync::Arc;

use emr_core::scenario::template::{Generators, RenderContext, Templates};
use indexmap::IndexMap;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let source = String::from_utf8_lossy(data);
    let templates = Templates::with_fuel(50_000);
    let mut vars = IndexMap::new();
    vars.insert("mrn".to_string(), "MRN0001".to_string());
    vars.insert("long".to_string(), "x".repeat(1000));
    let ctx = RenderContext {
        vars: Arc::new(vars),
        generators: Arc::new(Generators::new(7)),
    };
    let _ = templates.referenced_variables(&source);
    let _ = templates.render(&source, &ctx);
});
