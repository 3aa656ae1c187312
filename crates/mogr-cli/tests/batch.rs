//! Batch processing: `mogr process RULE INPUT... --out-dir DIR` / `--in-place` on a folder
//! tree of test images, and the CLI's messages.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn mogr(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mogr"))
        .args(args)
        .output()
        .unwrap()
}

fn image(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/images")
        .join(rel)
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mogr-batch-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn copy(rel: &str, to: &Path) {
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    std::fs::copy(image(rel), to).unwrap();
}

/// The JSON lines of stdout: the per-file lines, and the summary.
fn lines(out: &Output) -> (Vec<serde_json::Value>, serde_json::Value) {
    let mut files = Vec::new();
    let mut summary = None;
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        match v.get("summary") {
            Some(s) => summary = Some(s.clone()),
            None => files.push(v),
        }
    }
    let summary = summary.unwrap_or_else(|| {
        panic!(
            "no summary\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (files, summary)
}

fn status_of<'a>(files: &'a [serde_json::Value], input_ends: &str) -> &'a str {
    files
        .iter()
        .find(|f| f["input"].as_str().unwrap().ends_with(input_ends))
        .unwrap_or_else(|| panic!("no line for {input_ends}: {files:?}"))["status"]
        .as_str()
        .unwrap()
}

/// Every file under `dir`, relative, sorted.
fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    out.sort();
    out
}

/// A folder tree of test images: nested folders, a corrupt file, a text file, and a link to
/// an image outside the tree.
fn make_tree(root: &Path) -> PathBuf {
    let input = root.join("in");
    copy(
        "png/mpl-Minduka_Present_Blue_Pack.png",
        &input.join("a.png"),
    );
    copy("jpeg/mpl-grace_hopper.jpg", &input.join("sub/b.jpg"));
    copy("gif/pil-hopper.gif", &input.join("sub/deeper/c.GIF"));
    copy("corrupt/pil-flower.trunc50.jpg", &input.join("sub/bad.jpg"));
    std::fs::write(input.join("notes.txt"), "not an image").unwrap();
    copy("png/jxl-DJI-FC6310-16bit.png", &root.join("outside.png"));
    std::os::unix::fs::symlink(root.join("outside.png"), input.join("link.png")).unwrap();
    input
}

