//! JPEG end to end through `mogr::process`: quality estimation, decoding against libjpeg-turbo,
//! quality rules, progressive output, metadata, ignore-error, limits, corrupt input, threads.

mod common;

use common::*;
use mogr::{Error, ImageFormat, Limits, Processor, Returned};
use mogr_core::internals::markers::{read_header, SegmentKind};
use mogr_core::Layout;

const JPEGS: &[&str] = &[
    "jpeg/pil-flower.jpg",
    "jpeg/pil-hopper_orientation_6.jpg",
    "jpeg/pil-iptc.jpg",
    "jpeg/pil-app13-multiple.jpg",
    "jpeg/mpl-grace_hopper.jpg",
    "jpeg/pil-sugarshack.mpo",
    "jpeg/jxl-flower_small_q85_420_noninterleaved.jpg",
    "jpeg/pil-exif-72dpi-int.jpg",
    "jpeg/pil-hopper_16bit_qtables.jpg",
    "jpeg/jxl-flower_q85_gray.jpg",
    "jpeg/jxl-flower_q85_420_progr.jpg",
];

#[test]
fn cjpeg_quality_sweep_reads_back_exactly() {
    let source = decode(&image("jpeg/mpl-grace_hopper.jpg"));
    // Our own encoder: every quality reads back exactly, through `process` too.
    let input = image("jpeg/mpl-grace_hopper.jpg");
    for q in 1..=100u8 {
        let out = mogr::process(&input, &format!("imageMogr2/quality/{q}!")).unwrap();
        assert_eq!(out.quality, Some(q));
        assert_eq!(quality_of(&out.bytes), Some(q), "mogr q{q}");
    }
    if !have("cjpeg") {
        return;
    }
    for q in 1..=100u8 {
        // cjpeg's default allows 16-bit tables below q25; -baseline clamps them to 8 bits.
        // Below 24, ImageMagick's method finds no match for the 16-bit tables (its `%Q`
        // prints a fallback, 92): the estimate is still exactly q.
        for extra in [&[][..], &["-baseline"][..]] {
            let file = cjpeg(&source, q, extra);
            assert_eq!(quality_of(&file), Some(q), "cjpeg -quality {q} {extra:?}");
        }
    }
}

#[test]
fn quality_never_goes_up_on_low_quality_sixteen_bit_tables() {
    if !have("cjpeg") {
        return;
    }
    let source = decode(&image("jpeg/mpl-grace_hopper.jpg"));
    for q in [5u8, 12, 23] {
        let input = cjpeg(&source, q, &[]);
        let out = mogr::process(&input, "imageMogr2/quality/60").unwrap();
        assert_eq!(out.quality, Some(q), "cjpeg -quality {q}");
        assert!(
            out.bytes.len() <= input.len(),
            "cjpeg -quality {q}: {} -> {} bytes",
            input.len(),
            out.bytes.len()
        );
        assert_eq!(mogr::info(&input).unwrap().quality, Some(q), "info");
    }
}

#[test]
fn decoder_matches_libjpeg_turbo() {
    if !have("djpeg") {
        return;
    }
    let mut paths: Vec<std::path::PathBuf> = JPEGS.iter().map(|f| images().join(f)).collect();
    if let Some(corpus) = corpus() {
        paths.extend(files(&corpus, "jpeg", &["jpg", "jpeg", "mpo"]));
    }
    for path in paths {
        let name = path.display().to_string();
        let bytes = std::fs::read(&path).unwrap();
        let header = read_header(&bytes).unwrap();
        if header.components.len() == 4 {
            continue; // CMYK: converted without ICC by the inverted-Adobe formula (see docs)
        }
        let ours = decode(&bytes);
        let reference = djpeg(&bytes);
        let mad = mean_abs_diff(&ours, &reference);
        assert!(mad < 1.0, "{name}: mean abs diff {mad:.3} against djpeg");
    }
}

#[test]
fn our_own_output_decodes_right_baseline_420_optimized_huffman() {
    // The known zune-jpeg trap: baseline 4:2:0 with optimized Huffman tables.
    let input = image("jpeg/pil-flower.jpg");
    for rule in [
        "imageMogr2/quality/60",
        "imageMogr2/quality/60/interlace/1",
        "imageMogr2/quality/95!",
    ] {
        let out = mogr::process(&input, rule).unwrap();
        let ours = decode(&out.bytes);
        let source = decode(&input);
        let mad = mean_abs_diff(&ours, &source);
        assert!(mad < 6.0, "{rule}: output far from input, mad {mad:.2}");
        if have("djpeg") {
            let reference = djpeg(&out.bytes);
            assert!(mean_abs_diff(&ours, &reference) < 1.0, "{rule}");
        }
    }
}

