//! GIF: `cgif` frame reduction and re-encoding of animations, and a still picture to GIF,
//! in process (no process start), through `mogr::process`.
//!
//! Reads `../shared/corpus/gif` when it exists, else the repo's `tests/images/gif`; the
//! still picture is the corpus's `png/ski-astronaut.png`, else the repo's
//! `jpeg/pil-flower.jpg`.

use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use std::path::PathBuf;

fn read_first(dirs: &[PathBuf], names: &[&str]) -> Vec<(String, Vec<u8>)> {
    let dir = dirs.iter().find(|d| d.exists());
    names
        .iter()
        .filter_map(|n| {
            let bytes = std::fs::read(dir?.join(n)).ok()?;
            Some((n.to_string(), bytes))
        })
        .collect()
}

fn gif(c: &mut Criterion) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let animations = read_first(
        &[
            root.join("../shared/corpus/gif"),
            root.join("tests/images/gif"),
        ],
        &["pil-iss634.gif", "pil-test.colors.gif", "pil-hopper.gif"],
    );
    let mut group = c.benchmark_group("gif");
    group.sample_size(30);
    for (name, bytes) in &animations {
        group.bench_function(format!("cgif_10/{name}"), |b| {
            b.iter(|| mogr::process(black_box(bytes), "imageMogr2/cgif/10").unwrap())
        });
    }
    let stills = read_first(
        &[
            root.join("../shared/corpus/png"),
            root.join("tests/images/jpeg"),
        ],
        &["ski-astronaut.png", "pil-flower.jpg"],
    );
    if let Some((name, bytes)) = stills.first() {
        group.bench_function(format!("to_gif/{name}"), |b| {
            b.iter(|| mogr::process(black_box(bytes), "imageMogr2/format/gif").unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, gif);
criterion_main!(benches);
