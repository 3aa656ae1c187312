//! The per-request memory budget (`Processor::with_memory_budget`): each stage's estimate,
//! read from a refusal at a budget of one byte, must bound the peak memory the stage really
//! uses. Peaks are measured as the high-water mark of resident memory (`VmHWM`) of a child
//! process that runs the one stage, so memory allocated by the C encoders (libwebp, libheif,
//! x265, aom) counts too.
#![cfg(target_os = "linux")]

mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use mogr::ImageFormat;
use mogr::{Error, LimitKind, Processor};
use mogr_core::{Bitmap, Layout, Raster};

/// The largest estimate a rule reports: refused at a budget of one byte, then at each
/// estimate it reported, until it runs (a stage may check more than once, as `yjpeg` does
/// for its `jpg` encode and then for its search). `None` when the rule needs no memory at
/// all, like a JPEG kept at its own quality. The last run is the real one: a refusal
/// allocates under a kilobyte (`tests/alloc_bombs.rs`), so the process's peak is the stage's.
fn estimate_and_run(input: &[u8], rule: &str) -> Option<u64> {
    let mut budget = 1;
    let mut largest = None;
    loop {
        // Inputs near the pixel limits are larger than the 32 MiB input limit.
        let limits = mogr::Limits::default().with_max_input_bytes(1 << 30);
        match Processor::new()
            .with_limits(limits)
            .with_memory_budget(budget)
            .process(input, rule)
        {
            Err(Error::Limits {
                kind: LimitKind::Memory { found, limit },
                ..
            }) => {
                assert_eq!(limit, budget);
                assert!(found > budget);
                largest = Some(found);
                budget = found;
            }
            Ok(out) => {
                assert!(
                    largest.is_some() || out.input_returned(),
                    "{rule}: ran past a 1-byte budget"
                );
                assert!(!out.bytes.is_empty());
                return largest;
            }
            Err(e) => panic!("{rule}: {e}"),
        }
    }
}

/// Runs `rule` on the file at `path` in a child process (this test binary, running only
/// `child_stage`) and returns the stage's estimate and the child's peak resident memory
/// in bytes.
fn peak_in_child(path: &Path, rule: &str) -> (Option<u64>, u64) {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["child_stage", "--exact", "--ignored", "--nocapture"])
        .args(["--test-threads", "1"])
        .env("MOGR_BUDGET_INPUT", path)
        .env("MOGR_BUDGET_RULE", rule)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{rule}: child failed\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let field = |name: &str| {
        stdout
            .lines()
            .find_map(|l| l.split_once(name).map(|(_, v)| v.trim().to_string()))
            .unwrap_or_else(|| panic!("{rule}: no {name}\n{stdout}"))
    };
    let kb: u64 = field("VMHWM_KB ").parse().unwrap();
    let est = field("ESTIMATE ").parse().ok();
    (est, kb * 1024)
}

/// Run by [`peak_in_child`] only (in a process of its own): one stage, then the peak.
#[test]
#[ignore = "run by the memory budget tests in a child process"]
fn child_stage() {
    let path = std::env::var_os("MOGR_BUDGET_INPUT").expect("MOGR_BUDGET_INPUT");
    let rule = std::env::var("MOGR_BUDGET_RULE").expect("MOGR_BUDGET_RULE");
    let input = std::fs::read(path).unwrap();
    let est = estimate_and_run(&input, &rule);
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let hwm = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .unwrap()
        .trim()
        .trim_end_matches("kB")
        .trim();
    println!("VMHWM_KB {hwm}");
    println!("ESTIMATE {}", est.map_or("none".into(), |e| e.to_string()));
}

