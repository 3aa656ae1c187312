//! `mogr serve`: processing during download and on upload over HTTP, in front of a folder
//! or an S3-compatible bucket, on top of `mogr-http`'s layer.
//!
//! - `GET /key` (and HEAD) returns the original; `GET /key?<rule>` the processed image
//!   (`MogrLayer`: caching headers and 304, bounded workers and queue, deadline, memory
//!   budget, work stopped when the client leaves).
//! - `PUT /key` stores the body; with a `Pic-Operations` header it also applies each rule
//!   and stores each result at its resolved key (a result whose key is the upload's replaces
//!   the original), and answers the `UploadResult` XML.
//! - `GET /health` answers `ok`; `GET /metrics` Prometheus text.
//!
//! Keys are the percent-decoded path: a `.` or `..` segment, an empty segment, a backslash
//! or a NUL is refused (400), and a folder backend never follows a symbolic link out of its
//! folder (reads through `cap-std`, writes through [`OutDir`]).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use object_store::ObjectStore;
use tower::Layer as _;
use tower::ServiceExt;

use crate::store::OutDir;

/// Where originals are read and results written.
pub(crate) enum Backend {
    /// A folder.
    Dir {
        read: cap_std::fs::Dir,
        write: OutDir,
    },
    /// An S3-compatible bucket.
    S3(Arc<dyn ObjectStore>),
}

/// A stored object.
struct Object {
    bytes: Bytes,
    etag: Option<String>,
}

impl Backend {
    pub(crate) fn dir(path: &std::path::Path) -> std::io::Result<Backend> {
        let write = OutDir::open(path)?;
        let read = cap_std::fs::Dir::open_ambient_dir(path, cap_std::ambient_authority())?;
        Ok(Backend::Dir { read, write })
    }

    pub(crate) fn s3(bucket: &str, endpoint: Option<&str>) -> Result<Backend, String> {
        let mut builder = object_store::aws::AmazonS3Builder::from_env().with_bucket_name(bucket);
        if let Some(e) = endpoint {
            builder = builder
                .with_endpoint(e)
                .with_allow_http(e.starts_with("http://"))
                .with_virtual_hosted_style_request(false);
        }
        builder
            .build()
            .map(|s| Backend::S3(Arc::new(s)))
            .map_err(|e| e.to_string())
    }

    /// The object at `key`, at most `limit` bytes; `Ok(None)` when there is none.
    async fn get(&self, key: &str, limit: u64) -> Result<Option<Object>, String> {
        match self {
            Backend::Dir { read, .. } => {
                let meta = match read.metadata(key) {
                    Ok(m) if m.is_file() => m,
                    _ => return Ok(None),
                };
                if meta.len() > limit {
                    return Err(format!("{key} is larger than {limit} bytes"));
                }
                let bytes = read.read(key).map_err(|e| e.to_string())?;
                let modified = meta
                    .modified()
                    .ok()
                    .and_then(|m| m.into_std().duration_since(std::time::UNIX_EPOCH).ok())
                    .map_or(0, |d| d.as_nanos());
                let etag = format!("\"{:x}-{modified:x}\"", bytes.len());
                Ok(Some(Object {
                    bytes: Bytes::from(bytes),
                    etag: Some(etag),
                }))
            }
            Backend::S3(store) => {
                let path = object_store::path::Path::from(key);
                let got = match store.get(&path).await {
                    Ok(g) => g,
                    Err(object_store::Error::NotFound { .. }) => return Ok(None),
                    Err(e) => return Err(e.to_string()),
                };
                if got.meta.size > limit {
                    return Err(format!("{key} is larger than {limit} bytes"));
                }
                let etag = got.meta.e_tag.clone();
                let bytes = got.bytes().await.map_err(|e| e.to_string())?;
                Ok(Some(Object { bytes, etag }))
            }
        }
    }

    async fn put(&self, key: &str, bytes: Bytes) -> Result<(), String> {
        match self {
            Backend::Dir { write, .. } => write.write(key, &bytes),
            Backend::S3(store) => store
                .put(&object_store::path::Path::from(key), bytes.into())
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
        }
    }
}

/// Server settings.
pub(crate) struct Settings {
    pub(crate) listen: SocketAddr,
    pub(crate) config: mogr_http::Config,
    pub(crate) header_timeout: Duration,
    pub(crate) max_body: u64,
}

/// Counters for `/metrics`.
#[derive(Default)]
struct Metrics {
    by_status: Mutex<std::collections::BTreeMap<u16, u64>>,
    seconds_micros: AtomicU64,
    requests: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
}

struct State {
    backend: Backend,
    processor: mogr::Processor,
    max_body: u64,
    metrics: Metrics,
}

