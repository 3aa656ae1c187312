//! HEIF and AVIF through libheif: decoding, encoding with quality, conversions, alpha.
#![cfg(feature = "heif")]

mod common;

use common::*;
use mogr::{ImageFormat, Returned};
use mogr_core::{Bitmap, Layout};

fn decode_any(bytes: &[u8]) -> mogr_core::Raster {
    common::decode_all(bytes)
}

fn flat(b: &Bitmap) -> Bitmap {
    Bitmap {
        layout: Layout::Rgba,
        data: b.to_rgba(),
        ..b.clone()
    }
    .without_alpha()
}

/// Decodes with libheif's own `heif-dec` to PNG, then with our PNG decoder.
fn heif_dec(bytes: &[u8], ext: &str) -> Option<Bitmap> {
    if !have("heif-dec") {
        return None;
    }
    let dir = tempdir();
    let (input, output) = (dir.join(format!("in.{ext}")), dir.join("out.png"));
    std::fs::write(&input, bytes).unwrap();
    run(std::process::Command::new("heif-dec")
        .arg(&input)
        .arg(&output));
    let png = std::fs::read(&output).unwrap();
    Some(decode_any(&png).first().clone())
}

#[test]
fn heif_and_avif_decode_like_heif_dec() {
    for (file, ext, size, alpha) in [
        ("heic/pil-hopper.heif", "heif", (128, 128), false),
        ("avif/pil-transparency.avif", "avif", (64, 64), true),
    ] {
        let bytes = image(file);
        let probe = mogr_core::probe(&bytes, &mogr::Limits::default()).unwrap();
        assert_eq!(
            (probe.width, probe.height, probe.quality),
            (size.0, size.1, None),
            "{file}"
        );
        let ours = decode_any(&bytes);
        let b = ours.first();
        assert_eq!((b.width, b.height), size, "{file}");
        assert_eq!(b.layout == Layout::Rgba, alpha, "{file}");
        if alpha {
            assert!(
                b.data.chunks_exact(4).any(|p| p[3] < 255),
                "{file}: alpha kept"
            );
        }
        if let Some(reference) = heif_dec(&bytes, ext) {
            let d = mean_abs_diff(&flat(b), &flat(&reference));
            assert!(d < 1.0, "{file}: {d:.3} from heif-dec");
        }
    }
}

#[test]
fn heif_and_avif_encode_with_the_quality_rules() {
    let jpeg = image("jpeg/pil-flower.jpg"); // q75
    let source = flat(&decode(&jpeg));
    for (fmt, format) in [("heif", ImageFormat::Heif), ("avif", ImageFormat::Avif)] {
        let out = mogr::process(&jpeg, &format!("imageMogr2/format/{fmt}")).unwrap();
        assert_eq!(
            (out.format, out.quality),
            (format, Some(75)),
            "{fmt} keeps the input's quality"
        );
        let low = mogr::process(&jpeg, &format!("imageMogr2/format/{fmt}/quality/30")).unwrap();
        assert_eq!(low.quality, Some(30));
        assert!(
            low.bytes.len() < out.bytes.len(),
            "{fmt}: q30 smaller than q75"
        );
        for o in [&out, &low] {
            let back = decode_any(&o.bytes);
            assert_eq!((back.first().width, back.first().height), (480, 360));
            let d = mean_abs_diff(&flat(back.first()), &source);
            assert!(d < 8.0, "{fmt} q{:?}: {d:.2} from the source", o.quality);
            if let Some(reference) = heif_dec(&o.bytes, fmt) {
                assert!(
                    mean_abs_diff(&flat(&reference), &flat(back.first())) < 1.0,
                    "{fmt}: heif-dec agrees"
                );
            }
        }
    }
    // Inputs without a quality: the defaults (50).
    let png = image("png/mpl-Minduka_Present_Blue_Pack.png");
    assert_eq!(
        mogr::process(&png, "imageMogr2/format/heif")
            .unwrap()
            .quality,
        Some(50)
    );
    assert_eq!(
        mogr::process(&png, "imageMogr2/format/avif/rquality/50")
            .unwrap()
            .quality,
        Some(25)
    );
}

#[test]
fn heif_without_a_quality_parameter_is_returned_as_is() {
    let heif = image("heic/pil-hopper.heif");
    let out = mogr::process(&heif, "imageMogr2/format/heic").unwrap();
    assert_eq!(out.returned, Some(Returned::Unchanged));
    assert_eq!(out.bytes, heif);
    let out = mogr::process(&heif, "imageMogr2/quality/40").unwrap();
    assert_eq!(
        (out.format, out.quality, out.returned),
        (ImageFormat::Heif, Some(40), None)
    );
}

