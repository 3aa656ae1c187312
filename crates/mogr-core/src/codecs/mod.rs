//! One module per codec.

pub mod jpeg;