/// The key a request path names, or why it is refused (`mogr_http::object_key`).
fn key_of(path: &str) -> Result<String, String> {
    mogr_http::object_key(path).map_err(|e| e.to_string())
}

type Body = http_body_util::combinators::BoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

fn full(bytes: impl Into<Bytes>) -> Body {
    boxed(Full::new(bytes.into()))
}

fn boxed(b: Full<Bytes>) -> Body {
    b.map_err(|never| match never {}).boxed()
}

fn text(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(format!("{message}\n"))));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// The inner service: originals from the backend, uploads into it.
async fn inner(state: Arc<State>, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let key = match key_of(request.uri().path()) {
        Ok(k) => k,
        Err(why) => return text(StatusCode::BAD_REQUEST, &why),
    };
    let limit = state.processor.limits().max_input_bytes;
    match *request.method() {
        Method::GET | Method::HEAD => match state.backend.get(&key, limit).await {
            Ok(Some(object)) => {
                state
                    .metrics
                    .bytes_in
                    .fetch_add(object.bytes.len() as u64, Ordering::Relaxed);
                let mut r = Response::new(Full::new(object.bytes.clone()));
                if let Some(mime) = mogr::ImageFormat::sniff(&object.bytes).map(|f| f.mime_type()) {
                    r.headers_mut()
                        .insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
                }
                r.headers_mut()
                    .insert(header::CONTENT_LENGTH, object.bytes.len().into());
                if let Some(tag) = object.etag.and_then(|t| HeaderValue::from_str(&t).ok()) {
                    r.headers_mut().insert(header::ETAG, tag);
                }
                r
            }
            Ok(None) => text(StatusCode::NOT_FOUND, "no such key"),
            Err(e) => text(StatusCode::BAD_GATEWAY, &e),
        },
        Method::PUT => put(&state, &key, request).await,
        _ => text(StatusCode::METHOD_NOT_ALLOWED, "GET, HEAD or PUT"),
    }
}

/// `PUT /key`: stores the body; with `Pic-Operations`, the results too, and the XML.
async fn put(state: &State, key: &str, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let ops = match request.headers().get("pic-operations") {
        None => None,
        Some(v) => match v
            .to_str()
            .map_err(|e| e.to_string())
            .and_then(|s| mogr::PicOperations::parse(s).map_err(|e| e.to_string()))
        {
            Ok(o) => Some(o),
            Err(e) => return text(StatusCode::BAD_REQUEST, &format!("Pic-Operations: {e}")),
        },
    };
    let body = match Limited::new(request.into_body(), state.max_body as usize)
        .collect()
        .await
    {
        Ok(c) => c.to_bytes(),
        Err(e) => return text(StatusCode::PAYLOAD_TOO_LARGE, &e.to_string()),
    };
    state
        .metrics
        .bytes_in
        .fetch_add(body.len() as u64, Ordering::Relaxed);
    let Some(ops) = ops else {
        return match state.backend.put(key, body).await {
            Ok(()) => text(StatusCode::OK, "stored"),
            Err(e) => text(StatusCode::BAD_GATEWAY, &e),
        };
    };
    let processor = state.processor.clone();
    let owned_key = key.to_owned();
    let input = body.clone();
    let result = tokio::task::spawn_blocking(move || {
        processor.process_operations(&owned_key, &input, &ops, &mogr::Styles::new())
    })
    .await;
    let Ok(mut result) = result else {
        return text(StatusCode::INTERNAL_SERVER_ERROR, "processing failed");
    };
    // The original, unless a result takes its key (the service replaces it then).
    let replaced = result.results.iter().any(|r| match r {
        mogr::ops::ProcessResult::Done(o) => o.key == key,
        _ => false,
    });
    if !replaced {
        if let Err(e) = state.backend.put(key, body).await {
            return text(StatusCode::BAD_GATEWAY, &e);
        }
    }
    for r in &mut result.results {
        let mogr::ops::ProcessResult::Done(o) = r else {
            continue;
        };
        let stored = match key_of(&o.key) {
            Ok(k) => state.backend.put(&k, Bytes::from(o.bytes.clone())).await,
            Err(why) => Err(why),
        };
        if let Err(e) = stored {
            *r = mogr::ops::ProcessResult::Failed {
                key: o.key.clone(),
                code: mogr::ServiceCode::ProcessFailed,
                message: format!("cannot store {}: {e}", o.key),
            };
        }
    }
    let mut r = Response::new(Full::new(Bytes::from(result.to_xml())));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    r
}

