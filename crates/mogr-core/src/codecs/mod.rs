//! One module per codec.

pub mod bmp;
pub mod gif;
pub mod jpeg;
pub mod png;
pub mod webp;
