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

/// Asserts exit 0, showing stderr otherwise.
fn assert_ok(out: &Output) {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
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
    assert_ok(&out);
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

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("mogr-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn an_input_over_the_size_limit_is_refused_before_it_is_read() {
    let dir = temp_dir("big");
    // A 3 GiB sparse file that starts like a JPEG: its length alone refuses it.
    let big = dir.join("big.jpg");
    let file = std::fs::File::create(&big).unwrap();
    file.set_len(3 << 30).unwrap();
    drop(file);
    let mut head = std::fs::OpenOptions::new().write(true).open(&big).unwrap();
    head.write_all(&[0xFF, 0xD8, 0xFF]).unwrap();
    drop(head);
    let out_path = dir.join("out.jpg");
    let (big_s, out_s) = (big.to_str().unwrap(), out_path.to_str().unwrap());
    let out = mogr(&["process", "imageMogr2/quality/60", big_s, out_s], None);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("input is 3221225472 bytes, the limit is 33554432"),
        "{err}"
    );
    assert!(!out_path.exists());
    // An endless stream is read up to the limit, then refused.
    let out = mogr(
        &["process", "imageMogr2/quality/60", "/dev/zero", out_s],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("input is 33554433 bytes"), "{err}");
    // `info` and a bad rule: the same refusal, and exit 2 for the rule.
    let out = mogr(&["info", big_s], None);
    assert_eq!(out.status.code(), Some(1));
    let out = mogr(&["process", "imageMogr2/qualty/60", big_s, out_s], None);
    assert_eq!(out.status.code(), Some(2));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn ignore_error_returns_an_oversized_input_byte_for_byte_streamed() {
    let dir = temp_dir("ignore");
    // 33 MiB: over the 32 MiB limit, a PNG signature first.
    let mut input = b"\x89PNG\r\n\x1a\n".to_vec();
    input.extend((0..(33u32 << 20)).map(|i| (i % 251) as u8));
    let path = dir.join("in.png");
    std::fs::write(&path, &input).unwrap();
    let out_path = dir.join("out.png");
    let rule = "imageMogr2/format/webp/ignore-error/1";
    let out = mogr(
        &[
            "process",
            rule,
            path.to_str().unwrap(),
            out_path.to_str().unwrap(),
        ],
        None,
    );
    assert_ok(&out);
    let line = json(&out.stdout);
    assert_eq!(line["input_returned"], true);
    assert_eq!(line["reason"], "ignored_error");
    assert_eq!(line["format"], "png");
    assert!(
        std::fs::read(&out_path).unwrap() == input,
        "file output differs"
    );
    // From standard input, through a pipe.
    let out = mogr(
        &["process", rule, "-", out_path.to_str().unwrap()],
        Some(&input),
    );
    assert_eq!(out.status.code(), Some(0));
    assert!(
        std::fs::read(&out_path).unwrap() == input,
        "stdin output differs"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_pic_operations_file_is_capped() {
    let dir = temp_dir("ops-cap");
    let ops = dir.join("ops.json");
    std::fs::write(&ops, vec![b' '; 65 * 1024]).unwrap();
    let out = mogr(
        &[
            "ops",
            "a.jpg",
            ops.to_str().unwrap(),
            &image("jpeg/pil-flower.jpg"),
            dir.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("larger than 65536 bytes"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn deadlines_are_durations_and_nothing_else() {
    let input = image("jpeg/pil-flower.jpg");
    // A deadline of 0 is accepted, and passes at once: the work stops (exit 1).
    let out = mogr(
        &["process", "--deadline", "0", "imageInfo", &input, "-"],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("deadline passed"));
    for ok in ["5", "2.5", "500ms", "5s", "1e19"] {
        let out = mogr(
            &["process", "--deadline", ok, "imageInfo", &input, "-"],
            None,
        );
        assert_eq!(
            out.status.code(),
            Some(0),
            "{ok}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for bad in ["inf", "nan", "1e300", "5m", "", "1e400", "-1", "0x10"] {
        let flag = format!("--deadline={bad}");
        let out = mogr(&["process", &flag, "imageInfo", &input, "-"], None);
        assert_eq!(out.status.code(), Some(2), "{bad}");
    }
}

/// Runs `mogr ops` with `rules` (fileid, rule) for the upload `key`, into `outdir`.
fn ops_into(
    dir: &std::path::Path,
    key: &str,
    rules: &[(&str, &str)],
    outdir: &std::path::Path,
) -> Output {
    let rules: Vec<String> = rules
        .iter()
        .map(|(f, r)| format!(r#"{{"fileid":"{f}","rule":"{r}"}}"#))
        .collect();
    let ops = dir.join("ops.json");
    std::fs::write(&ops, format!(r#"{{"rules":[{}]}}"#, rules.join(","))).unwrap();
    mogr(
        &[
            "ops",
            key,
            ops.to_str().unwrap(),
            &image("jpeg/pil-flower.jpg"),
            outdir.to_str().unwrap(),
        ],
        None,
    )
}

#[test]
fn ops_never_writes_through_a_symbolic_link() {
    use std::os::unix::fs::symlink;
    let dir = temp_dir("links");
    let outdir = dir.join("out");
    let elsewhere = dir.join("elsewhere");
    std::fs::create_dir_all(&outdir).unwrap();
    std::fs::create_dir_all(&elsewhere).unwrap();
    let victim = elsewhere.join("victim.png");
    std::fs::write(&victim, b"keep me").unwrap();
    // A linked folder, a linked file, a dangling link, and a linked parent of the key's folder.
    symlink(&elsewhere, outdir.join("link")).unwrap();
    symlink(&victim, outdir.join("file.png")).unwrap();
    symlink(elsewhere.join("created.png"), outdir.join("dangling.png")).unwrap();
    symlink(&elsewhere, outdir.join("photos")).unwrap();
    let png = "imageMogr2/format/png";
    let out = ops_into(
        &dir,
        "photos/in.jpg",
        &[
            ("/link/x.png", png),
            ("/file.png", png),
            ("/dangling.png", png),
            ("beside.png", png), // photos/beside.png: its folder is a link
            ("/fine/ok.png", png),
        ],
        &outdir,
    );
    assert_eq!(out.status.code(), Some(1), "one or more results refused");
    let xml = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        xml.matches("<Code>ProcessFailed</Code>").count(),
        4,
        "{xml}"
    );
    assert!(
        xml.contains("is a symbolic link, which is not followed"),
        "{xml}"
    );
    // Nothing outside OUTDIR was created or changed; the links are as they were.
    let mut names: Vec<_> = std::fs::read_dir(&elsewhere)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    assert_eq!(names, ["victim.png"]);
    assert_eq!(std::fs::read(&victim).unwrap(), b"keep me");
    assert!(std::fs::symlink_metadata(outdir.join("file.png"))
        .unwrap()
        .file_type()
        .is_symlink());
    // The result with a clean path is written, whole, and no temporary file is left.
    let ok = std::fs::read(outdir.join("fine/ok.png")).unwrap();
    assert!(ok.starts_with(b"\x89PNG"));
    let leftovers: Vec<_> = std::fs::read_dir(outdir.join("fine"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.contains("mogr-tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn ops_replaces_an_existing_result_atomically() {
    let dir = temp_dir("replace");
    let outdir = dir.join("out");
    std::fs::create_dir_all(outdir.join("a")).unwrap();
    std::fs::write(outdir.join("a/r.webp"), b"old").unwrap();
    let out = ops_into(
        &dir,
        "a/in.jpg",
        &[("r.webp", "imageMogr2/format/webp")],
        &outdir,
    );
    assert_ok(&out);
    let bytes = std::fs::read(outdir.join("a/r.webp")).unwrap();
    assert!(bytes.starts_with(b"RIFF"));
    std::fs::remove_dir_all(&dir).unwrap();
}
