//! Work bombs: inputs that would make a decoder do unbounded work are refused from their
//! headers.

mod common;

use common::*;

/// A progressive JPEG whose last scan is repeated until it has `scans` scans.
fn with_scans(scans: usize) -> Vec<u8> {
    let progressive = mogr::process(
        &image("jpeg/pil-flower.jpg"),
        "imageMogr2/quality/70/interlace/1",
    )
    .unwrap()
    .into_bytes();
    let last_sos = progressive
        .windows(2)
        .rposition(|w| w == [0xFF, 0xDA])
        .unwrap();
    let eoi = progressive.len() - 2;
    assert_eq!(&progressive[eoi..], &[0xFF, 0xD9]);
    let have = mogr_core::internals::markers::count_scans(&progressive, u32::MAX) as usize;
    let mut out = progressive[..eoi].to_vec();
    for _ in have..scans {
        out.extend_from_slice(&progressive[last_sos..eoi]);
    }
    out.extend_from_slice(&[0xFF, 0xD9]);
    out
}

#[test]
fn hundreds_of_progressive_scans_are_refused() {
    let bomb = with_scans(500);
    for rule in [
        "imageMogr2/quality/50",
        "imageMogr2/format/png",
        "imageSlim",
        "imageInfo",
    ] {
        match mogr::process(&bomb, rule) {
            Err(mogr::Error::Limits {
                kind: mogr::LimitKind::Scans { limit: 100, .. },
                ..
            }) => {}
            other => panic!("{rule}: {:?}", other.map(|o| o.bytes.len())),
        }
    }
    // Under the limit: decoded as usual (the repeated refinement scan is harmless).
    let fine = with_scans(50);
    assert!(mogr::process(&fine, "imageMogr2/format/png").is_ok());
    let counted = mogr_core::internals::markers::count_scans(&bomb, u32::MAX);
    assert_eq!(counted, 500);
}

#[test]
fn oversized_metadata_is_not_copied() {
    // 100 comment segments of 60 KB (6 MB) before the frame.
    let input = image("jpeg/pil-flower.jpg");
    let mut bomb = input[..2].to_vec();
    for _ in 0..100 {
        bomb.extend_from_slice(&[0xFF, 0xFE]);
        bomb.extend_from_slice(&(60_002u16).to_be_bytes());
        bomb.extend(std::iter::repeat_n(b'x', 60_000));
    }
    bomb.extend_from_slice(&input[2..]);
    let out = mogr::process(&bomb, "imageMogr2/quality/50").unwrap();
    assert!(out.bytes.len() < input.len(), "{} bytes", out.bytes.len());
    let comments = mogr_core::internals::markers::read_header(&out.bytes)
        .unwrap()
        .segments
        .iter()
        .filter(|s| s.marker == 0xFE)
        .count();
    assert_eq!(comments, 0);
}
