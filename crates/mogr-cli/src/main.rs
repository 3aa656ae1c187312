//! `mogr`: imageMogr2 rules on image files.
//!
//! Exit codes: 0 success (an ignored error is a success), 1 processing error, 2 invalid rule
//! or usage.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod alloc;
mod batch;
mod serve;
mod store;
use serde_json::json;

#[derive(Parser)]
#[command(
    name = "mogr",
    version,
    about = "Cloud image processing rules (imageMogr2) on files"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Parse and validate a rule; print its canonical form (exit 2 with the error and its byte
    /// offset on stderr when it is invalid).
    Parse {
        /// The rule, e.g. `imageMogr2/format/webp/quality/75!` or a download URL's query.
        rule: String,
    },
    /// Apply a rule to images. `mogr process RULE INPUT... --out-dir DIR` processes files
    /// and folders (recursively) into DIR, keeping their layout, with a progress bar on a
    /// terminal, one JSON line per file otherwise (or with --json), and a summary; exit 0
    /// when every file succeeded, 1 when any failed. `mogr process RULE INPUT OUTPUT` writes
    /// one output (`-` for standard input or output) and prints one line of JSON describing
    /// it (on stderr when OUTPUT is `-`).
    Process {
        /// The rule.
        rule: String,
        /// Input files or folders, then (without --out-dir or --in-place) the output file.
        #[arg(required = true, num_args = 1..)]
        paths: Vec<PathBuf>,
        /// Write the outputs under DIR, at each file's path relative to its input folder,
        /// with the extension of the output format.
        #[arg(long, value_name = "DIR")]
        out_dir: Option<PathBuf>,
        /// Write each output next to its input, replacing the input when the format stays
        /// the same (written to a temporary file, then renamed over it).
        #[arg(long)]
        in_place: bool,
        /// Replace outputs that exist already (they are kept, and the file skipped, without).
        #[arg(long)]
        overwrite: bool,
        /// Files processed at once (default: the machine's cores).
        #[arg(long, value_name = "N")]
        jobs: Option<usize>,
        /// One JSON line per file and a JSON summary on stdout, no progress bar.
        #[arg(long)]
        json: bool,
        /// Strip metadata from re-encoded outputs: `all`, or `keep-icc` to keep only the ICC
        /// profile.
        #[arg(long, value_enum)]
        strip: Option<Strip>,
        #[command(flatten)]
        limits: LimitArgs,
    },
    /// Persistent processing: apply the rules of a `Pic-Operations` header to an uploaded
    /// image, write each result under OUTDIR at its resolved key (never outside OUTDIR), and
    /// print the `UploadResult` XML. Exit 0 when every rule succeeded, 1 otherwise (the XML
    /// is printed either way), 2 when the header is invalid.
    Ops {
        /// The object key of the upload, e.g. `photos/cat.jpg` (relative fileids resolve
        /// against its folder).
        key: String,
        /// A file holding the `Pic-Operations` JSON, or `-` for standard input.
        pic_operations: PathBuf,
        /// The uploaded image.
        input: PathBuf,
        /// Where the results are written.
        outdir: PathBuf,
        /// A style for `style/<name>` rules, as `name=rule` (repeatable).
        #[arg(long = "style", value_name = "NAME=RULE")]
        styles: Vec<String>,
    },
    /// Serve images over HTTP in front of a folder (--dir) or an S3-compatible bucket
    /// (--s3-bucket; credentials from the AWS_* environment variables): `GET /key?<rule>`
    /// processes during download, `PUT /key` with a `Pic-Operations` header on upload;
    /// `/health`, `/metrics`. Stops on SIGTERM or SIGINT after the requests under way.
    Serve {
        /// The folder that holds the objects.
        #[arg(
            long,
            env = "MOGR_DIR",
            conflicts_with = "s3_bucket",
            required_unless_present = "s3_bucket"
        )]
        dir: Option<PathBuf>,
        /// The bucket.
        #[arg(long, env = "MOGR_S3_BUCKET")]
        s3_bucket: Option<String>,
        /// The S3 endpoint, e.g. http://127.0.0.1:9000 (default: AWS, from the region).
        #[arg(long, env = "MOGR_S3_ENDPOINT")]
        s3_endpoint: Option<String>,
        /// Address to listen on.
        #[arg(long, env = "MOGR_LISTEN", default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
        /// Images processed at once (default: the cores).
        #[arg(long, env = "MOGR_WORKERS")]
        workers: Option<usize>,
        /// Requests waiting for a worker; one more is answered 503 (default: 4 x workers).
        #[arg(long, env = "MOGR_QUEUE")]
        queue: Option<usize>,
        /// `Cache-Control` of processed responses (default: the original's).
        #[arg(long, env = "MOGR_CACHE_CONTROL")]
        cache_control: Option<String>,
        /// Negotiate AVIF or WebP from `Accept` for rules without a format.
        #[arg(long, env = "MOGR_NEGOTIATE")]
        negotiate: bool,
        /// Time a client has to send a request's headers (also the idle time between
        /// requests on one connection).
        #[arg(long, env = "MOGR_HEADER_TIMEOUT", value_parser = parse_duration, default_value = "10")]
        header_timeout: std::time::Duration,
        /// Largest upload body (default 32M).
        #[arg(long, env = "MOGR_MAX_BODY", value_parser = parse_size, default_value = "32M")]
        max_body: u64,
        /// Deadline of each request's processing.
        #[arg(long, env = "MOGR_DEADLINE", value_parser = parse_duration, default_value = "30")]
        request_deadline: std::time::Duration,
        /// Memory budget of each request's processing.
        #[arg(long, env = "MOGR_MEMORY_BUDGET", value_parser = parse_size, default_value = "1G")]
        request_memory: u64,
    },
    /// Print an image's ImageInfo as JSON (Format, Width, Height, Size, Quality, Ave,
    /// Orientation, FrameCount, BitDepth, HorizontalDpi, VerticalDpi, Md5); exit 1 with the
    /// error on stderr when it cannot be read.
    Info {
        /// Input file, or `-` for standard input.
        input: PathBuf,
    },
}

