//! Format conversion through `mogr::process`: every pair of PNG, BMP, GIF, WebP and JPEG,
//! orientation, alpha, WebP quality, lossless WebP, and `cgif` frame reduction.

mod common;

use common::*;
use mogr::{ImageFormat, Returned};
use mogr_core::{Bitmap, Layout};

const INPUTS: &[&str] = &[
    "jpeg/pil-flower.jpg",
    "jpeg/jxl-flower_q85_gray.jpg",
    "png/mpl-Minduka_Present_Blue_Pack.png",
    "png/jxl-DJI-FC6310-16bit.png",
    "gif/jxl-traffic_light.gif",
    "gif/pil-hopper.gif",
    "webp/pil-flower.webp",
    "webp/pil-transparent.webp",
    "webp/ski-logo.lossless.webp",
    "bmp/pil-hopper.bmp",
    "bmp/pil-bmpsuite-pal8.bmp",
];

fn decode_any(bytes: &[u8]) -> mogr_core::Raster {
    common::decode_all(bytes)
}

/// Mean absolute difference of two frames, both as RGBA over white.
fn diff(a: &Bitmap, b: &Bitmap) -> f64 {
    let flat = |x: &Bitmap| {
        Bitmap {
            layout: Layout::Rgba,
            data: x.to_rgba(),
            ..x.clone()
        }
        .without_alpha()
    };
    mean_abs_diff(&flat(a), &flat(b))
}

#[test]
fn every_pair_converts_and_looks_the_same() {
    let targets = [
        ("jpg", ImageFormat::Jpeg, 14.0),
        ("png", ImageFormat::Png, 0.0),
        ("bmp", ImageFormat::Bmp, 0.0),
        ("gif", ImageFormat::Gif, 14.0),
        ("webp", ImageFormat::Webp, 14.0),
    ];
    for input in INPUTS {
        let bytes = image(input);
        let source = decode_any(&bytes);
        for (name, format, tolerance) in targets {
            let rule = format!("imageMogr2/format/{name}");
            let out =
                mogr::process(&bytes, &rule).unwrap_or_else(|e| panic!("{input} -> {name}: {e}"));
            assert_eq!(out.format, format, "{input} -> {name}");
            let decoded = decode_any(&out.bytes);
            let (w, h) = (source.first().width, source.first().height);
            assert_eq!((out.width, out.height), (w, h), "{input} -> {name}");
            assert_eq!(
                (decoded.first().width, decoded.first().height),
                (w, h),
                "{input} -> {name}"
            );
            let animated_target = matches!(format, ImageFormat::Gif | ImageFormat::Webp);
            let expected_frames = if animated_target {
                source.frames.len()
            } else {
                1
            };
            assert_eq!(decoded.frames.len(), expected_frames, "{input} -> {name}");
            assert_eq!(out.frames as usize, expected_frames, "{input} -> {name}");
            // Lossless targets give the same pixels (alpha over white for BMP); lossy ones and
            // GIF (256 colours) stay close: mean absolute difference on 0..=255, the worst
            // being a high-contrast palette test card through 4:2:0 JPEG at q75 (12.5).
            let lossless_here =
                tolerance == 0.0 || (format == ImageFormat::Webp && out.quality.is_none());
            // GIF and BMP convert a profiled input to sRGB: checked on its own in
            // `gif_and_bmp_get_srgb_pixels_through_the_icc_profile`.
            let converted =
                source.icc.is_some() && matches!(format, ImageFormat::Bmp | ImageFormat::Gif);
            let d = if converted {
                0.0
            } else {
                diff(source.first(), decoded.first())
            };
            let limit = if lossless_here { 0.0 } else { tolerance };
            assert!(
                d <= limit,
                "{input} -> {name}: mean abs diff {d:.2} > {limit}"
            );
            let q_expected = matches!(format, ImageFormat::Jpeg | ImageFormat::Webp)
                && !out.input_returned()
                || out.quality.is_some();
            assert_eq!(out.quality.is_some(), q_expected, "{input} -> {name}");
        }
    }
}

