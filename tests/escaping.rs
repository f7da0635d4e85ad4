//! Hostile text in every output format: the escaping functions on arbitrary strings, and whole
//! traces and reports rendered from a scenario whose handle, name and path are hostile (set
//! after parsing, since the parser rejects them).

use crate::model;
use imessage_model::check::{explore, Limits};
use imessage_model::escape;
use imessage_model::report::trace as tr;
use imessage_model::{claims, ProtocolModel};
use proptest::prelude::*;
use std::process::{Command, Stdio};

/// Strings that break or inject into an output when written out raw.
const HOSTILE: [&str; 10] = [
    "\"",
    "a\nb",
    "\r\n",
    "\u{1b}[31mred\u{1b}[0m",
    "\u{fffe}\u{ffff}",
    "-->",
    "</x>",
    "B\"]; evil [label=\"pwned\"]; s0 -> evil; x [label=\"",
    "%%{init: {}}%%\n    participant evil\n",
    "\\l\\N#59;;#<br/>&amp;\u{202e}\u{0}\u{7f}\u{85}\u{2028}",
];

/// Characters that matter to some format, mixed with arbitrary ones.
fn hostile_string() -> impl Strategy<Value = String> {
    let special = prop::sample::select(vec![
        '"',
        '\'',
        '\\',
        '\n',
        '\r',
        '\t',
        '<',
        '>',
        '&',
        ';',
        '#',
        '%',
        '-',
        '{',
        '}',
        '[',
        ']',
        '\u{0}',
        '\u{1b}',
        '\u{7f}',
        '\u{85}',
        '\u{202e}',
        '\u{2028}',
        '\u{fdd0}',
        '\u{fffe}',
        '\u{ffff}',
        '\u{1fffe}',
    ]);
    prop::collection::vec(prop_oneof![any::<char>(), special], 0..24)
        .prop_map(|v| v.into_iter().collect())
}

/// No unsafe character is left, except those `keep` allows.
fn assert_shown(out: &str, keep: &[char]) {
    for c in out.chars() {
        assert!(
            !escape::is_unsafe(c) || keep.contains(&c),
            "{c:?} left in {out:?}"
        );
    }
}

/// Renders DOT with Graphviz: `None` when Graphviz is not installed (outside CI), else the SVG
/// or Graphviz's complaint.
fn graphviz(dot: &str) -> Option<Result<String, String>> {
    let Ok(mut child) = Command::new("dot")
        .arg("-Tsvg")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI runs need Graphviz (`dot`)"
        );
        eprintln!("Graphviz is not installed here: the DOT output was not rendered");
        return None;
    };
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(dot.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    Some(if out.status.success() && !stderr.contains("rror") {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(stderr)
    })
}

/// The nodes and edges of an SVG that Graphviz drew.
fn svg_shape(svg: &str) -> (usize, usize) {
    let doc = roxmltree::Document::parse_with_options(
        svg,
        roxmltree::ParsingOptions {
            allow_dtd: true,
            ..Default::default()
        },
    )
    .expect("Graphviz writes well-formed SVG");
    let count = |class: &str| {
        doc.descendants()
            .filter(|n| n.attribute("class") == Some(class))
            .count()
    };
    (count("node"), count("edge"))
}

/// Decodes Mermaid's `#NN;` entity codes; panics on a `#` or `;` outside one.
fn mermaid_decode(t: &str) -> String {
    let mut out = String::new();
    let mut rest = t;
    while let Some(i) = rest.find(['#', ';']) {
        out.push_str(&rest[..i]);
        assert!(rest[i..].starts_with('#'), "a bare `;` in {t:?}");
        let end = rest[i..].find(';').expect("an entity code ends with `;`");
        let code: u32 = rest[i + 1..i + end]
            .parse()
            .unwrap_or_else(|_| panic!("a bare `#` in {t:?}"));
        out.push(char::from_u32(code).unwrap());
        rest = &rest[i + end + 1..];
    }
    out.push_str(rest);
    out
}

fn check_xml(s: &str) {
    let doc = format!(
        "<x a=\"{}\">{}</x>",
        escape::xml_attribute(s),
        escape::xml_text(s)
    );
    let parsed = roxmltree::Document::parse(&doc)
        .unwrap_or_else(|e| panic!("{s:?} made invalid XML: {e}\n{doc}"));
    let root = parsed.root_element();
    // What a reader gets back is the string as a terminal shows it: everything but the
    // characters XML forbids or a screen would act on.
    assert_eq!(root.attribute("a"), Some(escape::terminal(s).as_str()));
    assert_eq!(root.text().unwrap_or(""), escape::terminal(s));
}