#[test]
fn quality_rules_on_a_q75_jpeg() {
    let input = image("jpeg/pil-flower.jpg");
    assert_eq!(quality_of(&input), Some(75));
    let cases: &[(&str, u8, bool)] = &[
        ("imageMogr2/quality/60", 60, false),
        ("imageMogr2/quality/90", 75, true), // min(75, 90): unchanged
        ("imageMogr2/quality/90!", 90, false),
        ("imageMogr2/quality/75!", 75, true),
        ("imageMogr2/rquality/80", 60, false),
        ("imageMogr2/rquality/100", 75, true),
        ("imageMogr2/lquality/80", 80, false),
        ("imageMogr2/lquality/60", 75, true),
        ("imageMogr2/rquality/50/lquality/60", 60, false),
        ("imageMogr2/quality/0!", 1, false),
        ("imageMogr2/format/jpg", 75, true),
        ("imageMogr2/format/jpeg/quality/80", 75, true),
    ];
    for &(rule, q, unchanged) in cases {
        let out = mogr::process(&input, rule).unwrap();
        assert_eq!(out.quality, Some(q), "{rule}");
        assert_eq!(out.format, ImageFormat::Jpeg);
        assert_eq!((out.width, out.height, out.frames), (480, 360, 1), "{rule}");
        assert_eq!(
            quality_of(&out.bytes),
            Some(q),
            "{rule}: estimated from the output"
        );
        if unchanged {
            assert_eq!(out.returned, Some(Returned::Unchanged), "{rule}");
            assert_eq!(out.bytes, input, "{rule}");
        } else {
            assert_eq!(out.returned, None, "{rule}");
            let d = decode(&out.bytes);
            assert_eq!((d.width, d.height), (480, 360));
        }
    }
}

#[test]
fn chroma_subsampling_follows_quality() {
    let input = image("jpeg/pil-flower.jpg");
    let low = mogr::process(&input, "imageMogr2/quality/89!").unwrap();
    assert!(read_header(&low.bytes).unwrap().is_420());
    let high = mogr::process(&input, "imageMogr2/quality/90!").unwrap();
    let h = read_header(&high.bytes).unwrap();
    assert!(
        h.components.iter().all(|c| c.h == 1 && c.v == 1),
        "4:4:4 from q90"
    );
}

#[test]
fn interlace_gives_progressive_and_back() {
    let input = image("jpeg/pil-flower.jpg");
    assert_eq!(sof_marker(&input), 0xC0);
    let prog = mogr::process(&input, "imageMogr2/quality/70/interlace/1").unwrap();
    assert_eq!(sof_marker(&prog.bytes), 0xC2);
    let base = mogr::process(&input, "imageMogr2/quality/70/interlace/0").unwrap();
    assert_eq!(sof_marker(&base.bytes), 0xC0);
    let plain = mogr::process(&input, "imageMogr2/quality/70").unwrap();
    assert_eq!(sof_marker(&plain.bytes), 0xC0);
    // Same quality, but an interlace change asks for a re-encode.
    let same_q = mogr::process(&input, "imageMogr2/interlace/1").unwrap();
    assert_eq!(same_q.returned, None);
    assert_eq!(sof_marker(&same_q.bytes), 0xC2);
    assert_eq!(quality_of(&same_q.bytes), Some(75));
    // A progressive input at its own quality with interlace/1 is returned as is...
    let progressive = image("jpeg/jxl-flower_q85_420_progr.jpg");
    let out = mogr::process(&progressive, "imageMogr2/interlace/1").unwrap();
    assert_eq!(out.returned, Some(Returned::Unchanged));
    // ...and interlace/0 makes it baseline.
    let out = mogr::process(&progressive, "imageMogr2/interlace/0").unwrap();
    assert_eq!(sof_marker(&out.bytes), 0xC0);
    if have("djpeg") {
        for bytes in [&prog.bytes, &same_q.bytes] {
            assert!(mean_abs_diff(&decode(bytes), &djpeg(bytes)) < 1.0);
        }
    }
}