#[test]
fn reference_tools_read_the_outputs() {
    let input = image("png/mpl-Minduka_Present_Blue_Pack.png");
    let dir = tempdir();
    for (fmt, tool, args) in [
        ("webp", "dwebp", vec!["-quiet"]),
        ("gif", "gifsicle", vec!["--info"]),
        ("png", "pngcheck", vec![]),
    ] {
        if !have(tool) {
            continue;
        }
        let out = mogr::process(&input, &format!("imageMogr2/format/{fmt}")).unwrap();
        let path = dir.join(format!("out.{fmt}"));
        std::fs::write(&path, &out.bytes).unwrap();
        let mut cmd = std::process::Command::new(tool);
        cmd.args(&args).arg(&path);
        if tool == "dwebp" {
            cmd.arg("-o").arg(dir.join("out.png"));
        }
        let st = cmd.output().unwrap();
        assert!(
            st.status.success(),
            "{tool}: {}",
            String::from_utf8_lossy(&st.stderr)
        );
    }
}

#[test]
fn exif_orientation_is_applied_for_other_outputs() {
    let input = image("jpeg/pil-hopper_orientation_6.jpg");
    let upright = decode(&input).oriented(6);
    let out = mogr::process(&input, "imageMogr2/format/png").unwrap();
    let png = decode_any(&out.bytes);
    assert_eq!(
        diff(&upright, png.first()),
        0.0,
        "PNG pixels are the JPEG's, rotated"
    );
    assert!(
        diff(&decode(&input), png.first()) > 10.0,
        "and not the stored, unrotated pixels"
    );
}

#[test]
fn webp_exif_orientation_is_applied_to_the_pixels() {
    if !have("webpmux") {
        return;
    }
    // A 480 x 360 WebP (at q95, so that smart compression has room) given an EXIF chunk
    // with orientation 6 by libwebp's own muxer.
    let webp = mogr::process(
        &image("jpeg/pil-flower.jpg"),
        "imageMogr2/format/webp/quality/95!",
    )
    .unwrap()
    .into_bytes();
    let stored = decode_any(&webp).first().clone();
    assert_eq!((stored.width, stored.height), (480, 360));
    let dir = tempdir();
    std::fs::write(dir.join("in.webp"), &webp).unwrap();
    let tiff = mogr_core::internals::exif::orientation_only(6)
        .strip_prefix(b"Exif\0\0")
        .unwrap();
    std::fs::write(dir.join("exif.bin"), tiff).unwrap();
    run(std::process::Command::new("webpmux")
        .args(["-set", "exif", "exif.bin", "in.webp", "-o", "oriented.webp"])
        .current_dir(&dir));
    let oriented = std::fs::read(dir.join("oriented.webp")).unwrap();
    assert_eq!(mogr::info(&oriented).unwrap().orientation, 6);
    let upright = stored.clone().oriented(6);

    // Lossless outputs hold the rotated pixels exactly.
    for fmt in ["png", "bmp"] {
        let out = mogr::process(&oriented, &format!("imageMogr2/format/{fmt}")).unwrap();
        let back = decode_any(&out.bytes);
        assert_eq!(diff(&upright, back.first()), 0.0, "{fmt}");
    }
    // Lossy ones (a WebP re-encode, a JPEG, smart compression) come out 360 x 480 and look
    // like the rotated pixels, not the stored ones.
    for rule in [
        "imageMogr2/quality/40",
        "imageMogr2/format/jpg",
        "imageSlim",
    ] {
        let out = mogr::process(&oriented, rule).unwrap();
        assert_ne!(out.bytes, oriented, "{rule}: re-encoded");
        assert_eq!((out.width, out.height), (360, 480), "{rule}");
        let back = decode_any(&out.bytes).first().clone();
        assert_eq!((back.width, back.height), (360, 480), "{rule}");
        let d = diff(&upright, &back);
        assert!(d < 6.0, "{rule}: {d}");
        if out.format == ImageFormat::Webp {
            assert_eq!(mogr::info(&out.bytes).unwrap().orientation, 1, "{rule}");
        }
    }
}

