//! One module per codec.

pub(crate) mod bmff;
pub(crate) mod bmp;
#[cfg_attr(not(feature = "heif"), allow(dead_code))]
pub(crate) mod coded;
pub mod gif;
#[cfg(feature = "heif")]
pub(crate) mod heif;
#[cfg(feature = "heif")]
pub(crate) mod heif_encode;
pub(crate) mod jpeg;
pub(crate) mod png;
pub mod webp;
pub(crate) mod webp_encode;
