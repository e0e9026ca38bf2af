//! `{{var}}` templating on minijinja, with generated values (`uuid`, `now`, `fake.*`, `env.*`).
//!
//! Every generated value is remembered, so snapshots can put the generator's name back in place of
//! the random text (`[fake.family]`): a scenario can use fresh data each run and still compare
//! byte-for-byte with its golden file. Values read from `env` are remembered as secrets, so
//! reports and snapshots can redact them.

use std::collections::{BTreeSet, HashSet};
use std::fmt;
use std::sync::{Arc, Mutex};

use fake::faker::address::en::{CityName, StateAbbr, StreetName, ZipCode};
use fake::faker::internet::en::SafeEmail;
use fake::faker::name::en::{FirstName, LastName};
use fake::Fake as _;
use indexmap::IndexMap;
use minijinja::value::{Object, Value};
use minijinja::{Environment, UndefinedBehavior};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

/// Names a template may use without defining them.
pub const BUILTINS: &[&str] = &["uuid", "now", "fake", "env"];

/// Attributes of `fake`, checked before the run so a typo is a load error, not a failed step.
pub const FAKE_FIELDS: &[&str] = &[
    "name",
    "given",
    "family",
    "mrn",
    "ssn",
    "phone",
    "birthdate",
    "gender",
    "street",
    "city",
    "state",
    "zip",
    "email",
    "digits",
];

/// Attributes of `now`.
pub const NOW_FIELDS: &[&str] = &["iso", "date", "hl7", "epoch"];

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TemplateError(pub String);

/// Largest text one render may produce, and one value a filter may build. A request body that
/// large is already far past what any EMR endpoint accepts; past it a template is building text
/// for its own sake (a loop over a captured Bundle, a `replace` chain) and would otherwise grow
/// until the process is killed.
pub const MAX_RENDERED: usize = 32 << 20;

/// The statements a scenario template may use. Assignment (`set`, `with`, namespaces), macros and
/// includes are what let a template carry a value from one step of a loop to the next, so a
/// doubling can run 30 times on one instruction each (the fuzzer's `n.s = n.s ~ n.s`): fuel can't
/// see it, and no scenario needs them (hurl's templates have none of these either).
const STATEMENTS: &[&str] = &[
    "for", "endfor", "if", "elif", "else", "endif", "raw", "endraw",
];

/// Built-in filters and functions left out: each builds output far larger than its input from
/// one argument (`indent(10**9)`, `"%999999999s"|format`, `batch(10**9, fill)`), or, for
/// `debug`, prints the whole context, secrets included.
const REMOVED_FILTERS: &[&str] = &["indent", "format", "pprint", "batch", "slice"];
const REMOVED_GLOBALS: &[&str] = &["namespace", "debug"];

/// The engine: one per run, shared by every scenario.
pub struct Templates {
    env: Environment<'static>,
}

impl Default for Templates {
    fn default() -> Self {
        Templates::with_fuel(crate::limits::DEFAULT_TEMPLATE_FUEL)
    }
}

impl Templates {
    /// An engine whose every render may run at most `fuel` instructions: a template with nested
    /// loops over a long string otherwise renders forever (and grows its output without bound).
    pub fn with_fuel(fuel: u64) -> Self {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_fuel(Some(fuel));
        // `'{{ family | fhirpath }}'`: generated names such as O'Brien must not end a FHIRPath string.
        env.add_filter("fhirpath", |v: String| {
            v.replace('\\', "\\\\").replace('\'', "\\'")
        });
        // `{{ note | hl7 }}`: delimiters in a value become HL7 escape sequences.
        env.add_filter("hl7", |v: String| {
            crate::hl7::message::encode(&v, &crate::hl7::Delimiters::default())
        });
        for name in REMOVED_FILTERS {
            env.remove_filter(name);
        }
        for name in REMOVED_GLOBALS {
            env.remove_global(name);
        }
        env.add_filter("replace", capped_replace);
        env.add_filter("join", capped_join);
        // Without `indent=`: an indent of a billion spaces per nesting level is one argument away.
        env.add_filter("tojson", |v: Value| -> Result<String, minijinja::Error> {
            serde_json::to_string(&v).map_err(|e| {
                minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, e.to_string())
            })
        });
        Templates { env }
    }
    /// Renders `source`. Text without `{{` is returned as is, which keeps the load hot path cheap.
    pub fn render(&self, source: &str, ctx: &RenderContext) -> Result<String, TemplateError> {
        if !source.contains("{{") && !source.contains("{%") {
            return Ok(source.to_string());
        }
        check_statements(source)?;
        let tmpl = self
            .env
            .template_from_str(source)
            .map_err(|e| TemplateError(describe(&e)))?;
        let mut out = CappedText::default();
        match tmpl.render_captured_to(Value::from_object(ctx.clone()), &mut out) {
            Ok(_) => Ok(String::from_utf8_lossy(&out.text).into_owned()),
            Err(_) if out.overflowed => Err(TemplateError(too_large("the rendered text"))),
            Err(e) => Err(TemplateError(describe(&e))),
        }
    }

    /// The variables a template reads, as `name` or `name.attr` (checked before any request).
    pub fn referenced_variables(&self, source: &str) -> Result<HashSet<String>, TemplateError> {
        if !source.contains("{{") && !source.contains("{%") {
            return Ok(HashSet::new());
        }
        check_statements(source)?;
        let tmpl = self
            .env
            .template_from_str(source)
            .map_err(|e| TemplateError(describe(&e)))?;
        let mut names = tmpl.undeclared_variables(true);
        // The engine's own functions (`range`, `dict`, `namespace`) are not the scenario's.
        names.retain(|n| {
            let top = n.split('.').next().unwrap_or(n);
            !self.env.globals().any(|(g, _)| g == top)
        });
        Ok(names)
    }
}

