//! The per-request memory budget (`Processor::with_memory_budget`): each stage's estimate,
//! read from a refusal at a budget of one byte, must bound the peak memory the stage really
//! uses. Peaks are measured as the high-water mark of resident memory (`VmHWM`) of a child
//! process that runs the one stage, so memory allocated by the C encoders (libwebp, libheif,
//! x265, aom) counts too.
#![cfg(target_os = "linux")]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use mogr::{Error, LimitKind, Processor};
use mogr_core::{Bitmap, Layout, Raster};

/// The largest estimate a rule reports: refused at a budget of one byte, then at each
/// estimate it reported, until it runs (a stage may check more than once, as `yjpeg` does
/// for its `jpg` encode and then for its search). `None` when the rule needs no memory at
/// all, like a JPEG kept at its own quality.
fn estimate(input: &[u8], rule: &str) -> Option<u64> {
    let mut budget = 1;
    let mut largest = None;
    loop {
        match Processor::new()
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
                return largest;
            }
            Err(e) => panic!("{rule}: {e}"),
        }
    }
}

/// Runs `rule` on the file at `path` in a child process (this test binary, running only
/// `child_stage`) and returns the child's peak resident memory in bytes.
fn peak_in_child(path: &Path, rule: &str) -> u64 {
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
    let kb: u64 = stdout
        .lines()
        .find_map(|l| l.split_once("VMHWM_KB ").map(|(_, kb)| kb))
        .unwrap_or_else(|| panic!("{rule}: no peak reported\n{stdout}"))
        .trim()
        .parse()
        .unwrap();
    kb * 1024
}

/// Run by [`peak_in_child`] only (in a process of its own): one stage, then the peak.
#[test]
#[ignore = "run by the memory budget tests in a child process"]
fn child_stage() {
    let path = std::env::var_os("MOGR_BUDGET_INPUT").expect("MOGR_BUDGET_INPUT");
    let rule = std::env::var("MOGR_BUDGET_RULE").expect("MOGR_BUDGET_RULE");
    let input = std::fs::read(path).unwrap();
    let out = Processor::new().process(&input, &rule).unwrap();
    assert!(!out.bytes.is_empty());
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let hwm = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .unwrap()
        .trim()
        .trim_end_matches("kB")
        .trim();
    println!("VMHWM_KB {hwm}");
}

/// The repo's 3.4 MP photograph tiled 2 x 2 (13.7 MP), as a JPEG at quality 85.
fn big_jpeg() -> Vec<u8> {
    let src = raster_of(&image("jpeg/jxl-flower_q85_420_progr.jpg"));
    let tile = src.first();
    assert_eq!(tile.layout, Layout::Rgb);
    let (w, h) = (tile.width as usize, tile.height as usize);
    let mut data = vec![0u8; 4 * w * h * 3];
    for y in 0..2 * h {
        for x in 0..2 * w {
            let s = ((y % h) * w + x % w) * 3;
            let d = (y * 2 * w + x) * 3;
            data[d..d + 3].copy_from_slice(&tile.data[s..s + 3]);
        }
    }
    let bitmap = Bitmap {
        width: 2 * w as u32,
        height: 2 * h as u32,
        layout: Layout::Rgb,
        data,
    };
    let settings = mogr_core::internals::jpeg_encode::JpegSettings {
        quality: 85,
        progressive: false,
        density: None,
        segments: vec![],
    };
    mogr_core::internals::jpeg_encode::encode(&bitmap, &settings).unwrap()
}

fn raster_of(bytes: &[u8]) -> Raster {
    common::decode_all(bytes)
}

fn write_temp(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mogr-budget-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn check(name: &str, input: &[u8], rules: &[&str]) {
    let path = write_temp(name, input);
    for rule in rules {
        let Some(est) = estimate(input, rule) else {
            continue;
        };
        let peak = peak_in_child(&path, rule);
        eprintln!(
            "{name} {rule}: peak {:.1} MB, estimate {:.1} MB ({:.2}x)",
            peak as f64 / 1e6,
            est as f64 / 1e6,
            est as f64 / peak as f64
        );
        assert!(
            peak <= est,
            "{name} {rule}: peak {peak} over estimate {est}"
        );
        // An estimate far above the real need would make a budget refuse what fits.
        assert!(
            est <= 4 * peak,
            "{name} {rule}: estimate {est} is over 4x the peak {peak}"
        );
    }
}

#[test]
fn estimates_bound_the_peak_of_large_stills() {
    let jpeg = big_jpeg();
    check(
        "big.jpg",
        &jpeg,
        &[
            "imageMogr2/quality/60!",
            "imageMogr2/format/webp/quality/75",
            "imageMogr2/format/png",
            "imageMogr2/format/bmp",
            "imageMogr2/format/gif",
            "imageMogr2/format/heif/quality/50",
            "imageSlim",
        ],
    );
    let png = Processor::new()
        .process(
            &image("jpeg/jxl-flower_q85_420_progr.jpg"),
            "imageMogr2/format/png",
        )
        .unwrap()
        .into_bytes();
    check(
        "flower.png",
        &png,
        &[
            "imageMogr2/format/jpg/quality/80",
            "imageMogr2/format/avif/quality/50",
            "imageMogr2/format/webp",
            "imageSlim",
            "imageMogr2/format/yjpeg",
            "imageInfo",
        ],
    );
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
    let est = estimate(&input, rule).unwrap();
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