#[test]
fn alpha_goes_over_white_in_jpeg_and_bmp() {
    let input = image("webp/pil-transparent.webp");
    let source = decode_any(&input);
    let transparent = source
        .first()
        .data
        .chunks_exact(4)
        .position(|p| p[3] == 0)
        .expect("a transparent pixel");
    for fmt in ["jpg", "bmp"] {
        let out = mogr::process(&input, &format!("imageMogr2/format/{fmt}")).unwrap();
        let rgb = decode_any(&out.bytes).first().clone().without_alpha();
        let px = &rgb.data[transparent * 3..transparent * 3 + 3];
        assert!(
            px.iter().all(|&c| c > 240),
            "{fmt}: transparent pixel is {px:?}, not white"
        );
    }
    // Formats with alpha keep it.
    let png = mogr::process(&input, "imageMogr2/format/png").unwrap();
    assert_eq!(decode_any(&png.bytes).first().data[transparent * 4 + 3], 0);
}

#[test]
fn webp_quality_follows_the_rules() {
    let png = image("png/mpl-Minduka_Present_Blue_Pack.png");
    let q = |bytes: &[u8], rule: &str| mogr::process(bytes, rule).unwrap().quality;
    assert_eq!(
        q(&png, "imageMogr2/format/webp"),
        Some(75),
        "default for an input without quality"
    );
    assert_eq!(q(&png, "imageMogr2/format/webp/quality/60"), Some(60));
    assert_eq!(q(&png, "imageMogr2/format/webp/rquality/50"), Some(38));
    assert_eq!(q(&png, "imageMogr2/format/webp/lquality/90"), Some(90));
    let lossy = image("webp/pil-flower.webp"); // estimated 84
    assert_eq!(q(&lossy, "imageMogr2/rquality/50"), Some(42));
    assert_eq!(q(&lossy, "imageMogr2/quality/90"), Some(84));
    let unchanged = mogr::process(&lossy, "imageMogr2/quality/90").unwrap();
    assert_eq!(unchanged.returned, Some(Returned::Unchanged));
    // A re-encoded WebP reads back near its quality (libwebp's estimate is rough).
    let out = mogr::process(&lossy, "imageMogr2/quality/60!").unwrap();
    let est = mogr_core::internals::webp::estimate_quality(&out.bytes).unwrap();
    assert!((35..=60).contains(&est), "estimate {est} for q60");
}

#[test]
fn lossless_webp_stays_lossless_without_a_quality_parameter() {
    let input = image("webp/ski-logo.lossless.webp");
    let out = mogr::process(&input, "imageMogr2/format/webp").unwrap();
    assert_eq!(out.returned, Some(Returned::Unchanged));
    assert_eq!(out.quality, None);
    // PNG to lossless WebP and back: the same pixels.
    let png = mogr::process(&input, "imageMogr2/format/png").unwrap();
    assert_eq!(
        diff(decode_any(&png.bytes).first(), decode_any(&input).first()),
        0.0
    );
    // A quality parameter makes it lossy.
    let lossy = mogr::process(&input, "imageMogr2/quality/80").unwrap();
    assert_eq!(lossy.quality, Some(80));
    assert!(
        mogr_core::internals::webp::read_header(&lossy.bytes)
            .unwrap()
            .lossy
    );
}

fn cgif_check(input: &[u8], n: usize) -> (usize, usize) {
    let source = decode_any(input);
    let total_in: u32 = source.frames.iter().map(|f| f.delay_ms).sum();
    let out = mogr::process(input, &format!("imageMogr2/cgif/{n}")).unwrap();
    let reduced = decode_any(&out.bytes);
    let f = source.frames.len();
    let expected = if n == 1 { f.min(30) } else { f.min(n) };
    assert_eq!(reduced.frames.len(), expected, "cgif/{n} on {f} frames");
    assert_eq!(out.frames as usize, expected);
    if n > 1 {
        // Total duration kept (GIF stores centiseconds), each kept frame the composed input
        // frame floor(i * F / n).
        let total_out: u32 = reduced.frames.iter().map(|f| f.delay_ms).sum();
        assert_eq!(total_out / 10, total_in / 10, "cgif/{n}: duration");
        for (i, frame) in reduced.frames.iter().enumerate() {
            let src = if f > n { i * f / n } else { i };
            let d = diff(&source.frames[src].bitmap, &frame.bitmap);
            assert!(d < 6.0, "cgif/{n}: frame {i} vs input frame {src}: {d:.2}");
            // Perceptually the same frame (issue 15: frames score >= 80 against their sources).
            let score = mogr_slim::metric::Reference::new(&source.frames[src].bitmap)
                .unwrap()
                .score(&frame.bitmap)
                .unwrap();
            eprintln!("cgif/{n}: frame {i} (input frame {src}) scores {score:.2}");
            assert!(
                score >= 80.0,
                "cgif/{n}: frame {i} vs input frame {src}: {score:.2}"
            );
        }
    }
    (f, reduced.frames.len())
}

