//! `imageSlim` and `format/yjpeg` on real images: outputs never larger, same format, readable
//! by reference decoders, and at or above the perceptual threshold (scored here).

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::*;
use mogr::{ImageFormat, Processor, Returned, SlimFlag};
use mogr_core::Limits;
use mogr_slim::metric::FrameReferences;

/// Decodes any format to frames, as stored (no EXIF orientation: JPEG outputs keep the EXIF
/// block, so stored pixels compare with stored pixels).
fn frames(bytes: &[u8]) -> mogr_core::Raster {
    common::decode_all(bytes)
}

/// Whether a reference tool reads `bytes` cleanly.
fn reference_reads(format: ImageFormat, bytes: &[u8]) -> Option<bool> {
    let (tool, args): (&str, &[&str]) = match format {
        ImageFormat::Jpeg => ("djpeg", &["-outfile", "/dev/null"]),
        ImageFormat::Png => ("pngcheck", &["-q"]),
        ImageFormat::Gif => ("gifsicle", &["--info"]),
        ImageFormat::Webp => ("dwebp", &["-quiet", "-o", "/dev/null"]),
        _ => return None,
    };
    if !have(tool) {
        return None;
    }
    let dir = tempdir();
    let path = dir.join(format!("x.{}", format.name()));
    std::fs::write(&path, bytes).unwrap();
    let mut cmd = Command::new(tool);
    if tool == "dwebp" {
        cmd.arg(&path).args(args);
    } else {
        cmd.args(args).arg(&path);
    }
    let out = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    // djpeg warns on stderr with exit 0 (corrupt data); any message counts as a failure.
    Some(out.status.success() && (tool != "djpeg" || out.stderr.is_empty()))
}

/// Runs imageSlim on one file and checks everything the contract says.
fn check_slim(path: &Path) -> (usize, usize) {
    let input = std::fs::read(path).unwrap();
    let name = path.display();
    let out = Processor::new().process(&input, "imageSlim").unwrap();
    let flag = out.slim_flag.expect("imageSlim reports a flag");
    let in_format = mogr_core::probe(&input, &Limits::none()).unwrap().format;
    assert_eq!(out.format, in_format, "{name}: format kept");
    assert!(out.bytes.len() <= input.len(), "{name}: never larger");
    match flag {
        SlimFlag::Compressed => {
            assert!(
                out.bytes.len() < input.len(),
                "{name}: flag 1 means smaller"
            );
            assert!(out.returned.is_none(), "{name}");
            let source = frames(&input);
            let reference = FrameReferences::new(&source).unwrap();
            let score = reference.score(&frames(&out.bytes)).unwrap();
            assert!(
                score >= 80.0,
                "{name}: score {score:.2} under the threshold"
            );
            if let Some(ok) = reference_reads(out.format, &out.bytes) {
                assert!(ok, "{name}: the reference decoder rejects the output");
            }
            let probe = mogr_core::probe(&out.bytes, &Limits::none()).unwrap();
            assert_eq!(
                (out.width, out.height),
                (probe.width, probe.height),
                "{name}"
            );
        }
        SlimFlag::Original => {
            assert_eq!(out.bytes, input, "{name}: flag 2 returns the input");
            assert_eq!(out.returned, Some(Returned::NothingSmaller), "{name}");
        }
        other => panic!("{name}: unexpected flag {other:?}"),
    }
    (input.len(), out.bytes.len())
}

#[test]
fn every_repo_image_is_slimmed_within_the_contract() {
    let mut total = (0, 0);
    for sub in ["jpeg", "png", "gif", "webp"] {
        for path in files(&images(), sub, &["jpg", "mpo", "png", "gif", "webp"]) {
            let (a, b) = check_slim(&path);
            total = (total.0 + a, total.1 + b);
        }
    }
    eprintln!("repo images: {} -> {} bytes", total.0, total.1);
    assert!(
        total.1 * 10 < total.0 * 8,
        "at least 20% saved over the repo images"
    );
}

