//! Rule parsing: short, long, URL-escaped, and invalid rules.

use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;

fn parse(c: &mut Criterion) {
    let rules = [
        ("short", "imageMogr2/quality/80"),
        ("every_param", "imageMogr2/format/webp/quality/75!/lquality/30/cgif/5/interlace/1/ignore-error/1"),
        ("pipeline", "imageMogr2/format/png|imageMogr2/format/jpg/quality/60|imageSlim|imageInfo"),
        ("url", "?q-sign-algorithm=sha1&q-ak=AKID&q-sign-time=1593342360;1593342720&imageMogr2%2Fquality%2F75%21%7CimageSlim"),
        ("invalid", "imageMogr2/quality/80/thumbnail/100x100"),
    ];
    let mut group = c.benchmark_group("parse");
    for (name, rule) in rules {
        group.bench_function(name, |b| {
            b.iter(|| mogr_parse::parse_validated(black_box(rule)))
        });
    }
    group.finish();
}

criterion_group!(benches, parse);
criterion_main!(benches);
