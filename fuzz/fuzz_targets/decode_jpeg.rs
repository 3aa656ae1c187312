//! Header probe and full JPEG decode of arbitrary bytes, under small limits.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mogr_core::internals::{jpeg_decode as decode, markers};

fuzz_target!(|data: &[u8]| {
    if data.len() > 1024 * 1024 {
        return;
    }
    let limits = mogr_core::Limits::default().with_max_pixels(4_000_000).with_max_side(4096);
    if mogr_core::probe(data, &limits).is_err() {
        return;
    }
    if let Ok(header) = markers::read_header(data) {
        if let Ok(bitmap) = decode::decode(data, &header) {
            assert_eq!(
                bitmap.data.len(),
                bitmap.width as usize * bitmap.height as usize * bitmap.layout.channels()
            );
        }
    }
});