/// Limits, per file.
#[derive(clap::Args)]
struct LimitArgs {
    /// Refuse (exit 1) a stage whose memory, estimated from the header before decoding,
    /// is over SIZE: bytes, or with a K, M or G suffix (powers of 1024), e.g. `512M`.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    memory_budget: Option<u64>,
    /// Stop (exit 1) work still running after DURATION: seconds (`5`, `2.5`, `5s`) or
    /// milliseconds (`500ms`).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    deadline: Option<std::time::Duration>,
    /// Largest input file (default 32M).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    max_input_bytes: Option<u64>,
    /// Largest width or height in pixels (default 30000).
    #[arg(long, value_name = "PIXELS")]
    max_side: Option<u32>,
    /// Largest width x height x frames (default 250000000).
    #[arg(long, value_name = "PIXELS")]
    max_pixels: Option<u64>,
    /// Most frames of an animation (default 300).
    #[arg(long, value_name = "N")]
    max_frames: Option<u32>,
    /// Most scans of a progressive JPEG (default 100).
    #[arg(long, value_name = "N")]
    max_scans: Option<u32>,
}

impl LimitArgs {
    /// A processor with these limits and `metadata`.
    fn processor(&self, metadata: mogr::Metadata) -> mogr::Processor {
        let mut limits = mogr::Limits::default();
        if let Some(v) = self.max_input_bytes {
            limits = limits.with_max_input_bytes(v);
        }
        if let Some(v) = self.max_side {
            limits = limits.with_max_side(v);
        }
        if let Some(v) = self.max_pixels {
            limits = limits.with_max_pixels(v);
        }
        if let Some(v) = self.max_frames {
            limits = limits.with_max_frames(v);
        }
        if let Some(v) = self.max_scans {
            limits = limits.with_max_scans(v);
        }
        if let Some(v) = self.memory_budget {
            limits = limits.with_max_memory_bytes(v);
        }
        let mut processor = mogr::Processor::new()
            .with_limits(limits)
            .with_metadata(metadata);
        if let Some(d) = self.deadline {
            processor = processor.with_deadline(d);
        }
        processor
    }
}

