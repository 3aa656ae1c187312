//! The DCT-domain path on arbitrary bytes: coefficient decoding, 4:2:0 conversion,
//! requantization and writing. Whatever it writes must read back through our own parsers.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mogr_core::internals::{entropy_decode, markers, requant};

fuzz_target!(|data: &[u8]| {
    if data.len() > 512 * 1024 {
        return;
    }
    let limits = mogr_core::Limits::default().with_max_pixels(4_000_000).with_max_side(4096);
    if mogr_core::probe(data, &limits).is_err() {
        return;
    }
    let Ok(header) = markers::read_header(data) else { return };
    let _ = entropy_decode::decode_coefficients(data);
    for (q, progressive) in [(60, false), (40, true), (95, false)] {
        if !requant::eligible(&header, q) {
            continue;
        }
        if let Ok(out) = requant::requantize(data, q, progressive, None, &[]) {
            let h = markers::read_header(&out).expect("our output parses");
            assert_eq!((h.width, h.height), (header.width, header.height));
            entropy_decode::decode_coefficients(&out).expect("our output decodes");
        }
    }
});
