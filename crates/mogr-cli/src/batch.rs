//! `mogr process RULE INPUT... --out-dir DIR` (or `--in-place`): many files in one call.
//!
//! Each INPUT is a file or a folder. A folder is walked recursively for image files (by
//! extension: jpg, jpeg, png, gif, webp, bmp, heic, heif, avif; any case); symbolic links
//! inside it are not followed (each is reported as skipped), so nothing outside the folder is
//! read. A file's output keeps its path relative to the folder it was found in, under DIR,
//! with the extension of the output format (`a.png` with `format/webp` becomes `a.webp`; an
//! extension that already names the format is kept, `.jpeg` stays `.jpeg`).
//!
//! Writes go through [`OutDir`]: a temporary file in the output's folder, renamed into
//! place, never through a symbolic link, so a failed or interrupted file leaves nothing
//! behind. An existing output is kept (the file is skipped) unless `--overwrite`; an output
//! that would replace its own input needs `--in-place`. Ctrl-C or SIGTERM cancels the files
//! under way (their temporary files are removed) and starts no new one.
//!
//! `--jobs N` files are processed at once (default: the machine's cores). Each job may use
//! up to two threads of its own while it runs (`imageSlim` on PNG runs its two searches at
//! once; libheif's AV1 and HEVC encoders take two; a subsampled JPEG of a megapixel or more
//! is reconstructed in bands on up to four short-lived threads), and jpeg-decoder shares one
//! pool sized to the cores: `--jobs` equal to the cores keeps the machine busy without piling up
//! threads; `--jobs 1` on a loaded machine. Memory is per job: with `--memory-budget B`,
//! at most N x B.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use mogr::ImageFormat;
use serde_json::json;

use crate::store::OutDir;

/// How a batch runs.
pub(crate) struct Batch {
    pub(crate) rule: String,
    pub(crate) pipeline: mogr::rule::Pipeline,
    pub(crate) inputs: Vec<PathBuf>,
    /// `None` with `--in-place`: each output goes next to its input.
    pub(crate) out_dir: Option<PathBuf>,
    pub(crate) in_place: bool,
    pub(crate) overwrite: bool,
    pub(crate) jobs: usize,
    pub(crate) json: bool,
}

/// Extensions of the files a folder is searched for (compared without case).
const IMAGE_EXTENSIONS: &[&str] = &[
    "jpg", "jpeg", "jpe", "png", "gif", "webp", "bmp", "heic", "heif", "avif", "avifs",
];

/// One file to process: where it is, the folder its output goes under, and its path
/// relative to that folder (`/`-separated).
struct Job {
    input: PathBuf,
    root: PathBuf,
    relative: String,
}

/// What became of one file.
enum Outcome {
    /// Written, changed.
    Done {
        bytes_in: u64,
        bytes_out: u64,
    },
    /// The rule returned the input as it is (written as a copy under `--out-dir`).
    Unchanged {
        bytes: u64,
    },
    /// Not processed: an existing output, or a link in a folder.
    Skipped(String),
    Failed(String),
}

#[derive(Default)]
struct Totals {
    files: u64,
    done: u64,
    unchanged: u64,
    skipped: u64,
    failed: u64,
    bytes_in: u64,
    bytes_out: u64,
}