#[test]
fn avif_alpha_survives_into_png_and_webp() {
    let avif = image("avif/pil-transparency.avif");
    let source = decode_any(&avif);
    for fmt in ["png", "webp", "heif"] {
        let out = mogr::process(&avif, &format!("imageMogr2/format/{fmt}")).unwrap();
        let back = decode_any(&out.bytes);
        assert_eq!(back.first().layout, Layout::Rgba, "{fmt}");
        let alpha = |b: &Bitmap| b.data.chunks_exact(4).map(|p| u64::from(p[3])).sum::<u64>();
        let (a, b) = (alpha(source.first()), alpha(back.first()));
        assert!(a.abs_diff(b) * 50 < a, "{fmt}: alpha sum {b} vs {a}");
    }
}

#[test]
fn corpus_heif_and_avif_files_convert() {
    let Some(corpus) = corpus() else { return };
    for dir in ["heic", "avif"] {
        for path in files(&corpus, dir, &["heic", "heif", "avif", "avifs"]) {
            let bytes = std::fs::read(&path).unwrap();
            let out = mogr::process(&bytes, "imageMogr2/format/png")
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let back = decode_any(&out.bytes);
            assert_eq!(
                (back.first().width, back.first().height),
                (out.width, out.height)
            );
        }
    }
}

#[test]
fn an_avif_sequence_reports_its_frames_and_converts_its_primary_image() {
    let avifs = image("avif/pil-star.avifs");
    let info = mogr::info(&avifs).unwrap();
    assert_eq!((info.width, info.height, info.frame_count), (159, 159, 5));
    let out = mogr::process(&avifs, "imageMogr2/format/png").unwrap();
    let back = decode_any(&out.bytes);
    assert_eq!((back.first().width, back.first().height), (159, 159));
    // Still images have no track: one frame.
    let still = mogr::info(&image("avif/pil-transparency.avif")).unwrap();
    assert_eq!(still.frame_count, 1);
}

#[test]
fn image_slim_returns_an_avif_sequence_as_it_is() {
    // mogr writes no image sequence: a slimmed still would lose four of the five frames.
    let avifs = image("avif/pil-star.avifs");
    let out = mogr::process(&avifs, "imageSlim").unwrap();
    assert_eq!(out.slim_flag, Some(mogr::SlimFlag::Original));
    assert_eq!(&*out.bytes, &avifs[..]);
    assert_eq!(mogr::info(&out.bytes).unwrap().frame_count, 5);
    // A still AVIF made from the sequence's picture is still slimmed.
    let still = mogr::process(&avifs, "imageMogr2/format/avif/quality/90").unwrap();
    assert_eq!(mogr::info(&still.bytes).unwrap().frame_count, 1);
    let slimmed = mogr::process(&still.bytes, "imageSlim").unwrap();
    assert_eq!(slimmed.slim_flag, Some(mogr::SlimFlag::Compressed));
    assert!(slimmed.bytes.len() < still.bytes.len());
    let back = decode_any(&slimmed.bytes);
    assert_eq!((back.first().width, back.first().height), (159, 159));
}

#[test]
fn corpus_heif_and_avif_frame_counts_match_the_manifest() {
    let Some(corpus) = corpus() else { return };
    let mut checked = 0;
    for entry in manifest(&corpus) {
        if !matches!(&*entry.kind, "heic" | "avif") {
            continue;
        }
        let info = mogr::info(&std::fs::read(corpus.join(&entry.file)).unwrap()).unwrap();
        assert_eq!(info.frame_count.to_string(), entry.frames, "{}", entry.file);
        checked += 1;
    }
    assert!(checked >= 5, "{checked}");
}

/// The item types named in a HEIF file's `infe` boxes (version 2 and 3 entries).
fn item_types(bytes: &[u8]) -> Vec<[u8; 4]> {
    let mut types = Vec::new();
    let mut at = 0;
    while let Some(i) = bytes[at..].windows(4).position(|w| w == b"infe") {
        let body = at + i + 4;
        // version (1), flags (3), item ID (2 or 4 in version 3), protection index (2), type.
        let id_len = if bytes[body] >= 3 { 4 } else { 2 };
        let t = body + 4 + id_len + 2;
        types.push(bytes[t..t + 4].try_into().unwrap());
        at = body;
    }
    types
}

