//! 8 threads x 200 mixed requests through one `Processor`: the same bytes as a serial run,
//! and no growth of memory from one round to the next.

mod common;

use std::sync::Arc;

use common::*;
use mogr::Processor;

const CASES: &[(&str, &str)] = &[
    ("jpeg/pil-hopper_orientation_6.jpg", "imageMogr2/quality/50"),
    ("jpeg/pil-hopper_orientation_6.jpg", "imageMogr2/format/png"),
    (
        "jpeg/pil-hopper_16bit_qtables.jpg",
        "imageMogr2/format/webp/quality/60",
    ),
    ("jpeg/pil-hopper_16bit_qtables.jpg", "imageSlim"),
    ("jpeg/pil-flower.jpg", "imageMogr2/rquality/60/interlace/1"),
    (
        "png/mpl-Minduka_Present_Blue_Pack.png",
        "imageMogr2/format/jpg/quality/80",
    ),
    ("png/mpl-Minduka_Present_Blue_Pack.png", "imageInfo"),
    (
        "gif/ski-no_time_for_that_tiny.gif",
        "imageMogr2/format/gif/cgif/3",
    ),
    ("gif/jxl-traffic_light.gif", "imageMogr2/format/webp"),
    ("webp/pil-transparent.webp", "imageMogr2/format/png"),
    ("bmp/pil-hopper.bmp", "imageMogr2/format/jpg/quality/70"),
    ("jpeg/pil-iptc.jpg", "imageMogr2/quality/200/ignore-error/1"),
];

/// Resident memory in KiB, from /proc (Linux); `None` elsewhere.
fn rss_kib() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4)
}

#[test]
fn eight_threads_agree_with_a_serial_run_and_memory_stays_flat() {
    let processor = Arc::new(Processor::new());
    let inputs: Arc<Vec<Vec<u8>>> = Arc::new(CASES.iter().map(|(f, _)| image(f)).collect());
    let serial: Arc<Vec<Vec<u8>>> = Arc::new(
        CASES
            .iter()
            .zip(inputs.iter())
            .map(|((_, rule), input)| processor.process(input, rule).unwrap().into_bytes())
            .collect(),
    );
    let round = |n: usize| {
        let handles: Vec<_> = (0..8)
            .map(|t| {
                let (processor, inputs, serial) =
                    (processor.clone(), inputs.clone(), serial.clone());
                std::thread::spawn(move || {
                    for i in 0..n {
                        let k = (t * 7 + i) % CASES.len();
                        let out = processor.process(&inputs[k], CASES[k].1).unwrap();
                        assert_eq!(
                            out.bytes, serial[k],
                            "thread {t}, request {i}: {}",
                            CASES[k].1
                        );
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        rss_kib()
    };
    // 8 x 200 requests in two rounds of 8 x 100; memory after each.
    let first = round(100);
    let second = round(100);
    if let (Some(a), Some(b)) = (first, second) {
        eprintln!("resident memory after round 1: {a} KiB, after round 2: {b} KiB");
        assert!(b < a + 32 * 1024, "memory grew from {a} KiB to {b} KiB");
    }
}
