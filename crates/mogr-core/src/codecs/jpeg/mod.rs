//! JPEG: markers, quality estimation, pixel decoding and encoding, and the DCT-domain path
//! (entropy decoding to coefficients, requantization, entropy encoding).

mod arith;
pub mod decode;
pub mod encode;
pub mod entropy_decode;
pub(crate) mod entropy_encode;
pub mod estimate;
pub mod exif;
mod huffman;
pub mod markers;
mod reconstruct;
pub mod requant;
