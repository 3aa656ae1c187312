//! The layer in a real HTTP server on 127.0.0.1 (axum over the repo's test images), driven
//! by a real HTTP client.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::Request;
use axum::http::header;
use axum::response::Response;
use mogr_http::{Config, MogrLayer};

#[path = "../../../tests/common/http.rs"]
mod http_client;
use http_client::{get, request};

fn images() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/images")
}

/// The inner service: the file under the test images that the path names, with an `ETag`
/// made from its length; 404 otherwise.
async fn original(request: Request) -> Response {
    let rel = request.uri().path().trim_start_matches('/').to_owned();
    if rel.split('/').any(|s| s == ".." || s.is_empty()) {
        return Response::builder().status(404).body(Body::empty()).unwrap();
    }
    match tokio::fs::read(images().join(rel)).await {
        Ok(bytes) => Response::builder()
            .header(header::ETAG, format!("\"len-{}\"", bytes.len()))
            .header(header::CACHE_CONTROL, "max-age=60")
            .body(Body::from(bytes))
            .unwrap(),
        Err(_) => Response::builder().status(404).body(Body::empty()).unwrap(),
    }
}

/// Starts a server with `layer` on a port the OS picks; runs until the test process ends.
fn serve(layer: MogrLayer) -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let app = axum::Router::new().fallback(original).layer(layer);
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    rx.recv().unwrap()
}

#[test]
fn rules_are_applied_with_their_headers() {
    let addr = serve(MogrLayer::new(Config::default()));
    let r = get(
        addr,
        "/png/mpl-Minduka_Present_Blue_Pack.png?imageMogr2/format/webp",
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("image/webp"));
    assert_eq!(
        r.header("content-length"),
        Some(r.body.len().to_string().as_str())
    );
    assert_eq!(
        r.header("cache-control"),
        Some("max-age=60"),
        "the original's"
    );
    assert!(r.header("vary").is_none());
    let info = mogr::info(&r.body).unwrap();
    assert_eq!(info.format, mogr::ImageFormat::Webp);
    // The service's URL forms: signature parameters are ignored, `%7C` splits stages.
    let piped = get(
        addr,
        "/jpeg/mpl-grace_hopper.jpg?q-sign-algorithm=sha1&imageMogr2/quality/50%7CimageInfo",
    );
    assert_eq!(piped.status, 200);
    assert_eq!(piped.header("content-type"), Some("application/json"));
    let json: serde_json::Value = serde_json::from_slice(&piped.body).unwrap();
    assert_eq!(
        json["Quality"].to_string().trim_matches('"'),
        "50",
        "{json}"
    );
    // imageSlim says what it did.
    let slim = get(addr, "/png/mpl-Minduka_Present_Blue_Pack.png?imageSlim");
    assert_eq!(slim.status, 200);
    assert!(matches!(slim.header("x-slimflag"), Some("1" | "2")));
    // No rule: the original as the inner service sent it.
    let plain = get(addr, "/png/mpl-Minduka_Present_Blue_Pack.png");
    assert_eq!(
        plain.body,
        std::fs::read(images().join("png/mpl-Minduka_Present_Blue_Pack.png")).unwrap()
    );
    // A missing original: the inner service's 404.
    assert_eq!(get(addr, "/nope.png?imageMogr2/format/webp").status, 404);
}

#[test]
fn bad_rules_and_bad_images_get_their_status() {
    let addr = serve(MogrLayer::new(Config::default()));
    let bad = get(
        addr,
        "/png/mpl-Minduka_Present_Blue_Pack.png?imageMogr2/qualty/5",
    );
    assert_eq!(bad.status, 400);
    assert!(String::from_utf8_lossy(&bad.body).contains("did you mean `quality`?"));
    let corrupt = get(
        addr,
        "/corrupt/pil-flower.trunc50.jpg?imageMogr2/format/png",
    );
    assert_eq!(
        corrupt.status,
        415,
        "{}",
        String::from_utf8_lossy(&corrupt.body)
    );
    // A format mogr cannot write: 400, or the original under ignore-error/1.
    let tpg = get(addr, "/jpeg/pil-flower.jpg?imageMogr2/format/tpg");
    assert_eq!(tpg.status, 400);
    let ignored = get(
        addr,
        "/jpeg/pil-flower.jpg?imageMogr2/format/tpg/ignore-error/1",
    );
    assert_eq!(ignored.status, 200);
    assert_eq!(
        ignored.body,
        std::fs::read(images().join("jpeg/pil-flower.jpg")).unwrap()
    );
}

