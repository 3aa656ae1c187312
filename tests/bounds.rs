//! What is counted against the limits is what is decoded: sizes and frames declared by a
//! container are checked before a decoder sees the file, and a decoder is given only the
//! bytes that were counted.

mod common;

use common::*;
use mogr::{Error, LimitKind, Returned};

/// `bytes` with the `u32` big-endian fields at `at` (relative to each `kind` box's type)
/// overwritten by `values`, in every box of that type.
fn patch_boxes(bytes: &[u8], kind: &[u8; 4], at: usize, values: &[u32]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    let mut from = 0;
    while let Some(i) = out[from..].windows(4).position(|w| w == kind) {
        let start = from + i + 4 + at;
        for (k, v) in values.iter().enumerate() {
            out[start + 4 * k..start + 4 * k + 4].copy_from_slice(&v.to_be_bytes());
        }
        from = from + i + 4;
    }
    out
}

#[test]
fn a_declared_heif_size_past_libheifs_own_cap_is_a_limits_error() {
    if !mogr::ImageFormat::Heif.can_decode() {
        eprintln!("notice: no HEIF decoder in this build, skipping");
        return;
    }
    let heif = image("heic/pil-hopper.heif");
    // ispe: version and flags (4), then width and height.
    let huge = patch_boxes(&heif, b"ispe", 4, &[65535, 65535]);
    let err = mogr::process(&huge, "imageMogr2/format/jpg").unwrap_err();
    assert!(
        matches!(
            err,
            Error::Limits {
                kind: LimitKind::Side { found: 65535, .. },
                ..
            }
        ),
        "{err}"
    );
    assert!(mogr::info(&huge).is_err());
    let out = mogr::process(&huge, "imageMogr2/format/jpg/ignore-error/1").unwrap();
    assert!(matches!(out.returned, Some(Returned::IgnoredError(_))));
    assert_eq!(out.bytes, huge);
}

