//! `explore`: stateright's Explorer web UI, served by the project's own loopback server.
//!
//! stateright's Explorer brings its own HTTP server (the tiny_http crate, 0.12, the latest
//! release), which cannot be exposed as it is: a request declaring `Content-Length:
//! 99999999999` makes it allocate that many bytes when it drops the unread body, which aborts
//! the process, and a client that resets its connection before the reply makes the Explorer's
//! `respond(...).unwrap()` panic. So the tool opens one port only, this server's, and answers
//! the Explorer's API itself: the page and its scripts (stateright's own files, MIT-licensed,
//! in `assets/explorer/`), `/.status` (the checker's progress and its properties'
//! discoveries, each the shortest trace the tool's own search finds, once it has run beside
//! the server), `/.states/PATH` (the successors of the state a path of action indices
//! reaches, as the Explorer's UI expects them) and `POST /.runtocompletion`, over stateright's
//! on-demand checker of the model. For each connection it reads the request head (at most
//! [`MAX_HEAD`] bytes) and a body of at most [`MAX_BODY`] bytes, within [`CLIENT_TIMEOUT`],
//! naming a loopback host and the server's port in `Host` (so a page of another site cannot
//! reach it by DNS rebinding); it refuses anything else with a 4xx reply; and a client that
//! leaves early costs a failed write, never a panic.

use crate::ProtocolModel;
use stateright::{Checker, Expectation, Model};
use std::hash::{Hash, Hasher};
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The largest request head (request line and headers) accepted, in bytes.
pub const MAX_HEAD: usize = 16 * 1024;
/// The largest request body accepted, in bytes (the Explorer's own requests have none).
pub const MAX_BODY: usize = 64 * 1024;
/// How long a client has to send its request, and each write to it may take.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections served at the same time; more are answered 503 at once.
pub const MAX_CONNECTIONS: usize = 32;
/// The most action indices a `/.states` path may hold (each is a step replayed).
const MAX_PATH: usize = 10_000;

/// What the server answers from: stateright's on-demand checker of the model.
type App = dyn Checker<ProtocolModel> + Send + Sync;

/// Serves the Explorer for `model` on `listener`; does not return while it runs.
pub fn serve(model: ProtocolModel, listener: TcpListener) -> io::Result<()> {
    let app = Arc::new(Site {
        checker: Box::new(model.checker().spawn_on_demand()),
        shortest: std::sync::OnceLock::new(),
    });
    // The tool's own search runs beside the server: the page is served at once, and the
    // discoveries become the shortest traces when the search is done.
    let site = Arc::clone(&app);
    std::thread::Builder::new()
        .name("shortest-traces".into())
        .spawn(move || {
            let _ = site.shortest.set(shortest_paths(site.model()));
        })?;
    front(listener, app);
    Ok(())
}

/// The checker the Explorer walks, and the discoveries it shows: for each claim with a
/// counterexample or witness, the path of the shortest one (as `trace` prints it), not the
/// first path the on-demand checker happens upon.
struct Site {
    checker: Box<App>,
    /// (claim id, encoded path) for every claim with a trace, once the search has found them;
    /// until then the on-demand checker's own discoveries are shown.
    shortest: std::sync::OnceLock<Vec<(String, String)>>,
}

impl std::ops::Deref for Site {
    type Target = App;
    fn deref(&self) -> &App {
        &*self.checker
    }
}

/// The shortest trace of every claim that has one, encoded as the Explorer's path of action
/// indices (the initial state's index, then each step's among its state's actions).
fn shortest_paths(model: &ProtocolModel) -> Vec<(String, String)> {
    let x = crate::check::explore(model, crate::check::Limits::of(&model.scenario));
    x.claims()
        .filter_map(|(i, c)| {
            let t = x.trace_at(i)?;
            Some((c.id().to_string(), encode(model, &t)?))
        })
        .collect()
}

