//! JPEG: marker reading, quality estimation, decoding and encoding.

pub mod coeffs;
pub mod decode;
pub mod encode;
pub(crate) mod entropy;
pub mod estimate;
pub mod exif;
pub mod markers;
pub mod requant;
