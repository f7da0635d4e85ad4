//! The Explorer: `imessage-model explore` serves stateright's web UI and its state API on
//! loopback.

use crate::repo_path;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Kills the server when the test ends, whatever happens.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn get(port: u16, path: &str) -> (String, String) {
    let mut stream =
        TcpStream::connect(("127.0.0.1", port)).expect("the Explorer accepts connections");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
    (head.to_string(), body.to_string())
}

#[test]
fn explorer_serves_the_page_and_the_state_api() {
    // A free port on loopback, released for the server to take.
    let port = TcpListener::bind(("127.0.0.1", 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(env!("CARGO_BIN_EXE_imessage-model"))
        .current_dir(repo_path(""))
        .args([
            "explore",
            "models/ghost-device-2016.toml",
            "--port",
            &port.to_string(),
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut server = Server(child);
    let mut line = String::new();
    BufReader::new(server.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(
        line.trim(),
        format!("Explorer for models/ghost-device-2016.toml at http://127.0.0.1:{port}/ (stop with Ctrl-C)")
    );
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the Explorer never listened"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let (head, page) = get(port, "/");
    assert!(
        head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
        "{head}"
    );
    assert!(
        page.contains("<html") || page.contains("<!DOCTYPE"),
        "{page}"
    );
    let (_, status) = get(port, "/.status");
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    let properties: Vec<&str> = status["properties"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[1].as_str().unwrap())
        .collect();
    assert!(properties.contains(&"no-server-learns-content"));
    let (_, states) = get(port, "/.states");
    let states: serde_json::Value = serde_json::from_str(&states).unwrap();
    assert_eq!(states.as_array().unwrap().len(), 1, "one initial state");
    // The initial state's next steps (the path is a list of action indices, starting with
    // the initial state's) carry the model's own words for the user action.
    let (_, next) = get(port, "/.states/0");
    assert!(next.contains("device A/1: user sends m1 to B"), "{next}");
}

#[test]
fn explorer_on_a_busy_port_is_an_error() {
    let busy = TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let port = busy.local_addr().unwrap().port();
    let out = Command::new(env!("CARGO_BIN_EXE_imessage-model"))
        .current_dir(repo_path(""))
        .args([
            "explore",
            "models/ghost-device-2016.toml",
            "--port",
            &port.to_string(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains(&format!("cannot listen on 127.0.0.1:{port}")));
}
