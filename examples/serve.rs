//! Processing during download, as the cloud service does it: an HTTP server that serves a
//! directory, with `mogr-http`'s layer in front of a plain file handler. `GET /<key>`
//! returns the file; `GET /<key>?<rule>` returns the file processed by the rule
//! (`imageMogr2/...`, `imageSlim`, `imageInfo`, pipelines with `|`, and URL forms with
//! signature parameters), with its `Content-Type`, `ETag` (304 for `If-None-Match`) and, for
//! `imageSlim`, `X-Slimflag`. `mogr serve` is the complete server (uploads, metrics,
//! timeouts, S3); this is the smallest program to copy into a service of your own.
//!
//! ```sh
//! cargo run --release --example serve -- tests/images 127.0.0.1:8080
//! curl -o small.webp 'http://127.0.0.1:8080/jpeg/pil-flower.jpg?imageMogr2/format/webp/quality/60'
//! ```
//!
//! Status codes: 400 for a bad rule (the message says what and where), 404 for a missing key,
//! 403 for a key that would leave the directory (`..`, encoded or not, or a symlink that
//! points out), 413 for an image over the limits, 415 for a file that is not an image mogr
//! reads, 503 when the workers and their queue (256 requests) are full. Processing runs on blocking
//! threads, at most `concurrency` at once; the async threads only move bytes.
#![allow(dead_code)] // also compiled into tests/serve.rs, which does not call `main`

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::response::Response;
use axum::Router;

/// What the file handler needs.
struct Served {
    root: PathBuf,
    /// Objects over this many bytes are refused before they are read (the input limit).
    limit: u64,
}

/// The router: every path is a key under `root`, served by [`original`], with the rules
/// applied by `mogr-http`'s layer, at most `concurrency` images at once and 256 waiting.
pub fn app(root: &Path, processor: mogr::Processor, concurrency: usize) -> std::io::Result<Router> {
    let served = Served {
        root: root.canonicalize()?,
        limit: processor.limits().max_input_bytes,
    };
    let config = mogr_http::Config::default()
        .with_processor(processor)
        .with_workers(concurrency, 256);
    Ok(Router::new()
        .fallback(original)
        .with_state(Arc::new(served))
        .layer(mogr_http::MogrLayer::new(config)))
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

/// The file a request path names: a key `mogr_http::object_key` accepts (percent-decoded,
/// no `.`/`..`/empty segments, no backslash or NUL) that, after symlinks are followed, is
/// still under the root.
fn resolve(root: &Path, raw_path: &str) -> Result<PathBuf, Refused> {
    let key = mogr_http::object_key(raw_path).map_err(|e| match e {
        mogr_http::BadKey::Empty => Refused::Missing,
        _ => Refused::Escapes,
    })?;
    let real = root
        .join(key)
        .canonicalize()
        .map_err(|_| Refused::Missing)?;
    if !real.starts_with(root) {
        return Err(Refused::Escapes);
    }
    if !real.is_file() {
        return Err(Refused::Missing);
    }
    Ok(real)
}

/// The original file a key names (the layer processes it when the query holds a rule).
async fn original(State(served): State<Arc<Served>>, request: Request) -> Response {
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
    let meta = match tokio::fs::metadata(&file).await {
        Ok(meta) if meta.len() > served.limit => {
            let message = format!(
                "the object is {} bytes, the limit is {}",
                meta.len(),
                served.limit
            );
            return text(StatusCode::PAYLOAD_TOO_LARGE, message);
        }
        Ok(meta) => meta,
        Err(_) => return text(StatusCode::NOT_FOUND, "no such key"),
    };
    let Ok(bytes) = tokio::fs::read(&file).await else {
        return text(StatusCode::NOT_FOUND, "no such key");
    };
    let format = mogr::ImageFormat::sniff(&bytes)
        .map_or("application/octet-stream", mogr::ImageFormat::mime_type);
    let mut response = reply(StatusCode::OK, format, bytes);
    // A validator for the layer's ETag: the file's length and modification time.
    let modified = meta
        .modified()
        .ok()
        .and_then(|m| m.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    if let Ok(tag) = format!("\"{:x}-{modified:x}\"", meta.len()).parse() {
        response.headers_mut().insert(header::ETAG, tag);
    }
    response
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