fn too_large(what: &str) -> String {
    format!(
        "{what} would be larger than {} MB: a scenario template builds request text, not data",
        MAX_RENDERED >> 20
    )
}

/// Rejects, before anything runs, the statements outside [`STATEMENTS`] and the `*` operator
/// (`"x" * 10**9` is one instruction and a gigabyte).
fn check_statements(source: &str) -> Result<(), TemplateError> {
    let mut rest = source;
    while let Some(start) = rest.find('{') {
        let after = &rest[start + 1..];
        let (close, is_statement) = match after.as_bytes().first() {
            Some(b'{') => ("}}", false),
            Some(b'%') => ("%}", true),
            Some(b'#') => {
                rest = after.find("#}").map_or("", |end| &after[end + 2..]);
                continue;
            }
            _ => {
                rest = after;
                continue;
            }
        };
        let body = &after[1..];
        let end = tag_end(body, close).unwrap_or(body.len());
        let tag = &body[..end];
        rest = body.get(end + close.len()..).unwrap_or("");
        if is_statement {
            let keyword: String = tag
                .trim_start_matches(['-', '+', '~'])
                .trim_start()
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !STATEMENTS.contains(&keyword.as_str()) {
                return Err(TemplateError(format!(
                    "`{{% {keyword} %}}` is not available in scenario templates (allowed: {}); \
                     use `variables:` or a capture to name a value",
                    STATEMENTS.join(", ")
                )));
            }
            if keyword == "raw" {
                rest = rest.find("endraw").map_or("", |i| &rest[i..]);
                continue;
            }
        }
        if outside_strings(tag).contains('*') {
            return Err(TemplateError(
                "the `*` operator is not available in scenario templates (it repeats text \
                 without bound)"
                    .into(),
            ));
        }
    }
    Ok(())
}

/// Where `close` ends a tag, skipping string literals (`{{ "}}" }}`).
fn tag_end(body: &str, close: &str) -> Option<usize> {
    let bytes = body.as_bytes();
    let mut quote = None;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match quote {
            Some(_) if b == b'\\' => i += 1,
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None if b == b'"' || b == b'\'' => quote = Some(b),
            None if body[i..].starts_with(close) => return Some(i),
            None => {}
        }
        i += 1;
    }
    None
}

fn outside_strings(tag: &str) -> String {
    let mut out = String::with_capacity(tag.len());
    let mut quote = None;
    let mut escaped = false;
    for c in tag.chars() {
        match quote {
            Some(_) if escaped => escaped = false,
            Some(_) if c == '\\' => escaped = true,
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '"' || c == '\'' => quote = Some(c),
            None => out.push(c),
        }
    }
    out
}

/// Rendered text that stops growing at [`MAX_RENDERED`]: a loop printing a long capture
/// a hundred thousand times stays within fuel but not within memory.
#[derive(Default)]
struct CappedText {
    text: Vec<u8>,
    overflowed: bool,
}

impl std::io::Write for CappedText {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.text.len() + buf.len() > MAX_RENDERED {
            self.overflowed = true;
            return Err(std::io::Error::other("rendered text too large"));
        }
        self.text.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn value_too_large(what: &str) -> minijinja::Error {
    minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, too_large(what))
}

