//! Cheap checks on a scenario file's raw text before the YAML parser sees it. The parser's time
//! grows with the square of flow-collection nesting (`[[[[...`): a 100 KB file of brackets took
//! minutes, and a 50 MB file more than 3 GB of memory. Bounding the nesting first keeps a hostile
//! file to an instant error.

/// The first place where `[`/`{` flow collections nest deeper than `max`, as (line, column), both
/// 1-based. Quoted scalars and comments are skipped; block nesting is bounded by indentation and
/// parses in linear time, so it is not counted.
pub(super) fn flow_too_deep(source: &str, max: usize) -> Option<(usize, usize)> {
    let mut depth = 0usize;
    let (mut line, mut col) = (1usize, 0usize);
    let mut chars = source.chars().peekable();
    let mut quote: Option<char> = None;
    let mut at_token_start = true;
    while let Some(c) = chars.next() {
        col += 1;
        if c == '\n' {
            line += 1;
            col = 0;
            at_token_start = true;
            if quote == Some('#') {
                quote = None;
            }
            continue;
        }
        match quote {
            Some('#') => continue,
            Some('\'') => {
                if c == '\'' {
                    if chars.peek() == Some(&'\'') {
                        chars.next();
                        col += 1;
                    } else {
                        quote = None;
                    }
                }
                continue;
            }
            Some(_) => {
                if c == '\\' {
                    chars.next();
                    col += 1;
                } else if c == '"' {
                    quote = None;
                }
                continue;
            }
            None => {}
        }
        match c {
            '#' if at_token_start => quote = Some('#'),
            '"' | '\'' if at_token_start => quote = Some(c),
            '[' | '{' => {
                depth += 1;
                if depth > max {
                    return Some((line, col));
                }
            }
            ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        at_token_start = c.is_whitespace() || matches!(c, '[' | '{' | ',' | ':');
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_flow_nesting_is_found_where_it_starts() {
        assert_eq!(flow_too_deep("a: [1, {b: [2]}]\n", 3), None);
        assert_eq!(flow_too_deep("a: [1, {b: [2]}]\n", 2), Some((1, 12)));
        let deep = format!("x: 1\ny: {}{}\n", "[".repeat(100), "]".repeat(100));
        assert_eq!(flow_too_deep(&deep, 64), Some((2, 68)));
        // Brackets in quoted text and comments do not count.
        assert_eq!(flow_too_deep("a: \"[[[[\"\nb: '[[[['  # [[[[\n", 1), None);
        assert_eq!(flow_too_deep("a: 'it''s [[' \n", 1), None);
    }
}
