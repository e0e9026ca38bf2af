//! Files holding many messages: an HL7 batch (FHS/BHS … BTS/FTS), plain concatenated messages,
//! MLLP-framed captures, or messages separated by blank lines. Returns each message's text.

/// Splits `text` into message texts (each starting with MSH), in order. Batch envelope segments
/// are dropped; MLLP framing bytes are removed.
pub fn split_messages(text: &str) -> Vec<String> {
    split_batch(text).messages
}

/// A file of messages, split, with what broke the batch syntax
/// (`[FHS] {[BHS] {MSH ...} [BTS]} [FTS]`, chapter 2).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Split {
    pub messages: Vec<String>,
    /// (index of the message it concerns, `segment N (XXX)` counted over the file's lines, text).
    pub problems: Vec<(usize, String, String)>,
}

/// Like `split_messages`, and says where the envelope is broken: a batch header inside a message
/// ends that message, and the segments after it belong to no message.
pub fn split_batch(text: &str) -> Split {
    // MLLP framing bytes and byte-order marks (Windows editors write one at the start of a file)
    // are not part of any message.
    const FRAMING: [char; 3] = ['\u{0b}', '\u{1c}', '\u{feff}'];
    let cleaned: std::borrow::Cow<'_, str> = if text.contains(FRAMING) {
        text.replace(FRAMING, "").into()
    } else {
        text.into()
    };
    let lines: Vec<&str> = cleaned
        .split(['\r', '\n'])
        .map(str::trim_end)
        .filter(|l| !l.is_empty())
        .collect();
    let mut out = Split::default();
    // True while segments belong to the last message; false after an envelope segment that
    // ended it, until the next MSH.
    let mut open = false;
    for (n, line) in lines.iter().enumerate() {
        match line.get(..3) {
            Some("FHS" | "BHS") => {
                let next_is_message = lines[n + 1..]
                    .iter()
                    .find(|l| !matches!(l.get(..3), Some("FHS" | "BHS")))
                    .is_none_or(|l| l.starts_with("MSH"));
                if open && !next_is_message {
                    out.problems.push((
                        out.messages.len().saturating_sub(1),
                        format!("segment {} ({})", n + 1, &line[..3]),
                        "a batch header inside a message ends it; the segments after it belong to no message".to_string(),
                    ));
                }
                open = false;
            }
            Some("BTS" | "FTS") => open = false,
            Some("MSH") => {
                out.messages.push(format!("{line}\r"));
                open = true;
            }
            _ if open => {
                if let Some(current) = out.messages.last_mut() {
                    current.push_str(line);
                    current.push('\r');
                }
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_batches_concatenations_and_frames() {
        let batch =
            "FHS|^~\\&|A\rBHS|^~\\&|A\rMSH|^~\\&|1\rPID|1\rMSH|^~\\&|2\rPID|2\rBTS|2\rFTS|1\r";
        assert_eq!(
            split_messages(batch),
            vec!["MSH|^~\\&|1\rPID|1\r", "MSH|^~\\&|2\rPID|2\r"]
        );
        let blank = "MSH|^~\\&|1\nPID|1\n\nMSH|^~\\&|2\n";
        assert_eq!(split_messages(blank).len(), 2);
        let framed = "\u{0b}MSH|^~\\&|1\rPID|1\r\u{1c}\r\u{0b}MSH|^~\\&|2\r\u{1c}\r";
        assert_eq!(
            split_messages(framed),
            vec!["MSH|^~\\&|1\rPID|1\r", "MSH|^~\\&|2\r"]
        );
        let bom = "\u{feff}MSH|^~\\&|1\r\nPID|1\r\n";
        assert_eq!(split_messages(bom), vec!["MSH|^~\\&|1\rPID|1\r"]);
    }

    #[test]
    fn a_batch_header_inside_a_message_ends_it() {
        let s = split_batch("BHS|^~\\&\rMSH|^~\\&|1\rEVN|A04\rBHS|^~\\&\rPID|1\rBTS|1\r");
        assert_eq!(s.messages, vec!["MSH|^~\\&|1\rEVN|A04\r"]);
        assert_eq!(s.problems.len(), 1);
        assert_eq!(s.problems[0].1, "segment 4 (BHS)");
    }
}
