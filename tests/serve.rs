//! The HTTP example service (`examples/serve.rs`), started on a loopback port and driven by a
//! real HTTP client: processing during download, bad cases, path escapes, concurrency.

mod common;

#[path = "../examples/serve.rs"]
mod serve;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;

use common::*;

/// Starts the server on a served directory of its own (a few test images, a symlink that
/// points out of it, a dimension bomb) and returns its address.
fn start() -> (SocketAddr, PathBuf) {
    static STARTED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = STARTED.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("mogr-serve-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let root = dir.join("root");
    std::fs::create_dir_all(root.join("jpeg")).unwrap();
    std::fs::create_dir_all(root.join("png")).unwrap();
    for rel in [
        "jpeg/pil-flower.jpg",
        "jpeg/mpl-grace_hopper.jpg",
        "png/mpl-Minduka_Present_Blue_Pack.png",
    ] {
        std::fs::copy(images().join(rel), root.join(rel)).unwrap();
    }
    std::fs::write(dir.join("secret.txt"), b"outside").unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(dir.join("secret.txt"), root.join("link.jpg")).unwrap();
    // A PNG header declaring 65,535 x 65,535 pixels.
    let mut bomb = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR\x00\x00\xff\xff\x00\x00\xff\xff\x08\x02\x00\x00\x00".to_vec();
    bomb.extend_from_slice(&[0, 0, 0, 0]);
    std::fs::write(root.join("bomb.png"), bomb).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    let app = serve::app(&root, mogr::Processor::new(), 2).unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            serve::serve(listener, app).await.unwrap();
        });
    });
    (addr, dir)
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

struct Got {
    status: u16,
    content_type: String,
    slim_flag: Option<String>,
    body: Vec<u8>,
}

fn get(agent: &ureq::Agent, addr: SocketAddr, path_and_query: &str) -> Got {
    let mut r = agent
        .get(&format!("http://{addr}{path_and_query}"))
        .call()
        .unwrap();
    let header = |name: &str| {
        r.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let content_type = header("content-type").unwrap_or_default();
    let slim_flag = header("x-slimflag");
    let status = r.status().as_u16();
    let body = r
        .body_mut()
        .with_config()
        .limit(64 << 20)
        .read_to_vec()
        .unwrap();
    Got {
        status,
        content_type,
        slim_flag,
        body,
    }
}

/// A request sent as written (clients normalize `..` away; attackers do not).
fn raw_status(addr: SocketAddr, path: &str) -> u16 {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    reply
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

#[test]
fn processing_during_download() {
    let (addr, dir) = start();
    let agent = agent();
    let original = image("jpeg/pil-flower.jpg");

    let plain = get(&agent, addr, "/jpeg/pil-flower.jpg");
    assert_eq!(
        (plain.status, plain.content_type.as_str()),
        (200, "image/jpeg")
    );
    assert_eq!(plain.body, original);

    let q = get(&agent, addr, "/jpeg/pil-flower.jpg?imageMogr2/quality/50");
    assert_eq!((q.status, q.content_type.as_str()), (200, "image/jpeg"));
    assert_eq!(quality_of(&q.body), Some(50));

    let webp = get(
        &agent,
        addr,
        "/jpeg/pil-flower.jpg?imageMogr2/format/webp/quality/60|imageInfo",
    );
    assert_eq!(
        (webp.status, webp.content_type.as_str()),
        (200, "application/json")
    );
    let info: serde_json::Value = serde_json::from_slice(&webp.body).unwrap();
    assert_eq!(info["Format"], "webp");

    // A download URL's query with signature parameters and an escaped `!`.
    let signed = get(
        &agent,
        addr,
        "/png/mpl-Minduka_Present_Blue_Pack.png?q-sign-algorithm=sha1&q-ak=x&imageMogr2/format/jpg/quality/70%21",
    );
    assert_eq!(
        (signed.status, signed.content_type.as_str()),
        (200, "image/jpeg")
    );

    let slim = get(&agent, addr, "/jpeg/mpl-grace_hopper.jpg?imageSlim");
    assert_eq!(slim.status, 200);
    assert_eq!(slim.slim_flag.as_deref(), Some("1"));
    assert!(slim.body.len() < image("jpeg/mpl-grace_hopper.jpg").len());

    let bad = get(&agent, addr, "/jpeg/pil-flower.jpg?imageMogr2/quality/abc");
    assert_eq!(bad.status, 400);
    assert!(String::from_utf8_lossy(&bad.body).contains("quality"));

    assert_eq!(get(&agent, addr, "/jpeg/nothing.jpg").status, 404);
    assert_eq!(
        get(&agent, addr, "/bomb.png?imageMogr2/format/jpg").status,
        413
    );

    // Nothing outside the served directory, however the path is written.
    for path in [
        "/../secret.txt",
        "/jpeg/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/jpeg/%2E%2E/%2e%2e/secret.txt",
        "/..%2fsecret.txt",
        "//etc/passwd",
        "/link.jpg",
    ] {
        let status = raw_status(addr, path);
        assert!(status == 403 || status == 404, "{path}: {status}");
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn fifty_concurrent_requests() {
    let (addr, dir) = start();
    let expected = {
        let agent = agent();
        get(
            &agent,
            addr,
            "/jpeg/mpl-grace_hopper.jpg?imageMogr2/format/webp/quality/50",
        )
        .body
    };
    let handles: Vec<_> = (0..50)
        .map(|i| {
            std::thread::spawn(move || {
                let agent = agent();
                let path = if i % 2 == 0 {
                    "/jpeg/mpl-grace_hopper.jpg?imageMogr2/format/webp/quality/50".to_owned()
                } else {
                    "/jpeg/pil-flower.jpg?imageMogr2/quality/40".to_owned()
                };
                (i, get(&agent, addr, &path))
            })
        })
        .collect();
    for h in handles {
        let (i, got) = h.join().unwrap();
        assert_eq!(got.status, 200, "request {i}");
        if i % 2 == 0 {
            assert_eq!(got.body, expected, "request {i}: same bytes as alone");
        } else {
            assert_eq!(quality_of(&got.body), Some(40));
        }
    }
    let _ = std::fs::remove_dir_all(dir);
}