#[test]
fn cgif_keeps_evenly_spread_frames_and_the_duration() {
    let tiny = image("gif/ski-no_time_for_that_tiny.gif"); // 24 frames
    assert_eq!(cgif_check(&tiny, 5), (24, 5));
    assert_eq!(cgif_check(&tiny, 10), (24, 10));
    assert_eq!(cgif_check(&tiny, 24), (24, 24));
    assert_eq!(cgif_check(&tiny, 100), (24, 24));
    assert_eq!(cgif_check(&tiny, 1), (24, 24));
    let lights = image("gif/jxl-traffic_light.gif");
    assert_eq!(cgif_check(&lights, 2), (4, 2));
    if let Some(corpus) = corpus() {
        let big = std::fs::read(corpus.join("gif/pil-iss634.gif")).unwrap(); // 42 frames
        assert_eq!(cgif_check(&big, 1), (42, 30));
        assert_eq!(cgif_check(&big, 10), (42, 10));
    }
    // cgif only acts on GIF output.
    let out = mogr::process(&tiny, "imageMogr2/format/png/cgif/5").unwrap();
    assert_eq!(out.frames, 1);
}

#[test]
fn select_frames_sums_dropped_delays() {
    let frame = |d| mogr_core::Frame {
        bitmap: Bitmap {
            width: 1,
            height: 1,
            layout: Layout::Gray,
            data: vec![0],
        },
        delay_ms: d,
    };
    let frames: Vec<_> = (1..=10).map(|i| frame(i * 10)).collect();
    let kept = mogr_core::internals::select_frames(frames, 3); // indices 0, 3, 6
    let delays: Vec<u32> = kept.iter().map(|f| f.delay_ms).collect();
    assert_eq!(delays, vec![10 + 20 + 30, 40 + 50 + 60, 70 + 80 + 90 + 100]);
}

/// Per-frame delays (ms) and loop count as a reference tool reports them, when installed:
/// `webpmux -info` for WebP, `gifsicle --info` for GIF.
fn reference_timing(bytes: &[u8], format: ImageFormat) -> Option<(Vec<u32>, u16)> {
    let (tool, ext) = match format {
        ImageFormat::Webp => ("webpmux", "webp"),
        _ => ("gifsicle", "gif"),
    };
    if !have(tool) {
        return None;
    }
    let path = std::env::temp_dir().join(format!(
        "mogr-timing-{}-{}.{ext}",
        std::process::id(),
        bytes.len()
    ));
    std::fs::write(&path, bytes).unwrap();
    let args: &[&str] = if ext == "webp" {
        &["-info"]
    } else {
        &["--info"]
    };
    let out = std::process::Command::new(tool)
        .args(args)
        .arg(&path)
        .output()
        .unwrap();
    std::fs::remove_file(&path).unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let mut delays = Vec::new();
    let mut loops = 1;
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if ext == "webp" {
            if let Some(i) = words.iter().position(|w| *w == "Count") {
                loops = words.get(i + 2).and_then(|w| w.parse().ok()).unwrap_or(1);
            }
            if words
                .first()
                .is_some_and(|w| w.ends_with(':') && w[..w.len() - 1].parse::<u32>().is_ok())
            {
                delays.push(words[6].parse().unwrap());
            }
        } else {
            if line.contains("loop forever") {
                loops = 0;
            }
            // Each frame starts with "+ image #N"; its delay line is left out when zero.
            if line.trim_start().starts_with("+ image") {
                delays.push(0);
            }
            if let Some(i) = words.iter().position(|w| *w == "delay") {
                let secs: f64 = words[i + 1].trim_end_matches('s').parse().unwrap();
                if let Some(last) = delays.last_mut() {
                    *last = (secs * 1000.0).round() as u32;
                }
            }
        }
    }
    Some((delays, loops))
}

