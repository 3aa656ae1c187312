//! mogr
