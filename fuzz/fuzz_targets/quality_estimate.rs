//! The JPEG marker reader and quality estimator on arbitrary bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mogr_core::internals::{estimate, markers};

fuzz_target!(|data: &[u8]| {
    if data.len() > 1024 * 1024 {
        return;
    }
    if let Ok(header) = markers::read_header(data) {
        if let Some(q) = estimate::estimate_quality(&header.qtables) {
            assert!((1..=100).contains(&q));
        }
    }
});
