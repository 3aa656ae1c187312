//! One module per codec.

pub mod jpeg;
pub mod webp;
