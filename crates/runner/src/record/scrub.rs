//! PHI scrubbing for recordings and imports: names, birth dates, identifiers (MRN, SSN-like),
//! addresses, phone numbers and e-mail, and free-text notes are replaced with generated values.
//!
//! Consistently: the same original gets the same replacement everywhere in one recording (and in
//! every case variant: `EVERYMAN` in PID-5 and `Everyman` in FHIR), so references and searches
//! still match. Replacements are derived from the original and a per-recording salt, never the
//! other way round, and the summary says which kinds were replaced and how many, never what.

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};

use fake::faker::address::en::{CityName, StreetName};
use fake::faker::name::en::{FirstName, LastName};
use fake::Fake;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde_json::Value;

use emr_core::hl7::Message;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Name,
    BirthDate,
    Identifier,
    Address,
    Telecom,
    FreeText,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Name => "names",
            Kind::BirthDate => "birth dates",
            Kind::Identifier => "identifiers",
            Kind::Address => "addresses",
            Kind::Telecom => "phone numbers and e-mail",
            Kind::FreeText => "free-text notes",
        }
    }
}

/// Originals shorter than this are not replaced in free text (a one-letter initial would hit
/// every word); they are still replaced where they sit in a known field.
const MIN_GLOBAL: usize = 3;

pub struct Scrubber {
    salt: u64,
    map: HashMap<String, String>,
    /// Replacements per kind: (fields replaced, distinct values).
    counts: BTreeMap<Kind, (usize, usize)>,
}

impl Scrubber {
    pub fn new(salt: u64) -> Self {
        Scrubber {
            salt,
            map: HashMap::new(),
            counts: BTreeMap::new(),
        }
    }

    fn rng(&self, original: &str) -> StdRng {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.salt.hash(&mut h);
        original.hash(&mut h);
        StdRng::seed_from_u64(h.finish())
    }

    /// The replacement of `original` (made on first sight, the same ever after). Names and
    /// addresses are matched without regard to case and replaced in the original's case.
    fn replace(&mut self, kind: Kind, original: &str) -> String {
        if original.trim().is_empty() {
            return original.to_string();
        }
        let key = match kind {
            Kind::Name | Kind::Address => original.to_lowercase(),
            _ => original.to_string(),
        };
        let entry = self.counts.entry(kind).or_default();
        entry.0 += 1;
        if let Some(r) = self.map.get(&key) {
            return in_case_of(original, r);
        }
        entry.1 += 1;
        let mut rng = self.rng(&key);
        let r = match kind {
            Kind::Name => {
                let n: String = if rng.random_bool(0.5) {
                    FirstName().fake_with_rng(&mut rng)
                } else {
                    LastName().fake_with_rng(&mut rng)
                };
                if n.to_lowercase() == key {
                    format!("{n}x")
                } else {
                    n
                }
            }
            Kind::BirthDate => fake_date(original, &mut rng),
            Kind::Identifier if looks_like_ssn(original) => fake_ssn(original, &mut rng),
            Kind::Identifier => same_shape(original, &mut rng),
            Kind::Telecom => fake_telecom(original, &mut rng),
            Kind::Address => {
                if original.chars().all(|c| c.is_ascii_digit() || c == '-') {
                    same_shape(original, &mut rng)
                } else if original.chars().next().is_some_and(|c| c.is_ascii_digit()) {
                    let street: String = StreetName().fake_with_rng(&mut rng);
                    format!("{} {street}", rng.random_range(1..9999))
                } else {
                    CityName().fake_with_rng(&mut rng)
                }
            }
            Kind::FreeText => "[scrubbed free text]".to_string(),
        };
        self.map.insert(key, r.clone());
        in_case_of(original, &r)
    }

    /// What was replaced, by kind: "names: 6 fields (3 distinct values)".
    pub fn summary(&self) -> Vec<String> {
        self.counts
            .iter()
            .map(|(k, (fields, distinct))| {
                format!(
                    "{}: {fields} field(s), {distinct} distinct value(s)",
                    k.as_str()
                )
            })
            .collect()
    }

    pub fn replaced_anything(&self) -> bool {
        !self.map.is_empty()
    }