/// Runs the batch; returns the exit code (0: every file succeeded or was skipped, 1: some
/// failed).
pub(crate) fn run(batch: &Batch, processor: &mogr::Processor) -> u8 {
    let started = Instant::now();
    let cancel = Arc::new(AtomicBool::new(false));
    {
        let cancel = cancel.clone();
        // A second handler cannot be set (tests call run once per process): not fatal.
        let _ = ctrlc::set_handler(move || cancel.store(true, Ordering::SeqCst));
    }
    let processor = processor.clone().with_cancel_flag(cancel.clone());
    let mut jobs = Vec::new();
    let mut skipped = Vec::new();
    for input in &batch.inputs {
        collect(input, &mut jobs, &mut skipped);
    }
    let json_lines = batch.json || !std::io::stdout().is_terminal();
    let bar = if !batch.json && std::io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new(jobs.len() as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {pos}/{len} files  {elapsed_precise} (eta {eta})  {wide_msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };
    let totals = Mutex::new(Totals::default());
    let print = |input: &Path, output: Option<&Path>, outcome: &Outcome| {
        let mut t = totals.lock().unwrap_or_else(|e| e.into_inner());
        t.files += 1;
        let (status, error, bytes_in, bytes_out) = match outcome {
            Outcome::Done {
                bytes_in,
                bytes_out,
            } => {
                t.done += 1;
                t.bytes_in += bytes_in;
                t.bytes_out += bytes_out;
                ("done", None, Some(*bytes_in), Some(*bytes_out))
            }
            Outcome::Unchanged { bytes } => {
                t.unchanged += 1;
                t.bytes_in += bytes;
                t.bytes_out += bytes;
                ("unchanged", None, Some(*bytes), Some(*bytes))
            }
            Outcome::Skipped(why) => {
                t.skipped += 1;
                ("skipped", Some(why.as_str()), None, None)
            }
            Outcome::Failed(why) => {
                t.failed += 1;
                ("failed", Some(why.as_str()), None, None)
            }
        };
        drop(t);
        if json_lines {
            let line = json!({
                "input": input.display().to_string(),
                "output": output.map(|o| o.display().to_string()),
                "status": status,
                "bytes_in": bytes_in,
                "bytes_out": bytes_out,
                "error": error,
            });
            bar.suspend(|| println!("{line}"));
        } else if let Some(why) = error {
            bar.println(format!("{status}: {}: {why}", input.display()));
        }
        bar.inc(1);
    };
    for (path, why) in &skipped {
        print(path, None, &Outcome::Skipped(why.clone()));
    }
    let next = AtomicUsize::new(0);
    let workers = batch.jobs.clamp(1, jobs.len().max(1));
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                if cancel.load(Ordering::SeqCst) {
                    break;
                }
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(job) = jobs.get(i) else { break };
                bar.set_message(job.relative.clone());
                let (output, outcome) = one(batch, &processor, job);
                print(&job.input, output.as_deref(), &outcome);
            });
        }
    });
    bar.finish_and_clear();
    let t = totals.into_inner().unwrap_or_else(|e| e.into_inner());
    let seconds = started.elapsed().as_secs_f64();
    let saved = if t.bytes_in > 0 {
        100.0 * (t.bytes_in as f64 - t.bytes_out as f64) / t.bytes_in as f64
    } else {
        0.0
    };
    let interrupted = cancel.load(Ordering::SeqCst);
    let not_started = jobs.len() as u64 + skipped.len() as u64 - t.files;
    if json_lines {
        println!(
            "{}",
            json!({"summary": {
                "files": t.files,
                "done": t.done,
                "unchanged": t.unchanged,
                "skipped": t.skipped,
                "failed": t.failed,
                "not_started": not_started,
                "bytes_in": t.bytes_in,
                "bytes_out": t.bytes_out,
                "saved_percent": (saved * 10.0).round() / 10.0,
                "seconds": (seconds * 1000.0).round() / 1000.0,
                "interrupted": interrupted,
            }})
        );
    }
    if !batch.json {
        eprintln!(
            "mogr: {} files: {} done, {} unchanged, {} skipped, {} failed{}; {} -> {} bytes \
             ({saved:.1}% saved) in {seconds:.1} s",
            t.files,
            t.done,
            t.unchanged,
            t.skipped,
            t.failed,
            if interrupted {
                format!(", {not_started} not started (interrupted)")
            } else {
                String::new()
            },
            t.bytes_in,
            t.bytes_out,
        );
    }
    u8::from(t.failed > 0 || interrupted)
}