#[test]
fn a_heif_sequence_counts_its_frames() {
    if !mogr::ImageFormat::Avif.can_decode() {
        eprintln!("notice: no AVIF decoder in this build, skipping");
        return;
    }
    let avifs = image("avif/pil-star.avifs");
    assert_eq!(mogr::info(&avifs).unwrap().frame_count, 5);
    // stsz: version and flags (4), sample size (4), then the sample count.
    let claims = patch_boxes(&avifs, b"stsz", 8, &[100_000]);
    let err = mogr::info(&claims).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Limits {
                kind: LimitKind::Frames {
                    found: 100_000,
                    limit: 300
                },
                ..
            }
        ),
        "{err}"
    );
    let err = mogr::process(&claims, "imageMogr2/format/png").unwrap_err();
    assert!(matches!(err, Error::Limits { .. }), "{err}");
    // Within the frame limit, the pixels of every frame count too.
    let small = mogr::Processor::new().with_limits(mogr::Limits::default().with_max_pixels(
        u64::from(mogr::info(&avifs).unwrap().width)
            * u64::from(mogr::info(&avifs).unwrap().height)
            * 4,
    ));
    let err = small.process(&avifs, "imageMogr2/format/png").unwrap_err();
    assert!(
        matches!(
            err,
            Error::Limits {
                kind: LimitKind::Pixels { .. },
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn a_coded_heif_image_larger_than_its_header_is_refused() {
    if !mogr::ImageFormat::Heif.can_decode() {
        eprintln!("notice: no HEIF decoder in this build, skipping");
        return;
    }
    let heif = image("heic/pil-hopper.heif");
    let info = mogr::info(&heif).unwrap();
    assert!(info.width > 64 && info.height > 64);
    let claims_small = patch_boxes(&heif, b"ispe", 4, &[64, 64]);
    // Whatever libheif makes of it, no output holds more pixels than the header declared.
    match mogr::process(&claims_small, "imageMogr2/format/png") {
        Ok(out) => assert!(
            out.width <= 64 && out.height <= 64,
            "{}x{}",
            out.width,
            out.height
        ),
        Err(e) => assert!(
            matches!(e, Error::Decode { .. } | Error::Limits { .. }),
            "{e}"
        ),
    }
}

/// An animated WebP with one more frame appended after the length its RIFF header gives.
fn webp_with_a_frame_past_its_riff_length() -> (Vec<u8>, u32) {
    let gif = image("gif/jxl-traffic_light.gif");
    let webp = mogr::process(&gif, "imageMogr2/format/webp/quality/50")
        .unwrap()
        .into_bytes();
    let counted = mogr::info(&webp).unwrap().frame_count;
    assert!(counted > 1);
    // The last ANMF chunk, appended again after the RIFF data.
    let at = webp.windows(4).rposition(|w| w == b"ANMF").unwrap();
    let mut crafted = webp.clone();
    crafted.extend_from_slice(&webp[at..]);
    (crafted, counted)
}

#[test]
fn an_animated_webp_decodes_only_the_frames_its_riff_length_holds() {
    let (crafted, counted) = webp_with_a_frame_past_its_riff_length();
    assert_eq!(mogr::info(&crafted).unwrap().frame_count, counted);
    let raster = decode_all(&crafted);
    assert_eq!(raster.frames.len() as u32, counted);
    let out = mogr::process(&crafted, "imageMogr2/format/gif").unwrap();
    assert_eq!(out.frames, counted);
}

#[test]
fn an_animation_of_identical_frames_becomes_a_still_webp() {
    let bitmap = mogr_core::Bitmap {
        width: 16,
        height: 12,
        layout: mogr_core::Layout::Rgba,
        data: (0..16 * 12 * 4).map(|i| (i * 7 % 256) as u8 | 1).collect(),
    };
    let frame = mogr_core::Frame {
        bitmap: bitmap.clone(),
        delay_ms: 100,
    };
    let raster = mogr_core::Raster {
        frames: vec![frame.clone(), frame.clone(), frame],
        loop_count: Some(0),
        icc: None,
    };
    let gif = mogr_core::internals::gif::encode(&raster).unwrap();
    assert_eq!(mogr::info(&gif).unwrap().frame_count, 3);
    for rule in [
        "imageMogr2/format/webp",
        "imageMogr2/format/webp/quality/80",
    ] {
        let out = mogr::process(&gif, rule).unwrap_or_else(|e| panic!("{rule}: {e}"));
        assert_eq!(
            (out.format, out.frames),
            (mogr::ImageFormat::Webp, 1),
            "{rule}"
        );
        let back = decode_all(&out.bytes);
        assert_eq!(back.frames.len(), 1);
        assert_eq!((back.first().width, back.first().height), (16, 12));
    }
}

#[test]
fn a_side_over_webps_maximum_is_a_limits_error() {
    // A two-frame animation 16400 px wide: within mogr's limits, beyond WebP's 16383.
    let (w, h) = (16_400u32, 2u32);
    let frame = |v: u8| mogr_core::Frame {
        bitmap: mogr_core::Bitmap {
            width: w,
            height: h,
            layout: mogr_core::Layout::Rgba,
            data: [v, 0, 0, 255].repeat((w * h) as usize),
        },
        delay_ms: 100,
    };
    let gif = gif_of(vec![frame(10), frame(200)]);
    for rule in [
        "imageMogr2/format/webp",
        "imageMogr2/format/webp/quality/80",
    ] {
        let err = mogr::process(&gif, rule).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Limits {
                    kind: LimitKind::Side {
                        found: 16_400,
                        limit: 16_383
                    },
                    ..
                }
            ),
            "{rule}: {err}"
        );
        let out = mogr::process(&gif, &format!("{rule}/ignore-error/1")).unwrap();
        assert!(matches!(out.returned, Some(Returned::IgnoredError(_))));
        assert_eq!(out.bytes, gif);
    }
}