/// `replace` that refuses, before allocating, a result past [`MAX_RENDERED`]: a chain of
/// `replace("x", long)` multiplies the length at every link.
fn capped_replace(v: Value, from: String, to: String) -> Result<String, minijinja::Error> {
    let text = v.to_string();
    let matches = if from.is_empty() {
        text.chars().count() + 1
    } else {
        text.matches(from.as_str()).count()
    };
    let grows = matches.saturating_mul(to.len().saturating_sub(from.len()));
    if text.len().saturating_add(grows) > MAX_RENDERED {
        return Err(value_too_large("the result of `replace`"));
    }
    Ok(text.replace(from.as_str(), &to))
}

/// `join` that stops at [`MAX_RENDERED`]: a long separator between many items multiplies.
fn capped_join(v: Value, joiner: Option<String>) -> Result<String, minijinja::Error> {
    use std::fmt::Write as _;
    let sep = joiner.unwrap_or_default();
    let mut out = String::new();
    for (i, item) in v.try_iter()?.enumerate() {
        if i > 0 {
            out.push_str(&sep);
        }
        match item.as_str() {
            Some(s) => out.push_str(s),
            None => {
                let _ = write!(out, "{item}");
            }
        }
        if out.len() > MAX_RENDERED {
            return Err(value_too_large("the result of `join`"));
        }
    }
    Ok(out)
}

fn describe(e: &minijinja::Error) -> String {
    if e.kind() == minijinja::ErrorKind::OutOfFuel {
        return "the template ran out of fuel: it does more work than a scenario template needs \
                (nested loops?); --template-fuel raises the limit"
            .into();
    }
    match e.detail() {
        Some(detail) => format!("{} ({detail})", e.kind()),
        None => e.kind().to_string(),
    }
}

/// The values generated so far in one scenario run; `label` is how snapshots name them.
#[derive(Debug, Default)]
pub struct Generated {
    pub values: Vec<(String, String)>,
    pub secrets: BTreeSet<String>,
}

/// A seeded source of test data. One per scenario run, so `--seed` reproduces a run exactly.
#[derive(Debug)]
pub struct Generators {
    rng: Mutex<StdRng>,
    generated: Mutex<Generated>,
}

impl Generators {
    pub fn new(seed: u64) -> Self {
        Generators {
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
            generated: Mutex::new(Generated::default()),
        }
    }

    fn remember(&self, label: &str, value: &str) {
        if let Ok(mut g) = self.generated.lock() {
            g.values.push((label.to_string(), value.to_string()));
        }
    }

    fn remember_secret(&self, value: &str) {
        crate::secret::register(value);
        if let Ok(mut g) = self.generated.lock() {
            g.secrets.insert(value.to_string());
        }
    }

    /// Snapshot of everything generated and every secret read so far.
    /// True when a value read from the environment (a secret) was rendered so far.
    pub fn has_secrets(&self) -> bool {
        self.generated
            .lock()
            .map(|g| !g.secrets.is_empty())
            .unwrap_or(true)
    }

    pub fn generated(&self) -> (Vec<(String, String)>, BTreeSet<String>) {
        match self.generated.lock() {
            Ok(g) => (g.values.clone(), g.secrets.clone()),
            Err(_) => (Vec::new(), BTreeSet::new()),
        }
    }

    fn with_rng<T>(&self, f: impl FnOnce(&mut StdRng) -> T) -> T {
        // A poisoned lock only means another thread panicked mid-draw; the RNG state is still usable.
        let mut guard = match self.rng.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(&mut guard)
    }

    pub fn uuid(&self) -> String {
        let bytes: [u8; 16] = self.with_rng(|r| r.random());
        let id = uuid::Builder::from_random_bytes(bytes)
            .into_uuid()
            .to_string();
        self.remember("uuid", &id);
        id
    }

