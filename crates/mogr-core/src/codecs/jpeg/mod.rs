//! JPEG: marker reading, quality estimation, decoding and encoding.

pub mod decode;
pub mod encode;
pub mod estimate;
pub mod markers;
