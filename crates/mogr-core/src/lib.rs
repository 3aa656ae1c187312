//! mogr-core