fn check_html(s: &str) {
    let doc = format!("<p title=\"{}\">{}</p>", escape::html(s), escape::html(s));
    let parsed = roxmltree::Document::parse(&doc)
        .unwrap_or_else(|e| panic!("{s:?} made invalid markup: {e}\n{doc}"));
    let root = parsed.root_element();
    assert_eq!(root.attribute("title"), Some(escape::line(s).as_str()));
    assert_eq!(root.text().unwrap_or(""), escape::line(s));
    assert_eq!(root.children().count(), usize::from(!s.is_empty()));
}

fn check_mermaid(s: &str) {
    let out = escape::mermaid(s);
    assert_shown(&out, &[]);
    assert!(!out.contains(['<', '>', '\n']), "{out:?}");
    assert_eq!(mermaid_decode(&out), escape::line(s));
}

fn check_terminal(s: &str) {
    assert_shown(&escape::terminal(s), &['\n', '\t']);
    assert_shown(&escape::line(s), &[]);
    assert!(!escape::line(s).contains('\n'));
}

#[test]
fn hostile_strings_are_escaped_in_every_format() {
    for s in HOSTILE {
        check_xml(s);
        check_html(s);
        check_mermaid(s);
        check_terminal(s);
    }
    assert_eq!(escape::terminal("\u{1b}[2J"), "\\u{1b}[2J");
    assert_eq!(escape::dot("a\"b\\c\nd"), "a\\\"b\\\\c\\\\u{a}d");
}

/// Each hostile string is one node label and one edge label: Graphviz draws exactly the
/// graph written, whatever the labels hold.
#[test]
fn hostile_strings_stay_labels_in_dot() {
    let labels: Vec<String> = HOSTILE.iter().map(|s| s.to_string()).collect();
    dot_labels(&labels);
}

fn dot_labels(labels: &[String]) {
    let mut dot = String::from("digraph g {\n");
    for (i, l) in labels.iter().enumerate() {
        let e = escape::dot(l);
        dot.push_str(&format!(
            "  n{i} [label=\"{e}\"];\n  n{i} -> n{i} [label=\"{e}\"];\n"
        ));
    }
    dot.push_str("}\n");
    match graphviz(&dot) {
        None => {}
        Some(Ok(svg)) => assert_eq!(svg_shape(&svg), (labels.len(), labels.len()), "{dot}"),
        Some(Err(e)) => panic!("Graphviz rejected the escaped labels: {e}\n{dot}"),
    }
}

proptest! {
    #[test]
    fn arbitrary_strings_are_escaped(s in hostile_string()) {
        check_xml(&s);
        check_html(&s);
        check_mermaid(&s);
        check_terminal(&s);
    }
}

proptest! {
    // Each case runs Graphviz once, on eight strings.
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn arbitrary_strings_stay_labels_in_dot(labels in prop::collection::vec(hostile_string(), 8)) {
        dot_labels(&labels);
    }
}

/// The ghost-device scenario with B's handle, the name and the path made hostile.
fn hostile_ghost() -> imessage_model::Scenario {
    let mut s = model("ghost-device-2016.toml");
    let b = s
        .accounts
        .iter_mut()
        .find(|a| a.handle == "B")
        .expect("the scenario has B");
    b.handle = HOSTILE[7].to_string() + HOSTILE[9] + HOSTILE[1];
    s.name = HOSTILE.concat();
    s.path = format!("models/{}.toml", HOSTILE[8]).into();
    s
}