    pub fn fake_field(&self, field: &str) -> Option<String> {
        let value = self.with_rng(|rng| -> Option<String> {
            Some(match field {
                "given" => FirstName().fake_with_rng(rng),
                "family" => LastName().fake_with_rng(rng),
                "name" => {
                    let given: String = FirstName().fake_with_rng(rng);
                    let family: String = LastName().fake_with_rng(rng);
                    format!("{given} {family}")
                }
                "mrn" => format!("MRN{:08}", rng.random_range(0..100_000_000u32)),
                // The 9xx area number is never issued, so a generated SSN can't be a real person's.
                "ssn" => format!(
                    "9{:02}-{:02}-{:04}",
                    rng.random_range(0..100u32),
                    rng.random_range(1..100u32),
                    rng.random_range(1..10_000u32)
                ),
                // 555-01xx numbers are reserved for fiction.
                "phone" => format!(
                    "({:03}) 555-01{:02}",
                    rng.random_range(200..1000u32),
                    rng.random_range(0..100u32)
                ),
                "birthdate" => {
                    let y = rng.random_range(1930..2020u32);
                    let m = rng.random_range(1..13u32);
                    let d = rng.random_range(1..29u32);
                    format!("{y:04}-{m:02}-{d:02}")
                }
                "gender" => {
                    ["male", "female", "other", "unknown"][rng.random_range(0..4usize)].to_string()
                }
                "street" => {
                    let n = rng.random_range(1..9999u32);
                    let street: String = StreetName().fake_with_rng(rng);
                    format!("{n} {street}")
                }
                "city" => CityName().fake_with_rng(rng),
                "state" => StateAbbr().fake_with_rng(rng),
                "zip" => ZipCode().fake_with_rng(rng),
                "email" => SafeEmail().fake_with_rng(rng),
                "digits" => format!("{:08}", rng.random_range(0..100_000_000u32)),
                _ => return None,
            })
        })?;
        self.remember(&format!("fake.{field}"), &value);
        Some(value)
    }
}

/// What a template sees: the scenario's variables, then the generators.
#[derive(Debug, Clone)]
pub struct RenderContext {
    pub vars: Arc<IndexMap<String, String>>,
    pub generators: Arc<Generators>,
}

impl Object for RenderContext {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let key = key.as_str()?;
        if let Some(v) = self.vars.get(key) {
            return Some(Value::from(v.clone()));
        }
        match key {
            "uuid" => Some(Value::from(self.generators.uuid())),
            "now" => Some(Value::from_object(Now(chrono::Utc::now()))),
            "fake" => Some(Value::from_object(FakeData(self.generators.clone()))),
            "env" => Some(Value::from_object(EnvVars(self.generators.clone()))),
            _ => None,
        }
    }
}

#[derive(Debug)]
struct Now(chrono::DateTime<chrono::Utc>);

impl Object for Now {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let t = self.0;
        Some(Value::from(match key.as_str()? {
            "iso" => t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "date" => t.format("%Y-%m-%d").to_string(),
            "hl7" => t.format("%Y%m%d%H%M%S").to_string(),
            "epoch" => t.timestamp().to_string(),
            _ => return None,
        }))
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
    }
}

#[derive(Debug)]
struct FakeData(Arc<Generators>);

impl Object for FakeData {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        self.0.fake_field(key.as_str()?).map(Value::from)
    }
}

#[derive(Debug)]
struct EnvVars(Arc<Generators>);

