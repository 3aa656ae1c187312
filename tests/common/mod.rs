//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use mogr_core::{Bitmap, Layout};

mod files;
#[allow(unused_imports)]
pub use files::*;

/// Whether an external tool is on PATH; prints a notice when it is not.
pub fn have(tool: &str) -> bool {
    let ok = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("notice: {tool} not installed (scripts/install-deps.sh installs it), skipping its checks");
    }
    ok
}

/// Runs a reference tool and returns its standard output; panics with its standard error
/// when it fails.
pub fn run(cmd: &mut Command) -> Vec<u8> {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{:?} failed: {}",
        cmd.get_program(),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Decodes a JPEG with libjpeg-turbo's `djpeg` (a reference decoder).
pub fn djpeg(bytes: &[u8]) -> Bitmap {
    let dir = tempdir();
    let input = dir.join("in.jpg");
    std::fs::write(&input, bytes).unwrap();
    parse_pnm(&run(Command::new("djpeg").arg("-pnm").arg(&input)))
}

/// Encodes with libjpeg-turbo's `cjpeg -quality q` from a bitmap.
pub fn cjpeg(bitmap: &Bitmap, quality: u8, extra: &[&str]) -> Vec<u8> {
    let dir = tempdir();
    let input = dir.join("in.pnm");
    std::fs::write(&input, to_pnm(bitmap)).unwrap();
    run(Command::new("cjpeg")
        .arg("-quality")
        .arg(quality.to_string())
        .args(extra)
        .arg(&input))
}

/// A new empty folder under the system's temporary folder, removed with everything in it
/// when the value is dropped (also when the test fails and unwinds).
pub struct TempDir(PathBuf);

impl std::ops::Deref for TempDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for TempDir {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A new empty folder under the system's temporary folder: see [`TempDir`].
pub fn tempdir() -> TempDir {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "mogr-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    TempDir(dir)
}

pub fn to_pnm(b: &Bitmap) -> Vec<u8> {
    let b = b.clone().without_alpha();
    let magic = if b.layout == Layout::Gray { "P5" } else { "P6" };
    let mut out = format!("{magic}\n{} {}\n255\n", b.width, b.height).into_bytes();
    out.extend_from_slice(&b.data);
    out
}

pub fn parse_pnm(data: &[u8]) -> Bitmap {
    let mut fields = Vec::new();
    let mut pos = 0;
    while fields.len() < 4 {
        while data[pos].is_ascii_whitespace() {
            pos += 1;
        }
        let start = pos;
        while !data[pos].is_ascii_whitespace() {
            pos += 1;
        }
        fields.push(std::str::from_utf8(&data[start..pos]).unwrap().to_string());
    }
    pos += 1;
    let layout = if fields[0] == "P5" {
        Layout::Gray
    } else {
        Layout::Rgb
    };
    Bitmap {
        width: fields[1].parse().unwrap(),
        height: fields[2].parse().unwrap(),
        layout,
        data: data[pos..].to_vec(),
    }
}

/// Decodes with mogr's own JPEG decoder.
pub fn decode(bytes: &[u8]) -> Bitmap {
    let header = mogr_core::internals::markers::read_header(bytes).unwrap();
    mogr_core::internals::jpeg_decode::decode(bytes, &header).unwrap()
}

/// Mean absolute difference per sample.
pub fn mean_abs_diff(a: &Bitmap, b: &Bitmap) -> f64 {
    assert_eq!((a.width, a.height, a.layout), (b.width, b.height, b.layout));
    let sum: u64 = a
        .data
        .iter()
        .zip(&b.data)
        .map(|(&x, &y)| u64::from(x.abs_diff(y)))
        .sum();
    sum as f64 / a.data.len() as f64
}

/// Estimated quality of a JPEG, from its header.
pub fn quality_of(bytes: &[u8]) -> Option<u8> {
    mogr_core::probe(bytes, &mogr::Limits::default())
        .unwrap()
        .quality
}

/// The markers of a JPEG in order, up to the first SOS.
pub fn sof_marker(bytes: &[u8]) -> u8 {
    mogr_core::internals::markers::read_header(bytes)
        .unwrap()
        .sof
}

/// Converts between grey and RGB for comparisons (BT.601 luma for RGB to grey).
pub trait IntoLayout {
    fn into_layout(self, layout: Layout) -> Bitmap;
}

impl IntoLayout for Bitmap {
    fn into_layout(self, layout: Layout) -> Bitmap {
        let b = self.without_alpha();
        match (b.layout, layout) {
            (from, to) if from == to => b,
            (Layout::Rgb, Layout::Gray) => Bitmap {
                layout: Layout::Gray,
                data: b
                    .data
                    .chunks_exact(3)
                    .map(|p| {
                        ((299 * u32::from(p[0])
                            + 587 * u32::from(p[1])
                            + 114 * u32::from(p[2])
                            + 500)
                            / 1000) as u8
                    })
                    .collect(),
                ..b
            },
            (Layout::Gray, _) => Bitmap {
                layout: Layout::Rgb,
                data: b.data.iter().flat_map(|&g| [g, g, g]).collect(),
                ..b
            },
            _ => b,
        }
    }
}

/// A 40-frame 400 x 400 animation of moving gradients.
pub fn animated_gif() -> Vec<u8> {
    let (w, h) = (400u32, 400u32);
    let frames = (0..40u32)
        .map(|f| {
            let mut data = Vec::with_capacity((w * h * 4) as usize);
            for y in 0..h {
                for x in 0..w {
                    let v = (x + y + 7 * f) as u8;
                    data.extend_from_slice(&[v, (x * 255 / w) as u8, (y + 3 * f) as u8, 255]);
                }
            }
            mogr_core::Frame {
                bitmap: Bitmap {
                    width: w,
                    height: h,
                    layout: Layout::Rgba,
                    data,
                },
                delay_ms: 50,
            }
        })
        .collect();
    gif_of(frames)
}

/// A looping GIF of these frames, written by mogr's GIF encoder.
pub fn gif_of(frames: Vec<mogr_core::Frame>) -> Vec<u8> {
    let raster = mogr_core::Raster {
        frames,
        loop_count: Some(0),
        icc: None,
    };
    mogr_core::internals::gif::encode(&raster).unwrap()
}