#[test]
fn a_tree_is_processed_into_the_same_layout_with_a_summary() {
    let root = temp_dir("tree");
    let input = make_tree(&root);
    let out_dir = root.join("out");
    let out = mogr(&[
        "process",
        "imageMogr2/format/webp/quality/70",
        input.to_str().unwrap(),
        "--out-dir",
        out_dir.to_str().unwrap(),
        "--jobs",
        "2",
    ]);
    // The corrupt file failed: exit 1, the others are still written.
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        tree(&out_dir),
        ["a.webp", "sub/b.webp", "sub/deeper/c.webp"],
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for (rel, src) in [
        ("a.webp", "png/mpl-Minduka_Present_Blue_Pack.png"),
        ("sub/b.webp", "jpeg/mpl-grace_hopper.jpg"),
        ("sub/deeper/c.webp", "gif/pil-hopper.gif"),
    ] {
        let made = mogr::info(&std::fs::read(out_dir.join(rel)).unwrap()).unwrap();
        let orig = mogr::info(&std::fs::read(image(src)).unwrap()).unwrap();
        assert_eq!(made.format.name(), "webp");
        assert_eq!(
            (made.width, made.height),
            (orig.width, orig.height),
            "{rel}"
        );
    }
    let (files, summary) = lines(&out);
    assert_eq!(files.len(), 5, "{files:?}");
    assert_eq!(status_of(&files, "a.png"), "done");
    assert_eq!(status_of(&files, "bad.jpg"), "failed");
    // The link is not followed: nothing outside the input folder is read.
    assert_eq!(status_of(&files, "link.png"), "skipped");
    assert_eq!(summary["files"], 5);
    assert_eq!(summary["done"], 3);
    assert_eq!(summary["failed"], 1);
    assert_eq!(summary["skipped"], 1);
    let bytes_in: u64 = ["a.png", "sub/b.jpg", "sub/deeper/c.GIF"]
        .iter()
        .map(|r| std::fs::metadata(input.join(r)).unwrap().len())
        .sum();
    let bytes_out: u64 = tree(&out_dir)
        .iter()
        .map(|r| std::fs::metadata(out_dir.join(r)).unwrap().len())
        .sum();
    assert_eq!(summary["bytes_in"], bytes_in);
    assert_eq!(summary["bytes_out"], bytes_out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("3 done") && stderr.contains("1 failed"),
        "{stderr}"
    );
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn existing_outputs_are_kept_unless_overwrite_and_unchanged_files_are_copied() {
    let root = temp_dir("overwrite");
    let input = root.join("in");
    copy(
        "png/mpl-Minduka_Present_Blue_Pack.png",
        &input.join("a.png"),
    );
    let out_dir = root.join("out");
    let run = |extra: &[&str]| {
        let mut args = vec![
            "process",
            "imageMogr2/format/png",
            input.to_str().unwrap(),
            "--out-dir",
            out_dir.to_str().unwrap(),
            "--json",
        ];
        args.extend_from_slice(extra);
        mogr(&args)
    };
    // A PNG to PNG comes back unchanged: copied as it is.
    let first = run(&[]);
    assert_eq!(first.status.code(), Some(0));
    let (files, summary) = lines(&first);
    assert_eq!(files[0]["status"], "unchanged");
    assert_eq!(summary["unchanged"], 1);
    let written = std::fs::read(out_dir.join("a.png")).unwrap();
    assert_eq!(written, std::fs::read(input.join("a.png")).unwrap());
    // An existing output is kept, and the file skipped (exit 0).
    std::fs::write(out_dir.join("a.png"), b"kept").unwrap();
    let second = run(&[]);
    assert_eq!(second.status.code(), Some(0));
    assert_eq!(lines(&second).0[0]["status"], "skipped");
    assert_eq!(std::fs::read(out_dir.join("a.png")).unwrap(), b"kept");
    // --overwrite replaces it.
    let third = run(&["--overwrite"]);
    assert_eq!(third.status.code(), Some(0));
    assert_eq!(std::fs::read(out_dir.join("a.png")).unwrap(), written);
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn writing_over_the_input_needs_in_place() {
    let root = temp_dir("inplace");
    let file = root.join("photo.jpg");
    copy("jpeg/mpl-grace_hopper.jpg", &file);
    let before = std::fs::read(&file).unwrap();
    let dir = root.to_str().unwrap();
    // --out-dir naming the input's own folder: refused for that file, the input intact.
    let refused = mogr(&[
        "process",
        "imageMogr2/quality/40",
        dir,
        "--out-dir",
        dir,
        "--json",
    ]);
    assert_eq!(refused.status.code(), Some(1));
    let (files, _) = lines(&refused);
    assert!(
        files[0]["error"].as_str().unwrap().contains("--in-place"),
        "{files:?}"
    );
    assert_eq!(std::fs::read(&file).unwrap(), before);
    // --in-place replaces it with the requantized file.
    let done = mogr(&[
        "process",
        "imageMogr2/quality/40",
        dir,
        "--in-place",
        "--json",
    ]);
    assert_eq!(
        done.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    let after = std::fs::read(&file).unwrap();
    assert!(after.len() < before.len());
    assert_eq!(mogr::info(&after).unwrap().quality, Some(40));
    assert_eq!(tree(&root), ["photo.jpg"], "no temporary file left");
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn a_run_interrupted_mid_way_leaves_no_partial_file() {
    let root = temp_dir("kill");
    let input = root.join("in");
    for i in 0..40 {
        copy(
            "jpeg/mpl-grace_hopper.jpg",
            &input.join(format!("f{i:02}.jpg")),
        );
    }
    let out_dir = root.join("out");
    let child = Command::new(env!("CARGO_BIN_EXE_mogr"))
        .args(["process", "imageSlim", input.to_str().unwrap(), "--out-dir"])
        .arg(&out_dir)
        .args(["--jobs", "2", "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Interrupted once the first results are in, with the next ones under way.
    let started = std::time::Instant::now();
    while started.elapsed() < std::time::Duration::from_secs(60) {
        if out_dir.exists() && tree(&out_dir).iter().any(|f| f.ends_with(".jpg")) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let (_, summary) = lines(&out);
    assert_eq!(summary["interrupted"], true);
    let files = tree(&out_dir);
    assert!(!files.is_empty() && files.len() < 40, "{files:?}");
    for f in &files {
        // Only whole outputs: no temporary file, and each one decodes.
        assert!(f.ends_with(".jpg") && !f.starts_with('.'), "{f}");
        let bytes = std::fs::read(out_dir.join(f)).unwrap();
        mogr::Processor::new()
            .process(&bytes, "imageMogr2/format/png")
            .unwrap_or_else(|e| panic!("{f}: {e}"));
    }
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn messages_suggest_and_warn() {
    let root = temp_dir("messages");
    let input = image("png/mpl-Minduka_Present_Blue_Pack.png");
    let input = input.to_str().unwrap();
    let out = root.join("out.jpg");
    let out = out.to_str().unwrap();
    let typo = mogr(&["process", "imageMogr2/qualty/50", input, out]);
    assert_eq!(typo.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&typo.stderr).contains("did you mean `quality`?"));
    let missing = mogr(&["process", "imageMogr2/thumbnail/100x", input, out]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("does not implement"));
    // A batch with a bad rule stops before any file: exit 2.
    let dir = root.join("batch");
    let bad = mogr(&[
        "process",
        "imageMogr2/cigf/3",
        input,
        "--out-dir",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(!dir.exists());
    // An output named for another format than the rule makes: written, with a warning.
    let webp = mogr(&["process", "imageMogr2/format/webp", input, out]);
    assert_eq!(webp.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&webp.stderr).contains("warning"));
    let written = std::fs::read(out).unwrap();
    assert_eq!(mogr::info(&written).unwrap().format.name(), "webp");
    // `parse` agrees with `process` on a value out of range under ignore-error/1.
    let rule = "imageMogr2/quality/300/ignore-error/1";
    let parsed = mogr(&["parse", rule]);
    assert_eq!(parsed.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&parsed.stderr).contains("note"));
    let processed = mogr(&["process", rule, input, out]);
    assert_eq!(processed.status.code(), Some(0));
    assert_eq!(std::fs::read(out).unwrap(), std::fs::read(input).unwrap());
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn limit_flags_apply_to_each_file() {
    let root = temp_dir("limits");
    let input = root.join("in");
    copy("jpeg/mpl-grace_hopper.jpg", &input.join("big.jpg"));
    copy("gif/ski-no_time_for_that_tiny.gif", &input.join("tiny.gif"));
    let tiny = mogr::info(&std::fs::read(input.join("tiny.gif")).unwrap()).unwrap();
    let side = tiny.width.max(tiny.height).to_string();
    let out_dir = root.join("out");
    let out = mogr(&[
        "process",
        "imageMogr2/format/png",
        input.to_str().unwrap(),
        "--out-dir",
        out_dir.to_str().unwrap(),
        "--max-side",
        &side,
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let (files, _) = lines(&out);
    assert_eq!(status_of(&files, "tiny.gif"), "done");
    assert_eq!(status_of(&files, "big.jpg"), "failed");
    let error = files.iter().find_map(|f| f["error"].as_str()).unwrap();
    assert!(error.contains("limit"), "{error}");
    assert_eq!(tree(&out_dir), ["tiny.png"]);
    std::fs::remove_dir_all(&root).unwrap();
}