#[test]
fn every_corpus_image_is_slimmed_within_the_contract() {
    let Some(corpus) = corpus() else { return };
    for sub in ["jpeg", "png", "gif", "webp"] {
        for path in files(&corpus, sub, &["jpg", "mpo", "png", "gif", "webp"]) {
            check_slim(&path);
        }
    }
}

#[test]
fn jpeg_keeps_its_metadata_and_orientation() {
    let input = image("jpeg/pil-hopper_orientation_6.jpg");
    let out = mogr::process(&input, "imageSlim").unwrap();
    let info = mogr::info(&out.bytes).unwrap();
    assert_eq!(info.orientation, 6);
    let input = image("jpeg/pil-iptc.jpg");
    let out = mogr::process(&input, "imageSlim").unwrap();
    assert_eq!(out.slim_flag, Some(SlimFlag::Compressed));
    let kinds = |b: &[u8]| {
        mogr_core::internals::markers::read_header(b)
            .unwrap()
            .segments
            .iter()
            .map(|s| s.kind())
            .filter(|k| *k == mogr_core::internals::markers::SegmentKind::Iptc)
            .count()
    };
    assert_eq!(kinds(&out.bytes), kinds(&input));
    assert!(kinds(&input) > 0);
}

#[test]
fn stripping_metadata_keeps_the_orientation() {
    let input = image("jpeg/pil-hopper_orientation_6.jpg");
    let out = Processor::new()
        .with_metadata(mogr::Metadata::Strip)
        .process(&input, "imageSlim")
        .unwrap();
    assert_eq!(mogr::info(&out.bytes).unwrap().orientation, 6);
}

#[test]
fn an_already_minimal_file_comes_back_unchanged() {
    // A 1x1 GIF of 35 bytes: nothing can be smaller.
    let tiny: &[u8] = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;";
    let out = mogr::process(tiny, "imageSlim").unwrap();
    assert_eq!(out.slim_flag, Some(SlimFlag::Original));
    assert_eq!(out.bytes, tiny);
    assert!(out.input_returned());
}

#[test]
fn a_stricter_threshold_keeps_more_bytes() {
    let input = image("jpeg/mpl-grace_hopper.jpg");
    let loose = Processor::new().process(&input, "imageSlim").unwrap();
    let strict = Processor::new()
        .with_slim_threshold(90.0)
        .process(&input, "imageSlim")
        .unwrap();
    assert!(strict.bytes.len() > loose.bytes.len());
    let source = frames(&input);
    let reference = FrameReferences::new(&source).unwrap();
    if strict.slim_flag == Some(SlimFlag::Compressed) {
        assert!(reference.score(&frames(&strict.bytes)).unwrap() >= 90.0);
    }
}

#[test]
fn slim_after_a_conversion_works_on_the_converted_image() {
    let input = image("jpeg/pil-flower.jpg");
    let out = mogr::process(&input, "imageMogr2/format/webp/quality/90|imageSlim").unwrap();
    assert_eq!(out.format, ImageFormat::Webp);
    let webp90 = mogr::process(&input, "imageMogr2/format/webp/quality/90").unwrap();
    assert!(out.bytes.len() <= webp90.bytes.len());
    assert!(out.slim_flag.is_some());
}

#[test]
fn undecodable_input_is_an_error_not_a_flag() {
    let input = image("corrupt/mpl-grace_hopper.header-only.jpg");
    assert!(mogr::process(&input, "imageSlim").is_err());
}

