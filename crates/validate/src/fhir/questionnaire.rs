//! A QuestionnaireResponse against its Questionnaire (questionnaireresponse.html, and the rules
//! the reference validator and the .NET validator's QuestionnaireResponse suite check): every item
//! names a `linkId` of the Questionnaire at the same level, answers have the item's type and
//! respect its options, value set, limits (min/max value, length, decimal places, regex, mime
//! type, size, units, referenced types) and counts; required items are answered; groups and
//! display items carry no answers; `questionnaire-constraint` rules are evaluated.

use std::collections::HashMap;

use emr_core::fhirpath::FhirPath;
use emr_core::outcome::Severity;
use serde_json::{Map, Value};

use super::primitive;
use super::terminology::{self, Expansion};
use super::walk::{Frame, Seg, Walker};

const EXT: &str = "http://hl7.org/fhir/StructureDefinition/";

fn ext<'v>(item: &'v Value, url: &str) -> Option<&'v Value> {
    item.get("extension")?
        .as_array()?
        .iter()
        .find(|e| e.get("url").and_then(Value::as_str) == Some(url))
}

fn exts<'v>(item: &'v Value, url: &'v str) -> impl Iterator<Item = &'v Value> + 'v {
    item.get("extension")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(move |e| e.get("url").and_then(Value::as_str) == Some(url))
}

/// The `value[x]` of an extension (or of an answer): its type suffix and value.
fn value_x(v: &Value) -> Option<(&str, &Value)> {
    v.as_object()?
        .iter()
        .find(|(k, _)| k.starts_with("value") && k.len() > 5)
        .map(|(k, v)| (&k[5..], v))
}

/// The answer types each item type takes (R4 item-type codes).
fn answer_types(item_type: &str) -> &'static [&'static str] {
    match item_type {
        "boolean" => &["Boolean"],
        "decimal" => &["Decimal"],
        "integer" => &["Integer"],
        "date" => &["Date"],
        "dateTime" => &["DateTime", "Date"],
        "time" => &["Time"],
        "string" | "text" => &["String"],
        "url" => &["Uri"],
        "choice" => &["Coding"],
        "open-choice" => &["Coding", "String"],
        "attachment" => &["Attachment"],
        "reference" => &["Reference"],
        "quantity" => &["Quantity"],
        _ => &[],
    }
}

fn type_name(suffix: &str) -> String {
    match suffix {
        "Uri" => "uri".into(),
        s if matches!(s, "Coding" | "Attachment" | "Reference" | "Quantity") => s.into(),
        s => {
            let mut c = s.chars();
            c.next()
                .map(|f| f.to_ascii_lowercase().to_string() + c.as_str())
                .unwrap_or_default()
        }
    }
}

/// Finds the Questionnaire a response names: a contained one, one loaded as a definition, or
/// one given in the options.
fn questionnaire<'a>(w: &Walker<'a>, qr: &'a Value, canonical: &str) -> Option<&'a Value> {
    let url = canonical.split('|').next().unwrap_or(canonical);
    if let Some(local) = url.strip_prefix('#') {
        return qr
            .get("contained")?
            .as_array()?
            .iter()
            .find(|c| c.get("id").and_then(Value::as_str) == Some(local));
    }
    if let Some(q) = w.defs.questionnaires.get(url) {
        return Some(q);
    }
    w.opts
        .questionnaires
        .iter()
        .find(|q| q.get("url").and_then(Value::as_str) == Some(url))
}