fn main() -> ExitCode {
    alloc::configure();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    match cli.command {
        Command::Parse { rule } => parse(&rule),
        Command::Process {
            rule,
            mut paths,
            out_dir,
            in_place,
            overwrite,
            jobs,
            json,
            strip,
            limits,
        } => {
            let metadata = strip.map_or(mogr::Metadata::Keep, Strip::policy);
            let processor = limits.processor(metadata);
            if out_dir.is_none() && !in_place {
                if paths.len() != 2 {
                    eprintln!(
                        "mogr: give INPUT and OUTPUT, or --out-dir DIR (or --in-place) for \
                         several inputs"
                    );
                    return ExitCode::from(2);
                }
                let output = paths.pop().unwrap_or_default();
                let input = paths.pop().unwrap_or_default();
                return process(&processor, &rule, &input, &output);
            }
            let pipeline = match checked_rule(&rule) {
                Ok(p) => p,
                Err(code) => return code,
            };
            let jobs = jobs.unwrap_or_else(|| {
                std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
            });
            let batch = batch::Batch {
                rule,
                pipeline,
                inputs: paths,
                out_dir,
                in_place,
                overwrite,
                jobs,
                json,
            };
            ExitCode::from(batch::run(&batch, &processor))
        }
        Command::Ops {
            key,
            pic_operations,
            input,
            outdir,
            styles,
        } => ops(&key, &pic_operations, &input, &outdir, &styles),
        Command::Serve {
            dir,
            s3_bucket,
            s3_endpoint,
            listen,
            workers,
            queue,
            cache_control,
            negotiate,
            header_timeout,
            max_body,
            request_deadline,
            request_memory,
        } => {
            use std::io::IsTerminal;
            tracing_subscriber::fmt()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::stderr().is_terminal())
                .init();
            let backend = match (&dir, &s3_bucket) {
                (Some(d), _) => serve::Backend::dir(d).map_err(|e| e.to_string()),
                (None, Some(b)) => serve::Backend::s3(b, s3_endpoint.as_deref()),
                (None, None) => Err("give --dir or --s3-bucket".to_string()),
            };
            let backend = match backend {
                Ok(b) => b,
                Err(e) => {
                    eprintln!("mogr: {e}");
                    return ExitCode::from(2);
                }
            };
            let processor = mogr::Processor::new()
                .with_deadline(request_deadline)
                .with_memory_budget(request_memory);
            let mut config = mogr_http::Config::default()
                .with_processor(processor)
                .with_negotiation(negotiate);
            if workers.is_some() || queue.is_some() {
                let w = workers.unwrap_or(config.workers);
                config = config.with_workers(w, queue.unwrap_or(4 * w));
            }
            if let Some(cc) = cache_control {
                match http::HeaderValue::from_str(&cc) {
                    Ok(v) => config = config.with_cache_control(v),
                    Err(_) => {
                        eprintln!("mogr: --cache-control `{cc}` is not a header value");
                        return ExitCode::from(2);
                    }
                }
            }
            let settings = serve::Settings {
                listen,
                config,
                header_timeout,
                max_body,
            };
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("mogr: {e}");
                    return ExitCode::from(1);
                }
            };
            match runtime.block_on(serve::run(settings, backend)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("mogr: {e}");
                    ExitCode::from(1)
                }
            }
        }
        Command::Info { input } => {
            let limit = mogr::Limits::default().max_input_bytes;
            let result = match read_input(&input, limit) {
                Ok(Input::Whole(bytes)) => mogr::info(&bytes).map_err(|e| e.to_string()),
                Ok(Input::TooLarge { head, size }) => {
                    Err(size_error(&head, size, limit).to_string())
                }
                Err(e) => Err(format!("cannot read {}: {e}", input.display())),
            };
            match result {
                Ok(info) => {
                    println!("{}", info.to_json());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("mogr: {e}");
                    ExitCode::from(1)
                }
            }
        }
    }
}

