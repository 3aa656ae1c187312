//! mogr-slim
