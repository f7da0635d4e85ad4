//! The binary: exit codes, formats, located errors.

use crate::repo_path;
use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_imessage-model"))
        .args(args)
        .current_dir(repo_path(""))
        .output()
        .expect("the binary runs")
}

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
    let p = dir.path().join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

/// A host file for a cluster of two processes on two free loopback ports.
fn loopback_hosts(dir: &tempfile::TempDir) -> String {
    let ports: Vec<String> = (0..2)
        .map(|_| {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().to_string()
        })
        .collect();
    write(
        dir,
        "hosts",
        &format!("# two processes\n{}\n\n{}\n", ports[0], ports[1]),
    )
}

/// Starts `check FILES... --processes 2 --process I --hostfile HOSTS` (and `extra`), its output
/// piped.
fn start_process(i: &str, files: &[&str], hosts: &str, extra: &[&str]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_imessage-model"))
        .arg("check")
        .args(files)
        .args(["--processes", "2", "--process", i, "--hostfile", hosts])
        .args(extra)
        .current_dir(repo_path(""))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the binary starts")
}

#[test]
fn check_models_exits_zero() {
    let out = run(&["check", "models/", "--threads", "2"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("0 differ"), "{stdout}");
    assert!(stdout.contains("every scenario complete"), "{stdout}");
}

#[test]
fn a_flipped_expectation_exits_one_and_says_how_to_reproduce() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(repo_path("models/ghost-device-ckv.toml"))
        .unwrap()
        .replace(
            "ghost-device-detected = \"holds\"",
            "ghost-device-detected = \"violated\"",
        );
    let f = write(&dir, "flipped.toml", &text);
    let out = run(&["check", &f]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("DIFF ghost-device-detected"), "{stdout}");
    assert!(
        stdout.contains(&format!("reproduce: imessage-model check {f}")),
        "{stdout}"
    );
}

#[test]
fn an_unknown_key_exits_two_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(repo_path("models/sms-fallback.toml"))
        .unwrap()
        .replace(
            "registered = false",
            "registered = false\ncolour = \"green\"",
        );
    let f = write(&dir, "bad.toml", &text);
    let out = run(&["check", &f]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let line = text.lines().position(|l| l.starts_with("colour")).unwrap() + 1;
    assert!(
        stderr.contains(&format!("{f}:{line}:1: unknown key `colour`")),
        "{stderr}"
    );
    assert!(
        out.stdout.is_empty(),
        "no text report when every file is rejected"
    );
}