fn metrics_text(state: &State, layer: &mogr_http::MogrLayer) -> String {
    let m = &state.metrics;
    let mut out = String::new();
    out.push_str("# TYPE mogr_requests_total counter\n");
    for (status, n) in m.by_status.lock().unwrap_or_else(|e| e.into_inner()).iter() {
        out.push_str(&format!("mogr_requests_total{{status=\"{status}\"}} {n}\n"));
    }
    out.push_str(&format!(
        "# TYPE mogr_request_seconds summary\nmogr_request_seconds_sum {}\nmogr_request_seconds_count {}\n",
        m.seconds_micros.load(Ordering::Relaxed) as f64 / 1e6,
        m.requests.load(Ordering::Relaxed)
    ));
    out.push_str(&format!(
        "# TYPE mogr_bytes_in_total counter\nmogr_bytes_in_total {}\n# TYPE mogr_bytes_out_total counter\nmogr_bytes_out_total {}\n",
        m.bytes_in.load(Ordering::Relaxed),
        m.bytes_out.load(Ordering::Relaxed)
    ));
    let working = layer.working();
    out.push_str(&format!(
        "# TYPE mogr_working gauge\nmogr_working {working}\n# TYPE mogr_queue_depth gauge\nmogr_queue_depth {}\n# TYPE mogr_cancelled_total counter\nmogr_cancelled_total {}\n",
        layer.in_flight().saturating_sub(working),
        layer.cancelled()
    ));
    out
}

/// Runs the server until SIGTERM or SIGINT, then lets the requests under way finish.
pub(crate) async fn run(settings: Settings, backend: Backend) -> std::io::Result<()> {
    let state = Arc::new(State {
        backend,
        processor: settings.config.processor.clone(),
        max_body: settings.max_body,
        metrics: Metrics::default(),
    });
    let layer = mogr_http::MogrLayer::new(settings.config);
    let listener = tokio::net::TcpListener::bind(settings.listen).await?;
    // The address, for whoever started us (tests read it).
    println!("listening on http://{}", listener.local_addr()?);
    tracing::info!(addr = %listener.local_addr()?, "listening");
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut signals = shutdown_signal();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(_) => continue,
            },
            () = &mut signals => break,
        };
        let state = Arc::clone(&state);
        let layer = layer.clone();
        let service = hyper::service::service_fn(move |request: Request<Incoming>| {
            let state = Arc::clone(&state);
            let layer = layer.clone();
            // Boxed as `Send` here: the compiler cannot prove it through the layers' types.
            let fut: std::pin::Pin<
                Box<dyn std::future::Future<Output = Result<Response<Body>, Infallible>> + Send>,
            > = Box::pin(async move { Ok(handle(state, layer, request, peer).await) });
            fut
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(settings.header_timeout);
        let conn = builder.serve_connection(TokioIo::new(stream), service);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            let _ = conn.await;
        });
    }
    drop(listener);
    tracing::info!("shutting down: finishing the requests under way");
    graceful.shutdown().await;
    Ok(())
}

/// One request: health and metrics here, the rest through the layer and the backend; then
/// the metrics and one log line.
async fn handle(
    state: Arc<State>,
    layer: mogr_http::MogrLayer,
    request: Request<Incoming>,
    peer: SocketAddr,
) -> Response<Body> {
    let start = Instant::now();
    let method = request.method().clone();
    let target = request.uri().to_string();
    let response = match request.uri().path() {
        "/health" => text(StatusCode::OK, "ok").map(boxed),
        "/metrics" => {
            let mut r = Response::new(full(metrics_text(&state, &layer)));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4"),
            );
            r
        }
        _ => {
            let inner_state = Arc::clone(&state);
            let inner = tower::service_fn(move |req: Request<Incoming>| {
                let state = Arc::clone(&inner_state);
                async move { Ok::<_, Infallible>(inner(state, req).await) }
            });
            match layer.layer(inner).oneshot(request).await {
                Ok(r) => r.map(|b| match b {
                    http_body_util::Either::Left(b) | http_body_util::Either::Right(b) => boxed(b),
                }),
                Err(never) => match never {},
            }
        }
    };
    let status = response.status().as_u16();
    let bytes_out = http_body::Body::size_hint(response.body())
        .exact()
        .unwrap_or(0);
    let m = &state.metrics;
    *m.by_status
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(status)
        .or_default() += 1;
    m.requests.fetch_add(1, Ordering::Relaxed);
    m.bytes_out.fetch_add(bytes_out, Ordering::Relaxed);
    let micros = start.elapsed().as_micros() as u64;
    m.seconds_micros.fetch_add(micros, Ordering::Relaxed);
    tracing::info!(
        %peer,
        %method,
        target = %mogr::rule::Printable(&target),
        status,
        bytes_out,
        ms = micros as f64 / 1000.0,
        "request"
    );
    response
}

/// Resolves on SIGTERM or SIGINT.
fn shutdown_signal() -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
    Box::pin(async {
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            () = term => {}
        }
    })
}
