//! The fake's HTTP/1.1 plumbing on std's `TcpListener`: one thread per connection,
//! keep-alive, bodies by `Content-Length` or chunked. Written by hand rather than taken
//! from a crate because the fake must misbehave precisely: drop a connection before or
//! after acting, and see a PUT that carries no `Content-Length` at all.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Requests larger than this are refused: the fake only ever receives small JSON/XML.
const MAX_BODY: usize = 4 * 1024 * 1024;
const MAX_HEADER_LINES: usize = 100;

#[derive(Clone, Debug)]
pub struct HttpRequest {
    pub method: String,
    /// Percent-encoded, as sent.
    pub path: String,
    /// Percent-encoded, as sent, without the `?`.
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Whether the request declared its body length (Content-Length or chunked).
    pub declared_length: bool,
}

impl HttpRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

#[derive(Clone, Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn new(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> HttpResponse {
        HttpResponse {
            status,
            headers: vec![("Content-Type".to_owned(), content_type.to_owned())],
            body: body.into(),
        }
    }

    pub fn json(status: u16, value: &serde_json::Value) -> HttpResponse {
        HttpResponse::new(status, "application/json", value.to_string())
    }

    pub fn no_content() -> HttpResponse {
        HttpResponse {
            status: 204,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }
}

/// What the handler wants done with a request.
pub enum Reply {
    Respond(HttpResponse),
    /// Close the connection without a word.
    Drop,
    /// Send the response's head with its full length, only the first bytes of its body,
    /// and close the connection.
    CutShort(HttpResponse, usize),
}

pub type Handler = Arc<dyn Fn(HttpRequest) -> Reply + Send + Sync>;

/// Accepts connections until `stop` is set (the owner then connects once to wake it).
pub fn serve(listener: TcpListener, stop: Arc<AtomicBool>, handler: Handler) {
    for stream in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = stream else { continue };
        let handler = Arc::clone(&handler);
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let _ = connection(stream, &stop, &handler);
        });
    }
}

fn connection(stream: TcpStream, stop: &AtomicBool, handler: &Handler) -> io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    loop {
        let request = match read_request(&mut reader) {
            Ok(Some(request)) => request,
            Ok(None) => return Ok(()),
            Err(_) => {
                let response = HttpResponse::new(400, "text/plain", "malformed request");
                let _ = write_response(&mut writer, &response, None, true);
                return Ok(());
            }
        };
        if stop.load(Ordering::SeqCst) {
            return Ok(());
        }
        let close = request
            .header("connection")
            .is_some_and(|value| value.eq_ignore_ascii_case("close"));
        match handler(request) {
            Reply::Respond(response) => write_response(&mut writer, &response, None, close)?,
            Reply::Drop => {
                let _ = writer.shutdown(std::net::Shutdown::Both);
                return Ok(());
            }
            Reply::CutShort(response, keep) => {
                write_response(&mut writer, &response, Some(keep), true)?;
                let _ = writer.shutdown(std::net::Shutdown::Both);
                return Ok(());
            }
        }
        if close {
            return Ok(());
        }
    }
}

fn read_request(reader: &mut BufReader<TcpStream>) -> io::Result<Option<HttpRequest>> {
    let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_owned());
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target), Some(_version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(bad("request line"));
    };
    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path.to_owned(), query.to_owned()),
        None => (target.to_owned(), String::new()),
    };
    let method = method.to_owned();
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 {
            return Err(bad("headers cut short"));
        }
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if headers.len() >= MAX_HEADER_LINES {
            return Err(bad("too many headers"));
        }
        let (name, value) = header.split_once(':').ok_or_else(|| bad("header"))?;
        headers.push((name.trim().to_owned(), value.trim().to_owned()));
    }
    let find = |name: &str| {
        headers
            .iter()
            .find(|(key, _): &&(String, String)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.clone())
    };
    let mut body = Vec::new();
    let mut declared_length = false;
    if let Some(length) = find("content-length") {
        declared_length = true;
        let length: usize = length.parse().map_err(|_| bad("content-length"))?;
        if length > MAX_BODY {
            return Err(bad("body too large"));
        }
        body.resize(length, 0);
        reader.read_exact(&mut body)?;
    } else if find("transfer-encoding").is_some_and(|value| value.eq_ignore_ascii_case("chunked")) {
        declared_length = true;
        loop {
            let mut size_line = String::new();
            reader.read_line(&mut size_line)?;
            let size_text = size_line.trim().split(';').next().unwrap_or_default();
            let size = usize::from_str_radix(size_text, 16).map_err(|_| bad("chunk size"))?;
            if body.len() + size > MAX_BODY {
                return Err(bad("body too large"));
            }
            let start = body.len();
            body.resize(start + size, 0);
            reader.read_exact(&mut body[start..])?;
            let mut crlf = String::new();
            reader.read_line(&mut crlf)?;
            if size == 0 {
                break;
            }
        }
    }
    Ok(Some(HttpRequest {
        method,
        path,
        query,
        headers,
        body,
        declared_length,
    }))
}

/// Writes a response; `keep` sends only that many bytes of the body (still declaring its
/// full length), for a fault.
fn write_response(
    writer: &mut TcpStream,
    response: &HttpResponse,
    keep: Option<usize>,
    close: bool,
) -> io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {} {}\r\n",
        response.status,
        reason(response.status)
    );
    for (name, value) in &response.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if response.status != 204 {
        head.push_str(&format!("Content-Length: {}\r\n", response.body.len()));
    }
    if close {
        head.push_str("Connection: close\r\n");
    }
    head.push_str("\r\n");
    writer.write_all(head.as_bytes())?;
    if response.status != 204 {
        let sent = keep.unwrap_or(response.body.len()).min(response.body.len());
        writer.write_all(&response.body[..sent])?;
    }
    writer.flush()
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        406 => "Not Acceptable",
        411 => "Length Required",
        415 => "Unsupported Media Type",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

/// Decodes `%XX` escapes; anything malformed is kept as it is.
pub fn percent_decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

/// The query's parameters, decoded.
pub fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((key, value)) => (percent_decode(key), percent_decode(value)),
            None => (percent_decode(pair), String::new()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_decode_to_the_end_and_malformed_ones_stay() {
        assert_eq!(percent_decode("a%2Fb%41"), "a/bA");
        assert_eq!(percent_decode("%C3%A9%"), "é%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(
            query_pairs("requestId=a%20b&x&"),
            [
                ("requestId".to_owned(), "a b".to_owned()),
                ("x".to_owned(), String::new())
            ]
        );
    }
}
