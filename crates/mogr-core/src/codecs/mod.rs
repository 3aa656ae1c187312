//! One module per codec.

pub mod bmff;
pub mod bmp;
pub mod gif;
#[cfg(feature = "heif")]
pub mod heif;
pub mod jpeg;
pub mod png;
pub mod webp;
