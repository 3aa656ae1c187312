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
