//! Field paths: `PID-3`, `PID-3.1`, `PID-3[2].1`, `MSH-9.2`, `OBX[3]-5`, `PID-3.4.2`.
//! Segment occurrence and repetition are 1-based and default to the first.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FieldPath {
    pub segment: String,
    pub occurrence: usize,
    pub field: usize,
    pub repetition: Option<usize>,
    pub component: Option<usize>,
    pub subcomponent: Option<usize>,
}

impl FieldPath {
    pub fn parse(text: &str) -> Result<FieldPath, String> {
        let bad = |why: &str| {
            format!("`{text}` is not an HL7 field path ({why}; e.g. PID-3[2].1, OBX[3]-5)")
        };
        let (seg_part, rest) = text.trim().split_once('-').ok_or_else(|| bad("no `-`"))?;
        let (segment, occurrence) = split_index(seg_part).ok_or_else(|| bad("bad segment"))?;
        if segment.len() != 3
            || !segment
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        {
            return Err(bad("the segment is three capital letters or digits"));
        }
        let mut parts = rest.split('.');
        let (field, repetition) =
            split_index(parts.next().unwrap_or_default()).ok_or_else(|| bad("bad field"))?;
        let field: usize = field.parse().map_err(|_| bad("the field is a number"))?;
        let mut num = |what: &str| -> Result<Option<usize>, String> {
            match parts.next() {
                None => Ok(None),
                Some(p) => match p.parse::<usize>() {
                    Ok(n) if n > 0 => Ok(Some(n)),
                    _ => Err(bad(&format!("the {what} is a number from 1"))),
                },
            }
        };
        let component = num("component")?;
        let subcomponent = num("subcomponent")?;
        if parts.next().is_some() {
            return Err(bad("too many parts"));
        }
        if field == 0 || occurrence == Some(0) || repetition == Some(0) {
            return Err(bad("numbers start at 1"));
        }
        Ok(FieldPath {
            segment: segment.to_string(),
            occurrence: occurrence.unwrap_or(1),
            field,
            repetition,
            component,
            subcomponent,
        })
    }
}

/// `OBX[3]` → ("OBX", Some(3)); `OBX` → ("OBX", None).
fn split_index(s: &str) -> Option<(&str, Option<usize>)> {
    match s.split_once('[') {
        None => Some((s, None)),
        Some((name, idx)) => {
            let n = idx.strip_suffix(']')?.parse().ok()?;
            Some((name, Some(n)))
        }
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.segment)?;
        if self.occurrence != 1 {
            write!(f, "[{}]", self.occurrence)?;
        }
        write!(f, "-{}", self.field)?;
        if let Some(r) = self.repetition {
            write!(f, "[{r}]")?;
        }
        if let Some(c) = self.component {
            write!(f, ".{c}")?;
        }
        if let Some(s) = self.subcomponent {
            write!(f, ".{s}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_forms() {
        let p = FieldPath::parse("PID-3[2].1").unwrap();
        assert_eq!(
            (
                p.segment.as_str(),
                p.occurrence,
                p.field,
                p.repetition,
                p.component
            ),
            ("PID", 1, 3, Some(2), Some(1))
        );
        let p = FieldPath::parse("OBX[3]-5").unwrap();
        assert_eq!((p.occurrence, p.field, p.component), (3, 5, None));
        assert_eq!(FieldPath::parse("PID-3.4.2").unwrap().subcomponent, Some(2));
        for s in ["PID-3[2].1", "OBX[3]-5", "MSH-9.2", "PID-3.4.2"] {
            assert_eq!(FieldPath::parse(s).unwrap().to_string(), s);
        }
    }

    #[test]
    fn rejects_bad_paths() {
        for s in [
            "PID3",
            "pid-3",
            "PID-x",
            "PID-0",
            "PID-3.0",
            "PID-3.1.2.3",
            "OBX[0]-5",
            "PID-3[2",
        ] {
            assert!(FieldPath::parse(s).is_err(), "{s}");
        }
    }
}