/// Adds the files of `input` (a file, or a folder walked recursively) to `jobs`; links met
/// inside a folder go to `skipped`.
fn collect(input: &Path, jobs: &mut Vec<Job>, skipped: &mut Vec<(PathBuf, String)>) {
    if !input.is_dir() {
        let root = input.parent().unwrap_or(Path::new("")).to_path_buf();
        let relative = input
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        jobs.push(Job {
            input: input.to_path_buf(),
            root,
            relative,
        });
        return;
    }
    let mut stack = vec![(input.to_path_buf(), String::new())];
    while let Some((dir, prefix)) = stack.pop() {
        let mut entries: Vec<_> = match std::fs::read_dir(&dir) {
            Ok(e) => e.filter_map(Result::ok).collect(),
            Err(e) => {
                skipped.push((dir, format!("cannot read the folder: {e}")));
                continue;
            }
        };
        entries.sort_by_key(|e| e.file_name());
        for entry in entries.into_iter().rev() {
            let path = entry.path();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                skipped.push((path, "the name is not UTF-8".into()));
                continue;
            };
            let relative = if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}/{name}")
            };
            if kind.is_symlink() {
                skipped.push((path, "a symbolic link, which is not followed".into()));
            } else if kind.is_dir() {
                stack.push((path, relative));
            } else if kind.is_file() && is_image_name(&name) {
                jobs.push(Job {
                    input: path,
                    root: input.to_path_buf(),
                    relative,
                });
            }
        }
    }
}

fn is_image_name(name: &str) -> bool {
    name.rsplit_once('.').is_some_and(|(_, ext)| {
        IMAGE_EXTENSIONS
            .iter()
            .any(|known| ext.eq_ignore_ascii_case(known))
    })
}

/// The format an extension names, if any.
pub(crate) fn format_of_extension(ext: &str) -> Option<ImageFormat> {
    let ext = ext.to_ascii_lowercase();
    Some(match ext.as_str() {
        "jpg" | "jpeg" | "jpe" => ImageFormat::Jpeg,
        "png" => ImageFormat::Png,
        "gif" => ImageFormat::Gif,
        "webp" => ImageFormat::Webp,
        "bmp" => ImageFormat::Bmp,
        "heic" | "heif" => ImageFormat::Heif,
        "avif" | "avifs" => ImageFormat::Avif,
        "json" => ImageFormat::Json,
        _ => return None,
    })
}

/// The usual extension of a format's files.
fn extension_of(format: ImageFormat) -> &'static str {
    match format {
        ImageFormat::Heif => "heic",
        other => other.name(),
    }
}

/// `relative` with the extension of `format` (kept when it already names it).
pub(crate) fn renamed(relative: &str, format: ImageFormat) -> String {
    let (stem, ext) = match relative.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() && !stem.ends_with('/') && !ext.contains('/') => {
            (stem, Some(ext))
        }
        _ => (relative, None),
    };
    match ext {
        Some(ext) if format_of_extension(ext) == Some(format) => relative.to_string(),
        _ => format!("{stem}.{}", extension_of(format)),
    }
}

/// The format the rule will give for an input of `input` format: the last `format/` of the
/// pipeline, JSON after `imageInfo`, else the input's own.
pub(crate) fn predicted_format(
    pipeline: &mogr::rule::Pipeline,
    input: Option<ImageFormat>,
) -> Option<ImageFormat> {
    use mogr::rule::{Format, Stage};
    let mut format = input;
    for stage in &pipeline.stages {
        match stage {
            Stage::Mogr(params) => {
                if let Some(f) = params.format {
                    format = match f {
                        Format::Jpg | Format::Yjpeg => Some(ImageFormat::Jpeg),
                        Format::Png => Some(ImageFormat::Png),
                        Format::Bmp => Some(ImageFormat::Bmp),
                        Format::Gif => Some(ImageFormat::Gif),
                        Format::Webp => Some(ImageFormat::Webp),
                        Format::Heif => Some(ImageFormat::Heif),
                        Format::Avif => Some(ImageFormat::Avif),
                        _ => None,
                    };
                }
            }
            Stage::Info => format = Some(ImageFormat::Json),
            _ => {}
        }
    }
    format
}