#[test]
fn a_missing_path_exits_two() {
    let out = run(&["check", "models/no-such.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("models/no-such.toml: no such file or directory"));
}

#[test]
fn json_output_has_the_documented_shape() {
    let out = run(&[
        "check",
        "models/ghost-device-2016.toml",
        "models/sms-fallback.toml",
        "--format",
        "json",
        "--witness",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
    let scenarios = v["scenarios"].as_array().unwrap();
    assert_eq!(scenarios.len(), 2);
    for s in scenarios {
        for key in [
            "file",
            "name",
            "variant",
            "threat",
            "states",
            "unique_states",
            "seconds",
            "complete",
            "claims",
        ] {
            assert!(s.get(key).is_some(), "missing {key}");
        }
        for c in s["claims"].as_array().unwrap() {
            for key in ["id", "kind", "verdict", "expected", "as_expected", "trace"] {
                assert!(c.get(key).is_some(), "missing {key}");
            }
        }
    }
    let claim = |s: &serde_json::Value, id: &str| {
        s["claims"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .cloned()
            .unwrap()
    };
    let ghost = claim(&scenarios[0], "no-server-learns-content");
    assert_eq!(ghost["verdict"], "violated");
    assert_eq!(ghost["trace"].as_array().unwrap().len(), 7);
    assert_eq!(ghost["trace"][0]["text"], "device A/1: user sends m1 to B");
    let sms = claim(&scenarios[1], "sms-fallback-exposes-content");
    assert!(sms["trace"].is_array(), "--witness adds witnesses");
    // Whether symmetry reduction ran, and over which devices: by default not over B's two
    // alike devices in the ghost scenario (a class of two costs more than it saves), and
    // none where no two devices are alike (sms-fallback: one each); with `--symmetry on`
    // over B/1 and B/2.
    assert_eq!(scenarios[0]["symmetry"], serde_json::json!([]));
    assert_eq!(scenarios[1]["symmetry"], serde_json::json!([]));
    let on = run(&[
        "check",
        "models/ghost-device-2016.toml",
        "--format",
        "json",
        "--symmetry",
        "on",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&on.stdout).expect("valid JSON");
    assert_eq!(
        v["scenarios"][0]["symmetry"],
        serde_json::json!([["B/1", "B/2"]])
    );
    let off = run(&[
        "check",
        "models/ghost-device-2016.toml",
        "--format",
        "json",
        "--symmetry",
        "off",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&off.stdout).expect("valid JSON");
    assert_eq!(v["scenarios"][0]["symmetry"], serde_json::json!([]));
    let text = run(&["check", "models/ghost-device-2016.toml", "--symmetry", "on"]);
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(
        text.contains("reduction por, complete, symmetry over B/1 B/2, "),
        "{text}"
    );
}

#[test]
fn claims_lists_the_catalogue_as_json() {
    let out = run(&["claims", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    let catalogue: Vec<&str> = imessage_model::CATALOGUE.iter().map(|c| c.id).collect();
    assert_eq!(ids, catalogue);
    for c in v.as_array().unwrap() {
        assert!(["always", "sometimes", "eventually"].contains(&c["kind"].as_str().unwrap()));
        assert!(!c["statement"].as_str().unwrap().is_empty());
        assert!(!c["source"].as_str().unwrap().is_empty());
    }
}

#[test]
fn a_matrix_cell_is_a_scenario_file_that_checks() {
    let out = run(&["matrix", "--cell", "imessage-2016/ghost-device"]);
    assert_eq!(out.status.code(), Some(0));
    let dir = tempfile::tempdir().unwrap();
    let f = write(&dir, "cell.toml", &String::from_utf8_lossy(&out.stdout));
    let s = imessage_model::Scenario::load(std::path::Path::new(&f)).unwrap();
    assert_eq!(s.variant, imessage_model::scenario::Variant::Imessage2016);
    assert_eq!(s.threat, imessage_model::scenario::Threat::GhostDevice);
    // The settings columns: honest servers with one setting changed.
    for (column, receipts, flag, lossy) in [
        ("sealed-sender/delivery-receipts", true, false, false),
        ("sealed-sender/for-message-logged", false, true, false),
        ("imessage-2016/for-message-logged", false, true, false),
        ("imessage-2016/lossy-network", false, false, true),
    ] {
        let out = run(&["matrix", "--cell", column]);
        assert_eq!(out.status.code(), Some(0), "{column}");
        let f = write(&dir, "cell.toml", &String::from_utf8_lossy(&out.stdout));
        let s = imessage_model::Scenario::load(std::path::Path::new(&f)).unwrap();
        assert_eq!(
            s.threat,
            imessage_model::scenario::Threat::Honest,
            "{column}"
        );
        assert_eq!(
            (s.features.delivery_receipts, s.log_for_message, s.lossy),
            (receipts, flag, lossy),
            "{column}"
        );
        // The cell checks the library claims its findings name.
        assert!(s
            .claims
            .iter()
            .any(|c| c.id() == "relay-links-sealed-sender"));
    }
    let out = run(&["matrix", "--cell", "imessage-2016/solar-flare"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown threat `solar-flare`"));
}

/// `matrix --features` turns features on in every cell, on top of each variant's own.
#[test]
fn matrix_features_add_to_every_cells_variant() {
    let cell = |c: &str| {
        let out = run(&[
            "matrix",
            "--cell",
            c,
            "--features",
            "private-discovery,delivery-receipts",
        ]);
        assert_eq!(out.status.code(), Some(0));
        let dir = tempfile::tempdir().unwrap();
        let f = write(&dir, "cell.toml", &String::from_utf8_lossy(&out.stdout));
        imessage_model::Scenario::load(std::path::Path::new(&f))
            .unwrap()
            .features
    };
    let f = cell("imessage-2016/honest");
    assert!(f.private_discovery && f.delivery_receipts && !f.ckv && !f.sealed_sender);
    // Private discovery is the sealed-sender variant's already.
    let f = cell("sealed-sender/honest");
    assert!(f.private_discovery && f.sealed_sender && f.delivery_receipts && !f.ckv);
    let out = run(&["matrix", "--features", "read-receipts"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown feature `read-receipts`"));
}

/// `trace`, `simulate` and `explore` report an unreadable file once, with its reason once.
#[test]
fn an_unreadable_scenario_is_reported_once() {
    for args in [
        &["trace", "models/no-such.toml", "no-server-learns-content"][..],
        &["simulate", "models/no-such.toml", "--seed", "1"][..],
        &["explore", "models/no-such.toml", "--port", "0"][..],
    ] {
        let out = run(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(
            stderr.trim_end(),
            "error: models/no-such.toml: cannot read the file: No such file or directory (os error 2)",
            "{args:?}"
        );
    }
}

/// A file that is not UTF-8 is rejected at the line and column of its first bad byte.
#[test]
fn a_file_that_is_not_utf8_is_located_at_its_first_bad_byte() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("latin1.toml");
    std::fs::write(
        &p,
        b"name = \"x\"\nvariant = \"imessage-2016\"\ndescription = \"caf\xe9\"\n",
    )
    .unwrap();
    let f = p.display().to_string();
    let out = run(&["check", &f]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{f}:3:19: the file is not UTF-8 text: byte 0xE9 cannot start or continue a character here"
        )),
        "{stderr}"
    );
}

/// A hostile handle exits 2 with a located error that shows it escaped.
#[test]
fn a_hostile_handle_exits_two_with_a_located_error() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(repo_path("models/sms-fallback.toml"))
        .unwrap()
        .replacen("handle = \"A\"", "handle = \"A\\u001b]0;pwned\\u0007\"", 1);
    let f = write(&dir, "hostile.toml", &text);
    let line = text.lines().position(|l| l.contains("pwned")).unwrap() + 1;
    let out = run(&["check", &f]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{f}:{line}:10: key `account.handle`: `A\\u{{1b}}]0;pwned\\u{{7}}` is not a handle"
        )),
        "{stderr}"
    );
    assert!(!stderr.contains('\u{1b}'), "{stderr:?}");
}

/// Ctrl-C during `check` prints the reports of the scenarios already checked, names the
/// others, and exits 130.
#[cfg(unix)]
#[test]
fn ctrl_c_during_check_prints_the_finished_reports() {
    use std::io::Read;
    use std::time::{Duration, Instant};
    let dir = tempfile::tempdir().unwrap();
    // Far more states than a second of search reaches; the bound keeps the search finite (and
    // its memory bounded) should the interrupt be missed.
    let slow = write(
        &dir,
        "slow.toml",
        r#"name = "slow"
variant = "imessage-2016"
threat = "ghost-device"
[network]
order = "unordered"
lossy = true
[bounds]
max-states = 1000000
[[account]]
handle = "A"
devices = 2
[[account]]
handle = "B"
devices = 2
[[action]]
by = "A/1"
send = "B"
[[action]]
by = "A/2"
send = "B"
[[action]]
by = "B/1"
send = "A"
[[action]]
by = "B/2"
lookup = "A"
[[legal-request]]
handle = "B"
"#,
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_imessage-model"))
        .args(["check", "models/baseline.toml", &slow])
        .current_dir(repo_path(""))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The baseline takes milliseconds; the slow search is still running.
    std::thread::sleep(Duration::from_millis(500));
    // SAFETY: kill(2) on the child's process id, which has not been waited for yet.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("check did not stop on Ctrl-C");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(status.code(), Some(130), "{stdout}{stderr}");
    assert!(stdout.starts_with("models/baseline.toml: "), "{stdout}");
    assert!(stdout.contains("\n1 scenario: "), "{stdout}");
    assert!(
        stderr.contains(&format!(
            "interrupted: 1 of 2 scenarios checked (their reports are above); not checked: {slow}"
        )),
        "{stderr}"
    );
}

/// A valid scenario whose states are large (32 accounts of 2 devices, 256 actions) stops at the
/// memory bound with a labelled bounded verdict and a report, instead of being killed.
#[test]
fn a_memory_bound_stops_a_large_scenario_with_a_report() {
    let mut text = String::from(
        "name = \"large\"\nvariant = \"imessage-2016\"\n[network]\norder = \"unordered\"\n",
    );
    for i in 0..32 {
        text.push_str(&format!("[[account]]\nhandle = \"U{i}\"\ndevices = 2\n"));
    }
    for i in 0..32 {
        for d in 1..=2 {
            for j in 0..4 {
                let verb = if j % 2 == 1 { "send" } else { "lookup" };
                let target = (i + 1 + j) % 32;
                text.push_str(&format!(
                    "[[action]]\nby = \"U{i}/{d}\"\n{verb} = \"U{target}\"\n"
                ));
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("large.toml");
    std::fs::write(&path, text).unwrap();
    let out = run(&[
        "check",
        "--quiet",
        "--max-memory",
        "64",
        path.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("NOT complete: stopped at 64 MiB of memory"),
        "{stdout}"
    );
    assert!(stdout.contains("holds within 64 MiB of memory"), "{stdout}");
}

/// The JSON report without what depends on the machine's speed.
fn json_without_timing(out: &Output) -> serde_json::Value {
    let mut v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    for s in v["scenarios"].as_array_mut().unwrap() {
        let s = s.as_object_mut().unwrap();
        for k in ["seconds", "states_per_second", "bytes_per_state"] {
            s.remove(k);
        }
    }
    v
}

#[test]
fn workers_and_processes_report_what_the_single_thread_search_reports() {
    let files = [
        "models/baseline.toml",
        "models/key-swap-2016.toml",
        "models/log-crash.toml",
    ];
    let args = |extra: &[&str]| {
        let mut a = vec!["check", "--format", "json"];
        a.extend(files);
        a.extend(extra);
        a.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    let reference = run(&args(&[]).iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(reference.status.code(), Some(0));
    let want = json_without_timing(&reference);
    let two = run(&args(&["--threads", "2"])
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>());
    assert_eq!(
        two.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&two.stderr)
    );
    assert_eq!(json_without_timing(&two), want);

    // Two processes on loopback, each started as a user would.
    let dir = tempfile::tempdir().unwrap();
    let hosts = loopback_hosts(&dir);
    let start = |i: &str| start_process(i, &files, &hosts, &["--format", "json"]);
    let one = start("1");
    let zero = start("0");
    let (zero, one) = (
        zero.wait_with_output().unwrap(),
        one.wait_with_output().unwrap(),
    );
    assert_eq!(
        zero.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&zero.stderr)
    );
    assert_eq!(json_without_timing(&zero), want);
    assert_eq!(
        one.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&one.stderr)
    );
    assert!(one.stdout.is_empty(), "only process 0 prints the report");
}

#[test]
fn a_bad_host_file_exits_two_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "127.0.0.1:4100\nlocalhost\n",
            "2",
            ":2: `localhost` is not an address",
        ),
        (
            "127.0.0.1:4100\n10.0.0.1:0\n",
            "2",
            ":2: `10.0.0.1:0` is not an address",
        ),
        (
            "127.0.0.1:4100\n",
            "2",
            "lists 1 address but --processes is 2",
        ),
        (
            "127.0.0.1:4100\n127.0.0.1:4101\n",
            "2",
            "--process 5: processes are numbered 0 to 1",
        ),
    ];
    for (k, (text, processes, message)) in cases.iter().enumerate() {
        let hosts = write(&dir, &format!("hosts{k}"), text);
        let process = if message.starts_with("--process 5") {
            "5"
        } else {
            "0"
        };
        let out = run(&[
            "check",
            "models/baseline.toml",
            "--processes",
            processes,
            "--process",
            process,
            "--hostfile",
            &hosts,
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(message), "{message}: {stderr}");
        assert!(out.stdout.is_empty());
    }
    let missing = run(&[
        "check",
        "models/baseline.toml",
        "--processes",
        "2",
        "--process",
        "0",
    ]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("--hostfile"));
}

#[test]
fn processes_checking_different_scenarios_stop_with_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let hosts = loopback_hosts(&dir);
    let start = |i: &str, files: &[&str]| start_process(i, files, &hosts, &[]);
    // Another scenario; and the same first scenario but one file more.
    let cases: [(&[&str], &[&str]); 2] = [
        (&["models/baseline.toml"], &["models/log-crash.toml"]),
        (
            &["models/baseline.toml", "models/log-crash.toml"],
            &["models/baseline.toml"],
        ),
    ];
    for (files0, files1) in cases {
        let one = start("1", files1);
        let zero = start("0", files0);
        for out in [
            zero.wait_with_output().unwrap(),
            one.wait_with_output().unwrap(),
        ] {
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{stderr}");
            assert!(
                stderr.contains("do not check the same scenarios"),
                "{stderr}"
            );
        }
    }
}

#[test]
fn a_process_that_stops_mid_search_is_an_error_for_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let hosts = loopback_hosts(&dir);
    let file = "benches/scenarios/ladder-7-three-devices-both-ways.toml";
    let start = |i: &str| start_process(i, &[file], &hosts, &[]);
    let mut one = start("1");
    let zero = start("0");
    // The search takes far longer than this; stop process 1 in the middle of it.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    one.kill().unwrap();
    one.wait().unwrap();
    let out = zero.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("the connection to another process of the cluster broke"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
}

/// A leak claim found `reachable` where the file expects `unreachable` shows its witness, in
/// the text report and in the JUnit failure, as a differing `always` claim shows its
/// counterexample.
#[test]
fn a_differing_leak_claim_shows_its_witness() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(repo_path("models/baseline.toml"))
        .unwrap()
        .replace(
            "relay-learns-contact = \"reachable\"",
            "relay-learns-contact = \"unreachable\"",
        );
    let f = write(&dir, "leak.toml", &text);
    let out = run(&["check", &f]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("DIFF relay-learns-contact"), "{stdout}");
    assert!(
        stdout.contains("witness for relay-learns-contact"),
        "{stdout}"
    );
    let junit = String::from_utf8(run(&["check", &f, "--format", "junit"]).stdout).unwrap();
    let case = junit
        .split("<testcase")
        .find(|c| c.contains("name=\"relay-learns-contact\""))
        .expect("a test case for the claim");
    assert!(
        case.contains("<failure") && case.contains("-&gt; relay: push"),
        "{case}"
    );
}

/// The JSON report opens with a summary whose counts are those of its scenarios.
#[test]
fn the_json_report_has_a_summary_of_its_scenarios() {
    let out = run(&["check", "models/", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let scenarios = v["scenarios"].as_array().unwrap();
    let claims: Vec<&serde_json::Value> = scenarios
        .iter()
        .flat_map(|s| s["claims"].as_array().unwrap())
        .collect();
    let with = |e: serde_json::Value| claims.iter().filter(|c| c["as_expected"] == e).count();
    let s = &v["summary"];
    assert_eq!(s["files"], scenarios.len());
    assert_eq!(s["as_expected"], with(true.into()));
    assert_eq!(s["differ"], 0);
    assert_eq!(s["without_expectation"], with(serde_json::Value::Null));
    assert_eq!(s["complete"], true);
    let unique: u64 = scenarios
        .iter()
        .map(|x| x["unique_states"].as_u64().unwrap())
        .sum();
    assert_eq!(s["unique_states"], unique);
    assert!(with(true.into()) >= 112, "{s}");
}

/// `simulate` and `claims` offer only the formats they can write: asking for JUnit is an
/// argument error (exit 2), and their help does not list it.
#[test]
fn simulate_and_claims_offer_only_their_formats() {
    for cmd in [&["simulate", "models/baseline.toml"][..], &["claims"][..]] {
        let help = run(&[cmd, &["--help"]].concat());
        let text = String::from_utf8(help.stdout).unwrap();
        assert!(text.contains("json") && !text.contains("junit"), "{text}");
        let out = run(&[cmd, &["--format", "junit"]].concat());
        assert_eq!(out.status.code(), Some(2), "{cmd:?}");
    }
}

/// Under private discovery a lookup's target is sealed to the requesting device: a trace
/// shows it as `sealed(B)`, not as a target the directory could read.
#[test]
fn a_private_lookup_prints_its_target_sealed() {
    let out = run(&["check", "models/private-discovery.toml", "--witness"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("lookup target=sealed(B) requester=A"),
        "{text}"
    );
    assert!(!text.contains("lookup target=B"), "{text}");
}

/// Two lookups that make records reading the same (one account, one handle, one day, one
/// address) stay two facts in `simulate`'s summary, each named by its lookup.
#[test]
fn simulate_keeps_two_records_that_read_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        &dir,
        "dup.toml",
        "name = \"two lookups\"\nvariant = \"imessage-2016\"\n[[account]]\nhandle = \"A\"\ndevices = 2\n[[account]]\nhandle = \"B\"\n[[action]]\nby = \"A/1\"\nlookup = \"B\"\n[[action]]\nby = \"A/2\"\nlookup = \"B\"\n",
    );
    let out = run(&["simulate", &f, "--seed", "1", "--max-steps", "40"]);
    let text = String::from_utf8(out.stdout).unwrap();
    let records = text
        .lines()
        .filter(|l| l.trim_start().starts_with("record: "))
        .count();
    assert_eq!(records, 2, "{text}");
    assert!(
        text.contains("(action 1 of A/1)") && text.contains("(action 1 of A/2)"),
        "{text}"
    );
}

/// One bad file does not wipe the CI report: JSON and JUnit carry every good file's results
/// and an entry per rejected file (with its located error), every rejected file is named in
/// one run, and the exit code is 2.
#[test]
fn reports_keep_the_good_files_beside_the_rejected_ones() {
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read_to_string(repo_path("models/baseline.toml")).unwrap();
    write(&dir, "a-good.toml", &good);
    write(&dir, "b-bad.toml", "name = \"bad\"\nvariant = \"nope\"\n");
    write(&dir, "c-bad.toml", "name = \"worse\"\n");
    let d = dir.path().display().to_string();
    let out = run(&["check", &d, "--format", "json"]);
    assert_eq!(out.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["summary"]["files"], 1);
    assert_eq!(v["summary"]["rejected"], 2);
    assert_eq!(v["scenarios"][0]["claims"].as_array().unwrap().len(), 16);
    let rejected = v["rejected"].as_array().unwrap();
    assert!(rejected[0]["error"]
        .as_str()
        .unwrap()
        .contains("b-bad.toml:2:11: key `variant`"));
    assert!(rejected[1]["file"]
        .as_str()
        .unwrap()
        .ends_with("c-bad.toml"));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("2 scenario files rejected"), "{stderr}");
    let out = run(&["check", &d, "--format", "junit"]);
    assert_eq!(out.status.code(), Some(2));
    let xml = String::from_utf8(out.stdout).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let root = doc.root_element();
    assert_eq!(root.attribute("errors"), Some("2"));
    let errors = doc
        .descendants()
        .filter(|n| n.has_tag_name("error"))
        .count();
    assert_eq!(errors, 2);
    assert!(xml.contains("name=\"lookup-always-logged\""), "{xml}");
}

#[test]
fn new_writes_a_scenario_that_checks_as_it_expects() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("start.toml");
    let file = file.to_str().unwrap();
    let out = run(&["new", file]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let check = run(&["check", file, "--format", "json"]);
    assert_eq!(check.status.code(), Some(0), "{check:?}");
    let json: serde_json::Value = serde_json::from_slice(&check.stdout).unwrap();
    let claims = json["scenarios"][0]["claims"].as_array().unwrap();
    let expected = claims
        .iter()
        .filter(|c| c["as_expected"] == serde_json::json!(true))
        .count();
    assert_eq!(expected, 5, "{claims:?}");
    // Its own claim, written in the claim language, is among them.
    assert!(claims
        .iter()
        .any(|c| c["id"] == "court-learns-whom-a-looked-up" && c["verdict"] == "reachable"));
    // Standard output gets the same text.
    let stdout = run(&["new", "-"]);
    assert_eq!(stdout.status.code(), Some(0));
    assert_eq!(stdout.stdout, std::fs::read(file).unwrap());
    // An existing file is left alone: exit 2, and the error names it.
    std::fs::write(file, "name = \"mine\"\n").unwrap();
    let again = run(&["new", file]);
    assert_eq!(again.status.code(), Some(2));
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(err.contains("start.toml: the file exists"), "{err}");
    assert_eq!(std::fs::read_to_string(file).unwrap(), "name = \"mine\"\n");
}

#[test]
fn matrix_checks_claims_given_on_the_command_line() {
    let claim = "sometimes knows(authority, handle(B))";
    let out = run(&[
        "matrix", "--shard", "1/24", "--format", "json", "--claim", claim,
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let m: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let claims = m["cells"][0]["report"]["claims"].as_array().unwrap();
    // The catalogue, the library claims the findings name, then the claim given here.
    assert_eq!(
        claims.len(),
        imessage_model::CATALOGUE.len() + imessage_model::matrix::finding_claim_ids().len() + 1
    );
    let adhoc = claims.last().unwrap();
    assert_eq!(
        (&adhoc["id"], &adhoc["verdict"]),
        (&"ad-hoc".into(), &"reachable".into())
    );
    // A row of its own in the Markdown, and a claims file's claims likewise.
    let md = run(&["matrix", "--shard", "1/24", "--claim", claim]);
    let md = String::from_utf8(md.stdout).unwrap();
    assert!(md.contains("| `ad-hoc` | sometimes | reachable |"), "{md}");
    let md = run(&[
        "matrix",
        "--shard",
        "1/24",
        "--claims",
        "claims/typing.toml",
    ]);
    let md = String::from_utf8(md.stdout).unwrap();
    assert!(
        md.contains("| `operator-never-sees-typing` | always | holds |"),
        "{md}"
    );
    // A formula that does not parse: exit 2, located.
    let bad = run(&[
        "matrix",
        "--shard",
        "1/24",
        "--claim",
        "sometimes knows(authority, hadle(B))",
    ]);
    assert_eq!(bad.status.code(), Some(2));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("--claim:1:28: unknown function `hadle`"),
        "{err}"
    );
    // Shards checked with different claims do not merge.
    let dir = tempfile::tempdir().unwrap();
    let a = write(&dir, "a.json", std::str::from_utf8(&out.stdout).unwrap());
    let other = run(&["matrix", "--shard", "2/24", "--format", "json"]);
    let b = write(&dir, "b.json", std::str::from_utf8(&other.stdout).unwrap());
    let merged = run(&["matrix", "--merge", &a, &b]);
    assert_eq!(merged.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&merged.stderr)
        .contains("different populations, grids, features or claims"));
    // Not with --cell, which prints a scenario file.
    let cell = run(&["matrix", "--cell", "imessage-2016/honest", "--claim", claim]);
    assert_eq!(cell.status.code(), Some(2));
}

#[test]
fn claims_of_ones_own_are_checked_and_their_errors_located() {
    // A claims file given to check: its claims are checked beside the catalogue's.
    let out = run(&[
        "check",
        "models/baseline.toml",
        "--claims",
        "claims/typing.toml",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids: Vec<&str> = json["scenarios"][0]["claims"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"typing-reveals-conversation"), "{ids:?}");
    // A formula too large for the scenario's bounds: exit 2, the formula underlined.
    let big = run(&[
        "check",
        "models/baseline.toml",
        "--claim",
        "always forall p1, p2, p3, p4, p5, p6, p7: party. true",
    ]);
    assert_eq!(big.status.code(), Some(2));
    let err = String::from_utf8_lossy(&big.stderr);
    assert!(
        err.contains("--claim:1:8: this formula would evaluate up to 2097152 combinations"),
        "{err}"
    );
    // A `[[claim]]` table whose formula is wrong: exit 2, at its line and column in the file.
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(repo_path("models/typing-only.toml"))
        .unwrap()
        .replace("claims = [\"../claims/typing.toml\"]\n", "")
        .replace("typing-reveals-conversation = \"reachable\"\n", "")
        .replace(
            "operator-never-sees-typing = \"holds\"       # honest: no ghost device\n",
            "",
        )
        + "\n[[claim]]\nid = \"mine\"\nstatement = \"s\"\ncheck = \"sometimes typing(A/1, C)\"\n";
    let file = write(&dir, "mine.toml", &text);
    let bad = run(&["check", &file]);
    assert_eq!(bad.status.code(), Some(2), "{bad:?}");
    let err = String::from_utf8_lossy(&bad.stderr);
    let line = text.lines().position(|l| l.starts_with("check =")).unwrap() + 1;
    assert!(err.contains(&format!("mine.toml:{line}:")), "{err}");
    assert!(err.contains("C"), "{err}");
}