#[test]
fn grey_stays_grey() {
    let input = image("jpeg/jxl-flower_q85_gray.jpg");
    let out = mogr::process(&input, "imageMogr2/quality/50").unwrap();
    assert_eq!(read_header(&out.bytes).unwrap().components.len(), 1);
    assert_eq!(decode(&out.bytes).layout, Layout::Gray);
    assert_eq!(quality_of(&out.bytes), Some(50));
}

#[test]
fn metadata_is_kept_byte_for_byte_and_can_be_stripped() {
    let kinds = |bytes: &[u8]| -> Vec<(SegmentKind, Vec<u8>)> {
        read_header(bytes)
            .unwrap()
            .segments
            .iter()
            .filter(|s| {
                !matches!(
                    s.kind(),
                    SegmentKind::Jfif | SegmentKind::Adobe | SegmentKind::Mpf | SegmentKind::Other
                )
            })
            .map(|s| (s.kind(), s.payload.to_vec()))
            .collect()
    };
    for file in [
        "jpeg/pil-hopper_orientation_6.jpg",
        "jpeg/pil-iptc.jpg",
        "jpeg/pil-app13-multiple.jpg",
        "jpeg/pil-exif-72dpi-int.jpg",
    ] {
        let input = image(file);
        let out = mogr::process(&input, "imageMogr2/quality/50!").unwrap();
        let before = kinds(&input);
        assert!(!before.is_empty(), "{file} has metadata");
        assert_eq!(
            kinds(&out.bytes),
            before,
            "{file}: metadata kept as is (orientation included)"
        );
        let stripped = Processor::new()
            .with_metadata(mogr::Metadata::Strip)
            .process(&input, "imageMogr2/quality/50!")
            .unwrap();
        // Stripped, but a rotated image keeps a minimal EXIF block with its orientation.
        let left = |b: &[u8]| -> Vec<(SegmentKind, Vec<u8>)> {
            let o = mogr::info(&input).unwrap().orientation;
            let minimal = (o != 1).then(|| {
                let p = mogr_core::internals::exif::orientation_only(o).to_vec();
                (SegmentKind::Exif, p)
            });
            kinds(b)
                .into_iter()
                .filter(|k| Some(k) != minimal.as_ref())
                .collect()
        };
        assert!(left(&stripped.bytes).is_empty(), "{file}: stripped");
        assert_eq!(
            mogr::info(&stripped.bytes).unwrap().orientation,
            mogr::info(&input).unwrap().orientation,
            "{file}: orientation kept"
        );
        assert!(stripped.bytes.len() <= out.bytes.len());
        // At the input's own quality, stripping does not re-encode: the pixels are the same.
        let lossless = Processor::new()
            .with_metadata(mogr::Metadata::Strip)
            .process(&input, "imageMogr2/format/jpg")
            .unwrap();
        assert!(
            left(&lossless.bytes).is_empty(),
            "{file}: stripped losslessly"
        );
        assert_eq!(
            mogr::info(&lossless.bytes).unwrap().orientation,
            mogr::info(&input).unwrap().orientation,
            "{file}: orientation kept"
        );
        assert_eq!(lossless.returned, None);
        assert_eq!(
            decode(&lossless.bytes),
            decode(&input),
            "{file}: same pixels"
        );
    }
    // The orientation tag survives: the EXIF block is copied untouched.
    let rotated = image("jpeg/pil-hopper_orientation_6.jpg");
    let out = mogr::process(&rotated, "imageMogr2/quality/40").unwrap();
    let exif = |b: &[u8]| {
        read_header(b)
            .unwrap()
            .segments
            .iter()
            .find(|s| s.kind() == SegmentKind::Exif)
            .map(|s| s.payload.to_vec())
    };
    assert_eq!(exif(&out.bytes), exif(&rotated));
}

#[test]
fn icc_only_keeps_the_profile() {
    let input = image("jpeg/pil-app13-multiple.jpg");
    let had_icc = read_header(&input)
        .unwrap()
        .segments
        .iter()
        .any(|s| s.kind() == SegmentKind::Icc);
    let out = Processor::new()
        .with_metadata(mogr::Metadata::IccOnly)
        .process(&input, "imageMogr2/quality/50!")
        .unwrap();
    let h = read_header(&out.bytes).unwrap();
    assert!(h
        .segments
        .iter()
        .all(|s| matches!(s.kind(), SegmentKind::Icc | SegmentKind::Jfif)));
    assert_eq!(
        h.segments.iter().any(|s| s.kind() == SegmentKind::Icc),
        had_icc
    );
}