    /// Replaces every known original left in free text (URLs, search parameters, other
    /// messages), longest first, in its case variants too.
    pub fn scrub_text(&self, text: &str) -> String {
        let mut pairs: Vec<(String, String)> = Vec::new();
        for (o, r) in &self.map {
            if o.len() < MIN_GLOBAL || r == "[scrubbed free text]" {
                continue;
            }
            pairs.push((o.clone(), r.clone()));
            pairs.push((o.to_lowercase(), r.to_lowercase()));
            pairs.push((o.to_uppercase(), r.to_uppercase()));
            pairs.push((capitalized(o), capitalized(r)));
            // Percent-encoded, as in a recorded search URL.
            let enc = percent_encoding::utf8_percent_encode(o, percent_encoding::NON_ALPHANUMERIC)
                .to_string();
            if enc != *o {
                pairs.push((enc, r.clone()));
            }
        }
        pairs.sort_by_key(|(o, _)| std::cmp::Reverse(o.len()));
        let mut out = text.to_string();
        for (o, r) in pairs {
            if out.contains(&o) {
                out = out.replace(&o, &r);
            }
        }
        out
    }

    /// Scrubs a FHIR resource (or Bundle) in place.
    pub fn scrub_fhir(&mut self, v: &mut Value) {
        match v {
            Value::Object(map) => {
                let keys: Vec<String> = map.keys().cloned().collect();
                for k in keys {
                    let Some(child) = map.get_mut(&k) else {
                        continue;
                    };
                    match (k.as_str(), child) {
                        ("name", Value::Array(names)) => {
                            for n in names.iter_mut() {
                                self.human_name(n);
                            }
                        }
                        // Patient.contact.name and .address are single objects, not lists.
                        ("name", n @ Value::Object(_)) => self.human_name(n),
                        ("address", a @ Value::Object(_)) => self.address(a),
                        ("birthDate" | "deceasedDateTime", Value::String(s)) => {
                            *s = self.replace(Kind::BirthDate, s);
                        }
                        ("identifier", Value::Array(ids)) => {
                            for id in ids.iter_mut() {
                                if let Some(Value::String(s)) = id.get_mut("value") {
                                    *s = self.replace(Kind::Identifier, s);
                                }
                            }
                        }
                        ("address", Value::Array(addrs)) => {
                            for a in addrs.iter_mut() {
                                self.address(a);
                            }
                        }
                        ("telecom", Value::Array(ts)) => {
                            for t in ts.iter_mut() {
                                if let Some(Value::String(s)) = t.get_mut("value") {
                                    *s = self.replace(Kind::Telecom, s);
                                }
                            }
                        }
                        ("note", Value::Array(notes)) => {
                            for n in notes.iter_mut() {
                                if let Some(Value::String(s)) = n.get_mut("text") {
                                    *s = self.replace(Kind::FreeText, s);
                                }
                            }
                        }
                        ("text", Value::Object(narrative)) if narrative.contains_key("div") => {
                            narrative.insert(
                                "div".into(),
                                Value::String("<div xmlns=\"http://www.w3.org/1999/xhtml\">[scrubbed narrative]</div>".into()),
                            );
                            self.counts.entry(Kind::FreeText).or_default().0 += 1;
                        }
                        ("comment", Value::String(s)) => *s = self.replace(Kind::FreeText, s),
                        (_, child) => {
                            // A reference's display is often the patient's name.
                            if let Value::Object(o) = child {
                                if o.contains_key("reference") {
                                    if let Some(Value::String(d)) = o.get_mut("display") {
                                        *d = self.replace(Kind::Name, d);
                                    }
                                }
                            }
                            self.scrub_fhir(child);
                        }
                    }
                }
            }
            Value::Array(a) => a.iter_mut().for_each(|x| self.scrub_fhir(x)),
            _ => {}
        }
    }

    fn human_name(&mut self, n: &mut Value) {
        if let Some(Value::String(f)) = n.get_mut("family") {
            *f = self.replace(Kind::Name, f);
        }
        for key in ["given", "prefix", "suffix"] {
            if let Some(Value::Array(g)) = n.get_mut(key) {
                for x in g.iter_mut() {
                    if let Value::String(s) = x {
                        if key == "given" {
                            *s = self.replace(Kind::Name, s);
                        }
                    }
                }
            }
        }
        if let Some(Value::String(t)) = n.get_mut("text") {
            let parts: Vec<String> = t.split_whitespace().map(|w| w.to_string()).collect();
            *t = parts
                .iter()
                .map(|w| self.replace(Kind::Name, w))
                .collect::<Vec<_>>()
                .join(" ");
        }
    }

    fn address(&mut self, a: &mut Value) {
        if let Some(Value::Array(lines)) = a.get_mut("line") {
            for l in lines.iter_mut() {
                if let Value::String(s) = l {
                    *s = self.replace(Kind::Address, s);
                }
            }
        }
        for key in ["city", "district", "postalCode", "text"] {
            if let Some(Value::String(s)) = a.get_mut(key) {
                *s = self.replace(Kind::Address, s);
            }
        }
    }

