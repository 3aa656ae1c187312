//! imageSlim on arbitrary bytes under small limits: never a larger file, the input itself
//! whenever the flag is not "compressed", never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() > 64 * 1024 {
        return;
    }
    let limits = mogr::Limits::default().with_max_pixels(250_000).with_max_side(1024).with_max_frames(16);
    let processor = mogr::Processor::new().with_limits(limits);
    if let Ok(out) = processor.process(data, "imageSlim") {
        assert!(out.bytes.len() <= data.len());
        if out.slim_flag != Some(mogr::SlimFlag::Compressed) {
            assert_eq!(out.bytes, data);
        }
    }
});
