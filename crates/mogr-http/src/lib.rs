//! Processing during download, as a [tower] layer: put [`MogrLayer`] in front of any service
//! that answers `GET /key` with the original image (a file server, an object-store proxy),
//! and `GET /key?imageMogr2/format/webp/quality/75` (or `?imageSlim`, `?imageInfo`, a
//! pipeline) answers the processed image, as the cloud service does.
//!
//! ```
//! use std::convert::Infallible;
//! use bytes::Bytes;
//! use http::{Request, Response};
//! use http_body_util::{BodyExt, Full};
//! use tower_layer::Layer;
//! use tower_service::Service;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let png = std::fs::read(concat!(
//!     env!("CARGO_MANIFEST_DIR"),
//!     "/../../tests/images/png/mpl-Minduka_Present_Blue_Pack.png"
//! ))
//! .unwrap();
//! // The inner service returns the original whatever the path; a real one reads a folder
//! // or a bucket.
//! let inner = tower::service_fn(move |_req: Request<Full<Bytes>>| {
//!     let png = png.clone();
//!     async move { Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(png)))) }
//! });
//! let mut service = mogr_http::MogrLayer::new(mogr_http::Config::default()).layer(inner);
//! let request = Request::get("/logo.png?imageMogr2/format/webp")
//!     .body(Full::new(Bytes::new()))
//!     .unwrap();
//! let response = service.call(request).await.unwrap();
//! assert_eq!(response.status(), 200);
//! assert_eq!(response.headers()["content-type"], "image/webp");
//! let body = response.into_body().collect().await.unwrap().to_bytes();
//! assert_eq!(mogr::info(&body).unwrap().format, mogr::ImageFormat::Webp);
//! # }
//! ```
//!
//! What the layer does with a request whose query holds a rule (others pass through as
//! they are):
//! - parses the rule exactly as `mogr process` and the service do (URL forms, signature
//!   parameters ignored, `%7C` pipelines) and answers 400 with the parse error's message;
//! - asks the inner service for the original; a status other than 200 is passed through;
//! - answers `If-None-Match` with 304 before any processing: the `ETag` is derived from the
//!   original's `ETag` (or its bytes) and the canonical rule;
//! - runs the work off the async threads, at most [`Config::workers`] at once with at most
//!   [`Config::queue`] requests waiting; beyond that it answers 503 with `Retry-After`;
//! - applies the processor's limits, deadline and memory budget ([`Config::processor`]),
//!   and stops the work when the client goes away (the response future is dropped);
//! - sets `Content-Type`, `Content-Length`, `ETag`, `Cache-Control` ([`Config::cache_control`],
//!   else the original's), `Vary: Accept` when negotiation is on, and `X-Slimflag` for
//!   `imageSlim`; HEAD gets the headers without the body;
//! - maps every `mogr::Error` to its status through `mogr::ErrorKind::http_status` (the
//!   mapping the CLI's exit codes and the `UploadResult` codes come from).
//!
//! Format negotiation ([`Config::negotiate`], off by default): a rule whose last stage is
//! an `imageMogr2` stage without `format` becomes AVIF or WebP when the client's `Accept`
//! names them (AVIF first, when this build can encode it).
//!
//! [tower]: https://docs.rs/tower

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body::Body;
use http_body_util::{BodyExt, Either, Full, Limited};
use tokio::sync::Semaphore;

/// How the layer processes. Build from [`Config::default`] with the `with_` methods.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// The processor: limits, metadata policy, deadline and memory budget per request.
    /// Default: a 30 s deadline and a 1 GiB memory budget over the service's limits.
    pub processor: mogr::Processor,
    /// Requests processed at once. Default: the machine's cores.
    pub workers: usize,
    /// Requests waiting for a worker; one more is answered 503. Default: 4 x workers.
    pub queue: usize,
    /// `Cache-Control` of processed responses; `None` copies the original's. Default: `None`.
    pub cache_control: Option<HeaderValue>,
    /// Format negotiation from `Accept` (see the crate docs). Default: off.
    pub negotiate: bool,
    /// Seconds in the `Retry-After` of a 503. Default: 1.
    pub retry_after_secs: u32,
}