/// A trace as a path of action indices; `None` if a step is not among its state's actions
/// (it always is: the trace is a run of this model).
fn encode(model: &ProtocolModel, t: &crate::check::Trace) -> Option<String> {
    let init = model.init_states().iter().position(|s| *s == t.initial)?;
    let mut out = vec![init.to_string()];
    let mut state = &t.initial;
    for (action, next) in &t.steps {
        let mut actions = Vec::new();
        model.actions(state, &mut actions);
        out.push(actions.iter().position(|a| a == action)?.to_string());
        state = next;
    }
    Some(out.join("/"))
}

/// Accepts connections on `listener` for ever, each served on its own thread.
fn front(listener: TcpListener, app: Arc<Site>) {
    let port = listener.local_addr().map_or(0, |a| a.port());
    let active = Arc::new(AtomicUsize::new(0));
    for stream in listener.incoming() {
        let Ok(mut client) = stream else { continue };
        if active.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
            active.fetch_sub(1, Ordering::SeqCst);
            let _ = client.set_write_timeout(Some(Duration::from_secs(1)));
            let _ = reply(
                &mut client,
                503,
                "Service Unavailable",
                "too many connections",
            );
            continue;
        }
        let done = Arc::clone(&active);
        let app = Arc::clone(&app);
        let spawned = std::thread::Builder::new()
            .name("explorer".into())
            .spawn(move || {
                connection(client, &app, port);
                done.fetch_sub(1, Ordering::SeqCst);
            });
        if spawned.is_err() {
            active.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// Why a request is not forwarded.
#[derive(Debug, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub reason: &'static str,
    pub detail: String,
}

fn refuse(status: u16, reason: &'static str, detail: impl Into<String>) -> Refusal {
    Refusal {
        status,
        reason,
        detail: detail.into(),
    }
}

/// A request the front accepts: what to send the Explorer (head rewritten, without the body)
/// and the length of the body that follows the head.
#[derive(Debug, PartialEq, Eq)]
pub struct Accepted {
    pub head: String,
    pub body_length: usize,
    pub method: String,
    pub target: String,
}

/// Headers that describe the connection or the framing of the body: the front sets its own.
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "upgrade",
    "te",
    "expect",
    "content-length",
    "transfer-encoding",
];

/// Whether a `Host` header names this front: a loopback name (`127.0.0.1`, `localhost`,
/// `[::1]`), with the front's own `port` if it gives one. A page of another site that reaches
/// the loopback address through a name of its own (DNS rebinding) sends its own name, and is
/// refused.
pub fn host_is_loopback(value: &str, port: u16) -> bool {
    let value = value.trim();
    let (name, given) = match value.rsplit_once(':') {
        Some((n, p)) if !n.is_empty() && !p.contains(']') => (n, Some(p)),
        _ => (value, None),
    };
    let loopback = matches!(
        name.to_ascii_lowercase().as_str(),
        "127.0.0.1" | "localhost" | "[::1]"
    );
    loopback && given.is_none_or(|p| p.parse::<u16>() == Ok(port))
}