    /// Scrubs an HL7 v2 message (ER7 text); unparseable text is returned as it is.
    pub fn scrub_hl7(&mut self, text: &str) -> String {
        let Ok(mut msg) = Message::parse(text) else {
            return text.to_string();
        };
        let d = msg.delimiters;
        // (segment, field, what each component is: None = leave, Some(kind)).
        type Plan = &'static [(usize, &'static [Option<Kind>])];
        const NAME: &[Option<Kind>] = &[Some(Kind::Name), Some(Kind::Name), Some(Kind::Name)];
        const XCN: &[Option<Kind>] = &[None, Some(Kind::Name), Some(Kind::Name), Some(Kind::Name)];
        const ADDR: &[Option<Kind>] = &[
            Some(Kind::Address),
            Some(Kind::Address),
            Some(Kind::Address),
            None,
            Some(Kind::Address),
        ];
        const ID: &[Option<Kind>] = &[Some(Kind::Identifier)];
        // XTN: the number (1), e-mail (4), area code (6), local number (7), unformatted (12).
        const PHONE: &[Option<Kind>] = &[
            Some(Kind::Telecom),
            None,
            None,
            Some(Kind::Telecom),
            None,
            Some(Kind::Telecom),
            Some(Kind::Telecom),
            None,
            None,
            None,
            None,
            Some(Kind::Telecom),
        ];
        const DATE: &[Option<Kind>] = &[Some(Kind::BirthDate)];
        let plan = |seg: &str| -> Plan {
            match seg {
                "PID" => &[
                    (3, ID),
                    (5, NAME),
                    (6, NAME),
                    (7, DATE),
                    (11, ADDR),
                    (13, PHONE),
                    (14, PHONE),
                    (18, ID),
                    (19, ID),
                    (20, ID),
                ],
                "NK1" => &[(2, NAME), (4, ADDR), (5, PHONE), (6, PHONE)],
                "PV1" => &[(7, XCN), (8, XCN), (9, XCN), (17, XCN), (19, ID)],
                "GT1" => &[
                    (3, NAME),
                    (5, ADDR),
                    (6, PHONE),
                    (7, PHONE),
                    (8, DATE),
                    (12, ID),
                ],
                "IN1" => &[(16, NAME), (18, DATE), (19, ADDR), (36, ID)],
                _ => &[],
            }
        };
        for seg in msg.segments.iter_mut() {
            let name = seg.name.clone();
            for (field, comps) in plan(&name) {
                let Some(raw) = seg.fields.get_mut(field - 1) else {
                    continue;
                };
                let reps: Vec<String> = raw
                    .split(d.repetition)
                    .map(|rep| {
                        let mut parts: Vec<String> =
                            rep.split(d.component).map(str::to_string).collect();
                        for (i, kind) in comps.iter().enumerate() {
                            if let (Some(k), Some(p)) = (kind, parts.get_mut(i)) {
                                // Subcomponents (XAD street^...) keep their first part's kind.
                                let subs: Vec<String> = p
                                    .split(d.subcomponent)
                                    .enumerate()
                                    .map(|(j, s)| {
                                        if j == 0 || *k != Kind::Identifier {
                                            self.replace(*k, s)
                                        } else {
                                            s.to_string()
                                        }
                                    })
                                    .collect();
                                *p = subs.join(&d.subcomponent.to_string());
                            }
                        }
                        parts.join(&d.component.to_string())
                    })
                    .collect();
                *raw = reps.join(&d.repetition.to_string());
            }
            let free_text = match name.as_str() {
                "OBX"
                    if matches!(
                        seg.fields.get(1).map(String::as_str),
                        Some("ST" | "TX" | "FT")
                    ) =>
                {
                    Some(5)
                }
                "NTE" => Some(3),
                _ => None,
            };
            if let Some(f) = free_text {
                if let Some(v) = seg.fields.get_mut(f - 1) {
                    if !v.is_empty() {
                        *v = self.replace(Kind::FreeText, v);
                    }
                }
            }
        }
        msg.render()
    }
}

/// `replacement` in the case `original` is written in (all capitals in v2, as typed in FHIR).
fn in_case_of(original: &str, replacement: &str) -> String {
    let letters = || original.chars().filter(|c| c.is_alphabetic());
    if letters().count() > 1 && letters().all(char::is_uppercase) {
        replacement.to_uppercase()
    } else if letters().count() > 1 && letters().all(char::is_lowercase) {
        replacement.to_lowercase()
    } else {
        replacement.to_string()
    }
}