#[test]
fn a_trace_with_hostile_names_renders_in_every_format() {
    let m = ProtocolModel::new(hostile_ghost());
    let x = explore(&m, Limits::of(&m.scenario));
    let c = claims::find("no-server-learns-content").unwrap();
    let t = x.trace(c).expect("violated, so there is a counterexample");
    let steps = t.steps.len();
    let what = "counterexample to";

    let text = tr::text(&m.scenario, c.id, what, &t);
    assert_shown(&text, &['\n', '\t']);
    assert!(
        text.contains("device A/1 -> relay: push from A to B\"]; evil [label="),
        "{text}"
    );

    // An explanation as hostile as the names, hanging from the deciding state.
    let why = HOSTILE.concat();
    let decision = tr::Decision {
        marks_last_step: true,
        why: Some(&why),
    };
    if let Some(svg) = graphviz(&tr::dot(&m.scenario, c.id, what, &t, decision)) {
        let svg = svg.expect("Graphviz renders the trace");
        assert_eq!(
            svg_shape(&svg),
            (steps + 2, steps + 1),
            "a node per state and the explanation, an edge per step and the explanation's"
        );
    }

    // HTML: well-formed (as XML), every name shown as text, never as markup; a list item and
    // a diagram row per step; no script.
    let page = imessage_model::report::html_trace::html(&m.scenario, c.id, what, &t, decision);
    assert_shown(&page, &['\n']);
    let doc = roxmltree::Document::parse_with_options(
        &page,
        roxmltree::ParsingOptions {
            allow_dtd: true,
            ..Default::default()
        },
    )
    .expect("the page is well-formed");
    let with_class = |class: &str| {
        doc.descendants()
            .filter(|n| {
                n.attribute("class")
                    .is_some_and(|c| c.split(' ').any(|w| w == class))
            })
            .count()
    };
    let items = doc
        .descendants()
        .filter(|n| n.attribute("id").is_some_and(|i| i.starts_with("step-")))
        .count();
    assert_eq!(items, steps, "a list item per step");
    assert_eq!(
        with_class("arrow") + with_class("note"),
        steps,
        "a diagram row per step"
    );
    assert!(with_class("violation") > 0, "the deciding facts are marked");
    assert!(!doc.descendants().any(|n| n.has_tag_name("script")
        || n.has_tag_name("evil")
        || n.has_tag_name("x")
        || n.has_tag_name("br")));
    let shown: String = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("why"))
        .filter_map(|n| n.text())
        .collect();
    assert!(shown.contains("B\"]; evil [label=\"pwned\"]"), "{shown}");

    // Mermaid: the header, the comment, a participant per party and a line per step; the text
    // of every statement decodes back to one line.
    let mermaid = tr::mermaid(&m.scenario, c.id, what, &t);
    let lines: Vec<&str> = mermaid.lines().collect();
    assert_eq!(
        lines.len(),
        2 + tr::parties(&m.scenario).len() + steps,
        "{mermaid}"
    );
    assert_eq!(lines[0], "sequenceDiagram");
    assert!(lines[1].starts_with("    %% "), "{}", lines[1]);
    for l in &lines[2..] {
        assert_shown(l, &[]);
        let (head, text) = if l.starts_with("    participant ") {
            l.split_once(" as ").expect("a participant has an alias")
        } else {
            l.split_once(": ").expect("a message or a note has a text")
        };
        assert!(
            head.starts_with("    participant ")
                || head.starts_with("    Note over ")
                || head.contains("->>")
                || head.contains("-x"),
            "{l}"
        );
        assert!(!text.contains(['<', '>']), "{l}");
        mermaid_decode(text);
    }

    let json = serde_json::to_string(&tr::json(&m.scenario, c.id, what, &t)).unwrap();
    assert!(serde_json::from_str::<serde_json::Value>(&json).is_ok());
}

#[test]
fn a_report_with_hostile_names_is_valid_junit_and_terminal_text() {
    // A flipped expectation, so that the report carries a failure with its trace.
    let mut s = hostile_ghost();
    for e in &mut s.expect {
        if e.claim.id() == "no-server-learns-content" {
            e.verdict = imessage_model::Verdict::Holds;
        }
    }
    let report = imessage_model::check_all(
        vec![s],
        1,
        imessage_model::CheckOptions {
            witnesses: true,
            ..Default::default()
        },
    );
    let xml = imessage_model::report::junit::render_with(&report, &[], true);
    let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
    let suite = doc
        .descendants()
        .find(|n| n.has_tag_name("testsuite"))
        .unwrap();
    let s = &report.scenarios[0];
    assert_eq!(
        suite.attribute("name"),
        Some(escape::terminal(&format!("{}: {}", s.file, s.name)).as_str())
    );
    assert_eq!(
        doc.descendants()
            .filter(|n| n.has_tag_name("testcase"))
            .count(),
        imessage_model::CATALOGUE.len()
    );
    let failure = doc
        .descendants()
        .find(|n| n.has_tag_name("failure"))
        .expect("the flipped expectation fails");
    assert!(
        failure
            .text()
            .unwrap()
            .contains("push from A to B\"]; evil"),
        "{xml}"
    );
    let text = imessage_model::report::text::render(&report, true);
    assert_shown(&text, &['\n', '\t']);
}
