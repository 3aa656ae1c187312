//! The CLI contract: `mogr parse` and `mogr process`, their output and exit codes.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn mogr(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mogr"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = child.stdin.take().unwrap();
    pipe.write_all(stdin.unwrap_or_default()).unwrap();
    drop(pipe);
    child.wait_with_output().unwrap()
}

fn image(rel: &str) -> String {
    format!("{}/../../tests/images/{rel}", env!("CARGO_MANIFEST_DIR"))
}

fn json(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(bytes)))
}

#[test]
fn parse_prints_the_canonical_rule() {
    let out = mogr(
        &[
            "parse",
            "?q-sign-algorithm=sha1&imageMogr2/quality/75%21/format/WEBP/",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "imageMogr2/format/webp/quality/75!"
    );
}

#[test]
fn parse_errors_exit_2_with_the_offset() {
    for (rule, offset) in [
        ("imageMogr2/quality/150", 19),
        ("imageMogr2/thumbnail/1", 11),
    ] {
        let out = mogr(&["parse", rule], None);
        assert_eq!(out.status.code(), Some(2), "{rule}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(&format!("at byte {offset}")), "{err}");
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn process_writes_the_file_and_one_json_line() {
    let dir = std::env::temp_dir().join(format!("mogr-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let dest = dir.join("out.jpg");
    let out = mogr(
        &[
            "process",
            "imageMogr2/quality/60/interlace/1",
            &image("jpeg/pil-flower.jpg"),
            dest.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = json(&out.stdout);
    let written = std::fs::read(&dest).unwrap();
    assert_eq!(line["format"], "jpg");
    assert_eq!(line["width"], 480);
    assert_eq!(line["height"], 360);
    assert_eq!(line["frames"], 1);
    assert_eq!(line["quality"], 60);
    assert_eq!(line["bytes"], written.len());
    assert_eq!(line["input_returned"], false);
    assert_eq!(&written[..2], &[0xFF, 0xD8]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn process_stdin_to_stdout_puts_json_on_stderr() {
    let input = std::fs::read(image("jpeg/pil-flower.jpg")).unwrap();
    let out = mogr(
        &["process", "imageMogr2/quality/90", "-", "-"],
        Some(&input),
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        out.stdout, input,
        "quality/90 on a q75 input returns it unchanged"
    );
    let line = json(&out.stderr);
    assert_eq!(line["input_returned"], true);
    assert_eq!(line["quality"], 75);
    assert_eq!(line["reason"], "unchanged");
}

#[test]
fn ignored_errors_succeed_and_others_fail_with_their_codes() {
    let input = std::fs::read(image("jpeg/pil-flower.jpg")).unwrap();
    let out = mogr(
        &["process", "imageMogr2/format/tpg/ignore-error/1", "-", "-"],
        Some(&input),
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(out.stdout, input);
    assert_eq!(json(&out.stderr)["reason"], "ignored_error");

    let out = mogr(
        &["process", "imageMogr2/format/tpg", "-", "-"],
        Some(&input),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unsupported output format tpg"));

    let out = mogr(
        &["process", "imageMogr2/quality/101", "-", "-"],
        Some(&input),
    );
    assert_eq!(out.status.code(), Some(2));

    let out = mogr(
        &["process", "imageMogr2/quality/60", "-", "-"],
        Some(b"not an image"),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot decode"));
}

#[test]
fn help_names_every_command() {
    let out = mogr(&["--help"], None);
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("parse") && help.contains("process"), "{help}");
}

#[test]
fn info_prints_json_and_fails_with_exit_1() {
    let out = mogr(&["info", &image("jpeg/pil-flower.jpg")], None);
    assert_eq!(out.status.code(), Some(0));
    let info = json(&out.stdout);
    assert_eq!(
        (
            info["Format"].as_str(),
            info["Width"].as_u64(),
            info["Quality"].as_u64()
        ),
        (Some("jpg"), Some(480), Some(75))
    );
    let out = mogr(&["info", "-"], Some(b"not an image"));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot decode"));
}

#[test]
fn ops_writes_each_result_under_outdir_and_prints_the_xml() {
    let dir = std::env::temp_dir().join(format!("mogr-cli-ops-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("out");
    let header = r#"{"is_pic_info":1,"rules":[
        {"bucket":"b-1","fileid":"t/x.webp","rule":"imageMogr2/format/webp"},
        {"fileid":"/root.png","rule":"style/png"},
        {"fileid":"../../../../escape.png","rule":"imageMogr2/format/png"}]}"#;
    let input = image("jpeg/pil-flower.jpg");
    let run = mogr(
        &[
            "ops",
            "up/flower.jpg",
            "-",
            &input,
            out.to_str().unwrap(),
            "--style",
            "png=imageMogr2/format/png",
        ],
        Some(header.as_bytes()),
    );
    let xml = String::from_utf8_lossy(&run.stdout);
    assert_eq!(run.status.code(), Some(1), "one rule fails: {xml}");
    assert!(
        xml.starts_with("<UploadResult><OriginalInfo><Key>up/flower.jpg</Key>"),
        "{xml}"
    );
    assert!(xml.contains(
        "<Key>up/t/x.webp</Key><Location>b-1/up/t/x.webp</Location><Format>webp</Format>"
    ));
    assert!(xml.contains("<Code>InvalidArgument</Code>"));
    let webp = std::fs::read(out.join("up/t/x.webp")).unwrap();
    assert!(webp.starts_with(b"RIFF"));
    assert!(std::fs::read(out.join("root.png"))
        .unwrap()
        .starts_with(b"\x89PNG"));
    assert!(!dir.join("escape.png").exists() && !out.join("escape.png").exists());
    // Every rule succeeding: exit 0.
    let ok = mogr(
        &["ops", "a.jpg", "-", &input, out.to_str().unwrap()],
        Some(br#"{"rules":[{"fileid":"b.png","rule":"imageMogr2/format/png"}]}"#),
    );
    assert_eq!(ok.status.code(), Some(0));
    // A bad header: exit 2, the reason on stderr.
    let bad = mogr(
        &["ops", "a.jpg", "-", &input, out.to_str().unwrap()],
        Some(b"{\"rules\":7}"),
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("rules"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn process_memory_budget_and_deadline() {
    let input = image("jpeg/jxl-flower_q85_420_progr.jpg");
    let dir = std::env::temp_dir().join(format!("mogr-cli-budget-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out_path = dir.join("out.webp");
    let out_s = out_path.to_str().unwrap();
    let rule = "imageMogr2/format/webp/quality/75";
    // 3.4 MP to WebP needs far more than 1 MiB: refused before decoding, nothing written.
    let refused = mogr(
        &["process", "--memory-budget", "1M", rule, &input, out_s],
        None,
    );
    assert_eq!(refused.status.code(), Some(1));
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("budget is 1048576"), "{err}");
    assert!(!out_path.exists());
    // Enough budget: written and readable.
    let ok = mogr(
        &["process", "--memory-budget", "2G", rule, &input, out_s],
        None,
    );
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert_eq!(json(&ok.stdout)["width"], 2268);
    assert!(std::fs::read(&out_path).unwrap().starts_with(b"RIFF"));
    // A size that is not one is a usage error.
    let bad = mogr(
        &["process", "--memory-budget", "lots", rule, &input, out_s],
        None,
    );
    assert_eq!(bad.status.code(), Some(2));
    // A deadline already past stops the work with an error.
    let late = mogr(
        &["process", "--deadline", "0", "imageSlim", &input, out_s],
        None,
    );
    assert_eq!(late.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&late.stderr).contains("stopped"));
    std::fs::remove_dir_all(&dir).unwrap();
}