#[test]
fn etags_answer_304_and_head_has_no_body() {
    let addr = serve(MogrLayer::new(Config::default()));
    let target = "/jpeg/pil-flower.jpg?imageMogr2/quality/40";
    let first = get(addr, target);
    assert_eq!(first.status, 200);
    let tag = first.header("etag").unwrap().to_string();
    let again = request(addr, "GET", target, &[("If-None-Match", &tag)], b"");
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());
    assert_eq!(again.header("etag"), Some(tag.as_str()));
    // Another rule, another tag.
    let other = get(addr, "/jpeg/pil-flower.jpg?imageMogr2/quality/41");
    assert_ne!(other.header("etag"), Some(tag.as_str()));
    let head = request(addr, "HEAD", target, &[], b"");
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert_eq!(
        head.header("content-length"),
        Some(first.body.len().to_string().as_str())
    );
    assert_eq!(head.header("content-type"), Some("image/jpeg"));
}

#[test]
fn negotiation_follows_accept_when_on() {
    let off = serve(MogrLayer::new(Config::default()));
    let on = serve(MogrLayer::new(Config::default().with_negotiation(true)));
    let target = "/jpeg/pil-flower.jpg?imageMogr2/quality/60";
    let accept = [("Accept", "image/webp,image/*;q=0.8")];
    let r = request(on, "GET", target, &accept, b"");
    assert_eq!(r.header("content-type"), Some("image/webp"));
    assert_eq!(r.header("vary"), Some("Accept"));
    assert_eq!(mogr::info(&r.body).unwrap().format, mogr::ImageFormat::Webp);
    let plain = request(on, "GET", target, &[("Accept", "image/jpeg")], b"");
    assert_eq!(plain.header("content-type"), Some("image/jpeg"));
    assert_eq!(plain.header("vary"), Some("Accept"));
    let off = request(off, "GET", target, &accept, b"");
    assert_eq!(off.header("content-type"), Some("image/jpeg"));
    assert!(off.header("vary").is_none());
    // An explicit format is kept.
    let explicit = request(
        on,
        "GET",
        "/jpeg/pil-flower.jpg?imageMogr2/format/png",
        &accept,
        b"",
    );
    assert_eq!(explicit.header("content-type"), Some("image/png"));
}

/// A slow request: `imageSlim` of the 3.4 MP photograph (seconds in a test build).
const SLOW: &str = "/jpeg/jxl-flower_q85_420_progr.jpg?imageSlim";

fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "waited for {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_full_queue_answers_503_and_a_gone_client_stops_the_work() {
    let layer = MogrLayer::new(Config::default().with_workers(1, 0));
    let addr = serve(layer.clone());
    // A client that sends a slow request and goes away.
    let mut gone = std::net::TcpStream::connect(addr).unwrap();
    let slower = "/jpeg/jxl-flower_q85_420_progr.jpg?imageMogr2/format/png%7CimageSlim";
    gone.write_all(format!("GET {slower} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
        .unwrap();
    wait_for("the slow request to start", || layer.working() == 1);
    // The one worker is busy and the queue holds none: 503 at once, with Retry-After.
    let busy = get(addr, "/jpeg/pil-flower.jpg?imageMogr2/quality/40");
    assert_eq!(busy.status, 503);
    assert_eq!(busy.header("retry-after"), Some("1"));
    // The client disconnects: the work stops (well before the search would end).
    let dropped = Instant::now();
    drop(gone);
    wait_for("the work to stop", || layer.in_flight() == 0);
    assert!(
        dropped.elapsed() < Duration::from_secs(5),
        "{:?}",
        dropped.elapsed()
    );
    assert_eq!(
        get(addr, "/jpeg/pil-flower.jpg?imageMogr2/quality/40").status,
        200
    );
}

#[test]
fn the_deadline_is_a_503() {
    let processor = mogr::Processor::new().with_deadline(Duration::from_millis(1));
    let addr = serve(MogrLayer::new(Config::default().with_processor(processor)));
    let r = get(addr, SLOW);
    assert_eq!(r.status, 503, "{}", String::from_utf8_lossy(&r.body));
    assert!(String::from_utf8_lossy(&r.body).contains("deadline"));
}
