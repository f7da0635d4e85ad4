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

/// A free port on loopback, released for the server to take.
fn free_port() -> u16 {
    TcpListener::bind(("127.0.0.1", 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `explore` for `models/ghost-device-2016.toml` on `port`.
fn explore_on(port: u16, stdout: Stdio) -> Server {
    let child = Command::new(env!("CARGO_BIN_EXE_imessage-model"))
        .current_dir(repo_path(""))
        .args([
            "explore",
            "models/ghost-device-2016.toml",
            "--port",
            &port.to_string(),
        ])
        .stdout(stdout)
        .spawn()
        .unwrap();
    Server(child)
}

/// Waits until something listens on `port`.
fn wait_for(port: u16) {
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the Explorer never listened"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn explorer_serves_the_page_and_the_state_api() {
    let port = free_port();
    let mut server = explore_on(port, Stdio::piped());
    let mut line = String::new();
    BufReader::new(server.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(
        line.trim(),
        format!("Explorer for models/ghost-device-2016.toml at http://127.0.0.1:{port}/ (stop with Ctrl-C)")
    );
    wait_for(port);
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
    // The discovery the Explorer offers is the shortest counterexample, as `trace` prints it
    // (the initial state's index, then the 7 steps), once the search beside the server has
    // run, and it leads where `trace` says.
    let discovery = || {
        let (_, status) = get(port, "/.status");
        let status: serde_json::Value = serde_json::from_str(&status).unwrap();
        status["properties"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p[1] == "no-server-learns-content")
            .and_then(|p| p[2].as_str())
            .map(String::from)
    };
    let mut found = discovery();
    for _ in 0..200 {
        if found
            .as_deref()
            .is_some_and(|f| f.split('/').count() == 1 + 7)
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
        found = discovery();
    }
    let found = found.expect("a discovery for the violated claim");
    assert_eq!(found.split('/').count(), 1 + 7, "{found}");
    let (before_last, last) = found.rsplit_once('/').unwrap();
    let (_, options) = get(port, &format!("/.states/{before_last}"));
    let options: serde_json::Value = serde_json::from_str(&options).unwrap();
    let last: usize = last.parse().unwrap();
    let step = options.as_array().unwrap()[last]["action"]
        .as_str()
        .unwrap();
    assert!(
        step.contains("relay -> directory: ciphertext from A to B for ghost"),
        "{step}"
    );
    let (_, states) = get(port, "/.states");
    let states: serde_json::Value = serde_json::from_str(&states).unwrap();
    assert_eq!(states.as_array().unwrap().len(), 1, "one initial state");
    // The initial state's next steps (the path is a list of action indices, starting with
    // the initial state's) carry the model's own words for the user action.
    let (_, next) = get(port, "/.states/0");
    assert!(next.contains("device A/1: user sends m1 to B"), "{next}");
    // States are shown in the words of a trace: handles and device names, never raw ids.
    let state = &serde_json::from_str::<serde_json::Value>(&next).unwrap()[0]["state"];
    let state = state.as_str().unwrap();
    assert!(state.contains("m1 to B waits for an answer"), "{state}");
    assert!(
        state.contains("network:\n  device A/1 -> directory: lookup"),
        "{state}"
    );
    assert!(
        !state.contains("AccountId") && !state.contains("DeviceId"),
        "{state}"
    );
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

/// Sends `request` on a fresh connection and reads the whole reply.
fn send(port: u16, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    stream.write_all(request).unwrap();
    let mut response = Vec::new();
    // A refusal may be followed by a reset once the front stops reading: keep what arrived.
    let _ = stream.read_to_end(&mut response);
    String::from_utf8_lossy(&response).into_owned()
}

/// Connects, sends a request and resets the connection at once (SO_LINGER 0), before the reply.
#[cfg(unix)]
fn send_and_reset(port: u16, request: &[u8]) {
    use std::os::fd::AsRawFd;
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.write_all(request).unwrap();
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: the descriptor is the open socket of `stream`, and the option value is a
    // `linger` of the size passed.
    let rc = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "SO_LINGER is set");
    drop(stream); // With a zero linger, closing sends a reset.
}

/// No request can bring the Explorer down: a huge declared body is refused with 413 (the
/// Explorer's HTTP server would allocate it and abort), other framing it cannot handle with a
/// 4xx, a `Host` that is not this front's with 421 or 400, a reset before the reply prints no
/// panic; the page is still served afterwards. With
/// `--port 0` the address printed is the one bound.
#[test]
fn explorer_survives_hostile_requests() {
    let child = Command::new(env!("CARGO_BIN_EXE_imessage-model"))
        .current_dir(repo_path(""))
        .args(["explore", "models/baseline.toml", "--port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut server = Server(child);
    let mut line = String::new();
    BufReader::new(server.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port: u16 = line
        .split("http://127.0.0.1:")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no address in {line:?}"));
    assert_ne!(port, 0, "{line}");
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(start.elapsed() < Duration::from_secs(30), "never listened");
        std::thread::sleep(Duration::from_millis(50));
    }

    let huge = send(
        port,
        b"POST /.runtocompletion HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 99999999999\r\n\r\n",
    );
    assert!(huge.starts_with("HTTP/1.1 413 "), "{huge}");
    let chunked = send(
        port,
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n",
    );
    assert!(chunked.starts_with("HTTP/1.1 411 "), "{chunked}");
    // A page of another site reaching the loopback address by a name of its own (DNS
    // rebinding), a wrong port, two hosts, no host: refused.
    for (request, status) in [
        (
            &b"GET /.status HTTP/1.1\r\nHost: attacker.example:3000\r\n\r\n"[..],
            "421",
        ),
        (b"GET /.status HTTP/1.1\r\nHost: 127.0.0.1:1\r\n\r\n", "421"),
        (
            b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil\r\n\r\n",
            "421",
        ),
        (b"GET / HTTP/1.1\r\n\r\n", "400"),
    ] {
        let answer = send(port, request);
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {status} ")),
            "{answer}"
        );
    }
    let named = send(
        port,
        format!("GET /.status HTTP/1.1\r\nHost: localhost:{port}\r\n\r\n").as_bytes(),
    );
    assert!(named.starts_with("HTTP/1.1 200 "), "{named}");
    let mut long = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Long: ".to_vec();
    long.extend(std::iter::repeat_n(b'a', 20_000));
    long.extend_from_slice(b"\r\n\r\n");
    let long = send(port, &long);
    assert!(long.starts_with("HTTP/1.1 431 "), "{long}");
    let garbage = send(
        port,
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
    );
    assert!(garbage.starts_with("HTTP/1.1 400 "), "{garbage}");
    #[cfg(unix)]
    for _ in 0..50 {
        send_and_reset(
            port,
            b"GET /knockout-3.5.0.js HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        );
        std::thread::sleep(Duration::from_millis(10));
    }

    let (head, page) = get(port, "/");
    assert!(head.contains(" 200 "), "{head}");
    assert!(page.contains("<html"), "{page}");
    let (head, _) = get(port, "/.status");
    assert!(head.contains(" 200 "), "{head}");
    assert!(
        server.0.try_wait().unwrap().is_none(),
        "the Explorer still runs"
    );
    server.0.kill().unwrap();
    let mut stderr = String::new();
    server
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.contains("memory allocation"), "{stderr}");
}

/// The listening TCP sockets of process `pid`, by port (Linux: its socket inodes in
/// `/proc/PID/fd`, matched against the kernel's tables).
fn listening_ports(pid: u32) -> Vec<u16> {
    let inodes: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter_map(|l| {
            let l = l.to_string_lossy().to_string();
            Some(l.strip_prefix("socket:[")?.strip_suffix(']')?.to_string())
        })
        .collect();
    let mut ports = Vec::new();
    for table in ["tcp", "tcp6"] {
        let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            // local address, state (0A: listening), inode
            if f.len() > 9 && f[3] == "0A" && inodes.iter().any(|i| i == f[9]) {
                let port = f[1].rsplit(':').next().unwrap();
                ports.push(u16::from_str_radix(port, 16).unwrap());
            }
        }
    }
    ports
}

/// The tool opens one port, the one the user asked for: no second server behind it that a
/// local process could reach directly.
#[test]
fn explorer_listens_on_one_port_only() {
    let port = free_port();
    let server = explore_on(port, Stdio::null());
    wait_for(port);
    // Serve a page and a state first, so that anything started lazily has started.
    let (head, _) = get(port, "/.states/0");
    assert!(head.contains(" 200 "), "{head}");
    assert_eq!(listening_ports(server.0.id()), vec![port]);
    // A path that leads nowhere is a 404 with a reason, not a crash.
    let (head, body) = get(port, "/.states/0/999");
    assert!(head.contains(" 404 "), "{head}");
    assert!(body.contains("no state follows"), "{body}");
    let (head, _) = get(port, "/.states/x");
    assert!(head.contains(" 404 "), "{head}");
}
