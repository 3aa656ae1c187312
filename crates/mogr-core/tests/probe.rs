//! Header probes against the manifests: dimensions, frames and quality, without decoding.

mod common;

use common::*;
use mogr_core::probe;
use mogr_core::{Error, ImageFormat, Limits};

fn check_manifest(dir: &std::path::Path) -> usize {
    let mut checked = 0;
    for entry in manifest(dir) {
        let (file, kind, dims, frames, im_q) = (
            &*entry.file,
            &*entry.kind,
            &*entry.dims,
            &*entry.frames,
            &*entry.im_quality,
        );
        if kind == "corrupt" || kind == "heic" || kind == "avif" {
            continue;
        }
        let bytes = std::fs::read(dir.join(file)).unwrap();
        let p = probe(&bytes, &Limits::default()).unwrap_or_else(|e| panic!("{file}: {e}"));
        let (w, h) = dims.split_once('x').unwrap();
        assert_eq!(
            (p.width.to_string(), p.height.to_string()),
            (w.to_string(), h.to_string()),
            "{file}"
        );
        assert_eq!(p.frames.to_string(), frames, "{file}");
        match p.format {
            ImageFormat::Jpeg => {
                let header = mogr_core::internals::markers::read_header(&bytes).unwrap();
                if mogr_core::internals::estimate::imagemagick(&header.qtables).is_some() {
                    assert_eq!(
                        p.quality.map(|q| q.to_string()).as_deref(),
                        Some(im_q),
                        "{file}"
                    )
                } else {
                    // ImageMagick's method finds no match and `%Q` prints its fallback, 92;
                    // mogr gives its own estimate there, never that fallback.
                    assert_eq!(im_q, "92", "{file}");
                    assert_ne!(p.quality, Some(92), "{file}");
                }
            }
            ImageFormat::Webp => assert_eq!(
                p.quality.is_some(),
                file.ends_with("pil-flower.webp") || file.ends_with("pil-transparent.webp"),
                "{file}"
            ),
            _ => assert_eq!(p.quality, None, "{file}: PNG, GIF and BMP have no quality"),
        }
        checked += 1;
    }
    checked
}

#[test]
fn probes_match_the_repo_manifest() {
    assert!(check_manifest(&images()) >= 20);
}

#[test]
fn probes_match_the_corpus_manifest() {
    if let Some(corpus) = corpus() {
        assert!(check_manifest(&corpus) >= 35);
    }
}

/// A GIF of `frames` one-pixel frames.
fn gif_with_frames(frames: usize) -> Vec<u8> {
    let mut g = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff".to_vec();
    for _ in 0..frames {
        g.extend_from_slice(&[0x21, 0xF9, 4, 0, 1, 0, 0, 0]); // graphic control, 1 cs
        g.extend_from_slice(&[0x2C, 0, 0, 0, 0, 1, 0, 1, 0, 0]);
        g.extend_from_slice(&[2, 2, 0x4C, 0x01, 0]); // LZW data for one pixel
    }
    g.push(0x3B);
    g
}

#[test]
fn frame_bombs_are_counted_from_blocks() {
    let ok = gif_with_frames(300);
    assert_eq!(probe(&ok, &Limits::default()).unwrap().frames, 300);
    let bomb = gif_with_frames(10_000);
    let err = probe(&bomb, &Limits::default()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Limits {
                kind: mogr_core::LimitKind::Frames {
                    found: 301,
                    limit: 300
                },
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn dimension_bombs_in_png_and_gif_headers_are_refused() {
    let mut png = image("png/mpl-Minduka_Present_Blue_Pack.png");
    png[16..24].copy_from_slice(&[0, 0, 0xFF, 0xFF, 0, 0, 0xFF, 0xFF]);
    let err = probe(&png, &Limits::default()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Limits {
                kind: mogr_core::LimitKind::Side { found: 65535, .. },
                ..
            }
        ),
        "{err}"
    );
    let mut gif = gif_with_frames(1);
    gif[6..10].copy_from_slice(&[0xFF, 0xFF, 0xFF, 0xFF]);
    let err = probe(&gif, &Limits::default()).unwrap_err();
    assert!(matches!(err, Error::Limits { .. }), "{err}");
}
