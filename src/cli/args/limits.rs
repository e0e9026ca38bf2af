//! Flags for the bounds every input is held to (see `emr_core::limits` for the defaults and
//! why each was chosen), shared by `run`, `lint`, `load` and `certify`.

use clap::Args;
use emr_core::limits::{self, parse_size, Limits};

#[derive(Args, Clone)]
#[command(next_help_heading = "Limits")]
pub(crate) struct LimitArgs {
    /// Largest response body read, counted after decompression (e.g. 64MB, 512KB).
    #[arg(long, value_name = "SIZE", default_value = "64MB", value_parser = parse_size)]
    pub max_body_size: usize,
    /// Most segments an HL7 v2 message (sent, or an ACK received) may have.
    #[arg(long, value_name = "N", default_value_t = limits::DEFAULT_MAX_SEGMENTS)]
    pub max_segments: usize,
    /// Largest scenario or profile file read.
    #[arg(long, value_name = "SIZE", default_value = "4MB", value_parser = parse_size)]
    pub max_scenario_size: usize,
    /// Largest file a step reads (`body_file`, `hl7.file`).
    #[arg(long, value_name = "SIZE", default_value = "64MB", value_parser = parse_size)]
    pub max_file_size: usize,
    /// Deepest nesting of YAML flow collections and FHIRPath expressions.
    #[arg(long, value_name = "N", default_value_t = limits::DEFAULT_MAX_DEPTH,
          value_parser = parse_depth)]
    pub max_depth: usize,
    /// Instructions one template render may run.
    #[arg(long, value_name = "N", default_value_t = limits::DEFAULT_TEMPLATE_FUEL)]
    pub template_fuel: u64,
    /// Let `body_file` and `hl7.file` read files outside the scenario's folder.
    #[arg(long)]
    pub allow_outside_files: bool,
}

/// JSON nesting stops at 128 in serde_json, so a deeper setting would promise what it cannot do.
fn parse_depth(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if (4..=128).contains(&n) => Ok(n),
        _ => Err(format!("`{s}` is not a depth from 4 to 128")),
    }
}

impl Default for LimitArgs {
    fn default() -> Self {
        let l = Limits::default();
        LimitArgs {
            max_body_size: l.max_body,
            max_segments: l.max_segments,
            max_scenario_size: l.max_scenario_size,
            max_file_size: l.max_file_size,
            max_depth: l.max_depth,
            template_fuel: l.template_fuel,
            allow_outside_files: false,
        }
    }
}

impl LimitArgs {
    pub(crate) fn limits(&self) -> Limits {
        Limits {
            max_body: self.max_body_size,
            max_segments: self.max_segments,
            max_scenario_size: self.max_scenario_size,
            max_file_size: self.max_file_size,
            max_depth: self.max_depth,
            template_fuel: self.template_fuel,
        }
    }

    /// Scenario loading options with these limits.
    pub(crate) fn load_options(
        &self,
        var_overrides: indexmap::IndexMap<String, String>,
    ) -> emr_core::scenario::LoadOptions {
        emr_core::scenario::LoadOptions {
            var_overrides,
            limits: self.limits(),
            allow_outside_files: self.allow_outside_files,
        }
    }
}