impl Default for Config {
    fn default() -> Config {
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
        Config {
            processor: mogr::Processor::new()
                .with_deadline(std::time::Duration::from_secs(30))
                .with_memory_budget(1 << 30),
            workers,
            queue: 4 * workers,
            cache_control: None,
            negotiate: false,
            retry_after_secs: 1,
        }
    }
}

impl Config {
    /// With this processor.
    #[must_use]
    pub fn with_processor(mut self, processor: mogr::Processor) -> Config {
        self.processor = processor;
        self
    }

    /// With `workers` requests processed at once and `queue` waiting.
    #[must_use]
    pub fn with_workers(mut self, workers: usize, queue: usize) -> Config {
        self.workers = workers.max(1);
        self.queue = queue;
        self
    }

    /// With this `Cache-Control` on processed responses.
    #[must_use]
    pub fn with_cache_control(mut self, value: HeaderValue) -> Config {
        self.cache_control = Some(value);
        self
    }

    /// With format negotiation on or off.
    #[must_use]
    pub fn with_negotiation(mut self, on: bool) -> Config {
        self.negotiate = on;
        self
    }
}

/// The tower [`Layer`](tower_layer::Layer) that adds rule processing to a service.
#[derive(Debug, Clone)]
pub struct MogrLayer {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    config: Config,
    permits: Arc<Semaphore>,
    /// Requests admitted: processing or waiting for a permit.
    admitted: AtomicUsize,
    /// Work running on the blocking threads (a request whose client left still counts
    /// until its work has stopped).
    working: Arc<AtomicUsize>,
    /// Requests whose client went away before the answer.
    cancelled: AtomicUsize,
}

impl MogrLayer {
    /// A layer with this configuration.
    pub fn new(config: Config) -> MogrLayer {
        let permits = Arc::new(Semaphore::new(config.workers.max(1)));
        MogrLayer {
            shared: Arc::new(Shared {
                config,
                permits,
                admitted: AtomicUsize::new(0),
                working: Arc::new(AtomicUsize::new(0)),
                cancelled: AtomicUsize::new(0),
            }),
        }
    }

    /// Requests admitted now: processing or waiting for a worker.
    pub fn in_flight(&self) -> usize {
        self.shared.admitted.load(Ordering::SeqCst)
    }

    /// Images being processed now on the blocking threads. The work of a request whose
    /// client went away counts until it has stopped, and holds its worker until then.
    pub fn working(&self) -> usize {
        self.shared.working.load(Ordering::SeqCst)
    }

    /// Requests so far whose client went away before the answer (their work was stopped).
    pub fn cancelled(&self) -> usize {
        self.shared.cancelled.load(Ordering::SeqCst)
    }
}

impl<S> tower_layer::Layer<S> for MogrLayer {
    type Service = MogrService<S>;

    fn layer(&self, inner: S) -> MogrService<S> {
        MogrService {
            inner,
            shared: Arc::clone(&self.shared),
        }
    }
}

/// The service [`MogrLayer`] makes around an inner service.
#[derive(Debug, Clone)]
pub struct MogrService<S> {
    inner: S,
    shared: Arc<Shared>,
}

/// A response body: the inner service's, passed through, or one the layer made.
pub type MogrBody<B> = Either<B, Full<Bytes>>;

