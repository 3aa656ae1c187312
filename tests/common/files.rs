//! Test files (the repo's images, the shared corpus and its manifest) and a decode of trusted
//! input. Shared by the tests of `mogr` (through `common`) and of `mogr-core` (which includes
//! this file by path): std and mogr-core only.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// The images committed in the repo.
pub fn images() -> PathBuf {
    root().join("tests/images")
}

/// The repository's root: the nearest folder at or above the crate being tested that holds
/// `tests/images` (the root for the `mogr` crate, two levels up for `crates/mogr-core`).
pub fn root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.ancestors()
        .find(|d| d.join("tests/images").is_dir())
        .unwrap_or(here)
        .to_path_buf()
}

pub fn image(rel: &str) -> Vec<u8> {
    std::fs::read(images().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// `../shared/corpus` (or `$MOGR_CORPUS`) when it exists; prints a notice otherwise.
pub fn corpus() -> Option<PathBuf> {
    let dir = std::env::var_os("MOGR_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("../shared/corpus"));
    if dir.join("MANIFEST.tsv").exists() {
        Some(dir)
    } else {
        eprintln!(
            "notice: no corpus at {}, skipping the corpus part",
            dir.display()
        );
        None
    }
}

/// One line of a `MANIFEST.tsv`: the columns the tests read.
pub struct Entry {
    /// Path relative to the manifest's folder.
    pub file: String,
    /// `jpeg`, `png`, `gif`, `webp`, `heic`, `avif`, `bmp` or `corrupt`.
    pub kind: String,
    /// `WIDTHxHEIGHT`.
    pub dims: String,
    /// Frame count.
    pub frames: String,
    /// ImageMagick's `%Q` quality estimate.
    pub im_quality: String,
}

/// The entries of `dir/MANIFEST.tsv`, header skipped.
pub fn manifest(dir: &Path) -> Vec<Entry> {
    let text = std::fs::read_to_string(dir.join("MANIFEST.tsv")).unwrap();
    text.lines()
        .skip(1)
        .map(|line| {
            let c: Vec<&str> = line.split('\t').collect();
            Entry {
                file: c[0].to_string(),
                kind: c[1].to_string(),
                dims: c[3].to_string(),
                frames: c[5].to_string(),
                im_quality: c[6].to_string(),
            }
        })
        .collect()
}

/// Every file under `dir/sub` with one of the extensions.
pub fn files(dir: &Path, sub: &str, exts: &[&str]) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir.join(sub))
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    out.retain(|p| {
        p.extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| exts.contains(&e.to_ascii_lowercase().as_str()))
    });
    out.sort();
    out
}

/// Every frame of an image, decoded by mogr-core with no limits (trusted test input).
pub fn decode_all(bytes: &[u8]) -> mogr_core::Raster {
    let limits = mogr_core::Limits::none();
    let admitted = mogr_core::probe(bytes, &limits)
        .unwrap()
        .admit(&limits, 0)
        .unwrap();
    mogr_core::decode(bytes, &admitted, mogr_core::FramePick::All, false).unwrap()
}