/// yjpeg against jpg at the same rule: at least the same score, never more bytes. Returns the
/// two sizes when jpg re-encoded (when it returns the input, yjpeg does too, by design).
fn check_yjpeg(path: &Path, rule_q: u8) -> Option<(usize, usize)> {
    let input = std::fs::read(path).unwrap();
    let name = path.display();
    let jpg = mogr::process(&input, &format!("imageMogr2/format/jpg/quality/{rule_q}")).unwrap();
    let y = mogr::process(&input, &format!("imageMogr2/format/yjpeg/quality/{rule_q}")).unwrap();
    assert_eq!(y.format, ImageFormat::Jpeg);
    assert!(
        y.bytes.len() <= jpg.bytes.len(),
        "{name}: yjpeg larger than jpg"
    );
    if jpg.bytes == input {
        assert_eq!(
            y.bytes, input,
            "{name}: unchanged under jpg, unchanged under yjpeg"
        );
        return None;
    }
    if y.bytes != jpg.bytes {
        let src = frames(&input);
        let src = if src.frames[0].bitmap.layout == mogr_core::Layout::Rgba {
            // Non-JPEG inputs: compared as jpg sees them, over white.
            let b = src.frames[0].bitmap.clone().without_alpha();
            mogr_core::Raster::still(b, None)
        } else {
            src
        };
        let reference = FrameReferences::new(&src).unwrap();
        let s_jpg = reference.score(&frames(&jpg.bytes)).unwrap();
        let s_y = reference.score(&frames(&y.bytes)).unwrap();
        assert!(
            s_y >= s_jpg - 1e-9,
            "{name}: yjpeg {s_y:.2} below jpg {s_jpg:.2}"
        );
        assert_eq!(sof_marker(&y.bytes), 0xC2, "{name}: progressive by default");
        if let Some(ok) = reference_reads(ImageFormat::Jpeg, &y.bytes) {
            assert!(ok, "{name}: djpeg rejects the output");
        }
    }
    Some((jpg.bytes.len(), y.bytes.len()))
}

#[test]
fn yjpeg_looks_the_same_as_jpg_in_fewer_bytes() {
    let mut ratios = Vec::new();
    for path in files(&images(), "jpeg", &["jpg"])
        .iter()
        .chain(&files(&images(), "png", &["png"]))
    {
        ratios.extend(check_yjpeg(path, 75).map(|(j, y)| y as f64 / j as f64));
    }
    ratios.sort_by(f64::total_cmp);
    let median = ratios[ratios.len() / 2];
    eprintln!("yjpeg/jpg median size ratio {median:.3}");
    assert!(median < 0.97, "median ratio {median:.3}");
}

#[test]
fn yjpeg_on_the_corpus() {
    let Some(corpus) = corpus() else { return };
    let mut ratios = Vec::new();
    for path in files(&corpus, "jpeg", &["jpg"]) {
        ratios.extend(check_yjpeg(&path, 75).map(|(j, y)| y as f64 / j as f64));
    }
    ratios.sort_by(f64::total_cmp);
    let median = ratios[ratios.len() / 2];
    eprintln!("corpus yjpeg/jpg median size ratio {median:.3}");
    assert!(median < 0.9, "median ratio {median:.3}");
}

/// The chunks of a PNG, in order: each one's kind and its data (cut at the end of the file).
fn png_chunks(png: &[u8]) -> Vec<(String, &[u8])> {
    let (mut i, mut chunks) = (8, Vec::new());
    while i + 8 <= png.len() {
        let size = u32::from_be_bytes(png[i..i + 4].try_into().unwrap()) as usize;
        chunks.push((
            String::from_utf8_lossy(&png[i + 4..i + 8]).into_owned(),
            &png[i + 8..(i + 8 + size).min(png.len())],
        ));
        i += 12 + size;
    }
    chunks
}

/// PNG bytes without metadata chunks (ICC profile, text, time, EXIF): the reference search
/// counts its outputs that way.
fn png_bytes_metadata_aside(png: &[u8]) -> usize {
    let metadata = ["iCCP", "tEXt", "zTXt", "iTXt", "eXIf", "tIME"];
    8 + png_chunks(png)
        .iter()
        .filter(|(kind, _)| !metadata.contains(&kind.as_str()))
        .map(|(_, data)| 12 + data.len())
        .sum::<usize>()
}