fn capitalized(s: &str) -> String {
    let lower = s.to_lowercase();
    let mut c = lower.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// `original` with every digit and letter replaced by a random one of the same class (an MRN, an
/// SSN or a phone number keeps its shape, so format checks still pass).
fn same_shape(original: &str, rng: &mut StdRng) -> String {
    let out: String = original
        .chars()
        .map(|c| {
            if c.is_ascii_digit() {
                char::from(b'0' + rng.random_range(0..10u8))
            } else if c.is_ascii_uppercase() {
                char::from(b'A' + rng.random_range(0..26u8))
            } else if c.is_ascii_lowercase() {
                char::from(b'a' + rng.random_range(0..26u8))
            } else {
                c
            }
        })
        .collect();
    if out == original {
        format!("{out}0")
    } else {
        out
    }
}

/// Nine digits, as `123-45-6789` or `123456789`: the shape of a US SSN.
fn looks_like_ssn(s: &str) -> bool {
    let digits = s.chars().filter(char::is_ascii_digit).count();
    let b = s.as_bytes();
    digits == 9
        && (s.len() == 9 || (s.len() == 11 && b.get(3) == Some(&b'-') && b.get(6) == Some(&b'-')))
        && s.chars().all(|c| c.is_ascii_digit() || c == '-')
}

/// An SSN in area 9xx, which the Social Security Administration never issues (the same range as
/// `fake.ssn`): a scrubbed SSN can't be a real person's.
fn fake_ssn(original: &str, rng: &mut StdRng) -> String {
    let mut digits = vec![9u8];
    digits.extend((0..8).map(|_| rng.random_range(0..10u8)));
    // Group 00 and serial 0000 are never issued either; avoid them so the value looks valid.
    digits[3] = rng.random_range(1..10u8);
    digits[5] = rng.random_range(1..10u8);
    in_digit_layout(original, &digits)
}

/// A phone number whose last seven digits are 555-01xx, the range reserved for fiction (as
/// `fake.phone`), an area code from 200-999 before them, and the country code and punctuation
/// of `original`; an e-mail address at `example.org` (RFC 2606).
fn fake_telecom(original: &str, rng: &mut StdRng) -> String {
    if let Some((local, _)) = original.split_once('@') {
        return format!("{}@example.org", same_shape(local, rng));
    }
    let n = original.chars().filter(char::is_ascii_digit).count();
    if n < 7 {
        return same_shape(original, rng);
    }
    let mut digits: Vec<u8> = original
        .chars()
        .filter_map(|c| c.to_digit(10).map(|d| d as u8))
        .collect();
    let local = [
        5,
        5,
        5,
        0,
        1,
        rng.random_range(0..10u8),
        rng.random_range(0..10u8),
    ];
    digits[n - 7..].copy_from_slice(&local);
    if n >= 10 {
        digits[n - 10] = rng.random_range(2..10u8);
        digits[n - 9] = rng.random_range(0..10u8);
        digits[n - 8] = rng.random_range(0..10u8);
    }
    in_digit_layout(original, &digits)
}

/// `digits` written into the places of `original`'s digits, its other characters kept.
fn in_digit_layout(original: &str, digits: &[u8]) -> String {
    let mut next = digits.iter();
    original
        .chars()
        .map(|c| match (c.is_ascii_digit(), next.clone().next()) {
            (true, Some(_)) => next.next().map_or(c, |d| char::from(b'0' + d)),
            _ => c,
        })
        .collect()
}

/// A date in the format of `original` (YYYY, YYYY-MM-DD, YYYYMMDD, or with a time after it).
fn fake_date(original: &str, rng: &mut StdRng) -> String {
    let (y, m, d) = (
        rng.random_range(1935..2006),
        rng.random_range(1..13),
        rng.random_range(1..29),
    );
    let digits = original.chars().take_while(char::is_ascii_digit).count();
    if original.len() >= 10 && original.as_bytes().get(4) == Some(&b'-') {
        format!("{y:04}-{m:02}-{d:02}{}", &original[10..])
    } else if digits >= 8 {
        format!("{y:04}{m:02}{d:02}{}", &original[8..])
    } else {
        format!("{y:04}{}", &original[digits.min(4)..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn consistent_across_fhir_hl7_and_urls() {
        let mut s = Scrubber::new(7);
        let mut p = json!({"resourceType": "Patient", "identifier": [{"system": "urn:x", "value": "MRN-12345"}],
            "name": [{"family": "Everyman", "given": ["Adam"]}], "birthDate": "1961-06-15",
            "telecom": [{"system": "phone", "value": "(555) 123-4567"}],
            "address": [{"line": ["1200 N Elm Street"], "city": "Greensboro", "postalCode": "27401"}],
            "note": [{"text": "allergic to penicillin"}],
            "contact": [{"name": {"family": "Kin", "given": ["Nora"]}, "address": {"city": "Burlington"}}]});
        s.scrub_fhir(&mut p);
        let text = p.to_string();
        for original in [
            "MRN-12345",
            "Everyman",
            "Adam",
            "1961-06-15",
            "123-4567",
            "Elm",
            "Greensboro",
            "27401",
            "penicillin",
        ] {
            assert!(!text.contains(original), "{original} left in {text}");
        }
        assert_eq!(
            p["identifier"][0]["value"].as_str().unwrap().len(),
            9,
            "same shape"
        );
        let hl7 = s.scrub_hl7("MSH|^~\\&|A|B|C|D|20260101||ADT^A08|1|P|2.5.1\rPID|1||MRN-12345^^^H^MR||EVERYMAN^ADAM||19610615|M\r");
        let family = p["name"][0]["family"].as_str().unwrap().to_uppercase();
        assert!(
            hl7.contains(&format!("|{family}^")),
            "one replacement in both cases: {hl7}"
        );
        assert!(
            hl7.contains(p["identifier"][0]["value"].as_str().unwrap()),
            "same MRN replacement: {hl7}"
        );
        assert!(
            !hl7.contains("19610615") && !hl7.contains("EVERYMAN"),
            "{hl7}"
        );
        let url = s.scrub_text("/Patient?family=everyman&identifier=urn:x|MRN-12345");
        assert!(
            !url.to_lowercase().contains("everyman") && !url.contains("MRN-12345"),
            "{url}"
        );
        let summary = s.summary().join("\n");
        assert!(
            summary.contains("names:") && !summary.contains("Everyman"),
            "{summary}"
        );
    }

    fn is_fictional_phone(p: &str) -> bool {
        let d: String = p.chars().filter(char::is_ascii_digit).collect();
        d.len() >= 7 && d[d.len() - 7..].starts_with("55501")
    }

    /// Issue 14: a scrubbed phone became `769-2981` and an SSN `403-97-0884` (an issuable area).
    #[test]
    fn phones_and_ssns_become_reserved_fictional_values() {
        for seed in 0..50 {
            let mut s = Scrubber::new(seed);
            let hl7 = s.scrub_hl7(
                "MSH|^~\\&|A|B|C|D|20260101||ADT^A08|1|P|2.5.1\r\
                 PID|1||MRN1^^^H^MR||DOE^JANE||19610615|F|||||(336)769-2981^PRN^PH^jane.doe@mail.com^1^336^7692981~769-2981||||||403-97-0884\r",
            );
            let pid: Vec<&str> = hl7.split('\r').nth(1).unwrap().split('|').collect();
            let (home, ssn) = (pid[13], pid[19]);
            let reps: Vec<&str> = home.split('~').collect();
            let xtn: Vec<&str> = reps[0].split('^').collect();
            assert!(is_fictional_phone(xtn[0]), "{home}");
            assert_eq!(xtn[0].len(), "(336)769-2981".len(), "shape kept: {home}");
            assert!(
                xtn[0].starts_with('(') && xtn[0].as_bytes()[4] == b')',
                "{home}"
            );
            assert!(xtn[3].ends_with("@example.org"), "{home}");
            assert_ne!(xtn[5], "336");
            assert!(is_fictional_phone(xtn[6]) && xtn[6].len() == 7, "{home}");
            assert!(is_fictional_phone(reps[1]) && reps[1].len() == 8, "{home}");
            assert!(ssn.starts_with('9') && looks_like_ssn(ssn), "{ssn}");
            assert!(!ssn.contains("-00-") && !ssn.ends_with("0000"), "{ssn}");

            let mut p = json!({"resourceType": "Patient",
                "identifier": [{"system": "http://hl7.org/fhir/sid/us-ssn", "value": "403970884"}],
                "telecom": [{"system": "phone", "value": "+1 336 769 2981"},
                            {"system": "email", "value": "jane@mail.com"}]});
            s.scrub_fhir(&mut p);
            let ssn = p["identifier"][0]["value"].as_str().unwrap();
            assert!(ssn.starts_with('9') && ssn.len() == 9, "{p}");
            let phone = p["telecom"][0]["value"].as_str().unwrap();
            assert!(phone.starts_with("+1 ") && is_fictional_phone(phone), "{p}");
            let area = phone.as_bytes()[3];
            assert!((b'2'..=b'9').contains(&area), "{p}");
            assert_eq!(
                p["telecom"][1]["value"].as_str().unwrap().split('@').nth(1),
                Some("example.org")
            );
        }
    }
}
