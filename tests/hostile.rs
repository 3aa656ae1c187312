//! Damaged inputs: truncated, bit-flipped and wrong-magic versions of every test image go
//! through `process` under several rules and give a typed error or a valid output, never a
//! panic.

mod common;

use common::*;

/// A small deterministic generator (the test must not depend on a seed it cannot replay).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, bound: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % bound.max(1)
    }
}

fn variants(data: &[u8], rng: &mut Lcg) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for frac in [0usize, 1, 10, 50, 90, 99] {
        let n = data.len() * frac / 100;
        out.push((format!("truncated to {n}"), data[..n].to_vec()));
    }
    for i in 0..8 {
        let mut d = data.to_vec();
        if !d.is_empty() {
            // Flips early (headers) and anywhere.
            let at = if i < 4 {
                rng.next(d.len().min(512))
            } else {
                rng.next(d.len())
            };
            d[at] ^= 1 << rng.next(8);
            out.push((format!("bit flipped at {at}"), d));
        }
    }
    let mut magic = data.to_vec();
    for b in magic.iter_mut().take(4) {
        *b = !*b;
    }
    out.push(("wrong magic".into(), magic));
    out
}

#[test]
fn damaged_inputs_never_panic() {
    let mut paths: Vec<std::path::PathBuf> = [
        "jpeg", "png", "gif", "webp", "bmp", "heic", "avif", "corrupt",
    ]
    .iter()
    .flat_map(|d| {
        files(
            &images(),
            d,
            &[
                "jpg", "mpo", "png", "gif", "webp", "bmp", "heif", "heic", "avif", "avifs",
            ],
        )
    })
    .collect();
    if let Some(corpus) = corpus() {
        // Every corpus file (its copies in tests/images come twice; the damage differs).
        for d in [
            "jpeg", "png", "gif", "webp", "avif", "heic", "bmp", "corrupt",
        ] {
            paths.extend(files(
                &corpus,
                d,
                &[
                    "jpg", "mpo", "png", "gif", "webp", "avif", "avifs", "heic", "heif", "bmp",
                ],
            ));
        }
    }
    // Small limits keep the run short; damage in big files is covered by the fuzzers.
    let limits = mogr::Limits::default().with_max_pixels(2_000_000);
    let processor = mogr::Processor::new().with_limits(limits);
    let rules = [
        "imageMogr2/quality/50",
        "imageMogr2/format/png",
        "imageMogr2/format/gif/cgif/3",
        "imageMogr2/format/jpg/interlace/1",
    ];
    let mut rng = Lcg(0x6d6f6772);
    let mut runs = 0;
    for path in paths {
        let data = std::fs::read(&path).unwrap();
        for (what, bytes) in variants(&data, &mut rng) {
            for rule in rules {
                runs += 1;
                let name = format!("{} ({what}) {rule}", path.display());
                match processor.process(&bytes, rule) {
                    Ok(out) => {
                        // Whatever comes out must itself be readable.
                        let probe = mogr_core::probe(&out.bytes, &mogr::Limits::none());
                        assert!(
                            probe.is_ok(),
                            "{name}: output does not parse: {:?}",
                            probe.err()
                        );
                    }
                    Err(
                        mogr::Error::Decode { .. }
                        | mogr::Error::Limits { .. }
                        | mogr::Error::Encode { .. },
                    ) => {}
                    Err(e) => panic!("{name}: unexpected error kind: {e}"),
                }
            }
        }
    }
    assert!(runs > 1000, "{runs}");
}

#[test]
fn encoding_a_raster_that_disagrees_with_itself_is_an_error_for_every_format() {
    use mogr_core::{Bitmap, EncodeSettings, Frame, ImageFormat, Layout, Raster, Stop};
    // The fields are public: a caller can build pixels that do not fill their size. Every
    // encoder used to trust them (PNG, BMP and GIF panicked; HEIF read past them).
    let bitmap = |w: u32, h: u32, len: usize| Bitmap {
        width: w,
        height: h,
        layout: Layout::Rgb,
        data: vec![90; len],
    };
    let frame = |b: Bitmap| Frame {
        bitmap: b,
        delay_ms: 100,
    };
    let animation = |frames: Vec<Bitmap>| Raster {
        frames: frames.into_iter().map(frame).collect(),
        loop_count: Some(0),
        icc: None,
    };
    let cases = [
        (
            "short",
            Raster::still(bitmap(16, 16, 10), None),
            "holds 10 bytes",
        ),
        (
            "long",
            Raster::still(bitmap(16, 16, 773), None),
            "holds 773 bytes",
        ),
        ("empty", Raster::still(bitmap(0, 0, 0), None), "0x0"),
        (
            "past 2^64 bytes",
            Raster::still(bitmap(u32::MAX, u32::MAX, 0), None),
            "more than 2^64",
        ),
        ("no frames", animation(vec![]), "no frames"),
        (
            "frames of two sizes",
            animation(vec![bitmap(16, 16, 768), bitmap(8, 8, 192)]),
            "frame 1",
        ),
    ];
    let formats = [
        ImageFormat::Jpeg,
        ImageFormat::Png,
        ImageFormat::Bmp,
        ImageFormat::Gif,
        ImageFormat::Webp,
        ImageFormat::Heif,
        ImageFormat::Avif,
    ];
    for (name, raster, says) in &cases {
        for format in formats {
            let got =
                mogr_core::encode(raster, format, EncodeSettings::default(), &Stop::default());
            match got {
                Err(mogr_core::Error::Encode { message, .. }) => {
                    assert!(message.contains(says), "{name} as {format:?}: {message}")
                }
                other => panic!("{name} as {format:?}: {other:?}"),
            }
        }
    }
    // The well-formed raster encodes and decodes to its size.
    let good = animation(vec![bitmap(16, 16, 768), bitmap(16, 16, 768)]);
    for format in [ImageFormat::Png, ImageFormat::Gif, ImageFormat::Webp] {
        let bytes =
            mogr_core::encode(&good, format, EncodeSettings::default(), &Stop::default()).unwrap();
        let back = decode_all(&bytes);
        assert_eq!(
            (back.first().width, back.first().height),
            (16, 16),
            "{format:?}"
        );
    }
}
