//! Text from a repository, an event or a lock record, made safe to show a person: the one
//! filter for everything this tool prints or says that it did not write itself.
//!
//! A terminal or an agent's UI acts on some characters instead of showing them: escape
//! sequences retitle or clear a terminal, a newline or a line separator starts a line that
//! looks like this tool's own, bidi overrides (`U+202E`) and isolates reorder what follows, and
//! zero-width characters hide text or make two different names look alike. Each such character
//! is written out as a visible escape instead: `\n`, `\t`, `\r`, `\x1b` for the other ASCII
//! controls, `\u{202e}` for every other one. Everything else, other scripts included, is kept.
//!
//! This file has no dependencies, so the host compiles the same file into its own printing
//! (`host/src/lib.rs` includes it by path): the component's messages and the host's output go
//! through one implementation.

/// `text` with every character a terminal or UI would act on written as a visible escape
/// (see the module's documentation). A backslash is kept as it is.
pub fn visible(text: &str) -> String {
    let mut shown = String::with_capacity(text.len());
    for c in text.chars() {
        push_visible(&mut shown, c);
    }
    shown
}

/// Whether `c` would be acted on rather than shown: a control character (C0, DEL, C1), a
/// Unicode format character (general category Cf: bidi controls, zero-width characters, the
/// byte order mark, tags), or a line or paragraph separator.
pub fn is_hidden(c: char) -> bool {
    c.is_control() || is_format(c) || matches!(c, '\u{2028}' | '\u{2029}')
}

/// Appends `c` to `out`, escaped when [`is_hidden`].
fn push_visible(out: &mut String, c: char) {
    use core::fmt::Write as _;
    match c {
        '\n' => out.push_str("\\n"),
        '\t' => out.push_str("\\t"),
        '\r' => out.push_str("\\r"),
        c if c.is_ascii_control() => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c if is_hidden(c) => {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
        c => out.push(c),
    }
}

/// The format characters (general category Cf) of Unicode 16.0, as inclusive ranges.
const FORMAT: &[(u32, u32)] = &[
    (0x00AD, 0x00AD),
    (0x0600, 0x0605),
    (0x061C, 0x061C),
    (0x06DD, 0x06DD),
    (0x070F, 0x070F),
    (0x0890, 0x0891),
    (0x08E2, 0x08E2),
    (0x180E, 0x180E),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x2064),
    (0x2066, 0x206F),
    (0xFEFF, 0xFEFF),
    (0xFFF9, 0xFFFB),
    (0x110BD, 0x110BD),
    (0x110CD, 0x110CD),
    (0x13430, 0x1343F),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0001, 0xE0001),
    (0xE0020, 0xE007F),
];

fn is_format(c: char) -> bool {
    let c = c as u32;
    FORMAT.iter().any(|&(low, high)| (low..=high).contains(&c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_and_other_scripts_are_kept() {
        for text in [
            "/home/u/repo",
            "session-A (pid 4101)",
            "日本語/ü/ß",
            r"a\b",
            "",
        ] {
            assert_eq!(visible(text), text);
        }
    }

    #[test]
    fn controls_and_escape_sequences_are_written_out() {
        assert_eq!(visible("a\nb\tc\rd"), r"a\nb\tc\rd");
        assert_eq!(visible("\u{1b}]0;pwned\u{7}"), r"\x1b]0;pwned\x07");
        assert_eq!(visible("del\u{7f}"), r"del\x7f");
        assert_eq!(visible("c1\u{9b}2J"), r"c1\u{9b}2J");
    }

    #[test]
    fn bidi_zero_width_and_line_separators_are_written_out() {
        assert_eq!(visible("a\u{202e}gpj.exe"), r"a\u{202e}gpj.exe");
        assert_eq!(visible("x\u{2066}y\u{2069}"), r"x\u{2066}y\u{2069}");
        assert_eq!(visible("a\u{200b}b\u{200d}c"), r"a\u{200b}b\u{200d}c");
        assert_eq!(visible("\u{feff}bom"), r"\u{feff}bom");
        assert_eq!(visible("l\u{2028}p\u{2029}"), r"l\u{2028}p\u{2029}");
        assert_eq!(visible("tag\u{e0041}"), r"tag\u{e0041}");
    }

    #[test]
    fn nothing_hidden_is_left_in_what_is_shown() {
        let every: String = (0..0x11_0000).filter_map(char::from_u32).collect();
        assert!(!visible(&every).chars().any(is_hidden));
    }
}