/// The repo's 3.4 MP photograph (2268x1512) tiled `nx` x `ny`, with an alpha ramp when
/// `alpha` is set.
fn photo(nx: usize, ny: usize, alpha: bool) -> Bitmap {
    let src = raster_of(&image("jpeg/jxl-flower_q85_420_progr.jpg"));
    let tile = src.first();
    assert_eq!(tile.layout, Layout::Rgb);
    let (w, h) = (tile.width as usize, tile.height as usize);
    let (width, height) = (nx * w, ny * h);
    let ch = if alpha { 4 } else { 3 };
    let mut data = vec![0u8; width * height * ch];
    for y in 0..height {
        for x in 0..width {
            let s = ((y % h) * w + x % w) * 3;
            let d = (y * width + x) * ch;
            data[d..d + 3].copy_from_slice(&tile.data[s..s + 3]);
            if alpha {
                data[d + 3] = (x * 255 / width) as u8;
            }
        }
    }
    Bitmap {
        width: width as u32,
        height: height as u32,
        layout: if alpha { Layout::Rgba } else { Layout::Rgb },
        data,
    }
}

/// `bitmap` as `format` (JPEG and WebP at `quality`, the others lossless).
fn encoded(bitmap: Bitmap, format: ImageFormat, quality: Option<u8>) -> Vec<u8> {
    let mut settings = mogr_core::EncodeSettings::default();
    if let Some(q) = quality {
        settings = settings.with_quality(q);
    }
    mogr_core::encode(
        &Raster::still(bitmap, None),
        format,
        settings,
        &mogr_core::Stop::never(),
    )
    .unwrap()
}

fn raster_of(bytes: &[u8]) -> Raster {
    common::decode_all(bytes)
}