/// `mogr parse`: the canonical form, or the error (exit 2). A value out of range in a stage
/// that has `ignore-error/1` is what `process` accepts (it returns the input unchanged), so
/// it is a note on stderr with exit 0, as `process` would succeed.
fn parse(rule: &str) -> ExitCode {
    match checked_rule(rule) {
        Ok(pipeline) => {
            println!("{pipeline}");
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}

/// Parses and validates `rule` as `process` will: the error on stderr and exit 2 when it is
/// invalid, a note when a value out of range sits in a stage with `ignore-error/1`.
fn checked_rule(rule: &str) -> Result<mogr::rule::Pipeline, ExitCode> {
    let pipeline = match mogr::rule::parse(rule) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("mogr: {e}");
            return Err(ExitCode::from(2));
        }
    };
    for stage in &pipeline.stages {
        let mogr::rule::Stage::Mogr(params) = stage else {
            continue;
        };
        if let Err(e) = params.validate() {
            if !stage.ignores_errors() {
                eprintln!("mogr: {e}");
                return Err(ExitCode::from(2));
            }
            eprintln!(
                "mogr: note: {e}; the stage has ignore-error/1, so `mogr process` returns the \
                 input unchanged"
            );
        }
    }
    Ok(pipeline)
}

/// What `--strip` removes.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum Strip {
    /// Every metadata block (EXIF, ICC, XMP, IPTC, comments); an orientation survives.
    All,
    /// Everything but the ICC profile.
    KeepIcc,
}

impl Strip {
    fn policy(self) -> mogr::Metadata {
        match self {
            Strip::All => mogr::Metadata::Strip,
            Strip::KeepIcc => mogr::Metadata::IccOnly,
        }
    }
}

/// The largest `Pic-Operations` header file read: the service's header is a short JSON
/// document (a few rules), far below this.
const MAX_PIC_OPERATIONS_BYTES: u64 = 64 * 1024;

/// A duration: seconds (`5`, `2.5`, `5s`) or milliseconds (`500ms`), finite and not
/// negative; anything else (`inf`, `nan`, `-1`, `1e300`, `5m`) is a usage error.
fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let t = text.trim();
    let (number, scale) = match (t.strip_suffix("ms"), t.strip_suffix('s')) {
        (Some(n), _) => (n, 1e-3),
        (None, Some(n)) => (n, 1.0),
        (None, None) => (t, 1.0),
    };
    let wrong = || format!("`{text}` is not a duration (e.g. 5, 2.5, 500ms, 5s)");
    // Only plain decimal numbers: no `inf`, `nan` or signs.
    if number.is_empty()
        || !number
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'.' || b == b'e')
    {
        return Err(wrong());
    }
    let value: f64 = number.parse().map_err(|_| wrong())?;
    std::time::Duration::try_from_secs_f64(value * scale).map_err(|_| wrong())
}

/// A size in bytes: digits with an optional K, M or G suffix (powers of 1024).
fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let (digits, shift) = match t.char_indices().last() {
        Some((i, 'k' | 'K')) => (&t[..i], 10),
        Some((i, 'm' | 'M')) => (&t[..i], 20),
        Some((i, 'g' | 'G')) => (&t[..i], 30),
        _ => (t, 0),
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(1u64 << shift))
        .ok_or_else(|| format!("`{text}` is not a size (e.g. 1048576, 512M, 2G)"))
}

