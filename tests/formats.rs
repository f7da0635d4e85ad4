//! Every output format: trace formats, JUnit XML, shards.

use crate::{model, repo_path};
use imessage_model::check::{explore, Limits};
use imessage_model::report::trace as tr;
use imessage_model::{claims, ProtocolModel};
use std::process::Command;

/// The ghost-device read without CKV, in one format.
fn ghost(
    render: fn(&imessage_model::Scenario, &str, &str, &imessage_model::check::Trace) -> String,
) -> String {
    let m = ProtocolModel::new(model("ghost-device-2016.toml"));
    let x = explore(&m, Limits::of(&m.scenario));
    let c = claims::find("no-server-learns-content").unwrap();
    let t = x.trace(c).expect("violated, so there is a counterexample");
    render(&m.scenario, c.id, "counterexample to", &t)
}

fn json_text(
    s: &imessage_model::Scenario,
    c: &str,
    w: &str,
    t: &imessage_model::check::Trace,
) -> String {
    serde_json::to_string_pretty(&tr::json(s, c, w, t)).unwrap()
}

fn itf_text(
    s: &imessage_model::Scenario,
    c: &str,
    w: &str,
    t: &imessage_model::check::Trace,
) -> String {
    serde_json::to_string_pretty(&tr::itf(s, c, w, t)).unwrap()
}

fn dot_text(
    s: &imessage_model::Scenario,
    c: &str,
    w: &str,
    t: &imessage_model::check::Trace,
) -> String {
    tr::dot(
        s,
        c,
        w,
        t,
        tr::Decision::of(imessage_model::ClaimKind::Always, None),
    )
}

fn html_text(
    s: &imessage_model::Scenario,
    c: &str,
    w: &str,
    t: &imessage_model::check::Trace,
) -> String {
    imessage_model::report::html_trace::html(
        s,
        c,
        w,
        t,
        tr::Decision::of(imessage_model::ClaimKind::Always, None),
    )
}

#[test]
fn ghost_trace_as_text() {
    insta::assert_snapshot!("trace_ghost_text", ghost(tr::text));
}

#[test]
fn ghost_trace_as_json() {
    insta::assert_snapshot!("trace_ghost_json", ghost(json_text));
}

#[test]
fn ghost_trace_as_mermaid() {
    let m = ghost(tr::mermaid);
    assert!(m.starts_with("sequenceDiagram\n"));
    insta::assert_snapshot!("trace_ghost_mermaid", m);
}

#[test]
fn ghost_trace_as_dot() {
    insta::assert_snapshot!("trace_ghost_dot", ghost(dot_text));
}

#[test]
fn ghost_trace_as_html() {
    insta::assert_snapshot!("trace_ghost_html", ghost(html_text));
}

#[test]
fn ghost_trace_as_itf() {
    let text = ghost(itf_text);
    insta::assert_snapshot!("trace_ghost_itf", text);
    // The structure the ITF readers expect: #meta, vars, and states that bind every var.
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert!(v["#meta"].is_object());
    let vars: Vec<&str> = v["vars"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    assert!(vars.contains(&"directory") && vars.contains(&"day") && vars.contains(&"action"));
    let states = v["states"].as_array().unwrap();
    assert_eq!(states.len(), 8, "the initial state and one per step");
    for (i, st) in states.iter().enumerate() {
        assert_eq!(st["#meta"]["index"], i);
        for var in &vars {
            assert!(st.get(*var).is_some(), "state {i} lacks {var}");
        }
        assert!(st["directory"]["#set"].is_array());
        assert!(st["day"]["#bigint"].is_string());
    }
}

/// Graphviz accepts the DOT output. CI installs Graphviz, so there the check must run.
#[test]
fn dot_output_renders_with_graphviz() {
    let dot = ghost(dot_text);
    let Ok(mut child) = Command::new("dot")
        .arg("-Tsvg")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
    else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI runs need Graphviz (`dot`)"
        );
        eprintln!("Graphviz is not installed here: the DOT output was not rendered");
        return;
    };
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(dot.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("<svg"));
}

