//! Files holding many messages: an HL7 batch (FHS/BHS … BTS/FTS), plain concatenated messages,
//! MLLP-framed captures, or messages separated by blank lines. Returns each message's text.

/// Splits `text` into message texts (each starting with MSH), in order. Batch envelope segments
/// are dropped; MLLP framing bytes are removed.
pub fn split_messages(text: &str) -> Vec<String> {
    // MLLP framing bytes and byte-order marks (Windows editors write one at the start of a file)
    // are not part of any message.
    let cleaned: String = text
        .chars()
        .filter(|c| !matches!(*c, '\u{0b}' | '\u{1c}' | '\u{feff}'))
        .collect();
    let mut messages: Vec<String> = Vec::new();
    for line in cleaned.split(['\r', '\n']) {
        let line = line.trim_end();
        if line.is_empty() {
            continue;
        }
        match line.get(..3) {
            Some("FHS" | "BHS" | "BTS" | "FTS") => continue,
            Some("MSH") => messages.push(format!("{line}\r")),
            _ => {
                if let Some(current) = messages.last_mut() {
                    current.push_str(line);
                    current.push('\r');
                }
            }
        }
    }
    messages
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
}