/// Checks a request head (up to, not including, the blank line) and rewrites it for the
/// Explorer: one request per connection, for this front's host (`port` is the front's), the
/// body length stated exactly.
pub fn check_head(head: &[u8], port: u16) -> Result<Accepted, Refusal> {
    let head = std::str::from_utf8(head)
        .map_err(|_| refuse(400, "Bad Request", "the request head is not UTF-8"))?;
    let mut lines = head.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let request_line = lines.next().unwrap_or_default();
    let parts: Vec<&str> = request_line.split(' ').collect();
    let valid = match parts.as_slice() {
        [method, target, version] => {
            !method.is_empty()
                && method.bytes().all(|b| b.is_ascii_uppercase())
                && (target.starts_with('/') || *target == "*")
                && target.bytes().all(|b| b.is_ascii_graphic())
                && matches!(*version, "HTTP/1.0" | "HTTP/1.1")
        }
        _ => false,
    };
    if !valid {
        return Err(refuse(400, "Bad Request", "not an HTTP/1 request line"));
    }
    let mut out = format!("{request_line}\r\n");
    let mut length: Option<u64> = None;
    let mut hosts = 0;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            return Err(refuse(400, "Bad Request", "a header line without `:`"));
        };
        let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
        if name.is_empty() || !name.bytes().all(token) {
            return Err(refuse(
                400,
                "Bad Request",
                "a header name that is not a token",
            ));
        }
        if value.bytes().any(|b| b.is_ascii_control() && b != b'\t') {
            return Err(refuse(
                400,
                "Bad Request",
                "a control character in a header",
            ));
        }
        let lower = name.to_ascii_lowercase();
        if lower == "host" {
            if hosts > 0 || !host_is_loopback(value, port) {
                return Err(refuse(
                    421,
                    "Misdirected Request",
                    format!("this server answers only for 127.0.0.1:{port} (or localhost)"),
                ));
            }
            hosts += 1;
        }
        if lower == "transfer-encoding" {
            return Err(refuse(
                411,
                "Length Required",
                "a request body must come with a Content-Length",
            ));
        }
        if lower == "content-length" {
            let v: u64 = value
                .trim()
                .parse()
                .map_err(|_| refuse(400, "Bad Request", "Content-Length is not a number"))?;
            if length.is_some_and(|l| l != v) {
                return Err(refuse(400, "Bad Request", "two different Content-Lengths"));
            }
            length = Some(v);
        }
        if !HOP_BY_HOP.contains(&lower.as_str()) {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    if hosts == 0 {
        return Err(refuse(
            400,
            "Bad Request",
            format!("a request must name its host (Host: 127.0.0.1:{port})"),
        ));
    }
    let length = length.unwrap_or(0);
    if length > MAX_BODY as u64 {
        return Err(refuse(
            413,
            "Content Too Large",
            format!("a request body is at most {MAX_BODY} bytes; this one declares {length}"),
        ));
    }
    if length > 0 {
        out.push_str(&format!("Content-Length: {length}\r\n"));
    }
    out.push_str("Connection: close\r\n\r\n");
    Ok(Accepted {
        head: out,
        body_length: length as usize,
        method: parts[0].to_string(),
        target: parts[1].to_string(),
    })
}

/// Where the head ends: the index just past the blank line.
fn head_end(buf: &[u8]) -> Option<(usize, usize)> {
    let crlf = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, i + 4));
    let lf = buf
        .windows(2)
        .position(|w| w == b"\n\n")
        .map(|i| (i, i + 2));
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

fn reply(client: &mut TcpStream, status: u16, reason: &str, text: &str) -> io::Result<()> {
    write!(
        client,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{text}\n",
        text.len() + 1
    )?;
    client.flush()
}

/// Answers a refused request, then reads (a bounded amount of) what the client still sends, so
/// that closing does not reset the connection before the client has read the answer.
fn refuse_and_close(client: &mut TcpStream, r: &Refusal) {
    if reply(client, r.status, r.reason, &r.detail).is_err() {
        return;
    }
    let _ = client.shutdown(Shutdown::Write);
    let _ = client.set_read_timeout(Some(Duration::from_millis(500)));
    let mut sink = [0u8; 4096];
    let mut drained = 0;
    while drained < 1024 * 1024 {
        match client.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(n) => drained += n,
        }
    }
}