impl<S, ReqBody, ResBody> tower_service::Service<Request<ReqBody>> for MogrService<S>
where
    S: tower_service::Service<Request<ReqBody>, Response = Response<ResBody>>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
    S::Error: Send,
    ReqBody: Send + 'static,
    ResBody: Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = Response<MogrBody<ResBody>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        // The clone that was made ready serves this request (tower's usual dance).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let shared = Arc::clone(&self.shared);
        Box::pin(async move {
            let query = request.uri().query().unwrap_or("").to_owned();
            let is_read = matches!(*request.method(), Method::GET | Method::HEAD);
            let pipeline = match mogr::rule::parse(&query) {
                Ok(p) if is_read => p,
                // No rule in the query, or not a read: the inner service answers.
                Err(e) if is_read && e.kind != mogr::rule::ErrorKind::NoRule => {
                    return Ok(text(StatusCode::BAD_REQUEST, &e.to_string()));
                }
                _ => return inner.call(request).await.map(|r| r.map(Either::Left)),
            };
            let head = *request.method() == Method::HEAD;
            let if_none_match = request.headers().get(header::IF_NONE_MATCH).cloned();
            let (pipeline, negotiated) = if shared.config.negotiate {
                negotiate(pipeline, request.headers().get(header::ACCEPT))
            } else {
                (pipeline, false)
            };
            let original = inner.call(request).await?;
            Ok(respond(&shared, original, pipeline, negotiated, head, if_none_match).await)
        })
    }
}

/// Why a request path names no object key ([`object_key`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BadKey {
    /// A `%` not followed by two hex digits, or bytes that are not UTF-8 once decoded.
    #[error("bad percent-encoding in the key")]
    Encoding,
    /// The path names no key (`/`).
    #[error("no key")]
    Empty,
    /// A backslash or NUL, encoded or not.
    #[error("a key may not hold a backslash or NUL")]
    Character,
    /// An empty, `.` or `..` segment, encoded or not.
    #[error("a key may not have empty, `.` or `..` segments")]
    Segment,
}

/// The object key a request path names: percent-decoded, without its leading `/`, and
/// refused when it could leave a folder or bucket (`..` or `.` or empty segments, a
/// backslash or NUL, encoded or not). The one check a server in front of a store needs
/// before it touches the store.
///
/// ```
/// assert_eq!(mogr_http::object_key("/a/b%20c.png").unwrap(), "a/b c.png");
/// assert!(mogr_http::object_key("/a/%2e%2e/secret").is_err());
/// ```
pub fn object_key(path: &str) -> Result<String, BadKey> {
    let raw = path.strip_prefix('/').unwrap_or(path).as_bytes();
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%' {
            let hex = raw.get(i + 1..i + 3).ok_or(BadKey::Encoding)?;
            let hex = std::str::from_utf8(hex).map_err(|_| BadKey::Encoding)?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| BadKey::Encoding)?);
            i += 3;
        } else {
            out.push(raw[i]);
            i += 1;
        }
    }
    let key = String::from_utf8(out).map_err(|_| BadKey::Encoding)?;
    if key.is_empty() {
        return Err(BadKey::Empty);
    }
    if key.contains(['\\', '\0']) {
        return Err(BadKey::Character);
    }
    if key
        .split('/')
        .any(|s| s.is_empty() || s == "." || s == "..")
    {
        return Err(BadKey::Segment);
    }
    Ok(key)
}

/// A plain-text response.
fn text<B>(status: StatusCode, message: &str) -> Response<MogrBody<B>> {
    let mut response = Response::new(Either::Right(Full::new(Bytes::from(format!(
        "{message}\n"
    )))));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// Sets `format` on the last stage when it is an `imageMogr2` stage without one, as `Accept`
/// allows: AVIF (when this build encodes it), else WebP.
fn negotiate(mut pipeline: mogr::Pipeline, accept: Option<&HeaderValue>) -> (mogr::Pipeline, bool) {
    let accept = accept.and_then(|a| a.to_str().ok()).unwrap_or("");
    let accepts = |mime: &str| {
        accept
            .split(',')
            .any(|part| part.split(';').next().unwrap_or("").trim() == mime)
    };
    let format = if accepts("image/avif") && mogr::ImageFormat::Avif.can_encode() {
        mogr::rule::Format::Avif
    } else if accepts("image/webp") {
        mogr::rule::Format::Webp
    } else {
        return (pipeline, true);
    };
    if let Some(mogr::rule::Stage::Mogr(params)) = pipeline.stages.last_mut() {
        if params.format.is_none() {
            params.format = Some(format);
        }
    }
    (pipeline, true)
}

/// Sets the cancel flag (and counts it) when dropped before [`Cancel::done`]: the client
/// went away.
struct Cancel<'a> {
    flag: Arc<AtomicBool>,
    count: &'a AtomicUsize,
    done: bool,
}