#[test]
fn a_large_heif_is_written_as_a_grid_of_tiles_that_decodes_to_the_picture() {
    // The flower photograph, 2268x1512, enlarged by 5/4 (nearest neighbour) to 2835x1890:
    // 5.4 MP, over the 4.2 MP from which HEIF is written in 1024-pixel tiles, with partial
    // tiles on the right and at the bottom.
    let source = decode_any(&image("jpeg/jxl-flower_q85_420_progr.jpg"));
    let small = source.first();
    let (w, h) = (small.width * 5 / 4, small.height * 5 / 4);
    let mut data = Vec::with_capacity((w * h * 3) as usize);
    for y in 0..h {
        let sy = (y * 4 / 5) as usize;
        for x in 0..w {
            let s = (sy * small.width as usize + (x * 4 / 5) as usize) * 3;
            data.extend_from_slice(&small.data[s..s + 3]);
        }
    }
    let big = Bitmap {
        width: w,
        height: h,
        layout: Layout::Rgb,
        data,
    };
    // A real ICC profile (a repo PNG's) to check where it is written.
    let icc = decode_any(&image("png/jxl-DJI-FC6310-16bit.png"))
        .icc
        .expect("the PNG has an ICC profile");
    let raster = mogr_core::Raster::still(big.clone(), Some(icc.clone()));
    let settings = mogr_core::EncodeSettings::default().with_quality(75);
    let bytes = mogr_core::encode(
        &raster,
        ImageFormat::Heif,
        settings,
        &mogr_core::Stop::never(),
    )
    .unwrap();
    let types = item_types(&bytes);
    assert_eq!(&types[0], b"grid", "{types:?}");
    // 3 x 2 tiles of HEVC.
    assert_eq!(
        types.iter().filter(|t| *t == b"hvc1").count(),
        6,
        "{types:?}"
    );
    let back = decode_any(&bytes);
    let b = back.first();
    assert_eq!((b.width, b.height, b.layout), (w, h, Layout::Rgb));
    assert_eq!(
        back.icc.as_deref(),
        Some(&icc[..]),
        "the grid carries the profile"
    );
    let d = mean_abs_diff(b, &big);
    assert!(d < 2.5, "{d:.3} from the source");
    // A misplaced or padded-in tile would show at its edges: the columns on either side of
    // the first tile boundary differ from the source as little as the picture does.
    let column = |x: u32| {
        let col = |bm: &Bitmap| Bitmap {
            width: 1,
            height: h,
            layout: Layout::Rgb,
            data: (0..h)
                .flat_map(|y| {
                    let s = ((y * w + x) * 3) as usize;
                    bm.data[s..s + 3].to_vec()
                })
                .collect(),
        };
        mean_abs_diff(&col(b), &col(&big))
    };
    for x in [1023, 1024, 2047, 2048, w - 1] {
        assert!(column(x) < 3.0 * d.max(1.0), "column {x}: {:.3}", column(x));
    }
    if let Some(reference) = heif_dec(&bytes, "heic") {
        assert!(
            mean_abs_diff(b, &flat(&reference)) < 1.0,
            "heif-dec reads it alike"
        );
    }
}

#[test]
fn a_heif_grid_stops_between_tiles() {
    let source = decode_any(&image("jpeg/jxl-flower_q85_420_progr.jpg"));
    let small = source.first();
    // 2x2 copies of the photograph side by side: 4536x3024.
    let (w, h) = (small.width * 2, small.height * 2);
    let row = small.width as usize * 3;
    let mut data = Vec::with_capacity((w * h * 3) as usize);
    for y in 0..h as usize {
        let line = &small.data[(y % small.height as usize) * row..][..row];
        data.extend_from_slice(line);
        data.extend_from_slice(line);
    }
    let raster = mogr_core::Raster::still(
        Bitmap {
            width: w,
            height: h,
            layout: Layout::Rgb,
            data,
        },
        None,
    );
    let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop = mogr_core::Stop::never().when(flag.clone());
    let setter = {
        let flag = flag.clone();
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(300));
            flag.store(true, std::sync::atomic::Ordering::Relaxed);
        })
    };
    // 15 tiles of a megapixel each: the flag is up long before the last one starts.
    let result = mogr_core::encode(
        &raster,
        ImageFormat::Heif,
        mogr_core::EncodeSettings::default().with_quality(60),
        &stop,
    );
    setter.join().unwrap();
    assert!(
        matches!(result, Err(mogr_core::Error::Stopped { .. })),
        "{:?}",
        result.map(|b| b.len())
    );
}