/// Issue 15's goal: per PNG, imageSlim's output (scoring >= 80) is no larger than the
/// smallest `pngquant --quality 0-q --speed 1` + `oxipng -o 2` output scoring >= 80, or the
/// input through oxipng when no q qualifies (`../shared/bench/ref_slim_fair.sh`, recorded in
/// benches/data/ref_slim_fair_png.tsv); over the corpus, at least 10% under its total. The
/// repo's PNGs listed there always run; the rest when the corpus is here.
#[test]
fn png_is_no_larger_than_the_pngquant_search_to_the_same_score() {
    let reference: Vec<(&str, usize)> = include_str!("../benches/data/ref_slim_fair_png.tsv")
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f[0], f[3].parse().unwrap())
        })
        .collect();
    let mut dirs = vec![images().join("png")];
    dirs.extend(corpus().map(|c| c.join("png")));
    let (mut ours, mut theirs, mut seen) = (0, 0, std::collections::HashSet::new());
    for dir in dirs {
        for (name, ref_bytes) in &reference {
            let path = dir.join(name);
            if !path.exists() || !seen.insert(*name) {
                continue;
            }
            let input = std::fs::read(&path).unwrap();
            let out = Processor::new().process(&input, "imageSlim").unwrap();
            let source = frames(&input);
            let reference = FrameReferences::new(&source).unwrap();
            let score = reference.score(&frames(&out.bytes)).unwrap();
            assert!(score >= 80.0, "{name}: score {score:.2}");
            let bytes = png_bytes_metadata_aside(&out.bytes);
            eprintln!("{name}: {bytes} bytes (reference {ref_bytes}), score {score:.2}");
            assert!(
                bytes <= *ref_bytes,
                "{name}: {bytes} > reference {ref_bytes}"
            );
            ours += bytes;
            theirs += ref_bytes;
        }
    }
    assert!(
        seen.len() >= 2,
        "the repo's PNGs are in the reference table"
    );
    if seen.len() == reference.len() {
        assert!(ours * 10 <= theirs * 9, "corpus total {ours} vs {theirs}");
    }
}

/// The kinds of chunks of a PNG, in order.
fn png_chunk_kinds(png: &[u8]) -> Vec<String> {
    png_chunks(png).into_iter().map(|(kind, _)| kind).collect()
}

/// PNG results are compared by the bytes of their image, whatever metadata the policy
/// keeps, so the policy does not change which pixels win; the default policy keeps text,
/// EXIF, ICC and display chunks only, never the input's `gAMA`, `cHRM`, `bKGD`, `tIME`.
#[test]
fn png_results_are_compared_by_their_image_bytes_and_keep_the_policys_chunks() {
    let input = image("png/im-netscape.up3.png");
    let kept = mogr::process(&input, "imageSlim").unwrap();
    let stripped = Processor::new()
        .with_metadata(mogr::Metadata::Strip)
        .process(&input, "imageSlim")
        .unwrap();
    let kinds = png_chunk_kinds(&kept.bytes);
    for gone in ["gAMA", "cHRM", "bKGD", "tIME"] {
        assert!(png_chunk_kinds(&input).iter().any(|k| k == gone));
        assert!(!kinds.iter().any(|k| k == gone), "{kinds:?}");
    }
    assert_eq!(
        png_chunk_kinds(&stripped.bytes),
        ["IHDR", "PLTE", "IDAT", "IEND"]
    );
    // The same pixels either way.
    assert_eq!(png_bytes_metadata_aside(&kept.bytes), stripped.bytes.len());
    assert_eq!(
        frames(&kept.bytes).frames[0].bitmap.data,
        frames(&stripped.bytes).frames[0].bitmap.data
    );
}

