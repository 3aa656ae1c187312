//! The perceptual metric: mogr's streaming SSIMULACRA2 (`metric::Reference::score`) against
//! `fast-ssim2`'s whole-image one (its `compare`, the reference prepared beforehand, and with
//! the preparation), on the 3.4 MP flower and a quality-60 copy of it.
//!
//! Reads `tests/images/jpeg/jxl-flower_q85_420_progr.jpg` from the repo.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use fast_ssim2::{PixelDescriptor, PixelSlice, Ssimulacra2Reference};
use std::hint::black_box;

use mogr_core::internals::{jpeg_decode as decode, jpeg_encode as encode, markers};
use mogr_core::Bitmap;

fn decoded(bytes: &[u8]) -> Bitmap {
    decode::decode(bytes, &markers::read_header(bytes).unwrap()).unwrap()
}

fn metric(c: &mut Criterion) {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/images/jpeg/jxl-flower_q85_420_progr.jpg"
    );
    let original = decoded(&std::fs::read(path).unwrap());
    let settings = encode::JpegSettings {
        quality: 60,
        progressive: false,
        density: None,
        segments: vec![],
    };
    let candidate = decoded(&encode::encode(&original, &settings).unwrap());
    let mut group = c.benchmark_group("metric");
    group.sample_size(10);
    group.throughput(Throughput::Elements(
        u64::from(original.width) * u64::from(original.height),
    ));
    let reference = mogr_slim::metric::Reference::new(&original).unwrap();
    group.bench_function("mogr/score", |b| {
        b.iter(|| reference.score(black_box(&candidate)).unwrap())
    });
    fn slice(b: &Bitmap) -> PixelSlice<'_> {
        PixelSlice::new(
            &b.data,
            b.width,
            b.height,
            b.width as usize * 3,
            PixelDescriptor::RGB8_SRGB,
        )
        .unwrap()
    }
    let theirs = Ssimulacra2Reference::new(&slice(&original)).unwrap();
    group.bench_function("fast-ssim2/compare", |b| {
        b.iter(|| theirs.compare(&slice(black_box(&candidate))).unwrap())
    });
    group.bench_function("fast-ssim2/reference+compare", |b| {
        b.iter(|| {
            Ssimulacra2Reference::new(&slice(black_box(&original)))
                .unwrap()
                .compare(&slice(&candidate))
                .unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, metric);
criterion_main!(benches);