impl Object for EnvVars {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let value = std::env::var(key.as_str()?).ok()?;
        self.0.remember_secret(&value);
        Some(Value::from(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(seed: u64) -> RenderContext {
        let mut vars = IndexMap::new();
        vars.insert("mrn".to_string(), "MRN1".to_string());
        RenderContext {
            vars: Arc::new(vars),
            generators: Arc::new(Generators::new(seed)),
        }
    }

    #[test]
    fn renders_vars_and_generators() {
        let t = Templates::default();
        let c = ctx(7);
        let out = t
            .render("{{ mrn }}/{{ fake.family }}/{{ now.date }}", &c)
            .unwrap();
        let parts: Vec<&str> = out.split('/').collect();
        assert_eq!(parts[0], "MRN1");
        assert!(!parts[1].is_empty());
        assert_eq!(parts[2].len(), 10);
        let (generated, _) = c.generators.generated();
        assert_eq!(generated[0].0, "fake.family");
        assert_eq!(generated[0].1, parts[1]);
    }

    #[test]
    fn same_seed_same_data_and_each_uuid_is_fresh() {
        let t = Templates::default();
        let a = t.render("{{ uuid }} {{ uuid }}", &ctx(1)).unwrap();
        let b = t.render("{{ uuid }} {{ uuid }}", &ctx(1)).unwrap();
        assert_eq!(a, b);
        let (x, y) = a.split_once(' ').unwrap();
        assert_ne!(x, y);
    }

    #[test]
    fn escaping_filters() {
        let t = Templates::default();
        let mut vars = IndexMap::new();
        vars.insert("n".to_string(), "D'Amore|R&D".to_string());
        let c = RenderContext {
            vars: Arc::new(vars),
            generators: Arc::new(Generators::new(1)),
        };
        assert_eq!(
            t.render("'{{ n | fhirpath }}'", &c).unwrap(),
            "'D\\'Amore|R&D'"
        );
        assert_eq!(
            t.render("{{ n | hl7 }}", &c).unwrap(),
            "D'Amore\\F\\R\\T\\D"
        );
        assert_eq!(
            t.render("{{ n | urlencode }}", &c).unwrap(),
            "D%27Amore%7CR%26D"
        );
    }

    #[test]
    fn endless_templates_run_out_of_fuel() {
        let t = Templates::with_fuel(10_000);
        let err = t
            .render(
                "{% for a in range(100000) %}{% for b in range(100000) %}x{% endfor %}{% endfor %}",
                &ctx(1),
            )
            .unwrap_err();
        assert!(err.0.contains("--template-fuel"), "{}", err.0);
    }

    fn with_long() -> RenderContext {
        let mut vars = IndexMap::new();
        vars.insert("long".to_string(), "x".repeat(1000));
        vars.insert("items".to_string(), "abc".to_string());
        RenderContext {
            vars: Arc::new(vars),
            generators: Arc::new(Generators::new(1)),
        }
    }

    /// The inputs in `fuzz/regressions/` that exhausted memory: each ends in an error now.
    #[test]
    fn fuzz_regressions_end_in_errors_not_aborts() {
        let t = Templates::with_fuel(50_000);
        let c = with_long();
        let doubling =
            "{%set n=namespace(s=long)%}{%for i in range(30)%}{%set n.s=n.s~n.s%}{%endfor%}";
        let err = t.render(doubling, &c).unwrap_err();
        assert!(err.0.contains("`{% set %}` is not available"), "{}", err.0);
        assert!(t.referenced_variables(doubling).is_err());

        let chain = r#"{{long|replace("x",long)|replace("x",long)|replace("x",long)}}"#;
        let err = t.render(chain, &c).unwrap_err();
        assert!(err.0.contains("larger than 32 MB"), "{}", err.0);

        let err = t.render(r#"{{ "x" * 1000000000 }}"#, &c).unwrap_err();
        assert!(err.0.contains("`*` operator"), "{}", err.0);
        let err = t.render("{{ long | indent(1000000000) }}", &c).unwrap_err();
        assert!(err.0.contains("indent"), "{}", err.0);
        let err = t.render("{{ debug() }}", &c).unwrap_err();
        assert!(
            err.0.contains("undefined") || err.0.contains("unknown"),
            "{}",
            err.0
        );
    }

    #[test]
    fn output_stops_at_the_cap() {
        let t = Templates::with_fuel(10_000_000);
        let mut vars = IndexMap::new();
        vars.insert("mb".to_string(), "x".repeat(1 << 20));
        let c = RenderContext {
            vars: Arc::new(vars),
            generators: Arc::new(Generators::new(1)),
        };
        let err = t
            .render("{% for i in range(100) %}{{ mb }}{% endfor %}", &c)
            .unwrap_err();
        assert!(err.0.contains("rendered text would be larger"), "{}", err.0);
        let ok = t
            .render("{% for i in range(3) %}{{ mb }}{% endfor %}", &c)
            .unwrap();
        assert_eq!(ok.len(), 3 << 20);
    }

    #[test]
    fn the_allowed_subset_still_works() {
        let t = Templates::default();
        let c = with_long();
        let out = t
            .render(
                r#"{% for c in items %}{% if not loop.first %},{% endif %}{{ c|upper }}{% endfor %} {{ ["a","b"]|join("-") }} {{ "a*b" }} {{ 6 // 2 }} {{ {"k": 1}|tojson }} {% raw %}{% set x %}{% endraw %}{# {% set %} #}"#,
                &c,
            )
            .unwrap();
        assert_eq!(out, r#"A,B,C a-b a*b 3 {"k":1} {% set x %}"#);
        assert_eq!(
            t.render(r#"{{ "ab"|replace("b", "c") }}"#, &c).unwrap(),
            "ac"
        );
    }

    #[test]
    fn undefined_variable_is_an_error() {
        let t = Templates::default();
        let err = t.render("{{ nope }}", &ctx(1)).unwrap_err();
        assert!(err.0.contains("undefined"), "{}", err.0);
    }

    #[test]
    fn referenced_variables_include_attributes() {
        let t = Templates::default();
        let vars = t.referenced_variables("{{ a }} {{ fake.mrn }}").unwrap();
        assert!(vars.contains("a"));
        assert!(vars.contains("fake.mrn"));
    }
}