fn check(name: &str, input: &[u8], rules: &[&str]) {
    let failures = check_all(name, input, rules);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// As [`check`], returning what failed instead of stopping at the first.
fn check_all(name: &str, input: &[u8], rules: &[&str]) -> Vec<String> {
    let dir = common::tempdir();
    let path = dir.join(name);
    std::fs::write(&path, input).unwrap();
    let mut failures = Vec::new();
    for rule in rules {
        let (Some(est), peak) = peak_in_child(&path, rule) else {
            continue;
        };
        eprintln!(
            "| {name} | `{rule}` | {:.1} MB | {:.1} MB | {:.2} |",
            peak as f64 / 1e6,
            est as f64 / 1e6,
            est as f64 / peak as f64
        );
        if peak > est {
            failures.push(format!("{name} {rule}: peak {peak} over estimate {est}"));
        }
        // An estimate far above the real need would make a budget refuse what fits.
        if est > 4 * peak {
            failures.push(format!(
                "{name} {rule}: estimate {est} is over 4x the peak {peak}"
            ));
        }
    }
    failures
}

/// The conversions every still input is checked with.
const STILL_RULES: &[&str] = &[
    "imageMogr2/format/jpg/quality/80",
    "imageMogr2/format/jpg/quality/95",
    "imageMogr2/format/png",
    "imageMogr2/format/webp/quality/75",
    "imageMogr2/format/webp",
    "imageMogr2/format/bmp",
    "imageMogr2/format/gif",
    "imageMogr2/quality/60",
    "imageInfo",
];

/// The rules run on the smaller copy of each input only (slow encoders, and searches that
/// score a bounded number of pixels whatever the size).
const SMALL_RULES: &[&str] = &[
    "imageMogr2/format/heif/quality/50",
    "imageMogr2/format/avif/quality/50",
    "imageSlim",
    "imageMogr2/format/yjpeg",
];

/// Tiles of the photograph for the large inputs: `MOGR_MEMORY_TILES` (default 2, so
/// 4536x3024, 13.7 MP); 8 gives 18144x12096 (219 MP), near the 240 MP limit.
fn tiles() -> usize {
    std::env::var("MOGR_MEMORY_TILES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2)
}

/// Every input format (alpha or not) through every output format and rule: each stage's
/// estimate is at least its measured peak.
#[test]
fn estimates_bound_every_conversion() {
    let n = tiles();
    let big = |alpha| photo(n, n, alpha);
    let inputs: Vec<(&str, Vec<u8>, &[&str])> = vec![
        (
            "photo-420.jpg",
            encoded(big(false), ImageFormat::Jpeg, Some(85)),
            STILL_RULES,
        ),
        (
            "photo-444.jpg",
            encoded(big(false), ImageFormat::Jpeg, Some(95)),
            STILL_RULES,
        ),
        (
            "photo.png",
            encoded(big(false), ImageFormat::Png, None),
            STILL_RULES,
        ),
        (
            "photo-alpha.png",
            encoded(big(true), ImageFormat::Png, None),
            STILL_RULES,
        ),
        (
            "photo.webp",
            encoded(big(false), ImageFormat::Webp, Some(80)),
            STILL_RULES,
        ),
        (
            "photo-alpha.webp",
            encoded(big(true), ImageFormat::Webp, None),
            STILL_RULES,
        ),
        // BMP is uncompressed: half as many pixels, to stay under the 32 MiB input limit.
        (
            "photo.bmp",
            encoded(photo(n, n / 2, false), ImageFormat::Bmp, None),
            STILL_RULES,
        ),
        (
            "photo.gif",
            encoded(big(false), ImageFormat::Gif, None),
            STILL_RULES,
        ),
        (
            "small.jpg",
            encoded(photo(1, 1, false), ImageFormat::Jpeg, Some(85)),
            SMALL_RULES,
        ),
        (
            "small-alpha.png",
            encoded(photo(1, 1, true), ImageFormat::Png, None),
            SMALL_RULES,
        ),
        (
            "small.webp",
            encoded(photo(1, 1, false), ImageFormat::Webp, Some(80)),
            SMALL_RULES,
        ),
        (
            "small.gif",
            encoded(photo(1, 1, false), ImageFormat::Gif, None),
            SMALL_RULES,
        ),
    ];
    let mut failures = Vec::new();
    for (name, bytes, rules) in &inputs {
        failures.extend(check_all(name, bytes, rules));
    }
    let heic = encoded(photo(1, 1, false), ImageFormat::Heif, Some(60));
    let avif = encoded(photo(1, 1, true), ImageFormat::Avif, Some(60));
    let rules: Vec<&str> = STILL_RULES.iter().chain(SMALL_RULES).copied().collect();
    failures.extend(check_all("small.heic", &heic, &rules));
    failures.extend(check_all("small-alpha.avif", &avif, &rules));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn estimates_bound_the_peak_of_animations() {
    let gif = animated_gif();
    check(
        "anim.gif",
        &gif,
        &[
            "imageMogr2/cgif/5",
            "imageMogr2/format/webp",
            "imageMogr2/format/png",
            "imageMogr2/format/jpg",
            "imageSlim",
            "imageInfo",
        ],
    );
}

#[test]
fn a_budget_below_the_estimate_refuses_and_above_it_runs() {
    let input = image("jpeg/jxl-flower_q85_420_progr.jpg");
    let rule = "imageMogr2/format/webp/quality/75";
    let est = estimate_and_run(&input, rule).unwrap();
    let refused = Processor::new()
        .with_memory_budget(est - 1)
        .process(&input, rule);
    assert!(matches!(
        refused,
        Err(Error::Limits {
            kind: LimitKind::Memory { .. },
            ..
        })
    ));
    // ignore-error/1 covers it, like the other limits: the input comes back.
    let ignored = Processor::new()
        .with_memory_budget(est - 1)
        .process(&input, &format!("{rule}/ignore-error/1"))
        .unwrap();
    assert_eq!(ignored.bytes, input);
    let out = Processor::new()
        .with_memory_budget(est)
        .process(&input, rule)
        .unwrap();
    assert_eq!((out.width, out.height), (2268, 1512));
    assert_eq!(raster_of(&out.bytes).first().width, 2268);
}