fn process(processor: &mogr::Processor, rule: &str, input: &PathBuf, output: &PathBuf) -> ExitCode {
    let limit = processor.limits().max_input_bytes;
    let bytes = match read_input(input, limit) {
        Ok(Input::Whole(b)) => b,
        Ok(Input::TooLarge { head, size }) => {
            return too_large(rule, input, output, head, size, limit)
        }
        Err(e) => {
            eprintln!("mogr: cannot read {}: {e}", input.display());
            return ExitCode::from(1);
        }
    };
    let out = match processor.process(&bytes, rule) {
        Ok(out) => out,
        Err(e) => {
            eprintln!("mogr: {e}");
            return ExitCode::from(e.kind().exit_code());
        }
    };
    let to_stdout = output.as_os_str() == "-";
    if let Some(named) = output
        .extension()
        .and_then(|e| e.to_str())
        .and_then(batch::format_of_extension)
    {
        if named != out.format && !to_stdout {
            eprintln!(
                "mogr: warning: {} names {} but the rule produced {} (written as it is)",
                output.display(),
                named.name(),
                out.format.name()
            );
        }
    }
    let written = if to_stdout {
        std::io::stdout().lock().write_all(&out.bytes)
    } else {
        std::fs::write(output, &out.bytes)
    };
    if let Err(e) = written {
        eprintln!("mogr: cannot write {}: {e}", output.display());
        return ExitCode::from(1);
    }
    let (reason, ignored) = match &out.returned {
        Some(mogr::Returned::Unchanged) => (Some("unchanged"), None),
        Some(mogr::Returned::IgnoredError(e)) => (Some("ignored_error"), Some(e.to_string())),
        Some(mogr::Returned::NothingSmaller) => (Some("nothing_smaller"), None),
        Some(mogr::Returned::SlimFailed(e)) => (Some("slim_failed"), Some(e.to_string())),
        _ => (None, None),
    };
    let line = json!({
        "format": out.format.name(),
        "width": out.width,
        "height": out.height,
        "frames": out.frames,
        "quality": out.quality,
        "bytes": out.bytes.len(),
        "input_returned": out.input_returned(),
        "reason": reason,
        "ignored_error": ignored,
        "slim_flag": out.slim_flag.map(|f| f.header_value()),
    });
    report(output, &line);
    ExitCode::SUCCESS
}

/// Prints the one JSON line of `mogr process`: on stdout, or on stderr when the image itself
/// goes to stdout.
fn report(output: &Path, line: &serde_json::Value) {
    if output.as_os_str() == "-" {
        eprintln!("{line}");
    } else {
        println!("{line}");
    }
}

/// An input over the size limit, refused before it is read whole: a limits error, or under
/// `ignore-error/1` on the first stage (where the service checks the size) the input copied
/// to the output as it is, streamed.
fn too_large(
    rule: &str,
    input: &PathBuf,
    output: &PathBuf,
    head: Vec<u8>,
    size: Option<u64>,
    limit: u64,
) -> ExitCode {
    let pipeline = match mogr::rule::parse(rule) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("mogr: {e}");
            return ExitCode::from(2);
        }
    };
    let format = mogr::ImageFormat::sniff(&head);
    let error = size_error(&head, size, limit);
    if !pipeline.stages.first().is_some_and(|s| s.ignores_errors()) {
        eprintln!("mogr: {error}");
        return ExitCode::from(error.kind().exit_code());
    }
    let copied = copy_input(input, output, &head);
    let total = match copied {
        Ok(n) => n,
        Err(e) => {
            eprintln!(
                "mogr: cannot copy {} to {}: {e}",
                input.display(),
                output.display()
            );
            return ExitCode::from(1);
        }
    };
    let line = json!({
        "format": format.map(|f| f.name()),
        "width": null,
        "height": null,
        "frames": null,
        "quality": null,
        "bytes": total,
        "input_returned": true,
        "reason": "ignored_error",
        "ignored_error": error.to_string(),
        "slim_flag": null,
    });
    report(output, &line);
    ExitCode::SUCCESS
}

/// The limits error of an input over the size limit. For a stream only a lower bound of its
/// size is known: the bytes read, one past the limit.
fn size_error(head: &[u8], size: Option<u64>, limit: u64) -> mogr::Error {
    mogr::Error::Limits {
        format: mogr::FormatName(mogr::ImageFormat::sniff(head)),
        kind: mogr::LimitKind::InputBytes {
            found: size.unwrap_or(head.len() as u64),
            limit,
        },
    }
}

/// Copies the input to the output as a stream: `head` (what was read of a stream already),
/// then the rest. Returns the bytes written.
fn copy_input(input: &PathBuf, output: &PathBuf, head: &[u8]) -> std::io::Result<u64> {
    let mut reader: Box<dyn Read> = if input.as_os_str() == "-" {
        Box::new(std::io::Cursor::new(head.to_vec()).chain(std::io::stdin().lock()))
    } else {
        Box::new(std::fs::File::open(input)?)
    };
    if output.as_os_str() == "-" {
        std::io::copy(&mut reader, &mut std::io::stdout().lock())
    } else {
        std::io::copy(&mut reader, &mut std::fs::File::create(output)?)
    }
}

