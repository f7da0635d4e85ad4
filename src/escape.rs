//! Text from a scenario file (handles, names, paths) made safe for each
//! output format.
//!
//! The scenario parser already restricts handles and names to what a phone
//! number, an e-mail address or a short label can hold; these functions are
//! the second line of defence, applied wherever such text is written out, so
//! that no string (and no merged matrix shard) can break or inject into a
//! report: a `"` closing a DOT string, a newline ending a Mermaid statement,
//! a U+FFFF that no XML parser accepts, an escape sequence reaching the
//! terminal. JSON needs nothing here: serde_json escapes what JSON requires.

use std::fmt::Write;

/// Whether a character must not reach an output as it is: control characters (C0, DEL, C1),
/// the invisible format characters that reorder or hide text (bidirectional controls,
/// zero-width characters, the byte-order mark), line and paragraph separators, and Unicode
/// noncharacters (U+FDD0–U+FDEF and the last two code points of every plane, U+FFFE and U+FFFF
/// among them).
pub fn is_unsafe(c: char) -> bool {
    let u = c as u32;
    c.is_control()
        || matches!(
            u,
            0x00AD              // soft hyphen
            | 0x061C            // Arabic letter mark
            | 0x180E            // Mongolian vowel separator
            | 0x200B..=0x200F   // zero-width characters, LRM, RLM
            | 0x2028..=0x202E   // line and paragraph separators, bidirectional embeddings
            | 0x2060..=0x206F   // word joiner, invisible operators, bidirectional isolates
            | 0xFEFF            // byte-order mark
            | 0xFFF9..=0xFFFB   // interlinear annotation
            | 0xFDD0..=0xFDEF   // noncharacters
        )
        || (u & 0xFFFE) == 0xFFFE // U+FFFE, U+FFFF, U+1FFFE, …: noncharacters
}

/// `\u{1b}`: how an unsafe character is shown.
fn escaped(out: &mut String, c: char) {
    let _ = write!(out, "\\u{{{:x}}}", c as u32);
}

/// One line of text: every unsafe character, the newline included, written as `\u{…}`.
pub fn line(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if is_unsafe(c) {
            escaped(&mut out, c);
        } else {
            out.push(c);
        }
    }
    out
}

/// Text for a terminal: newlines and tabs are kept, every other unsafe character (an escape
/// sequence, a carriage return, a bidirectional override) is written as `\u{…}`.
pub fn terminal(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if is_unsafe(c) && c != '\n' && c != '\t' {
            escaped(&mut out, c);
        } else {
            out.push(c);
        }
    }
    out
}

/// Text for XML 1.0 element content: markup characters as entities, and every character XML
/// forbids or that is unsafe to show (U+FFFE, U+FFFF, control characters but the newline and
/// the tab) as the text `\u{…}`.
pub fn xml_text(s: &str) -> String {
    xml(s, false)
}

/// Text for an XML 1.0 attribute value in double quotes: as [`xml_text`], with newlines and
/// tabs as character references, which a parser keeps (it would turn them into spaces).
pub fn xml_attribute(s: &str) -> String {
    xml(s, true)
}

fn xml(s: &str, attribute: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' if attribute => out.push_str("&#10;"),
            '\t' if attribute => out.push_str("&#9;"),
            '\n' | '\t' => out.push(c),
            c if is_unsafe(c) => escaped(&mut out, c),
            c => out.push(c),
        }
    }
    out
}

/// Text for HTML element content or a double-quoted attribute value.
pub fn html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if is_unsafe(c) => escaped(&mut out, c),
            c => out.push(c),
        }
    }
    out
}

/// The inside of a Graphviz double-quoted string, shown as written: `"` and `\` escaped (a
/// backslash would otherwise start an escape such as `\N` or `\l`), unsafe characters, the
/// newline included, as the text `\u{…}` (whose backslash is escaped in turn).
pub fn dot(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in line(s).chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out
}

/// Text Mermaid shows verbatim in a participant alias, a message, a note or a comment: one
/// line (a newline would end the statement), and the characters Mermaid gives a meaning there
/// written as its entity codes: `#` (which starts an entity code), `;` (which ends a
/// statement), `<` and `>` (HTML, which the renderer would interpret). Arrows such as `-->`
/// are plain text after the `:` of a message or note and in an alias.
pub fn mermaid(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in line(s).chars() {
        match c {
            '#' => out.push_str("#35;"),
            ';' => out.push_str("#59;"),
            '<' => out.push_str("#60;"),
            '>' => out.push_str("#62;"),
            c => out.push(c),
        }
    }
    out
}