#[test]
fn mpo_output_keeps_the_first_image_only() {
    let input = image("jpeg/pil-sugarshack.mpo");
    let out = mogr::process(&input, "imageMogr2/quality/60").unwrap();
    let h = read_header(&out.bytes).unwrap();
    assert!(h.segments.iter().all(|s| s.kind() != SegmentKind::Mpf));
    // In entropy-coded data 0xFF is stuffed, so the first EOI after the first scan ends the
    // first image; in the input a second image follows, in the output nothing does.
    let end_of_first_image = |b: &[u8]| {
        let sos = top_level_marker(b, 0xDA).unwrap();
        sos + b[sos..].windows(2).position(|w| w == [0xFF, 0xD9]).unwrap() + 2
    };
    assert!(
        end_of_first_image(&input) < input.len(),
        "the MPO has a second image"
    );
    assert_eq!(
        end_of_first_image(&out.bytes),
        out.bytes.len(),
        "one image in the output"
    );
    assert_eq!((out.width, out.height), (640, 480));
}

#[test]
fn cmyk_becomes_rgb_without_the_cmyk_profile() {
    let input = image("jpeg/pil-pil_sample_cmyk.jpg");
    let out = mogr::process(&input, "imageMogr2/quality/90").unwrap();
    let h = read_header(&out.bytes).unwrap();
    assert_eq!(h.components.len(), 3);
    assert!(h.segments.iter().all(|s| s.kind() != SegmentKind::Icc));
    let d = decode(&out.bytes);
    assert_eq!((d.width, d.height, d.layout), (100, 100, Layout::Rgb));
}

#[test]
fn ignore_error_returns_the_input_byte_for_byte() {
    let input = image("jpeg/pil-flower.jpg");
    for rule in [
        "imageMogr2/quality/150/ignore-error/1",
        "imageMogr2/ignore-error/1/cgif/0",
        "imageMogr2/format/tpg/ignore-error/1",
        "imageMogr2/quality/60|imageMogr2/format/tpg/ignore-error/1",
    ] {
        let out = mogr::process(&input, rule).unwrap();
        assert_eq!(out.bytes, input, "{rule}");
        assert!(
            matches!(out.returned, Some(Returned::IgnoredError(_))),
            "{rule}"
        );
        assert_eq!(out.quality, Some(75));
    }
    // Without ignore-error, the same rules fail with the right kind of error.
    assert!(
        matches!(mogr::process(&input, "imageMogr2/quality/150"), Err(Error::Rule(e)) if e.is_out_of_range())
    );
    assert!(matches!(
        mogr::process(&input, "imageMogr2/format/tpg"),
        Err(Error::Unsupported { .. })
    ));
    // Syntax errors and undecodable input stay errors.
    assert!(matches!(
        mogr::process(&input, "imageMogr2/thumbnail/1/ignore-error/1"),
        Err(Error::Rule(_))
    ));
    let corrupt = image("corrupt/pil-flower.trunc50.jpg");
    let err = mogr::process(&corrupt, "imageMogr2/quality/60/ignore-error/1").unwrap_err();
    assert!(matches!(err, Error::Decode { .. }), "{err}");
}

#[test]
fn limits_are_checked_from_the_header() {
    let input = image("jpeg/pil-flower.jpg"); // 480x360
    let cases = [
        Limits::default().with_max_side(479),
        Limits::default().with_max_pixels(480 * 360 - 1),
        Limits::default().with_max_input_bytes(input.len() as u64 - 1),
    ];
    for limits in cases {
        let p = Processor::new().with_limits(limits);
        let err = p.process(&input, "imageMogr2/quality/60").unwrap_err();
        assert!(matches!(err, Error::Limits { .. }), "{limits:?}: {err}");
        let out = p
            .process(&input, "imageMogr2/quality/60/ignore-error/1")
            .unwrap();
        assert_eq!(out.bytes, input);
        assert!(matches!(
            out.returned,
            Some(Returned::IgnoredError(Error::Limits { .. }))
        ));
    }
    let exact = Limits::none()
        .with_max_side(480)
        .with_max_pixels(480 * 360)
        .with_max_input_bytes(input.len() as u64)
        .with_max_frames(1)
        .with_max_scans(1);
    assert!(Processor::new()
        .with_limits(exact)
        .process(&input, "imageMogr2/quality/60")
        .is_ok());
}