impl Cancel<'_> {
    fn done(mut self) {
        self.done = true;
    }
}

impl Drop for Cancel<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.flag.store(true, Ordering::SeqCst);
            self.count.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// Counts an admitted request until dropped.
struct Admitted<'a>(&'a AtomicUsize);

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A strong validator for (original, rule): FNV-1a over the original's `ETag` (or bytes)
/// and the canonical rule.
fn etag(original: &[u8], rule: &str) -> HeaderValue {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in original.iter().chain(&[0]).chain(rule.as_bytes()) {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    HeaderValue::from_str(&format!("\"m{h:016x}\"")).unwrap_or(HeaderValue::from_static("\"m\""))
}

fn matches(if_none_match: Option<&HeaderValue>, tag: &HeaderValue) -> bool {
    let Some(v) = if_none_match.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let tag = tag.to_str().unwrap_or("");
    v.split(',')
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == "*" || t == tag)
}

async fn respond<B>(
    shared: &Shared,
    original: Response<B>,
    pipeline: mogr::Pipeline,
    negotiated: bool,
    head: bool,
    if_none_match: Option<HeaderValue>,
) -> Response<MogrBody<B>>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    if original.status() != StatusCode::OK {
        return original.map(Either::Left);
    }
    let config = &shared.config;
    let rule = pipeline.to_string();
    let limit = config.processor.limits().max_input_bytes;
    let (parts, body) = original.into_parts();
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let ignores = pipeline.stages.first().is_some_and(|s| s.ignores_errors());
    if declared.is_some_and(|n| n > limit) {
        // Refused from its length, before it is read; under ignore-error/1 the original
        // streams through as it is.
        if ignores {
            return Response::from_parts(parts, Either::Left(body));
        }
        let e = mogr::Error::Limits {
            format: mogr::FormatName(None),
            kind: mogr::LimitKind::InputBytes {
                found: declared.unwrap_or(0),
                limit,
            },
        };
        return error_response(&e);
    }
    // An original of unknown length (chunked) that grows past the limit is 413 even under
    // ignore-error/1: what was read of it is gone and cannot be passed through as it was.
    let bytes = match Limited::new(body, limit as usize).collect().await {
        Ok(c) => c.to_bytes(),
        Err(e) => {
            let message = format!("cannot read the original: {e}");
            let status = if e
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                StatusCode::PAYLOAD_TOO_LARGE
            } else {
                StatusCode::BAD_GATEWAY
            };
            return text(status, &message);
        }
    };
    let tag = match parts.headers.get(header::ETAG) {
        Some(original_tag) => etag(original_tag.as_bytes(), &rule),
        None => etag(&bytes, &rule),
    };
    let cache_control = config
        .cache_control
        .clone()
        .or_else(|| parts.headers.get(header::CACHE_CONTROL).cloned());
    let with_caching = |response: &mut Response<MogrBody<B>>| {
        let h = response.headers_mut();
        h.insert(header::ETAG, tag.clone());
        if let Some(cc) = &cache_control {
            h.insert(header::CACHE_CONTROL, cc.clone());
        }
        if negotiated {
            h.insert(header::VARY, HeaderValue::from_static("Accept"));
        }
    };
    if matches(if_none_match.as_ref(), &tag) {
        let mut response = Response::new(Either::Right(Full::new(Bytes::new())));
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        with_caching(&mut response);
        return response;
    }
    // Admission: a worker, or a place in the queue, or 503 now.
    let admitted = shared.admitted.fetch_add(1, Ordering::SeqCst) + 1;
    let _admitted = Admitted(&shared.admitted);
    if admitted > config.workers + config.queue {
        let mut response = text(StatusCode::SERVICE_UNAVAILABLE, "busy: try again shortly");
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, config.retry_after_secs.into());
        return response;
    }
    // The permit moves into the work: a worker is free again when the work has ended,
    // not when a client leaves.
    let Ok(permit) = Arc::clone(&shared.permits).acquire_owned().await else {
        return text(StatusCode::SERVICE_UNAVAILABLE, "shutting down");
    };
    let flag = Arc::new(AtomicBool::new(false));
    let cancel = Cancel {
        flag: Arc::clone(&flag),
        count: &shared.cancelled,
        done: false,
    };
    let processor = config.processor.clone();
    let working = Arc::clone(&shared.working);
    working.fetch_add(1, Ordering::SeqCst);
    let work = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        struct Ended(Arc<AtomicUsize>);
        impl Drop for Ended {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::SeqCst);
            }
        }
        let _ended = Ended(working);
        let stop = mogr::Stop::never().when(flag);
        let out = processor.process_with(&bytes, &rule, &stop)?;
        let (format, slim_flag) = (out.format, out.slim_flag);
        // An input returned as it is comes back as the input buffer itself: no copy.
        let body = if out.input_returned() {
            drop(out);
            bytes
        } else {
            Bytes::from(out.into_bytes())
        };
        Ok::<_, mogr::Error>((format, slim_flag, body))
    });
    let result = work.await;
    cancel.done();
    let (format, slim_flag, body) = match result {
        Ok(Ok(done)) => done,
        Ok(Err(e)) => return error_response(&e),
        Err(_) => return text(StatusCode::INTERNAL_SERVER_ERROR, "processing failed"),
    };
    let length = body.len();
    let mut response = Response::new(Either::Right(Full::new(if head {
        Bytes::new()
    } else {
        body
    })));
    with_caching(&mut response);
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.mime_type()),
    );
    h.insert(header::CONTENT_LENGTH, length.into());
    if let Some(flag) = slim_flag {
        h.insert("x-slimflag", u16::from(flag.header_value()).into());
    }
    response
}