/// Processes one file: returns the output path (when one was decided) and the outcome.
fn one(batch: &Batch, processor: &mogr::Processor, job: &Job) -> (Option<PathBuf>, Outcome) {
    let limit = processor.limits().max_input_bytes;
    let bytes = match crate::read_input(&job.input, limit) {
        Ok(crate::Input::Whole(b)) => b,
        Ok(crate::Input::TooLarge { head, size }) => {
            let e = crate::size_error(&head, size, limit);
            return (None, Outcome::Failed(e.to_string()));
        }
        Err(e) => return (None, Outcome::Failed(format!("cannot read: {e}"))),
    };
    let (root, in_place) = match &batch.out_dir {
        Some(dir) => (dir.clone(), batch.in_place),
        None => (job.root.clone(), true),
    };
    let output_of = |format: ImageFormat| {
        let relative = renamed(&job.relative, format);
        let path = root.join(&relative);
        (relative, path)
    };
    // Decided before the work where the format is known from the rule: an existing output
    // is skipped without processing.
    let predicted = predicted_format(&batch.pipeline, ImageFormat::sniff(&bytes));
    if let Some(format) = predicted {
        let (_, path) = output_of(format);
        if let Some(refused) = refuse(batch, in_place, &job.input, &path) {
            return (Some(path), refused);
        }
    }
    let out = match processor.process(&bytes, &batch.rule) {
        Ok(out) => out,
        Err(e) => return (None, Outcome::Failed(e.to_string())),
    };
    let (relative, path) = output_of(out.format);
    if predicted != Some(out.format) {
        if let Some(refused) = refuse(batch, in_place, &job.input, &path) {
            return (Some(path), refused);
        }
    }
    let unchanged = out.input_returned() && out.bytes.as_ref() == bytes.as_slice();
    if unchanged && same_file(&job.input, &path) {
        // In place and nothing changed: the file is already the output.
        return (
            Some(path),
            Outcome::Unchanged {
                bytes: bytes.len() as u64,
            },
        );
    }
    let replace = batch.overwrite || in_place;
    let written = OutDir::open(&root)
        .map_err(|e| format!("cannot open {}: {e}", root.display()))
        .and_then(|dir| dir.write_file(&relative, &out.bytes, replace));
    if let Err(e) = written {
        return (Some(path), Outcome::Failed(format!("cannot write: {e}")));
    }
    let outcome = if unchanged {
        Outcome::Unchanged {
            bytes: bytes.len() as u64,
        }
    } else {
        Outcome::Done {
            bytes_in: bytes.len() as u64,
            bytes_out: out.bytes.len() as u64,
        }
    };
    (Some(path), outcome)
}

/// Why `output` must not be written, if it must not: it is the input itself without
/// `--in-place`, or it exists without `--overwrite`.
fn refuse(batch: &Batch, in_place: bool, input: &Path, output: &Path) -> Option<Outcome> {
    if same_file(input, output) {
        return (!in_place)
            .then(|| Outcome::Failed("the output would replace the input; use --in-place".into()));
    }
    if !batch.overwrite && std::fs::symlink_metadata(output).is_ok() {
        return Some(Outcome::Skipped(format!(
            "{} exists; use --overwrite to replace it",
            output.display()
        )));
    }
    None
}

/// Whether two paths name the same existing file.
fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_take_the_extension_of_their_format() {
        assert_eq!(renamed("a.png", ImageFormat::Webp), "a.webp");
        assert_eq!(renamed("x/y/a.JPEG", ImageFormat::Jpeg), "x/y/a.JPEG");
        assert_eq!(renamed("x.y/a", ImageFormat::Png), "x.y/a.png");
        assert_eq!(renamed("a.heif", ImageFormat::Heif), "a.heif");
        assert_eq!(renamed("a.gif", ImageFormat::Heif), "a.heic");
        assert_eq!(renamed("a.jpg", ImageFormat::Json), "a.json");
        assert!(is_image_name("b.JPG") && !is_image_name("notes.txt"));
    }

    #[test]
    fn the_output_format_is_predicted_from_the_rule() {
        let p = |r: &str| mogr::rule::parse(r).unwrap();
        let png = Some(ImageFormat::Png);
        assert_eq!(
            predicted_format(&p("imageMogr2/format/webp"), png),
            Some(ImageFormat::Webp)
        );
        assert_eq!(predicted_format(&p("imageSlim"), png), png);
        assert_eq!(
            predicted_format(&p("imageMogr2/format/yjpeg|imageInfo"), png),
            Some(ImageFormat::Json)
        );
    }
}