fn ops(
    key: &str,
    pic_operations: &PathBuf,
    input: &PathBuf,
    outdir: &std::path::Path,
    style_args: &[String],
) -> ExitCode {
    let header = match read_small(pic_operations, MAX_PIC_OPERATIONS_BYTES) {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(e) => {
            eprintln!("mogr: {e}");
            return ExitCode::from(2);
        }
    };
    let operations = match mogr::PicOperations::parse(&header) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("mogr: {e}");
            return ExitCode::from(2);
        }
    };
    let mut styles = mogr::Styles::new();
    for arg in style_args {
        match arg.split_once('=') {
            Some((name, rule)) => styles = styles.with(name, rule),
            None => {
                eprintln!("mogr: --style takes NAME=RULE, got `{arg}`");
                return ExitCode::from(2);
            }
        }
    }
    let processor = mogr::Processor::new();
    let bytes = match read_small(input, processor.limits().max_input_bytes) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("mogr: {e}");
            return ExitCode::from(1);
        }
    };
    let mut result = processor.process_operations(key, &bytes, &operations, &styles);
    let store = match store::OutDir::open(outdir) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("mogr: cannot open {}: {e}", outdir.display());
            return ExitCode::from(1);
        }
    };
    // Each result is written inside OUTDIR or refused; the others are still written.
    for r in &mut result.results {
        let mogr::ops::ProcessResult::Done(o) = r else {
            continue;
        };
        if let Err(e) = store.write(&o.key, &o.bytes) {
            *r = mogr::ops::ProcessResult::Failed {
                key: o.key.clone(),
                code: mogr::ServiceCode::ProcessFailed,
                message: format!("cannot write {}: {e}", o.key),
            };
        }
    }
    println!("{}", result.to_xml());
    if result.all_succeeded() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// An input as read under a size limit.
enum Input {
    /// The whole input, at most the limit.
    Whole(Vec<u8>),
    /// Larger than the limit: what was read of it (its first 64 bytes for a file whose
    /// length said so at once, `limit + 1` bytes of a stream), and its size where known.
    TooLarge { head: Vec<u8>, size: Option<u64> },
}

/// Reads a file (or standard input, `-`) holding at most `limit` bytes in memory: a regular
/// file's length is checked before anything is read, and from any stream (a pipe,
/// `/dev/zero`) at most `limit + 1` bytes are read.
fn read_input(path: &PathBuf, limit: u64) -> std::io::Result<Input> {
    let mut head = Vec::new();
    if path.as_os_str() == "-" {
        std::io::stdin()
            .lock()
            .take(limit.saturating_add(1))
            .read_to_end(&mut head)?;
    } else {
        let mut file = std::fs::File::open(path)?;
        let meta = file.metadata()?;
        if meta.is_file() && meta.len() > limit {
            // Enough of it to tell the format.
            (&mut file).take(64).read_to_end(&mut head)?;
            return Ok(Input::TooLarge {
                head,
                size: Some(meta.len()),
            });
        }
        // Sized from the file's length: growing by doubling held up to twice the input.
        if meta.is_file() {
            head.reserve_exact(meta.len() as usize + 1);
        }
        file.take(limit.saturating_add(1)).read_to_end(&mut head)?;
    }
    if head.len() as u64 > limit {
        return Ok(Input::TooLarge { head, size: None });
    }
    Ok(Input::Whole(head))
}

/// Reads a small file whole (at most `limit` bytes), such as a `Pic-Operations` header.
fn read_small(path: &PathBuf, limit: u64) -> Result<Vec<u8>, String> {
    match read_input(path, limit) {
        Ok(Input::Whole(bytes)) => Ok(bytes),
        Ok(Input::TooLarge { .. }) => {
            Err(format!("{} is larger than {limit} bytes", path.display()))
        }
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}