#[test]
fn animations_convert_between_gif_and_webp_with_their_timing() {
    let mut inputs = vec![
        (
            "gif/ski-no_time_for_that_tiny.gif".to_string(),
            image("gif/ski-no_time_for_that_tiny.gif"),
        ),
        (
            "gif/jxl-traffic_light.gif".to_string(),
            image("gif/jxl-traffic_light.gif"),
        ),
    ];
    if let Some(corpus) = corpus() {
        for f in ["gif/pil-iss634.gif", "webp/pil-iss634.webp"] {
            inputs.push((f.into(), std::fs::read(corpus.join(f)).unwrap()));
        }
    }
    for (name, input) in inputs {
        let source = decode_any(&input);
        let delays: Vec<u32> = source.frames.iter().map(|f| f.delay_ms).collect();
        let rules = [
            ("imageMogr2/format/webp", ImageFormat::Webp),
            ("imageMogr2/format/webp/quality/60", ImageFormat::Webp),
            ("imageMogr2/format/gif", ImageFormat::Gif),
        ];
        for (rule, format) in rules {
            let out = mogr::process(&input, rule).unwrap();
            if out.input_returned() {
                continue; // same format, nothing to do
            }
            let back = decode_any(&out.bytes);
            assert_eq!(
                back.frames.len(),
                source.frames.len(),
                "{name} {rule}: frames"
            );
            let got: Vec<u32> = back.frames.iter().map(|f| f.delay_ms).collect();
            // GIF keeps centiseconds.
            let cs = |v: &[u32]| v.iter().map(|d| d / 10).collect::<Vec<_>>();
            assert_eq!(cs(&got), cs(&delays), "{name} {rule}: delays");
            assert_eq!(
                back.loop_count, source.loop_count,
                "{name} {rule}: loop count"
            );
            for (i, (a, b)) in source.frames.iter().zip(&back.frames).enumerate() {
                let d = diff(&a.bitmap, &b.bitmap);
                assert!(d < 10.0, "{name} {rule}: frame {i} differs by {d:.2}");
            }
            if let Some((ref_delays, ref_loops)) = reference_timing(&out.bytes, format) {
                assert_eq!(
                    cs(&ref_delays),
                    cs(&delays),
                    "{name} {rule}: delays as the reference tool reads them"
                );
                assert_eq!(
                    Some(ref_loops),
                    source.loop_count,
                    "{name} {rule}: loop count as the reference tool reads it"
                );
            }
        }
    }
}

/// 30 frames of 64 x 48: an opaque 12 x 12 square (a colour per frame) moving over a
/// transparent canvas, with a frame that is all transparent and one repeated.
fn sprite_animation() -> mogr_core::Raster {
    let (w, h) = (64usize, 48usize);
    let frames = (0..30usize)
        .map(|k| {
            let mut data = vec![0u8; w * h * 4];
            let x0 = if k == 21 { k - 1 } else { 2 * k };
            if k != 12 {
                for y in 10 + k / 3..22 + k / 3 {
                    for x in x0..x0 + 12 {
                        let i = (y * w + x) * 4;
                        data[i..i + 4].copy_from_slice(&[(8 * k) as u8, 200, 255 - k as u8, 255]);
                    }
                }
            }
            mogr_core::Frame {
                bitmap: Bitmap {
                    width: w as u32,
                    height: h as u32,
                    layout: Layout::Rgba,
                    data,
                },
                delay_ms: 40,
            }
        })
        .collect();
    mogr_core::Raster {
        frames,
        loop_count: Some(0),
        icc: None,
    }
}