pub(crate) fn check_response<'a>(w: &mut Walker<'a>, qr: &'a Value, frame: Frame<'a>) {
    if qr.get("resourceType").and_then(Value::as_str) != Some("QuestionnaireResponse") {
        return;
    }
    let Some(canonical) = qr.get("questionnaire").and_then(Value::as_str) else {
        return;
    };
    let Some(q) = questionnaire(w, qr, canonical) else {
        w.report(
            &frame,
            Severity::Error,
            "not-found",
            format!("The questionnaire '{canonical}' could not be resolved, so no validation can be performed against the base questionnaire"),
            Some("questionnaire-unresolved"),
        );
        return;
    };
    period(w, q, qr, frame);
    let completed = matches!(
        qr.get("status").and_then(Value::as_str),
        Some("completed" | "amended")
    );
    let q_items = items(q);
    let qr_items = items(qr);
    let mut v = Items {
        w,
        frame,
        completed,
    };
    v.level(q_items, qr_items, "item");
}

fn items(v: &Value) -> &[Value] {
    v.get("item")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// A Questionnaire in effect at the response's `authored` time.
fn period<'a>(w: &mut Walker<'a>, q: &Value, qr: &'a Value, frame: Frame<'a>) {
    let (Some(authored), Some(p)) = (
        qr.get("authored").and_then(Value::as_str),
        q.get("effectivePeriod"),
    ) else {
        return;
    };
    let day = &authored[..authored.len().min(10)];
    w.path.push(Seg::Key("authored"));
    if let Some(start) = p.get("start").and_then(Value::as_str) {
        if day < &start[..start.len().min(day.len())] {
            w.report(&frame, Severity::Warning, "business-rule", format!("The authored date '{day}' is before the start of the permitted period defined in the Questionnaire ('{start}')"), None);
        }
    }
    if let Some(end) = p.get("end").and_then(Value::as_str) {
        if day > end {
            w.report(&frame, Severity::Warning, "business-rule", format!("The authored date '{day}' is after the end of the permitted period defined in the Questionnaire ('{end}')"), None);
        }
    }
    w.path.pop();
}

struct Items<'w, 'a> {
    w: &'w mut Walker<'a>,
    frame: Frame<'a>,
    completed: bool,
}