/// Serves one connection: one request, forwarded or refused.
fn connection(mut client: TcpStream, app: &Site, port: u16) {
    let _ = client.set_read_timeout(Some(CLIENT_TIMEOUT));
    let _ = client.set_write_timeout(Some(CLIENT_TIMEOUT));
    let deadline = Instant::now() + CLIENT_TIMEOUT;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let (head_len, body_start) = loop {
        if let Some(end) = head_end(&buf) {
            break end;
        }
        if buf.len() > MAX_HEAD {
            let r = refuse(
                431,
                "Request Header Fields Too Large",
                format!("a request head is at most {MAX_HEAD} bytes"),
            );
            return refuse_and_close(&mut client, &r);
        }
        if Instant::now() > deadline {
            let r = refuse(408, "Request Timeout", "the request took too long");
            return refuse_and_close(&mut client, &r);
        }
        match client.read(&mut chunk) {
            Ok(0) => return, // The client left before sending a request: nothing to answer.
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                let r = refuse(408, "Request Timeout", "the request took too long");
                return refuse_and_close(&mut client, &r);
            }
            Err(_) => return,
        }
    };
    if head_len > MAX_HEAD {
        let r = refuse(
            431,
            "Request Header Fields Too Large",
            format!("a request head is at most {MAX_HEAD} bytes"),
        );
        return refuse_and_close(&mut client, &r);
    }
    let accepted = match check_head(&buf[..head_len], port) {
        Ok(a) => a,
        Err(r) => return refuse_and_close(&mut client, &r),
    };
    let mut body = buf.split_off(body_start);
    while body.len() < accepted.body_length {
        if Instant::now() > deadline {
            let r = refuse(408, "Request Timeout", "the request body took too long");
            return refuse_and_close(&mut client, &r);
        }
        match client.read(&mut chunk) {
            Ok(0) | Err(_) => return, // The client left, or stalled, before its body was sent.
            Ok(n) => body.extend_from_slice(&chunk[..n]),
        }
    }
    body.truncate(accepted.body_length);
    let (status, reason, kind, content) = answer(app, &accepted.method, &accepted.target);
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nConnection: close\r\n\r\n",
        content.len()
    );
    // A client that has gone makes a write fail, which ends the connection and nothing else.
    let _ = client
        .write_all(head.as_bytes())
        .and_then(|()| client.write_all(&content))
        .and_then(|()| client.flush());
}

/// The Explorer's page and scripts, as stateright ships them (`assets/explorer/`).
const UI: [(&str, &str, &[u8]); 4] = [
    (
        "/",
        "text/html; charset=utf-8",
        include_bytes!("../assets/explorer/index.htm"),
    ),
    (
        "/app.css",
        "text/css; charset=utf-8",
        include_bytes!("../assets/explorer/app.css"),
    ),
    (
        "/app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/explorer/app.js"),
    ),
    (
        "/knockout-3.5.0.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/explorer/knockout-3.5.0.js"),
    ),
];

const JSON: &str = "application/json";
const TEXT: &str = "text/plain; charset=utf-8";

/// The answer to one request of the Explorer's API: status, reason, content type and body.
fn answer(app: &Site, method: &str, target: &str) -> (u16, &'static str, &'static str, Vec<u8>) {
    // The page's own links carry no query; a fragment never reaches a server.
    let path = target.split('?').next().unwrap_or(target);
    match (method, path) {
        ("GET", p) if UI.iter().any(|(at, _, _)| *at == p) => {
            let (_, kind, bytes) = UI.iter().find(|(at, _, _)| *at == p).expect("checked");
            (200, "OK", kind, bytes.to_vec())
        }
        ("GET", "/.status") => (200, "OK", JSON, json(&status(app))),
        ("POST", "/.runtocompletion") => {
            app.run_to_completion();
            (200, "OK", TEXT, Vec::new())
        }
        ("GET", p) if p.starts_with("/.states") => match states(app, &p["/.states".len()..]) {
            Ok(views) => (200, "OK", JSON, json(&views)),
            Err(e) => (404, "Not Found", TEXT, e.into_bytes()),
        },
        ("GET" | "POST", _) => (404, "Not Found", TEXT, b"no such page".to_vec()),
        _ => (
            405,
            "Method Not Allowed",
            TEXT,
            b"the Explorer answers GET (and POST /.runtocompletion)".to_vec(),
        ),
    }
}

fn json(v: &impl serde::Serialize) -> Vec<u8> {
    serde_json::to_vec(v).expect("JSON values serialise")
}

/// The properties as the Explorer lists them: expectation, name, and the path (action indices)
/// to the discovery, when there is one: the shortest trace, or else the checker's own.
fn properties(app: &Site) -> serde_json::Value {
    let model = app.model();
    let list: Vec<serde_json::Value> = model
        .properties()
        .into_iter()
        .map(|p| {
            let found = app
                .shortest
                .get()
                .into_iter()
                .flatten()
                .find(|(id, _)| id == p.name)
                .map(|(_, path)| path.clone())
                .or_else(|| app.discovery(p.name).map(|path| path.encode(model)));
            serde_json::json!([expectation(&p.expectation), p.name, found])
        })
        .collect();
    serde_json::Value::Array(list)
}