#[test]
fn transparent_animations_get_changed_rectangles_and_keep_their_pixels() {
    let raster = sprite_animation();
    let gif = mogr_core::internals::gif::encode(&raster).unwrap();
    // Every frame as it shows, read back by image-rs's compositor: the same RGBA, exactly
    // (31 colours fit the palette; transparent pixels compared by alpha only).
    let same = |k: usize, got: &[u8], who: &str| {
        let want = &raster.frames[k].bitmap.data;
        assert_eq!(got.len(), want.len(), "{who} frame {k}");
        for (i, (g, e)) in got.chunks_exact(4).zip(want.chunks_exact(4)).enumerate() {
            let ok = if e[3] == 0 { g[3] == 0 } else { g == e };
            assert!(ok, "{who} frame {k} pixel {i}: {g:?} for {e:?}");
        }
    };
    let back = decode_any(&gif);
    assert_eq!(back.frames.len(), 30);
    for (k, f) in back.frames.iter().enumerate() {
        same(k, &f.bitmap.to_rgba(), "image-rs");
    }
    let dir = tempdir();
    std::fs::write(dir.join("a.gif"), &gif).unwrap();
    // ImageMagick composes the frames on its own.
    if have("convert") {
        let rgba = run(std::process::Command::new("convert")
            .args(["a.gif", "-coalesce", "-depth", "8", "rgba:-"])
            .current_dir(&dir));
        assert_eq!(rgba.len(), 30 * 64 * 48 * 4);
        for (k, f) in rgba.chunks_exact(64 * 48 * 4).enumerate() {
            same(k, f, "ImageMagick");
        }
    }
    // Frames after the first hold a rectangle, not the canvas: far smaller than the file of
    // 30 whole frames.
    if have("gifsicle") {
        let info = run(std::process::Command::new("gifsicle")
            .args(["--info", "a.gif"])
            .current_dir(&dir));
        let info = String::from_utf8(info).unwrap();
        let whole = info.matches("+ image #").count() - info.matches(" at ").count();
        assert_eq!(info.matches("+ image #").count(), 30, "{info}");
        assert!(whole <= 2, "{whole} whole frames:\n{info}");
    }
}

#[test]
fn a_gif_that_keeps_every_frame_is_never_made_larger() {
    for file in [
        "gif/ski-no_time_for_that_tiny.gif",
        "gif/jxl-traffic_light.gif",
        "gif/pil-hopper.gif",
    ] {
        let input = image(file);
        let frames = decode_any(&input).frames.len();
        let out = mogr::process(&input, "imageMogr2/cgif/100").unwrap();
        assert_eq!(out.frames as usize, frames, "{file}");
        assert!(
            out.bytes.len() <= input.len(),
            "{file}: {} > {}",
            out.bytes.len(),
            input.len()
        );
        if out.bytes.len() == input.len() {
            assert_eq!(out.bytes, input, "{file}: not smaller, so the input itself");
            assert_eq!(out.returned, Some(Returned::Unchanged));
        }
    }
}

#[test]
fn icc_profiles_go_into_outputs_that_hold_one() {
    use mogr_core::internals::{markers, webp};
    // A 16-bit PNG with an ICC profile.
    let input = image("png/jxl-DJI-FC6310-16bit.png");
    let icc = decode_any(&input)
        .icc
        .expect("the test image has an ICC profile");
    let jpeg_icc = |b: &[u8]| -> Vec<u8> {
        let h = markers::read_header(b).unwrap();
        h.segments
            .iter()
            .filter(|s| s.kind() == markers::SegmentKind::Icc)
            .flat_map(|s| s.payload[14..].to_vec())
            .collect()
    };
    let out = mogr::process(&input, "imageMogr2/format/jpg").unwrap();
    assert_eq!(jpeg_icc(&out.bytes), icc, "JPEG");
    let out = mogr::process(&input, "imageMogr2/format/webp").unwrap();
    assert_eq!(
        webp::icc_profile(&out.bytes).as_deref(),
        Some(&icc[..]),
        "WebP"
    );
    assert_eq!(decode_any(&out.bytes).first().width, 64);
    if have("webpinfo") {
        let path = std::env::temp_dir().join(format!("mogr-icc-{}.webp", std::process::id()));
        std::fs::write(&path, &out.bytes).unwrap();
        let st = std::process::Command::new("webpinfo")
            .arg("-quiet")
            .arg(&path)
            .status()
            .unwrap();
        std::fs::remove_file(&path).unwrap();
        assert!(st.success(), "webpinfo rejects the WebP with ICC");
    }
    // JPEG -> PNG keeps it too.
    let jpeg = mogr::process(&input, "imageMogr2/format/jpg").unwrap();
    let png = mogr::process(&jpeg.bytes, "imageMogr2/format/png").unwrap();
    assert_eq!(decode_any(&png.bytes).icc.as_deref(), Some(&icc[..]), "PNG");
    #[cfg(feature = "heif")]
    {
        let heif = mogr::process(&input, "imageMogr2/format/heif").unwrap();
        assert_eq!(
            decode_any(&heif.bytes).icc.as_deref(),
            Some(&icc[..]),
            "HEIF"
        );
    }
}

