//! GIF header probe and decode of arbitrary bytes, under small limits.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| mogr_fuzz_common::decode(data, mogr_core::ImageFormat::Gif));
