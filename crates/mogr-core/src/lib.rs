//! Codecs, quality estimation and transcoding for [mogr](https://docs.rs/mogr).
//!
//! `mogr-core` reads image headers (format, dimensions, frames, estimated quality) without
//! decoding pixels, checks them against [`Limits`], and applies one `imageMogr2` stage:
//! decode, choose the output quality by the one rule function [`quality::output_quality`],
//! encode. Most users want the `mogr` facade instead; this crate is for callers that drive
//! stages themselves.
//!
//! ```
//! use mogr_core::{transcode, Limits};
//!
//! // A 16x16 grey JPEG made on the spot, at quality 90.
//! let bitmap = mogr_core::pixels::Bitmap {
//!     width: 16, height: 16, layout: mogr_core::pixels::Layout::Gray, data: vec![128; 256],
//! };
//! let settings = mogr_core::codecs::jpeg::encode::JpegSettings {
//!     quality: 90, progressive: false, density: None, segments: vec![],
//! };
//! let jpeg = mogr_core::codecs::jpeg::encode::encode(bitmap, &settings).unwrap();
//!
//! let probe = transcode::probe(&jpeg, &Limits::default()).unwrap();
//! assert_eq!((probe.width, probe.height, probe.quality), (16, 16, Some(90)));
//!
//! let rule = mogr_parse::parse_validated("imageMogr2/quality/60").unwrap();
//! let mogr_parse::Stage::Mogr(params) = &rule.stages[0] else { unreachable!() };
//! let out = transcode::apply(&jpeg, params, &transcode::Options::default()).unwrap();
//! assert_eq!(out.probe.quality, Some(60));
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod budget;
pub mod codecs;
pub mod error;
pub mod format;
pub mod info;
pub mod limits;
pub mod pixels;
pub mod quality;
pub mod raster;
pub mod stop;
pub mod transcode;

pub use error::{Error, ErrorKind, FormatName, LimitKind, ServiceCode, StopReason};
pub use format::ImageFormat;
pub use limits::Limits;
pub use stop::Stop;
