//! JPEG: quality estimation (headers only), decode, encode, and `process` at quality 60.
//!
//! Reads `../shared/corpus/jpeg` when it exists, else the repo's `tests/images/jpeg`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;
use std::path::PathBuf;

use mogr_core::internals::{estimate, jpeg_decode as decode, jpeg_encode as encode, markers};

fn inputs() -> Vec<(String, Vec<u8>)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let corpus = root.join("../shared/corpus/jpeg");
    let dir = if corpus.exists() {
        corpus
    } else {
        root.join("tests/images/jpeg")
    };
    let names = [
        "jxl-flower_q85_420.jpg",
        "jxl-flower_q85_420_progr.jpg",
        "pil-xmp_test.jpg",
        "mpl-grace_hopper.jpg",
    ];
    names
        .iter()
        .filter_map(|n| std::fs::read(dir.join(n)).ok().map(|b| (n.to_string(), b)))
        .collect()
}

fn jpeg(c: &mut Criterion) {
    let inputs = inputs();
    let mut group = c.benchmark_group("jpeg");
    group.sample_size(20);
    for (name, bytes) in &inputs {
        let header = markers::read_header(bytes).unwrap();
        let pixels = u64::from(header.width) * u64::from(header.height);
        group.throughput(Throughput::Elements(pixels));
        group.bench_function(format!("estimate/{name}"), |b| {
            b.iter(|| {
                estimate::estimate_quality(&markers::read_header(black_box(bytes)).unwrap().qtables)
            })
        });
        group.bench_function(format!("decode/{name}"), |b| {
            b.iter(|| decode::decode(black_box(bytes), &header).unwrap())
        });
        let bitmap = decode::decode(bytes, &header).unwrap();
        let settings = encode::JpegSettings {
            quality: 60,
            progressive: false,
            density: None,
            segments: vec![],
        };
        group.bench_function(format!("encode_q60/{name}"), |b| {
            b.iter(|| encode::encode(black_box(&bitmap), &settings).unwrap())
        });
        group.bench_function(format!("process_q60/{name}"), |b| {
            b.iter(|| mogr::process(black_box(bytes), "imageMogr2/quality/60!").unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, jpeg);
criterion_main!(benches);
