//! ImageInfo of arbitrary bytes under small limits: a typed error or facts that agree with
//! the input.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() > 256 * 1024 {
        return;
    }
    let limits = mogr::Limits::default().with_max_pixels(4_000_000).with_max_side(4096);
    if let Ok(info) = mogr::Processor::new().with_limits(limits).info(data) {
        assert_eq!(info.size, data.len() as u64);
        assert!(info.width > 0 && info.height > 0);
        assert!(info.to_xml().starts_with("<ImageInfo>"));
        let _ = info.to_json();
    }
});