#[test]
fn a_dimension_bomb_is_refused_before_decoding() {
    // A real JPEG with its frame header patched to 65,535 x 65,535.
    let mut bomb = image("jpeg/pil-flower.jpg");
    let sof = top_level_marker(&bomb, 0xC0).unwrap();
    bomb[sof + 5..sof + 9].copy_from_slice(&[0xFF, 0xFF, 0xFF, 0xFF]);
    let err = mogr::process(&bomb, "imageMogr2/quality/60").unwrap_err();
    assert!(
        matches!(
            err,
            Error::Limits {
                kind: mogr::LimitKind::Side { found: 65535, .. },
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn corrupt_and_empty_inputs_give_decode_errors() {
    let mut inputs: Vec<(String, Vec<u8>)> = [
        "corrupt/pil-truncated_jpeg.jpg",
        "corrupt/pil-flower.trunc50.jpg",
        "corrupt/mpl-grace_hopper.header-only.jpg",
        "corrupt/empty.jpg",
    ]
    .iter()
    .map(|f| (f.to_string(), image(f)))
    .collect();
    if let Some(corpus) = corpus() {
        for p in files(&corpus, "corrupt", &["jpg", "png", "gif", "webp"]) {
            inputs.push((p.display().to_string(), std::fs::read(&p).unwrap()));
        }
    }
    inputs.push(("garbage".into(), b"hello, not an image".to_vec()));
    inputs.push(("soi only".into(), vec![0xFF, 0xD8]));
    for (name, bytes) in inputs {
        // A rule that needs the pixels, whatever the input format.
        match mogr::process(&bytes, "imageMogr2/quality/60/format/jpg") {
            Err(Error::Decode { .. }) => {}
            // Decoders may return a partial image for a truncated file; then the output must
            // still be a well-formed JPEG.
            Ok(out) => {
                assert!(name.contains("trunc"), "{name}: unexpected success");
                assert_eq!(decode(&out.bytes).width, out.width);
            }
            Err(e) => panic!("{name}: {e}"),
        }
    }
}

#[test]
fn processor_is_shared_across_threads_with_identical_results() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Processor>();
    let processor = Processor::new();
    let jobs: Vec<(Vec<u8>, &str)> = JPEGS
        .iter()
        .take(8)
        .zip(
            [
                "imageMogr2/quality/60",
                "imageMogr2/rquality/70/interlace/1",
                "imageMogr2/quality/90!",
                "imageMogr2/lquality/85",
            ]
            .iter()
            .cycle(),
        )
        .map(|(f, r)| (image(f), *r))
        .collect();
    let serial: Vec<Vec<u8>> = jobs
        .iter()
        .map(|(b, r)| processor.process(b, r).unwrap().into_bytes())
        .collect();
    let parallel: Vec<Vec<u8>> = std::thread::scope(|s| {
        let handles: Vec<_> = jobs
            .iter()
            .map(|(b, r)| s.spawn(|| processor.process(b, r).unwrap().into_bytes()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(serial, parallel);
}

#[test]
fn every_corpus_jpeg_processes_at_q60() {
    let Some(corpus) = corpus() else { return };
    for path in files(&corpus, "jpeg", &["jpg", "jpeg", "mpo"]) {
        let input = std::fs::read(&path).unwrap();
        let out = mogr::process(&input, "imageMogr2/quality/60").unwrap();
        let name = path.display();
        let qi = quality_of(&input).unwrap();
        assert_eq!(out.quality, Some(qi.min(60)), "{name}");
        assert_eq!(quality_of(&out.bytes), Some(qi.min(60)), "{name}");
        let d = decode(&out.bytes);
        assert_eq!((d.width, d.height), (out.width, out.height), "{name}");
        if qi > 60 {
            assert!(
                out.bytes.len() < input.len(),
                "{name}: {} >= {}",
                out.bytes.len(),
                input.len()
            );
        }
    }
}

/// Offset of a marker among the top-level segments (not inside an EXIF thumbnail).
fn top_level_marker(b: &[u8], marker: u8) -> Option<usize> {
    let mut pos = 2;
    while pos + 4 <= b.len() {
        if b[pos + 1] == marker {
            return Some(pos);
        }
        pos += 2 + usize::from(u16::from_be_bytes([b[pos + 2], b[pos + 3]]));
    }
    None
}

#[test]
fn dct_domain_requantization_is_clean_and_close_to_the_pixel_path() {
    use mogr_core::internals::{jpeg_decode as pixel_decode, jpeg_encode as encode, requant};
    let mut paths: Vec<std::path::PathBuf> = JPEGS.iter().map(|f| images().join(f)).collect();
    if let Some(corpus) = corpus() {
        paths.extend(files(&corpus, "jpeg", &["jpg", "jpeg", "mpo"]));
    }
    let mut exercised = 0;
    for path in &paths {
        let input = std::fs::read(path).unwrap();
        let header = read_header(&input).unwrap();
        let source = decode(&input);
        for (q, progressive) in [
            (60u8, false),
            (60, true),
            (30, true),
            (95, false),
            (95, true),
        ] {
            if !requant::eligible(&header, q) {
                continue;
            }
            exercised += 1;
            let name = format!("{} q{q} progressive={progressive}", path.display());
            let dct = requant::requantize(&input, q, progressive, None, &[]).unwrap();
            let h = read_header(&dct).unwrap();
            assert_eq!((h.width, h.height), (header.width, header.height), "{name}");
            assert_eq!(h.is_progressive(), progressive, "{name}");
            assert_eq!(
                mogr_core::internals::estimate::estimate_quality(&h.qtables),
                Some(q),
                "{name}"
            );
            let ours = decode(&dct);
            if have("djpeg") {
                assert!(
                    mean_abs_diff(&ours, &djpeg(&dct)) < 1.0,
                    "{name}: our decoder vs djpeg"
                );
            }
            let settings = encode::JpegSettings {
                quality: q,
                progressive,
                density: None,
                segments: vec![],
            };
            let pixel = decode(
                &encode::encode(&pixel_decode::decode(&input, &header).unwrap(), &settings)
                    .unwrap(),
            );
            let (to_source, pixel_to_source) = (
                mean_abs_diff(&ours, &source),
                mean_abs_diff(&pixel, &source),
            );
            // Requantizing adds no pixel-domain rounding: at least as close to the source as
            // a decode and re-encode (with a little slack for rounding ties).
            assert!(
                to_source <= pixel_to_source * 1.1 + 0.05,
                "{name}: {to_source:.3} vs pixel path {pixel_to_source:.3}"
            );
            let between = mean_abs_diff(&ours, &pixel);
            assert!(between < to_source + pixel_to_source, "{name}");
        }
    }
    assert!(
        exercised >= 20,
        "only {exercised} requantizations exercised"
    );
}

#[test]
fn restart_markers_and_junk_between_segments_decode_on_both_paths() {
    use mogr_core::internals::requant;
    if !have("cjpeg") {
        return;
    }
    let source = decode(&image("jpeg/pil-flower.jpg"));
    let mut inputs = Vec::new();
    for extra in [
        &["-restart", "1"][..],
        &["-restart", "3B", "-progressive"][..],
        &["-restart", "2", "-grayscale"][..],
    ] {
        inputs.push((format!("cjpeg {extra:?}"), cjpeg(&source, 85, extra)));
    }
    // Junk bytes between two segments, which libjpeg skips with a warning.
    let mut junk = cjpeg(&source, 85, &[]);
    let dqt = top_level_marker(&junk, 0xDB).unwrap();
    junk.splice(dqt..dqt, [0x00, 0x13, 0x37]);
    inputs.push(("junk before DQT".into(), junk));
    for (name, input) in inputs {
        let header = read_header(&input).unwrap();
        let reference = decode(&input);
        assert!(
            mean_abs_diff(&reference, &source.clone().into_layout(reference.layout)) < 6.0,
            "{name}"
        );
        let q = 60;
        assert!(requant::eligible(&header, q), "{name}");
        let dct = requant::requantize(&input, q, false, None, &[]).unwrap();
        let out = decode(&dct);
        assert!(
            mean_abs_diff(&out, &reference) < 4.0,
            "{name}: DCT path far from the input"
        );
        let via_process = mogr::process(&input, "imageMogr2/quality/60").unwrap();
        assert_eq!(quality_of(&via_process.bytes), Some(60), "{name}");
    }
}