impl<'a> Items<'_, 'a> {
    fn error(&mut self, code: &'static str, msg: String) {
        self.w.report(
            &self.frame,
            Severity::Error,
            code,
            msg,
            Some("questionnaire"),
        );
    }

    /// Counts (required, repeats, min/max occurs) are errors in a finished response and
    /// warnings in one still in progress, where answers may yet come or go.
    fn count_rule(&mut self, code: &'static str, msg: String) {
        let sev = if self.completed {
            Severity::Error
        } else {
            Severity::Warning
        };
        self.w
            .report(&self.frame, sev, code, msg, Some("questionnaire-count"));
    }

    fn warn(&mut self, code: &'static str, msg: String) {
        self.w.report(
            &self.frame,
            Severity::Warning,
            code,
            msg,
            Some("questionnaire"),
        );
    }

    /// The response items `qr_items` (found under `key`, `item` or `answer[i].item`) against the
    /// Questionnaire items of the same level.
    fn level(&mut self, q_items: &'a [Value], qr_items: &'a [Value], key: &'a str) {
        let by_link: HashMap<&str, &'a Value> = q_items
            .iter()
            .filter_map(|q| Some((q.get("linkId")?.as_str()?, q)))
            .collect();
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (i, r) in qr_items.iter().enumerate() {
            self.w.path.push(Seg::Key(key));
            self.w.path.push(Seg::Index(i));
            let link = r.get("linkId").and_then(Value::as_str).unwrap_or_default();
            match by_link.get(link) {
                None => {
                    self.error(
                        "not-found",
                        format!("LinkId '{link}' not found in questionnaire"),
                    );
                }
                Some(q) => {
                    let n = seen.entry(link).or_default();
                    *n += 1;
                    let repeats = q.get("repeats").and_then(Value::as_bool).unwrap_or(false);
                    if *n == 2 && !repeats {
                        self.count_rule(
                            "structure",
                            "Only one response answer item with this linkId allowed".into(),
                        );
                    }
                    self.item(q, r);
                }
            }
            self.w.path.pop();
            self.w.path.pop();
        }
        for q in q_items {
            let link = q.get("linkId").and_then(Value::as_str).unwrap_or_default();
            let required = q.get("required").and_then(Value::as_bool).unwrap_or(false);
            // An item shown only under a condition is required only when shown; without
            // evaluating `enableWhen` we cannot know, so it is not held to `required`.
            let conditional = q.get("enableWhen").is_some();
            if required && !conditional && !seen.contains_key(link) {
                let ty = q.get("type").and_then(Value::as_str).unwrap_or_default();
                let msg = if ty == "group" {
                    format!("No sub-items found for required group '{link}'")
                } else {
                    format!("No response answer found for required item '{link}'")
                };
                self.count_rule("required", msg);
            }
        }
    }

    fn item(&mut self, q: &'a Value, r: &'a Value) {
        let ty = q.get("type").and_then(Value::as_str).unwrap_or_default();
        let answers: &'a [Value] = r
            .get("answer")
            .and_then(Value::as_array)
            .map_or(&[], Vec::as_slice);
        let link = q.get("linkId").and_then(Value::as_str).unwrap_or_default();
        match ty {
            "display" if !answers.is_empty() => {
                self.error(
                    "structure",
                    "Items of type 'display' cannot have answers".into(),
                );
            }
            "group" | "question" if !answers.is_empty() => {
                self.error(
                    "structure",
                    format!("Items of type {ty} should not have answers"),
                );
            }
            _ => {}
        }
        let required = q.get("required").and_then(Value::as_bool).unwrap_or(false);
        if ty == "group" {
            if required && items(r).is_empty() {
                self.count_rule("required", "No sub-items found for required group".into());
            }
            self.level(items(q), items(r), "item");
        } else if !items(r).is_empty() {
            if answers.is_empty() {
                self.error(
                    "structure",
                    format!("Items nested under the question '{link}' go inside its answers"),
                );
            }
            self.level(items(q), items(r), "item");
        }
        if !matches!(ty, "group" | "display" | "question") {
            if required && answers.is_empty() {
                self.count_rule(
                    "required",
                    format!("No response answer found for required item '{link}'"),
                );
            }
            self.counts(q, answers);
            let exclusive = self.exclusive_options(q);
            for (i, a) in answers.iter().enumerate() {
                self.w.path.push(Seg::Key("answer"));
                self.w.path.push(Seg::Index(i));
                self.answer(q, ty, a);
                if answers.len() > 1 {
                    if let Some((_, v)) = value_x(a) {
                        if exclusive.contains(&v) {
                            self.error("structure", format!("Selected answer {} is an exclusive option - can't select anything else at the same time", show(v)));
                        }
                    }
                }
                self.level(items(q), items(a), "item");
                self.w.path.pop();
                self.w.path.pop();
            }
        }
        self.constraints(q, r);
    }

    fn counts(&mut self, q: &Value, answers: &[Value]) {
        let n = answers.len();
        let repeats = q.get("repeats").and_then(Value::as_bool).unwrap_or(false);
        if !repeats && n > 1 {
            self.count_rule(
                "structure",
                format!(
                    "Only one answer is allowed for this item (it does not repeat), but it has {n}"
                ),
            );
        }
        if let Some(min) = ext(q, &format!("{EXT}questionnaire-minOccurs"))
            .and_then(|e| e.get("valueInteger"))
            .and_then(Value::as_u64)
        {
            if (n as u64) < min {
                self.count_rule(
                    "structure",
                    format!("The minimum number of answers is {min} but this has {n} answers"),
                );
            }
        }
        if let Some(max) = ext(q, &format!("{EXT}questionnaire-maxOccurs"))
            .and_then(|e| e.get("valueInteger"))
            .and_then(Value::as_u64)
        {
            if n as u64 > max {
                self.count_rule(
                    "structure",
                    format!("The maximum number of answers is {max} but this has {n} answers"),
                );
            }
        }
    }

    fn exclusive_options(&self, q: &'a Value) -> Vec<&'a Value> {
        q.get("answerOption")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|o| {
                ext(o, &format!("{EXT}questionnaire-optionExclusive"))
                    .and_then(|e| e.get("valueBoolean"))
                    .and_then(Value::as_bool)
                    == Some(true)
            })
            .filter_map(|o| value_x(o).map(|(_, v)| v))
            .collect()
    }

    fn answer(&mut self, q: &'a Value, ty: &str, a: &'a Value) {
        let Some((suffix, v)) = value_x(a) else {
            return;
        };
        let allowed = answer_types(ty);
        let key = a
            .as_object()
            .and_then(|o| o.keys().find(|k| k.starts_with("value")))
            .map(String::as_str)
            .unwrap_or("value");
        self.w.path.push(Seg::Key(key));
        if !allowed.is_empty() && !allowed.contains(&suffix) {
            self.error(
                "structure",
                format!(
                    "Answer value must be of the type {} not {}",
                    type_name(allowed[0]),
                    type_name(suffix)
                ),
            );
            self.w.path.pop();
            return;
        }
        self.options(q, ty, suffix, v);
        self.limits(q, suffix, v);
        match suffix {
            "String" => self.string(q, ty, v),
            "Uri" => self.uri(v),
            "Attachment" => self.attachment(q, v),
            "Quantity" => self.quantity(q, v),
            "Reference" => self.reference(q, v),
            _ => {}
        }
        self.w.path.pop();
    }

    /// answerOption and answerValueSet.
    fn options(&mut self, q: &'a Value, ty: &str, suffix: &str, v: &Value) {
        if let Some(opts) = q.get("answerOption").and_then(Value::as_array) {
            let open_string = ty == "open-choice" && suffix == "String";
            let hit = opts.iter().any(|o| match value_x(o) {
                Some((s, ov)) if s == suffix => {
                    if suffix == "Coding" {
                        ov.get("system") == v.get("system") && ov.get("code") == v.get("code")
                    } else {
                        ov == v
                    }
                }
                _ => false,
            });
            if !hit && !open_string {
                let what = match suffix {
                    "Coding" => format!(
                        "The code {}::{}",
                        v.get("system").and_then(Value::as_str).unwrap_or_default(),
                        v.get("code").and_then(Value::as_str).unwrap_or_default()
                    ),
                    s => format!("The {} {}", type_name(s), show(v)),
                };
                self.error(
                    "structure",
                    format!("{what} is not in the set of permitted values"),
                );
            }
        }
        if let Some(vs) = q.get("answerValueSet").and_then(Value::as_str) {
            if suffix != "Coding" && !(suffix == "String" && ty != "open-choice") {
                return;
            }
            let exp = match vs.strip_prefix('#') {
                Some(_) => None,
                None => Some(terminology::expand(self.w.defs, vs)),
            };
            match exp.as_deref() {
                Some(Expansion::NotEnumerable(why))
                    if why.contains("not available offline")
                        && !self
                            .w
                            .defs
                            .value_sets
                            .contains_key(vs.split('|').next().unwrap_or(vs)) =>
                {
                    self.error("not-found", format!("ValueSet '{vs}' not found"));
                }
                Some(Expansion::Codes { .. }) => {
                    let e = exp.as_deref();
                    let (system, code) = match suffix {
                        "Coding" => (
                            v.get("system").and_then(Value::as_str),
                            v.get("code").and_then(Value::as_str).unwrap_or_default(),
                        ),
                        _ => (None, v.as_str().unwrap_or_default()),
                    };
                    if e.and_then(|e| e.contains(system, code)) == Some(false) {
                        self.error("code-invalid", format!("The code '{code}' in the system '{}' is not in the options value set ({vs}) specified by the questionnaire", system.unwrap_or_default()));
                    }
                }
                _ => {}
            }
        }
    }

    /// minValue/maxValue, maxDecimalPlaces, maxLength/minLength, regex.
    fn limits(&mut self, q: &Value, suffix: &str, v: &Value) {
        let cmp = |a: &Value, b: &Value| -> Option<std::cmp::Ordering> {
            match (a, b) {
                (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
                (Value::String(x), Value::String(y)) => {
                    // Dates of different precision compare on their common prefix.
                    let n = x.len().min(y.len());
                    match x[..n].cmp(&y[..n]) {
                        std::cmp::Ordering::Equal if x.len() > y.len() => {
                            Some(std::cmp::Ordering::Equal)
                        }
                        o => Some(o),
                    }
                }
                _ => None,
            }
        };
        if let Some((_, min)) = ext(q, &format!("{EXT}minValue")).and_then(value_x) {
            if cmp(v, min) == Some(std::cmp::Ordering::Less) {
                self.error(
                    "structure",
                    format!(
                        "The value {} is less than the allowed minimum of {}",
                        show(v),
                        show(min)
                    ),
                );
            }
        }
        if let Some((_, max)) = ext(q, &format!("{EXT}maxValue")).and_then(value_x) {
            if cmp(v, max) == Some(std::cmp::Ordering::Greater) {
                self.error(
                    "structure",
                    format!(
                        "The value {} is greater than the allowed maximum of {}",
                        show(v),
                        show(max)
                    ),
                );
            }
        }
        if suffix == "Decimal" {
            if let Some(places) = ext(q, &format!("{EXT}maxDecimalPlaces"))
                .and_then(|e| e.get("valueInteger"))
                .and_then(Value::as_u64)
            {
                let text = v.to_string();
                let decimals = text.split_once('.').map_or(0, |(_, f)| {
                    f.trim_end_matches(|c: char| !c.is_ascii_digit()).len()
                });
                if decimals as u64 > places {
                    self.error(
                        "structure",
                        format!("The value {text} has too many decimal places (limit = {places})"),
                    );
                }
            }
        }
        if let Some(s) = v.as_str().filter(|_| suffix == "String") {
            let len = s.chars().count() as u64;
            if let Some(min) = ext(q, &format!("{EXT}minLength"))
                .and_then(|e| e.get("valueInteger"))
                .and_then(Value::as_u64)
            {
                if len < min {
                    self.error(
                        "structure",
                        format!(
                            "The answer '{s}' is shorter then the required minimum length of {min}"
                        ),
                    );
                }
            }
            if let Some(max) = q.get("maxLength").and_then(Value::as_u64) {
                if len > max {
                    self.error(
                        "structure",
                        format!(
                            "The answer '{s}' is longer then the allowed maximum length of {max}"
                        ),
                    );
                }
            }
            if let Some(rx) = ext(q, &format!("{EXT}regex"))
                .and_then(|e| e.get("valueString"))
                .and_then(Value::as_str)
            {
                // A Questionnaire is input too: a regex that is too large to compile is reported.
                match regex::RegexBuilder::new(rx).size_limit(1 << 20).build() {
                    Ok(re) if !re.is_match(s) => {
                        let hint = ext(q, &format!("{EXT}entryFormat"))
                            .and_then(|e| e.get("valueString"))
                            .and_then(Value::as_str)
                            .unwrap_or(rx);
                        self.error("structure", format!("The answer '{s}' does not conform to the expected format '{hint}' (regex '{rx}')"));
                    }
                    Ok(_) => {}
                    Err(e) => self.warn(
                        "processing",
                        format!("The item's regex '{rx}' cannot be used: {e}"),
                    ),
                }
            }
        }
    }

    fn string(&mut self, _q: &Value, ty: &str, v: &Value) {
        if ty == "string" && v.as_str().is_some_and(|s| s.contains(['\n', '\r'])) {
            self.error("structure", "The answer should not contain new line characters: a multi-line answer needs an item of type text".into());
        }
    }

    fn uri(&mut self, v: &Value) {
        let Some(s) = v.as_str() else { return };
        if let Some(rest) = s.strip_prefix("urn:uuid:") {
            if primitive::check("uuid", &Value::String(format!("urn:uuid:{rest}"))).is_some() {
                self.error(
                    "value",
                    format!("UUIDs must be valid and lowercase ({rest})"),
                );
            }
        } else if s.contains('\\') || s.contains(' ') {
            self.error(
                "value",
                format!("The URI '{s}' is not valid (no backslashes or spaces in a URI)"),
            );
        }
    }

    fn attachment(&mut self, q: &Value, v: &Value) {
        let types: Vec<&str> = exts(q, "http://hl7.org/fhir/StructureDefinition/mimeType")
            .filter_map(|e| e.get("valueCode").and_then(Value::as_str))
            .collect();
        if let Some(ct) = v.get("contentType").and_then(Value::as_str) {
            if !types.is_empty() && !types.contains(&ct) {
                self.error(
                    "required",
                    format!(
                        "The mime type {ct} is not valid for this answer (allowed = {})",
                        types.join(", ")
                    ),
                );
            }
        }
        if let Some(max) = ext(q, &format!("{EXT}maxSize"))
            .and_then(|e| e.get("valueDecimal"))
            .and_then(Value::as_f64)
        {
            let size = v
                .get("data")
                .and_then(Value::as_str)
                .and_then(primitive::decode_base64)
                .map(|d| d.len() as f64)
                .or_else(|| v.get("size").and_then(Value::as_f64));
            if let Some(size) = size.filter(|s| *s > max) {
                self.error(
                    "required",
                    format!("The attachment is too large (allowed = {max}, found = {size})"),
                );
            }
        }
    }

    fn quantity(&mut self, q: &Value, v: &Value) {
        let unit = (
            v.get("system").and_then(Value::as_str),
            v.get("code").and_then(Value::as_str),
        );
        let options: Vec<&Value> = exts(
            q,
            "http://hl7.org/fhir/StructureDefinition/questionnaire-unitOption",
        )
        .filter_map(|e| e.get("valueCoding"))
        .collect();
        if !options.is_empty()
            && !options.iter().any(|o| {
                o.get("system").and_then(Value::as_str) == unit.0
                    && o.get("code").and_then(Value::as_str) == unit.1
            })
        {
            self.error(
                "structure",
                format!("The value {} has a unit that is not valid", show(v)),
            );
        }
        if let Some(vs) = ext(q, &format!("{EXT}questionnaire-unitValueSet"))
            .and_then(|e| e.get("valueCanonical"))
            .and_then(Value::as_str)
        {
            let exp = terminology::expand(self.w.defs, vs);
            let inside = unit.1.and_then(|c| exp.contains(unit.0, c));
            if inside != Some(true) && !matches!(&*exp, Expansion::NotEnumerable(_))
                || unit.1.is_none()
            {
                self.error(
                    "code-invalid",
                    format!(
                        "The value {} has a unit that is not in the unit value set '{vs}'",
                        show(v)
                    ),
                );
            }
        }
        for (which, url) in [
            (
                "minimum",
                "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-minQuantity",
            ),
            (
                "maximum",
                "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-maxQuantity",
            ),
        ] {
            let Some(limit) = ext(q, url).and_then(|e| e.get("valueQuantity")) else {
                continue;
            };
            let lim_unit = (
                limit.get("system").and_then(Value::as_str),
                limit.get("code").and_then(Value::as_str),
            );
            let text = |x: &Value| {
                x.get("unit")
                    .and_then(Value::as_str)
                    .map(str::to_ascii_lowercase)
            };
            let informal = unit.1.is_none() || lim_unit.1.is_none();
            if informal && text(v) != text(limit) {
                self.error("structure", format!("The quantity {} cannot be compared to the allowed {which} of {} because no formal units are specified", show(v), show(limit)));
                continue;
            }
            // Without codes, the same unit text on both sides is taken as the same unit.
            if !informal && unit != lim_unit {
                // Converting between UCUM units needs UCUM's tables, which we don't carry.
                self.error("structure", format!("The quantity {} cannot be compared to the allowed {which} of {} (different units; unit conversion is not available offline)", show(v), show(limit)));
                continue;
            }
            let (Some(a), Some(b)) = (
                v.get("value").and_then(Value::as_f64),
                limit.get("value").and_then(Value::as_f64),
            ) else {
                continue;
            };
            if (which == "minimum" && a < b) || (which == "maximum" && a > b) {
                let rel = if which == "minimum" {
                    "less"
                } else {
                    "greater"
                };
                self.error(
                    "structure",
                    format!("The quantity {a} is {rel} than the allowed {which} of {b}"),
                );
            }
        }
    }

    fn reference(&mut self, q: &Value, v: &Value) {
        let Some(r) = v.get("reference").and_then(Value::as_str) else {
            return;
        };
        if r.contains(' ') {
            self.error(
                "invalid",
                format!("The reference '{r}' is not a valid reference"),
            );
        }
        let path = r.split(['?', '#']).next().unwrap_or(r);
        let mut parts = path.trim_end_matches('/').rsplit('/');
        let (_id, ty) = (parts.next(), parts.next());
        let Some(ty) = ty.filter(|_| !r.starts_with('#') && !r.starts_with("urn:")) else {
            return;
        };
        if !self.w.defs.is_resource_type(ty) {
            self.error(
                "structure",
                format!("The resource type {ty} in the reference {r} is not valid"),
            );
            return;
        }
        let allowed: Vec<&str> = exts(
            q,
            "http://hl7.org/fhir/StructureDefinition/questionnaire-referenceResource",
        )
        .filter_map(|e| e.get("valueCode").and_then(Value::as_str))
        .collect();
        if !allowed.is_empty() && !allowed.contains(&ty) {
            self.error(
                "structure",
                format!(
                    "The resource type '{ty}' in the reference {r} is not allowed (allowed = {})",
                    allowed.join(",")
                ),
            );
        }
    }

    /// `questionnaire-constraint` rules, evaluated on the response item.
    fn constraints(&mut self, q: &Value, r: &'a Value) {
        for c in exts(
            q,
            "http://hl7.org/fhir/StructureDefinition/questionnaire-constraint",
        ) {
            let part = |name: &str| -> Option<&Value> {
                c.get("extension")?
                    .as_array()?
                    .iter()
                    .find(|e| e.get("url").and_then(Value::as_str) == Some(name))
                    .and_then(value_x)
                    .map(|(_, v)| v)
            };
            let (Some(expr), human) = (
                part("expression").and_then(Value::as_str),
                part("human").and_then(Value::as_str).unwrap_or_default(),
            ) else {
                continue;
            };
            let error = part("severity").and_then(Value::as_str) == Some("error");
            let key = part("key")
                .and_then(Value::as_str)
                .unwrap_or("questionnaire-constraint");
            let link = r.get("linkId").and_then(Value::as_str).unwrap_or_default();
            let outcome = FhirPath::parse(expr).and_then(|fp| fp.evaluate(r));
            match outcome {
                Ok(out) if matches!(out.as_slice(), [Value::Bool(false)]) => {
                    let sev = if error {
                        Severity::Error
                    } else {
                        Severity::Warning
                    };
                    self.w.report(
                        &self.frame,
                        sev,
                        "invariant",
                        format!("{link}: {human}"),
                        Some(key),
                    );
                }
                Ok(_) => {}
                Err(e) => self.warn(
                    "invariant",
                    format!(
                        "{link}: Unable to evaluate custom validation rule {human} ({})",
                        e.message
                    ),
                ),
            }
        }
    }
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Object(o) => quantity_text(o).unwrap_or_else(|| v.to_string()),
        other => other.to_string(),
    }
}

fn quantity_text(o: &Map<String, Value>) -> Option<String> {
    let value = o.get("value")?;
    let unit = o
        .get("unit")
        .or_else(|| o.get("code"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    Some(format!("{value} {unit}"))
}
