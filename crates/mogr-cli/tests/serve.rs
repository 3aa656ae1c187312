//! `mogr serve` started as a child process on 127.0.0.1 (a port the OS picks), over a
//! temporary folder and over an S3-compatible server (s3s-fs) started here on loopback.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[path = "../../../tests/common/http.rs"]
mod http_client;
use http_client::{get, request};

fn image(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/images")
        .join(rel)
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mogr-serve-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A running `mogr serve`, stopped (SIGKILL) when dropped.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    fn start(args: &[&str], env: &[(&str, String)]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mogr"))
            .arg("serve")
            .args(args)
            .args(["--listen", "127.0.0.1:0"])
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("no address: {line:?}"))
            .parse()
            .unwrap();
        Server { child, addr }
    }

    fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What every backend must do: download processing with caching, and upload processing.
fn downloads_and_uploads(addr: SocketAddr) {
    let jpeg = std::fs::read(image("jpeg/pil-flower.jpg")).unwrap();
    // An upload without Pic-Operations is stored as it is.
    let put = request(addr, "PUT", "/photos/flower.jpg", &[], &jpeg);
    assert_eq!(put.status, 200, "{}", String::from_utf8_lossy(&put.body));
    assert_eq!(get(addr, "/photos/flower.jpg").body, jpeg);
    // Download processing, its ETag and 304.
    let webp = get(addr, "/photos/flower.jpg?imageMogr2/format/webp/quality/60");
    assert_eq!(webp.status, 200);
    assert_eq!(webp.header("content-type"), Some("image/webp"));
    assert_eq!(
        mogr::info(&webp.body).unwrap().format,
        mogr::ImageFormat::Webp
    );
    let tag = webp.header("etag").unwrap().to_string();
    let cached = request(
        addr,
        "GET",
        "/photos/flower.jpg?imageMogr2/format/webp/quality/60",
        &[("If-None-Match", &tag)],
        b"",
    );
    assert_eq!(cached.status, 304);
    assert_eq!(
        get(addr, "/photos/none.jpg?imageMogr2/format/webp").status,
        404
    );
    // Upload processing: each result at its resolved key, the original kept, the XML.
    let ops = r#"{"is_pic_info":1,"rules":[{"fileid":"small.webp","rule":"imageMogr2/format/webp/quality/50"},{"fileid":"/thumbs/q30.jpg","rule":"imageMogr2/quality/30"}]}"#;
    let up = request(
        addr,
        "PUT",
        "/up/cat.jpg",
        &[("Pic-Operations", ops)],
        &jpeg,
    );
    assert_eq!(up.status, 200);
    let xml = String::from_utf8_lossy(&up.body).into_owned();
    assert!(xml.starts_with("<UploadResult>"), "{xml}");
    assert!(
        xml.contains("<Key>up/small.webp</Key>") && xml.contains("<Key>thumbs/q30.jpg</Key>"),
        "{xml}"
    );
    assert!(xml.contains("<ImageInfo>"), "{xml}");
    assert_eq!(get(addr, "/up/cat.jpg").body, jpeg);
    let small = get(addr, "/up/small.webp");
    assert_eq!(
        mogr::info(&small.body).unwrap().format,
        mogr::ImageFormat::Webp
    );
    assert_eq!(
        mogr::info(&get(addr, "/thumbs/q30.jpg").body)
            .unwrap()
            .quality,
        Some(30)
    );
    // A result at the upload's own key replaces the original.
    let ops = r#"{"rules":[{"fileid":"dog.jpg","rule":"imageMogr2/quality/20"}]}"#;
    let replaced = request(
        addr,
        "PUT",
        "/up/dog.jpg",
        &[("Pic-Operations", ops)],
        &jpeg,
    );
    assert_eq!(replaced.status, 200);
    assert_eq!(
        mogr::info(&get(addr, "/up/dog.jpg").body).unwrap().quality,
        Some(20)
    );
    let bad = request(
        addr,
        "PUT",
        "/up/x.jpg",
        &[("Pic-Operations", "{not json")],
        &jpeg,
    );
    assert_eq!(bad.status, 400);
}

