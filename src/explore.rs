//! `explore`: stateright's Explorer web UI behind a small loopback front.
//!
//! The Explorer's HTTP server (the tiny_http crate, 0.12, the latest release) cannot be
//! exposed as it is: a request declaring `Content-Length: 99999999999` makes it allocate that
//! many bytes when it drops the unread body, which aborts the process, and a client that
//! resets its connection before the reply makes the Explorer's `respond(...).unwrap()` panic,
//! which ends the server. So the Explorer listens on a second, ephemeral loopback port, and
//! the port the user opens is this front. For each connection it reads the request head
//! (at most [`MAX_HEAD`] bytes) and a body of at most [`MAX_BODY`] bytes, within
//! [`CLIENT_TIMEOUT`], naming a loopback host and the front's port in `Host` (so a page of
//! another site cannot reach it by DNS rebinding); it refuses anything else with a 4xx reply; it forwards the rest with
//! `Connection: close` and an exact `Content-Length`; and it reads the Explorer's whole reply
//! even when the client has gone, so the Explorer never writes to a closed connection.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The largest request head (request line and headers) forwarded, in bytes.
pub const MAX_HEAD: usize = 16 * 1024;
/// The largest request body forwarded, in bytes (the Explorer's own requests have none).
pub const MAX_BODY: usize = 64 * 1024;
/// How long a client has to send its request, and each write to it may take.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections served at the same time; more are answered 503 at once.
pub const MAX_CONNECTIONS: usize = 32;
/// How long the front waits for the Explorer to listen when it starts.
const BACKEND_START: Duration = Duration::from_secs(10);

/// Serves the Explorer for `model` behind the front listening on `listener`; does not return
/// while the Explorer runs.
pub fn serve(model: crate::ProtocolModel, listener: TcpListener) -> io::Result<()> {
    // A free port for the Explorer itself, released for it to take. Another process could
    // take it in between; the front then answers 502 and the Explorer fails to start, which
    // the user sees and can retry.
    let backend = TcpListener::bind(("127.0.0.1", 0))?.local_addr()?;
    std::thread::spawn(move || front(listener, backend));
    use stateright::Model;
    model.checker().serve(backend);
    Ok(())
}

/// Accepts connections on `listener` for ever, each served on its own thread.
pub fn front(listener: TcpListener, backend: SocketAddr) {
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
        let spawned = std::thread::Builder::new()
            .name("explorer front".into())
            .spawn(move || {
                connection(client, backend, port);
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
fn connection(mut client: TcpStream, backend: SocketAddr, port: u16) {
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
    // Bytes past the declared body would be a second request: one per connection.
    body.truncate(accepted.body_length);
    let Some(mut explorer) = connect(backend) else {
        let r = refuse(502, "Bad Gateway", "the Explorer is not running");
        return refuse_and_close(&mut client, &r);
    };
    let mut request = accepted.head.into_bytes();
    request.extend_from_slice(&body);
    if explorer.write_all(&request).is_err() {
        let r = refuse(502, "Bad Gateway", "the Explorer closed the connection");
        return refuse_and_close(&mut client, &r);
    }
    // Read the whole reply, whether or not the client is still there to receive it.
    let mut client_gone = false;
    loop {
        match explorer.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if !client_gone && client.write_all(&chunk[..n]).is_err() {
                    client_gone = true;
                }
            }
        }
    }
    let _ = client.flush();
}

/// Connects to the Explorer, waiting for it to listen when it is starting.
fn connect(backend: SocketAddr) -> Option<TcpStream> {
    let start = Instant::now();
    loop {
        match TcpStream::connect(backend) {
            Ok(s) => return Some(s),
            Err(_) if start.elapsed() < BACKEND_START => {
                std::thread::sleep(Duration::from_millis(50))
            }
            Err(_) => return None,
        }
    }
}