#[test]
fn gif_and_bmp_get_srgb_pixels_through_the_icc_profile() {
    // This image's profile has sRGB's primaries and white point but the Rec.709 tone curve,
    // so the conversion is exact per channel: the inverse Rec.709 curve, then sRGB's.
    let rec709 = image("png/jxl-DJI-FC6310-16bit.png");
    let raw = decode_any(&rec709).first().clone().without_alpha();
    let expected: Vec<u8> = raw
        .data
        .iter()
        .map(|&v| {
            let v = f64::from(v) / 255.0;
            let linear = if v < 0.081 {
                v / 4.5
            } else {
                ((v + 0.099) / 1.099).powf(1.0 / 0.45)
            };
            let s = if linear <= 0.003_130_8 {
                12.92 * linear
            } else {
                1.055 * linear.powf(1.0 / 2.4) - 0.055
            };
            (s * 255.0).round().clamp(0.0, 255.0) as u8
        })
        .collect();
    let expected = Bitmap {
        data: expected,
        ..raw.clone()
    };
    let bmp = mogr::process(&rec709, "imageMogr2/format/bmp").unwrap();
    let converted = decode_any(&bmp.bytes).first().clone();
    assert!(
        diff(&raw, &converted) > 5.0,
        "the tone curve changed the pixels"
    );
    let d = diff(&expected, &converted);
    assert!(
        d < 1.5,
        "Rec.709 curve to sRGB: {d:.2} from the exact conversion"
    );
    // A Display P3 profile moves saturated colours to their sRGB values.
    let Some(corpus) = corpus() else { return };
    let p3 = std::fs::read(corpus.join("png/jxl-P3-sRGB-color-ring.png")).unwrap();
    let raw = decode_any(&p3).first().clone();
    for fmt in ["bmp", "gif"] {
        let out = mogr::process(&p3, &format!("imageMogr2/format/{fmt}")).unwrap();
        let converted = decode_any(&out.bytes).first().clone();
        let d = diff(&raw, &converted);
        assert!(
            d > 1.0,
            "{fmt}: P3 pixels went through unconverted ({d:.2})"
        );
        assert!(d < 40.0, "{fmt}: far off ({d:.2})");
    }
    // PNG keeps the profile and the pixels as they are.
    let png = mogr::process(&p3, "imageMogr2/format/png").unwrap();
    assert_eq!(diff(&raw, decode_any(&png.bytes).first()), 0.0);
}

/// Photographs made GIFs keep a good likeness: the 255-colour palette is k-means in Oklab
/// (NeuQuant, used before, scored 62 on pil-flower.jpg and 34 on a corpus photograph).
#[test]
fn photographs_become_gifs_with_a_faithful_palette() {
    for (rel, floor) in [
        ("jpeg/pil-flower.jpg", 72.0),
        ("jpeg/mpl-grace_hopper.jpg", 74.0),
        ("webp/pil-flower.webp", 72.0),
    ] {
        let input = image(rel);
        let out = mogr::process(&input, "imageMogr2/format/gif").unwrap();
        assert_eq!(out.format, ImageFormat::Gif);
        let source = decode_any(&input);
        let gif = decode_any(&out.bytes);
        let score = mogr_slim::metric::Reference::new(source.first())
            .unwrap()
            .score(gif.first())
            .unwrap();
        eprintln!(
            "{rel} to GIF: {} bytes, SSIMULACRA2 {score:.1}",
            out.bytes.len()
        );
        assert!(score >= floor, "{rel}: {score:.1}");
    }
}

