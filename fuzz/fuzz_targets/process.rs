//! Arbitrary bytes under a small set of rules, and arbitrary rules on a small real image.
#![no_main]
use libfuzzer_sys::fuzz_target;

const RULES: [&str; 6] = [
    "imageMogr2/quality/60",
    "imageMogr2/quality/90!/interlace/1",
    "imageMogr2/rquality/50/lquality/30",
    "imageMogr2/format/jpg",
    "imageMogr2/quality/150/ignore-error/1",
    "imageMogr2/format/tpg/ignore-error/1",
];

static SMALL_JPEG: &[u8] = include_bytes!("../../tests/images/jpeg/pil-hopper_orientation_6.jpg");

fuzz_target!(|data: &[u8]| {
    if data.len() > 256 * 1024 || data.is_empty() {
        return;
    }
    // Small limits keep each run fast: the fuzzer looks for crashes, not big images. The
    // memory budget refuses the costliest stages (imageSlim, HEIF/AVIF) of the largest inputs.
    let limits = mogr::Limits::default()
        .with_max_pixels(4_000_000)
        .with_max_side(4096)
        .with_max_memory_bytes(256 << 20);
    let processor = mogr::Processor::new().with_limits(limits);
    let (selector, rest) = data.split_first().unwrap();
    if selector % 2 == 0 {
        let rule = RULES[usize::from(selector / 2) % RULES.len()];
        let _ = processor.process(rest, rule);
    } else if let Ok(rule) = std::str::from_utf8(rest) {
        if let Ok(out) = processor.process(SMALL_JPEG, rule) {
            if out.input_returned() {
                assert_eq!(out.bytes, SMALL_JPEG);
            }
        }
    }
});