/// A lossy PNG result carries the input's metadata as the policy says, as the lossless one
/// does: under `Metadata::Keep` its EXIF and text chunks byte for byte (a grey photograph
/// whose palette result used to carry the ICC profile alone), under `IccOnly` and `Strip`
/// neither; the pixels are the same under every policy.
#[test]
fn lossy_png_results_carry_the_metadata_the_policy_keeps() {
    let input = image("png/pil-exif-72dpi-int.grey.png");
    let of_kind = |png: &[u8], kinds: &[&str]| -> Vec<Vec<u8>> {
        png_chunks(png)
            .into_iter()
            .filter(|(k, _)| kinds.contains(&k.as_str()))
            .map(|(_, data)| data.to_vec())
            .collect()
    };
    let metadata = ["eXIf", "tEXt"];
    assert!(of_kind(&input, &["eXIf"]).len() == 1 && of_kind(&input, &["tEXt"]).len() > 5);
    let slim = |policy| {
        Processor::new()
            .with_metadata(policy)
            .process(&input, "imageSlim")
            .unwrap()
            .bytes
    };
    let kept = slim(mogr::Metadata::Keep);
    assert!(
        png_chunk_kinds(&kept).iter().any(|k| k == "PLTE"),
        "a palette result"
    );
    assert_eq!(of_kind(&kept, &metadata), of_kind(&input, &metadata));
    let pixels = frames(&kept).frames.remove(0).bitmap.data;
    for policy in [mogr::Metadata::IccOnly, mogr::Metadata::Strip] {
        let out = slim(policy);
        assert!(of_kind(&out, &metadata).is_empty(), "{policy:?}");
        assert_eq!(frames(&out).frames.remove(0).bitmap.data, pixels);
    }
}

/// The same input and rule give the same bytes. The palettes used to be summed over a hash
/// map in its order, which changes from one map to the next: a colour photograph's output
/// differed from run to run (100,330, 103,967 and 100,142 B in three runs).
#[test]
fn png_slimming_is_repeatable() {
    let jpeg = std::fs::read(images().join("jpeg/pil-exif-72dpi-int.jpg")).unwrap();
    let png = Processor::new()
        .process(&jpeg, "imageMogr2/format/png")
        .unwrap()
        .bytes;
    let first = Processor::new().process(&png, "imageSlim").unwrap().bytes;
    for _ in 0..2 {
        let again = Processor::new().process(&png, "imageSlim").unwrap().bytes;
        assert!(again == first, "{} B, then {} B", first.len(), again.len());
    }
}

/// PNG searches aim [`mogr_slim::METRIC_MARGIN`] above the threshold, so that other
/// SSIMULACRA2 implementations also score the output at or above it; the output's score,
/// scored again here, is at least the aim.
#[test]
fn slimming_aims_above_the_threshold_for_other_scorers() {
    let mut files = vec![
        "png/mpl-grace_hopper.grey-half.png",
        "webp/pil-flower.webp",
        "webp/pil-transparent.webp",
        "gif/pil-hopper.gif",
    ];
    if cfg!(feature = "heif") {
        files.push("heic/pil-hopper.heif");
    }
    for file in files {
        let input = std::fs::read(images().join(file)).unwrap();
        let out = mogr_slim::slim(
            &input,
            &mogr_core::Options::default(),
            &mogr_slim::SlimOptions::default(),
        )
        .unwrap();
        assert_eq!(out.flag, SlimFlag::Compressed, "{file}");
        let margin = match file.split('/').next() {
            Some("png" | "gif") => mogr_slim::METRIC_MARGIN,
            _ => mogr_slim::LOSSY_MARGIN,
        };
        let aim = mogr_slim::DEFAULT_THRESHOLD + margin;
        let source = frames(&input);
        let reference = FrameReferences::new(&source).unwrap();
        let score = reference.score(&frames(&out.bytes)).unwrap();
        assert_eq!(Some(score), out.score, "{file}");
        assert!(score >= aim, "{file}: score {score:.3} under {aim}");
    }
}
