//! Processing during download, as the cloud service does it: an HTTP server that serves a
//! directory. `GET /<key>` returns the file; `GET /<key>?<rule>` returns the file processed
//! by the rule (`imageMogr2/...`, `imageSlim`, `imageInfo`, pipelines with `|`, and URL forms
//! with signature parameters), with its `Content-Type` and, for `imageSlim`, `X-Slimflag`.
//!
//! ```sh
//! cargo run --release --example serve -- tests/images 127.0.0.1:8080
//! curl -o small.webp 'http://127.0.0.1:8080/jpeg/pil-flower.jpg?imageMogr2/format/webp/quality/60'
//! ```
//!
//! Status codes: 400 for a bad rule (the message says what and where), 404 for a missing key,
//! 403 for a key that would leave the directory (`..`, encoded or not, or a symlink that
//! points out), 413 for an image over the limits, 415 for a file that is not an image mogr
//! reads. Processing runs on blocking threads, at most as many at once as there are cores;
//! the async threads only move bytes.
#![allow(dead_code)] // also compiled into tests/serve.rs, which does not call `main`

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::response::Response;
use axum::Router;
use tokio::sync::Semaphore;

/// What the handlers share.
struct Served {
    root: PathBuf,
    processor: mogr::Processor,
    permits: Semaphore,
}

/// The router: every path is a key under `root`.
pub fn app(root: &Path, processor: mogr::Processor, concurrency: usize) -> std::io::Result<Router> {
    let served = Served {
        root: root.canonicalize()?,
        processor,
        permits: Semaphore::new(concurrency.max(1)),
    };
    Ok(Router::new().fallback(handle).with_state(Arc::new(served)))
}

/// Serves `app` on `listener` until the process ends.
pub async fn serve(listener: tokio::net::TcpListener, app: Router) -> std::io::Result<()> {
    axum::serve(listener, app).await
}

fn reply(status: StatusCode, content_type: &str, body: impl Into<Body>) -> Response {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, content_type)
        .body(body.into())
        .unwrap_or_default()
}

fn text(status: StatusCode, message: impl Into<String>) -> Response {
    let mut m = message.into();
    m.push('\n');
    reply(status, "text/plain; charset=utf-8", m)
}

/// Why a key does not name a file that may be served.
enum Refused {
    Missing,
    Escapes,
}

/// The file a request path names: percent-decoded, no `.`/`..` segments, no backslash or
/// NUL, and (after symlinks are followed) still under the root.
fn resolve(root: &Path, raw_path: &str) -> Result<PathBuf, Refused> {
    let decoded = percent_decode(raw_path).ok_or(Refused::Escapes)?;
    if decoded.contains(['\\', '\0']) {
        return Err(Refused::Escapes);
    }
    let mut path = root.to_path_buf();
    for seg in decoded.split('/').filter(|s| !s.is_empty()) {
        if seg == "." || seg == ".." {
            return Err(Refused::Escapes);
        }
        path.push(seg);
    }
    let real = path.canonicalize().map_err(|_| Refused::Missing)?;
    if !real.starts_with(root) {
        return Err(Refused::Escapes);
    }
    if !real.is_file() {
        return Err(Refused::Missing);
    }
    Ok(real)
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let h = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(h, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

async fn handle(State(served): State<Arc<Served>>, request: Request) -> Response {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD");
    }
    let file = match resolve(&served.root, request.uri().path()) {
        Ok(f) => f,
        Err(Refused::Missing) => return text(StatusCode::NOT_FOUND, "no such key"),
        Err(Refused::Escapes) => {
            return text(StatusCode::FORBIDDEN, "the key leaves the served directory")
        }
    };
    // The file's length is checked before it is read: an object over the input limit is
    // never held in memory.
    let limit = served.processor.limits().max_input_bytes;
    match tokio::fs::metadata(&file).await {
        Ok(meta) if meta.len() > limit => {
            let message = format!("the object is {} bytes, the limit is {limit}", meta.len());
            return text(StatusCode::PAYLOAD_TOO_LARGE, message);
        }
        Ok(_) => {}
        Err(_) => return text(StatusCode::NOT_FOUND, "no such key"),
    }
    let Ok(bytes) = tokio::fs::read(&file).await else {
        return text(StatusCode::NOT_FOUND, "no such key");
    };
    let rule = request.uri().query().unwrap_or("").to_owned();
    if rule.is_empty() {
        let format = mogr::ImageFormat::sniff(&bytes)
            .map_or("application/octet-stream", mogr::ImageFormat::mime_type);
        return reply(StatusCode::OK, format, bytes);
    }
    // Bounded: at most `concurrency` images are processed at once, off the async threads.
    let Ok(_permit) = served.permits.acquire().await else {
        return text(StatusCode::SERVICE_UNAVAILABLE, "shutting down");
    };
    let worker = Arc::clone(&served);
    let result = tokio::task::spawn_blocking(move || {
        let out = worker.processor.process(&bytes, &rule)?;
        let (format, slim_flag) = (out.format, out.slim_flag);
        // An input returned as it is comes back as the input buffer itself: no copy.
        let body = if out.input_returned() {
            drop(out);
            bytes
        } else {
            out.into_bytes()
        };
        Ok::<_, mogr::Error>((format, slim_flag, body))
    })
    .await;
    match result {
        Ok(Ok((format, slim_flag, body))) => {
            let mut response = reply(StatusCode::OK, format.mime_type(), body);
            if let Some(flag) = slim_flag {
                response
                    .headers_mut()
                    .insert("x-slimflag", u16::from(flag.header_value()).into());
            }
            response
        }
        Ok(Err(e)) => {
            // One mapping for every front end: `ErrorKind::http_status`.
            let status = StatusCode::from_u16(e.kind().http_status())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            text(status, e.to_string())
        }
        Err(_) => text(StatusCode::INTERNAL_SERVER_ERROR, "processing failed"),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = args.next().ok_or("usage: serve <DIR> [ADDR]")?;
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:8080".into());
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let router = app(Path::new(&dir), mogr::Processor::new(), cores)?;
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    eprintln!("serving {dir} on http://{}", listener.local_addr()?);
    serve(listener, router).await?;
    Ok(())
}