/// The response for an error: its status from `ErrorKind::http_status`, the message as text.
fn error_response<B>(e: &mogr::Error) -> Response<MogrBody<B>> {
    let status =
        StatusCode::from_u16(e.kind().http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = text(status, &e.to_string());
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_that_could_leave_the_store_are_refused() {
        assert_eq!(object_key("/a/b%20c.png").unwrap(), "a/b c.png");
        for bad in [
            "/../etc/passwd",
            "/a/%2e%2e/b",
            "/a/..%2fb",
            "/a%5c..%5cb",
            "/a//b",
            "/",
            "/a/./b",
            "/%00",
            "/%zz",
            "/%c3",
        ] {
            assert!(object_key(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn etags_differ_by_rule_and_original_and_match_lists() {
        let a = etag(b"\"v1\"", "imageMogr2/quality/60");
        assert_ne!(a, etag(b"\"v2\"", "imageMogr2/quality/60"));
        assert_ne!(a, etag(b"\"v1\"", "imageMogr2/quality/61"));
        let list = HeaderValue::from_str(&format!("\"x\", W/{}", a.to_str().unwrap())).unwrap();
        assert!(matches(Some(&list), &a));
        assert!(!matches(Some(&HeaderValue::from_static("\"x\"")), &a));
        assert!(matches(Some(&HeaderValue::from_static("*")), &a));
    }
}