#[test]
fn junit_xml_parses_and_counts_match() {
    let dir = tempfile::tempdir().unwrap();
    let flipped = std::fs::read_to_string(repo_path("models/ghost-device-ckv.toml"))
        .unwrap()
        .replace(
            "ghost-device-detected = \"holds\"",
            "ghost-device-detected = \"violated\"",
        );
    let f = dir.path().join("flipped.toml");
    std::fs::write(&f, flipped).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_imessage-model"))
        .current_dir(repo_path(""))
        .args([
            "check",
            "models/ghost-device-2016.toml",
            f.to_str().unwrap(),
            "--format",
            "junit",
            "--junit-all",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let xml = String::from_utf8(out.stdout).unwrap();
    let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    let n = imessage_model::CATALOGUE.len();
    assert_eq!(root.attribute("tests"), Some((2 * n).to_string().as_str()));
    assert_eq!(root.attribute("failures"), Some("1"));
    let suites: Vec<_> = root
        .children()
        .filter(|c| c.has_tag_name("testsuite"))
        .collect();
    assert_eq!(suites.len(), 2);
    for s in &suites {
        let cases = s.children().filter(|c| c.has_tag_name("testcase")).count();
        assert_eq!(cases, n);
    }
    let failure = doc
        .descendants()
        .find(|d| d.has_tag_name("failure"))
        .expect("the flipped expectation fails");
    assert_eq!(
        failure.attribute("message"),
        Some("holds, expected violated")
    );
    assert_eq!(
        failure.parent().unwrap().attribute("name"),
        Some("ghost-device-detected")
    );
    // By default only the claims with an expectation are test cases: nothing is skipped.
    let out = Command::new(env!("CARGO_BIN_EXE_imessage-model"))
        .current_dir(repo_path(""))
        .args([
            "check",
            "models/ghost-device-2016.toml",
            f.to_str().unwrap(),
        ])
        .args(["--format", "junit"])
        .output()
        .unwrap();
    let xml = String::from_utf8(out.stdout).unwrap();
    let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
    let expected: usize = ["models/ghost-device-2016.toml", f.to_str().unwrap()]
        .iter()
        .map(|p| {
            let s = imessage_model::load::parse(
                std::path::Path::new(p),
                &std::fs::read_to_string(repo_path(p)).unwrap(),
            )
            .unwrap();
            s.claims
                .iter()
                .filter(|c| s.expectation(c.id()).is_some())
                .count()
        })
        .sum();
    let cases = doc
        .descendants()
        .filter(|d| d.has_tag_name("testcase"))
        .count();
    assert_eq!(cases, expected);
    assert!(expected < 2 * n);
    assert_eq!(
        doc.descendants()
            .filter(|d| d.has_tag_name("skipped"))
            .count(),
        0
    );
    assert_eq!(doc.root_element().attribute("failures"), Some("1"));
}

#[test]
fn check_shards_partition_the_files() {
    let run = |shard: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_imessage-model"))
            .current_dir(repo_path(""))
            .args(["check", "models/", "--format", "json", "--shard", shard])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["scenarios"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["file"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    let mut all: Vec<String> = (1..=3).flat_map(|i| run(&format!("{i}/3"))).collect();
    all.sort();
    let mut expected: Vec<String> = crate::model_files()
        .iter()
        .map(|f| format!("models/{f}"))
        .collect();
    expected.sort();
    assert_eq!(all, expected);
    let bad = Command::new(env!("CARGO_BIN_EXE_imessage-model"))
        .args(["check", "--shard", "4/3"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn trace_command_errors_are_clear() {
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_imessage-model"))
            .current_dir(repo_path(""))
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&["trace", "models/ghost-device-2016.toml", "no-such-claim"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown claim `no-such-claim`"));
    let out = run(&[
        "trace",
        "models/ghost-device-ckv.toml",
        "ghost-device-detected",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no trace: `ghost-device-detected` holds"),
        "{err}"
    );
    let out = run(&[
        "trace",
        "models/ghost-device-2016.toml",
        "ghost-device-detected",
        "--format",
        "mermaid",
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("sequenceDiagram"));
}

#[test]
fn simulation_is_reproducible_from_its_seed() {
    let m = ProtocolModel::new(model("ghost-device-2016.toml"));
    let a = imessage_model::simulate::run(&m, 42, 500);
    let b = imessage_model::simulate::run(&m, 42, 500);
    assert_eq!(a.steps, b.steps);
    assert_eq!(a.holdings, b.holdings);
    assert_eq!(a.ended, "no step was left");
    // Every run of this scenario ends with the ghost device's read, found on the way.
    let runs: Vec<_> = (0..20)
        .map(|s| imessage_model::simulate::run(&m, s, 500))
        .collect();
    assert!(runs.iter().all(|r| r
        .violations
        .iter()
        .any(|(id, _)| id == "no-server-learns-content")));
    assert!(
        runs.iter().any(|r| r.steps != runs[0].steps),
        "different seeds, different runs"
    );
    let text = imessage_model::simulate::render(&m.scenario, &a);
    assert!(text.starts_with(
        "run with seed 42 (13 steps, stopped because no step was left); replay: imessage-model simulate models/ghost-device-2016.toml --seed 42"
    ), "{text}");
    assert!(text.contains("lookup log (what a court order for every handle would receive):"));
}

/// Handles are phone numbers and addresses: identifiers in ITF and Mermaid stay identifiers.
#[test]
fn party_names_are_identifiers_whatever_the_handles() {
    let s = imessage_model::load::parse(
        std::path::Path::new("real.toml"),
        r#"name = "real handles"
variant = "imessage-2016"
threat = "ghost-device"
[[account]]
handle = "+1 555 0100"
[[account]]
handle = "bob@example.com"
[[action]]
by = "+1 555 0100/1"
send = "bob@example.com"
"#,
    )
    .unwrap();
    let names: Vec<String> = tr::parties(&s).into_iter().map(|(v, _)| v).collect();
    assert!(
        names.contains(&"device__1_555_0100_1".to_string()),
        "{names:?}"
    );
    assert!(
        names.contains(&"device_bob_example_com_1".to_string()),
        "{names:?}"
    );
    for n in &names {
        assert!(
            n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "{n}"
        );
    }
    let m = ProtocolModel::new(s);
    let x = explore(&m, Limits::of(&m.scenario));
    let t = x
        .trace(claims::find("no-server-learns-content").unwrap())
        .unwrap();
    let mermaid = tr::mermaid(
        &m.scenario,
        "no-server-learns-content",
        "counterexample to",
        &t,
    );
    assert!(
        mermaid.contains("device__1_555_0100_1->>directory: 2. lookup target=bob@example.com"),
        "{mermaid}"
    );
}

/// Counts read as English: `1 state`, `1 unique state`; an empty report (an empty shard) took
/// `0.00 s`, not `-0.00 s`.
#[test]
fn text_report_counts_and_an_empty_report() {
    let s = imessage_model::load::parse(
        std::path::Path::new("idle.toml"),
        "name = \"idle\"\nvariant = \"imessage-2016\"\n[[account]]\nhandle = \"A\"\n",
    )
    .unwrap();
    let report = imessage_model::check_all(vec![s], 1, Default::default());
    let text = imessage_model::report::text::render(&report, false);
    assert!(
        text.contains("  1 state, 1 unique, depth 0, reduction por, complete\n"),
        "{text}"
    );
    assert!(
        text.contains("; 1 unique state, every scenario complete"),
        "{text}"
    );
    let empty = imessage_model::Report { scenarios: vec![] };
    let text = imessage_model::report::text::render(&empty, true);
    assert!(text.ends_with(", 0.00 s of checking\n"), "{text}");
    let xml = imessage_model::report::junit::render(&empty);
    assert!(xml.contains("time=\"0.000000\""), "{xml}");
}

/// The official SARIF 2.1.0 schema, as the serde-sarif crate ships it (found through
/// `cargo metadata`, so the test reads the same file offline).
fn sarif_schema() -> serde_json::Value {
    // Only this platform's packages: the others' may not have been downloaded.
    let version = Command::new(env!("CARGO")).arg("-vV").output().unwrap();
    let version = String::from_utf8(version.stdout).unwrap();
    let host = version
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .expect("cargo -vV names the host");
    let out = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--locked", "--offline"])
        .args(["--filter-platform", host])
        .current_dir(repo_path(""))
        .output()
        .expect("cargo metadata runs");
    assert!(out.status.success(), "{out:?}");
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let manifest = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "serde-sarif")
        .and_then(|p| p["manifest_path"].as_str())
        .expect("serde-sarif is a dev-dependency");
    let schema = std::path::Path::new(manifest)
        .parent()
        .unwrap()
        .join("src/schema.json");
    serde_json::from_str(&std::fs::read_to_string(&schema).unwrap()).unwrap()
}

/// The 1-based line of the first line of `text` that starts with `prefix`.
fn line_of(text: &str, prefix: &str) -> usize {
    text.lines().position(|l| l.starts_with(prefix)).unwrap() + 1
}

#[test]
fn sarif_output_is_valid_and_points_at_the_expect_line() {
    let dir = tempfile::tempdir().unwrap();
    let claims = repo_path("claims/typing.toml").display().to_string();
    // A leak claim expected unreachable that is reachable (its witness is the evidence), and
    // an invariant expected to hold that is violated (its counterexample), in a file whose
    // name needs percent-encoding.
    let typing = std::fs::read_to_string(repo_path("models/typing-only.toml"))
        .unwrap()
        .replace("../claims/typing.toml", &claims.replace('\\', "/"))
        .replace(
            "typing-reveals-conversation = \"reachable\"",
            "typing-reveals-conversation = \"unreachable\"",
        );
    std::fs::write(dir.path().join("typing only.toml"), &typing).unwrap();
    let ghost = std::fs::read_to_string(repo_path("models/ghost-device-2016.toml"))
        .unwrap()
        .replace(
            "no-server-learns-content = \"violated\"",
            "no-server-learns-content = \"holds\"",
        );
    std::fs::write(dir.path().join("ghost.toml"), &ghost).unwrap();
    let bad = "name = \"bad\"\nvariant = \"imessage-2016\"\ncolour = \"blue\"\n";
    std::fs::write(dir.path().join("rejected.toml"), bad).unwrap();

    let out = Command::new(env!("CARGO_BIN_EXE_imessage-model"))
        .args(["check", ".", "--format", "sarif"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "a rejected file: exit 2");
    let sarif: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();

    // Valid against the schema, formats (URIs) included, and readable as SARIF's types.
    let mut schemas = boon::Schemas::new();
    let mut compiler = boon::Compiler::new();
    compiler.enable_format_assertions();
    compiler
        .add_resource("sarif-schema-2.1.0.json", sarif_schema())
        .unwrap();
    let schema = compiler
        .compile("sarif-schema-2.1.0.json", &mut schemas)
        .unwrap();
    if let Err(e) = schemas.validate(&sarif, schema) {
        panic!("the SARIF output is not valid: {e:#}");
    }
    // (The validator does reject what the schema forbids.)
    let mut wrong = sarif.clone();
    wrong["runs"][0]["results"][0]["level"] = "fatal".into();
    assert!(schemas.validate(&wrong, schema).is_err());
    let mut wrong = sarif.clone();
    wrong["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] =
        "a file with spaces".into();
    assert!(schemas.validate(&wrong, schema).is_err());
    let typed: serde_sarif::sarif::Sarif = serde_json::from_value(sarif.clone()).unwrap();
    assert_eq!(typed.runs.len(), 1);

    let run = &sarif["runs"][0];
    let results = run["results"].as_array().unwrap();
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    let find = |rule: &str| {
        let r = results
            .iter()
            .find(|r| r["ruleId"] == rule)
            .unwrap_or_else(|| panic!("a result for {rule}: {results:?}"));
        let i = r["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[i]["id"], rule, "ruleIndex names the result's rule");
        let place = &r["locations"][0]["physicalLocation"];
        let at = (
            place["artifactLocation"]["uri"]
                .as_str()
                .unwrap()
                .to_string(),
            place["region"]["startLine"].as_u64().unwrap() as usize,
        );
        (r.clone(), at)
    };
    assert_eq!(
        results.len(),
        3,
        "two differing verdicts and one rejected file"
    );

    let (leak, at) = find("typing-reveals-conversation");
    assert_eq!(
        at,
        (
            "./typing%20only.toml".to_string(),
            line_of(&typing, "typing-reveals-conversation =")
        )
    );
    let steps = leak["codeFlows"][0]["threadFlows"][0]["locations"]
        .as_array()
        .unwrap();
    assert_eq!(steps.len(), 6, "the shortest witness");
    assert_eq!(
        steps[0]["location"]["message"]["text"],
        "device A/1: user starts typing to B"
    );

    let (violated, at) = find("no-server-learns-content");
    assert_eq!(
        at,
        (
            "./ghost.toml".to_string(),
            line_of(&ghost, "no-server-learns-content =")
        )
    );
    assert!(violated["message"]["text"]
        .as_str()
        .unwrap()
        .starts_with("`no-server-learns-content` is violated, but ./ghost.toml expects holds"));
    assert!(!violated["codeFlows"][0]["threadFlows"][0]["locations"]
        .as_array()
        .unwrap()
        .is_empty());

    let (rejected, at) = find(imessage_model::report::sarif::REJECTED_RULE);
    assert_eq!(at, ("./rejected.toml".to_string(), 3));
    assert!(rejected["message"]["text"]
        .as_str()
        .unwrap()
        .contains("unknown key `colour`"));
    // Every file is an artifact, the good ones with every verdict.
    let artifacts = run["artifacts"].as_array().unwrap();
    assert_eq!(artifacts.len(), 3);
    let typing_artifact = artifacts
        .iter()
        .find(|a| a["location"]["uri"] == "./typing%20only.toml")
        .unwrap();
    assert_eq!(
        typing_artifact["properties"]["verdicts"]
            .as_array()
            .unwrap()
            .len(),
        18
    );
    assert_eq!(run["invocations"][0]["executionSuccessful"], false);
    assert_eq!(run["properties"]["summary"]["rejected"], 1);
}

/// A claim decided by a fact a step removes: the log's crash and restart lose A's record, and
/// that removal is what the HTML page and the DOT graph mark as deciding.
#[test]
fn a_removed_fact_that_decides_the_claim_is_marked() {
    let m = ProtocolModel::new(model("log-crash.toml"));
    let x = explore(&m, Limits::of(&m.scenario));
    let c = claims::find("lookup-always-logged").unwrap();
    let t = x.trace(c).expect("violated under log-crash");
    let decision = tr::Decision::of(c.kind, None);
    let page = imessage_model::report::html_trace::html(
        &m.scenario,
        c.id,
        "counterexample to",
        &t,
        decision,
    );
    let doc = roxmltree::Document::parse_with_options(
        &page,
        roxmltree::ParsingOptions {
            allow_dtd: true,
            ..Default::default()
        },
    )
    .unwrap();
    let marked: Vec<String> = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("removed violation"))
        .map(|n| n.descendants().filter_map(|d| d.text()).collect())
        .collect();
    assert!(
        marked
            .iter()
            .any(|f| f.starts_with("lookup log record: day 0: A looked up B")),
        "{marked:?}"
    );
    let dot = tr::dot(&m.scenario, c.id, "counterexample to", &t, decision);
    assert!(
        dot.contains(
            "lookup log - record: day 0: A looked up B from 198.51.100.7, 1 device   <- decides"
        ),
        "{dot}"
    );
}