/// 16-bit samples of opaque pixels become 8 bits as `floor(v * 255 / 65535)`, as ImageMagick
/// reduces them (`-depth 8`, the reference scripts' way to the image they score against);
/// translucent pixels are rounded (the scripts compose them over grey at 16 bits first):
/// every layout of 16-bit PNG, samples across the range, and the repo's 16-bit photograph
/// against its 16-bit decode by the `image` crate.
#[test]
fn sixteen_bit_samples_become_eight_bits_as_imagemagick_makes_them() {
    use image::{ImageBuffer, ImageFormat as F, Luma, LumaA, Rgb, Rgba};
    let values: Vec<u16> = (0..=65535u16)
        .step_by(97)
        .chain([256, 257, 32767, 65279, 65535])
        .collect();
    let png = |img: image::DynamicImage| {
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, F::Png).unwrap();
        out.into_inner()
    };
    let n = values.len() as u32;
    let eight = |v: u16| (u32::from(v) * 255 / 65535) as u8;
    let pixel = |p: [u16; 4]| -> [u8; 4] {
        if p[3] == 65535 {
            p.map(eight)
        } else {
            p.map(|v| ((u32::from(v) * 255 + 32767) / 65535) as u8)
        }
    };
    let grey = ImageBuffer::<Luma<u16>, _>::from_fn(n, 1, |x, _| Luma([values[x as usize]]));
    let b = decode_any(&png(grey.into())).frames.remove(0).bitmap;
    assert_eq!(b.layout, Layout::Gray);
    assert_eq!(b.data, values.iter().map(|&v| eight(v)).collect::<Vec<_>>());
    let grey_alpha = ImageBuffer::<LumaA<u16>, _>::from_fn(n, 1, |x, _| {
        LumaA([values[x as usize], values[n as usize - 1 - x as usize]])
    });
    let b = decode_any(&png(grey_alpha.into())).frames.remove(0).bitmap;
    assert_eq!(b.layout, Layout::Rgba);
    for (x, p) in b.data.chunks_exact(4).enumerate() {
        let (l, a) = (values[x], values[n as usize - 1 - x]);
        assert_eq!(p, pixel([l, l, l, a]), "{x}");
    }
    let rgb = ImageBuffer::<Rgb<u16>, _>::from_fn(n, 1, |x, _| {
        let v = values[x as usize];
        Rgb([v, 65535 - v, v / 2])
    });
    let b = decode_any(&png(rgb.into())).frames.remove(0).bitmap;
    assert_eq!(b.layout, Layout::Rgb);
    for (x, p) in b.data.chunks_exact(3).enumerate() {
        let v = values[x];
        assert_eq!(p, [eight(v), eight(65535 - v), eight(v / 2)], "{x}");
    }
    let rgba = ImageBuffer::<Rgba<u16>, _>::from_fn(n, 1, |x, _| {
        let v = values[x as usize];
        Rgba([v, v / 3, 65535 - v, v])
    });
    let b = decode_any(&png(rgba.into())).frames.remove(0).bitmap;
    assert_eq!(b.layout, Layout::Rgba);
    for (x, p) in b.data.chunks_exact(4).enumerate() {
        let v = values[x];
        assert_eq!(p, pixel([v, v / 3, 65535 - v, v]), "{x}");
    }
    // The repo's 16-bit photograph, sample for sample.
    let input = image("png/jxl-DJI-FC6310-16bit.png");
    let sixteen = image::load_from_memory(&input).unwrap().into_rgb16();
    let b = decode_any(&input).frames.remove(0).bitmap;
    assert_eq!(b.layout, Layout::Rgb);
    let expected: Vec<u8> = sixteen.as_raw().iter().map(|&v| eight(v)).collect();
    assert_eq!(b.data, expected);
}
