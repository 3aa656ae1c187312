//! Helpers of mogr-core's tests: the repo's test files (shared with the `mogr` tests)
//! and a decode of trusted input, all in the shared file.
#![allow(dead_code)]

#[path = "../../../../tests/common/files.rs"]
mod files;
#[allow(unused_imports)]
pub use files::*;