#[test]
fn a_folder_is_served_and_nothing_outside_it() {
    let root = temp_dir("dir");
    let data = root.join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(root.join("secret.txt"), "outside").unwrap();
    std::os::unix::fs::symlink(root.join("secret.txt"), data.join("link.txt")).unwrap();
    let server = Server::start(&["--dir", data.to_str().unwrap()], &[]);
    let addr = server.addr;
    assert_eq!(get(addr, "/health").body, b"ok\n");
    downloads_and_uploads(addr);
    // Traversal, encoded or not, backslashes, absolute forms, links out: never a byte of
    // what is outside.
    for target in [
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/a/..%2f..%2fsecret.txt",
        "/..%5csecret.txt",
        "//secret.txt",
        "/link.txt",
        "http://test/../secret.txt",
    ] {
        let r = get(addr, target);
        assert!(matches!(r.status, 400 | 404), "{target}: {}", r.status);
        assert!(
            !String::from_utf8_lossy(&r.body).contains("outside"),
            "{target}"
        );
    }
    let escape = request(addr, "PUT", "/%2e%2e/escaped.jpg", &[], b"x");
    assert_eq!(escape.status, 400);
    assert!(!root.join("escaped.jpg").exists());
    // The metrics saw all of it.
    let metrics = String::from_utf8_lossy(&get(addr, "/metrics").body).into_owned();
    assert!(
        metrics.contains("mogr_requests_total{status=\"200\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("mogr_requests_total{status=\"304\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("mogr_queue_depth 0"), "{metrics}");
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn a_slow_client_is_dropped_and_shutdown_is_graceful() {
    let root = temp_dir("slow");
    std::fs::copy(
        image("jpeg/jxl-flower_q85_420_progr.jpg"),
        root.join("big.jpg"),
    )
    .unwrap();
    let server = Server::start(
        &[
            "--dir",
            root.to_str().unwrap(),
            "--header-timeout",
            "1",
            "--workers",
            "1",
            "--queue",
            "0",
            // The slow request takes 8-9 s on two idle cores; the default 30 s deadline
            // stopped it (503) on a loaded machine, which is not what this test is about.
            "--request-deadline",
            "300",
        ],
        &[],
    );
    let addr = server.addr;
    // Headers never finished: the connection is closed after the header timeout.
    let mut slow = std::net::TcpStream::connect(addr).unwrap();
    slow.write_all(b"GET /big.jpg HTTP/1.1\r\nHost: t\r\n")
        .unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let start = Instant::now();
    let mut buf = Vec::new();
    let _ = slow.read_to_end(&mut buf);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    // A long request under way when SIGTERM comes still gets its answer; the worker is busy
    // meanwhile, so another request is refused with 503.
    let slow_request =
        std::thread::spawn(move || get(addr, "/big.jpg?imageMogr2/format/png%7CimageSlim"));
    let start = Instant::now();
    while !String::from_utf8_lossy(&get(addr, "/metrics").body).contains("mogr_working 1") {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the slow request never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let busy = get(addr, "/big.jpg?imageMogr2/quality/50");
    assert_eq!(busy.status, 503);
    assert!(busy.header("retry-after").is_some());
    server.signal("TERM");
    let done = slow_request.join().unwrap();
    assert_eq!(done.status, 200);
    assert_eq!(
        mogr::info(&done.body).unwrap().format,
        mogr::ImageFormat::Png
    );
    // And then the server is gone.
    let mut server = server;
    let status = server.child.wait().unwrap();
    assert!(status.success(), "{status}");
    assert!(std::net::TcpStream::connect(addr).is_err());
    std::fs::remove_dir_all(&root).unwrap();
}

/// Starts s3s-fs over `root` on a loopback port, with one access key.
fn start_s3(root: &Path) -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    let root = root.to_path_buf();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let fs = s3s_fs::FileSystem::new(root).unwrap();
            let mut builder = s3s::service::S3ServiceBuilder::new(fs);
            builder.set_auth(s3s::auth::SimpleAuth::from_single(
                "mogr-test",
                "mogr-secret",
            ));
            let service = builder.build();
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            loop {
                let (socket, _) = listener.accept().await.unwrap();
                let service = service.clone();
                tokio::spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(socket), service)
                        .await;
                });
            }
        });
    });
    rx.recv().unwrap()
}

#[test]
fn an_s3_bucket_is_served() {
    let root = temp_dir("s3");
    std::fs::create_dir_all(root.join("images")).unwrap();
    let s3 = start_s3(&root);
    let env = [
        ("AWS_ACCESS_KEY_ID", "mogr-test".to_string()),
        ("AWS_SECRET_ACCESS_KEY", "mogr-secret".to_string()),
        ("AWS_REGION", "us-east-1".to_string()),
    ];
    let endpoint = format!("http://{s3}");
    let server = Server::start(&["--s3-bucket", "images", "--s3-endpoint", &endpoint], &env);
    downloads_and_uploads(server.addr);
    // The objects are in the bucket's folder.
    assert!(root.join("images/up/small.webp").is_file());
    assert!(root.join("images/thumbs/q30.jpg").is_file());
    drop(server);
    std::fs::remove_dir_all(&root).unwrap();
}
