//! Replays every input the fuzzers found a crash, hang or out-of-memory with
//! (`tests/regression/<target>/`): each must give a typed error or a valid output.
//! `decode_jpeg/timeout-*` took seconds each (a quadratic marker scan past stray SOI
//! markers, now linear: about 10 ms). `decode_jpeg/leak-*` was reported as a leak: the
//! threads jpeg-decoder spawned for each decode still winding down (it now decodes on rayon's
//! pool). `decode_gif/crash-*` is an interlaced frame zero pixels wide and 100 rows tall,
//! whose rows were reordered in chunks of its width (a panic: chunks of zero bytes).

mod common;

use mogr_core::internals::{entropy_decode, markers, requant};

fn regression_files() -> Vec<(String, Vec<u8>)> {
    let root = common::images().join("../regression");
    let mut out = Vec::new();
    for target in std::fs::read_dir(&root).unwrap().flatten() {
        for file in std::fs::read_dir(target.path()).unwrap().flatten() {
            let name = format!(
                "{}/{}",
                target.file_name().to_string_lossy(),
                file.file_name().to_string_lossy()
            );
            out.push((name, std::fs::read(file.path()).unwrap()));
        }
    }
    out.sort();
    out
}

#[test]
fn every_regression_input_is_handled() {
    let files = regression_files();
    assert!(!files.is_empty());
    let limits = mogr::Limits::default()
        .with_max_pixels(4_000_000)
        .with_max_side(4096);
    let processor = mogr::Processor::new().with_limits(limits);
    for (name, data) in files {
        for rule in [
            "imageMogr2/quality/60",
            "imageMogr2/quality/40!/interlace/1",
            "imageMogr2/quality/95!",
        ] {
            if let Ok(out) = processor.process(&data, rule) {
                assert!(markers::read_header(&out.bytes).is_ok(), "{name} {rule}");
            }
        }
        for rule in ["imageMogr2/format/png", "imageInfo"] {
            if let Ok(out) = processor.process(&data, rule) {
                assert!(!out.bytes.is_empty(), "{name} {rule}");
            }
        }
        if let Ok(header) = markers::read_header(&data) {
            let _ = entropy_decode::decode_coefficients(&data);
            for q in [60, 95] {
                if requant::eligible(&header, q) {
                    if let Ok(out) = requant::requantize(&data, q, false, None, &[]) {
                        entropy_decode::decode_coefficients(&out)
                            .unwrap_or_else(|e| panic!("{name}: {e}"));
                    }
                }
            }
        }
    }
}