fn expectation(e: &Expectation) -> &'static str {
    match e {
        Expectation::Always => "Always",
        Expectation::Eventually => "Eventually",
        Expectation::Sometimes => "Sometimes",
    }
}

fn status(app: &Site) -> serde_json::Value {
    serde_json::json!({
        "done": app.is_done(),
        "model": "imessage_model::ProtocolModel",
        "state_count": app.state_count(),
        "unique_state_count": app.unique_state_count(),
        "max_depth": app.max_depth(),
        "properties": properties(app),
        "recent_path": null,
    })
}

/// A state as the Explorer shows it, with a fingerprint of its own: each party's facts in
/// the words of a trace (handles, device names, message names), then the network and the day.
fn state_fields(
    scenario: &crate::scenario::Scenario,
    state: &crate::state::State,
    out: &mut serde_json::Map<String, serde_json::Value>,
) {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    state.hash(&mut h);
    let mut text = String::new();
    for (party, facts) in crate::report::trace::facts(scenario, state) {
        text.push_str(&party);
        text.push_str(if facts.is_empty() {
            ": nothing\n"
        } else {
            ":\n"
        });
        for f in facts {
            text.push_str("  ");
            text.push_str(&f);
            text.push('\n');
        }
    }
    // stateright's default outcome of a step is the state it leads to, as text.
    out.insert("outcome".into(), text.clone().into());
    out.insert("state".into(), text.into());
    out.insert("fingerprint".into(), h.finish().to_string().into());
}

/// The states after `path` (`/0/2/1`: an initial state's index, then action indices): the
/// initial states for an empty path, else each action of the state the path reaches, with the
/// state it leads to (or none, for an action that changes nothing).
fn states(app: &Site, path: &str) -> Result<Vec<serde_json::Value>, String> {
    let model = app.model();
    let trimmed = path.trim_end_matches('/');
    let mut indices = Vec::new();
    for part in trimmed.split('/').skip(1) {
        let i: usize = part
            .parse()
            .map_err(|_| format!("`{part}` in the path is not an action index"))?;
        indices.push(i);
    }
    if !trimmed.is_empty() && !trimmed.starts_with('/') {
        return Err("a path starts with `/`".into());
    }
    if indices.len() > MAX_PATH {
        return Err(format!("a path holds at most {MAX_PATH} steps"));
    }
    let props = properties(app);
    let view = |action: Option<String>, index: usize, state: Option<&crate::state::State>| {
        let mut out = serde_json::Map::new();
        if let Some(a) = action {
            out.insert("action".into(), a.into());
        }
        if let Some(s) = state {
            state_fields(&model.scenario, s, &mut out);
        }
        out.insert("properties".into(), props.clone());
        out.insert("actionIndex".into(), index.into());
        serde_json::Value::Object(out)
    };
    let inits = model.init_states();
    let Some((&first, rest)) = indices.split_first() else {
        return Ok(inits
            .iter()
            .enumerate()
            .map(|(i, s)| view(None, i, Some(s)))
            .collect());
    };
    let unreachable = || format!("no state follows the action indices {trimmed}");
    let mut state = inits.get(first).cloned().ok_or_else(unreachable)?;
    for &i in rest {
        let mut actions = Vec::new();
        model.actions(&state, &mut actions);
        let action = actions.into_iter().nth(i).ok_or_else(unreachable)?;
        state = model.next_state(&state, action).ok_or_else(unreachable)?;
    }
    let mut actions = Vec::new();
    model.actions(&state, &mut actions);
    Ok(actions
        .into_iter()
        .enumerate()
        .map(|(i, a)| {
            let words = model.format_action(&a);
            let next = model.next_state(&state, a);
            view(Some(words), i, next.as_ref())
        })
        .collect())
}
