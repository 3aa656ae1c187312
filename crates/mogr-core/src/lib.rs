//! Codecs, header probes, limits, quality estimation and one `imageMogr2` stage for
//! [mogr](https://docs.rs/mogr).
//!
//! `mogr-core` reads an upload's header ([`probe`]: format, dimensions, frames, estimated
//! quality) without decoding pixels, checks it against [`Limits`], and applies one
//! `imageMogr2` stage ([`apply`]): decode, choose the output quality with the one rule
//! function [`quality::output_quality`], encode. Most users want the `mogr` facade instead;
//! this crate is for callers that drive stages themselves, and for `mogr-slim`.
//!
//! Where each policy lives: the probe and the rule-to-format mapping in `probe.rs`, limits
//! in `limits.rs` with the one gate every stage passes ([`Probe::admit`], which decoding
//! requires), memory estimates in [`budget`], the `cgif` frame choice in [`FramePick`]
//! (`frames.rs`), the metadata policy in [`Metadata`] (`metadata.rs`), the default quality
//! per format in [`quality::default_quality`], and the error-to-code mapping in
//! [`Error::kind`].
//!
//! ```
//! use mogr_core::{apply, encode, probe, Bitmap, EncodeSettings, ImageFormat, Layout, Limits,
//!     Options, Raster, Stop};
//!
//! // A 16x16 grey JPEG made on the spot, at quality 90.
//! let bitmap = Bitmap { width: 16, height: 16, layout: Layout::Gray, data: vec![128; 256] };
//! let settings = EncodeSettings::default().with_quality(90);
//! let still = Raster::still(bitmap, None);
//! let jpeg = encode(&still, ImageFormat::Jpeg, settings, &Stop::never()).unwrap();
//!
//! let p = probe(&jpeg, &Limits::default()).unwrap();
//! assert_eq!((p.width, p.height, p.quality), (16, 16, Some(90)));
//!
//! let rule = mogr_parse::parse_validated("imageMogr2/quality/60").unwrap();
//! let mogr_parse::Stage::Mogr(params) = &rule.stages[0] else { unreachable!() };
//! let out = apply(&jpeg, params, &Options::default()).unwrap();
//! assert_eq!(out.probe.quality, Some(60));
//! ```

// Two modules call C libraries directly: `codecs/webp_encode.rs` (libwebp, for its progress
// hook) and `codecs/heif_encode.rs` (libheif, for planes it does not copy and for grids).
#![deny(unsafe_code)]
#![warn(missing_docs)]
#![deny(unreachable_pub)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod budget;
mod codecs;
mod decode;
mod encode;
mod error;
mod format;
mod frames;
mod icc;
mod info;
mod limits;
mod metadata;
mod pixels;
mod probe;
pub mod quality;
mod stop;
mod transcode;
mod validate;
mod xml;

pub use decode::decode;
pub use encode::{encode, EncodeSettings};
pub use error::{Error, ErrorKind, FormatName, LimitKind, ServiceCode, StopReason};
pub use format::ImageFormat;
pub use frames::FramePick;
pub use info::{info, ImageInfo};
pub use limits::Limits;
pub use metadata::{JpegMetadata, Metadata};
pub use pixels::{Bitmap, Frame, Layout, Raster};
pub use probe::{probe, Admitted, Probe};
pub use stop::Stop;
pub use transcode::{apply, DecodeCache, Encoded, Options};
pub use validate::validate;
pub use xml::XmlWriter;

pub use codecs::jpeg::markers::Density;

/// Not part of the API: what mogr's own tests, fuzz targets and benchmarks reach into.
/// Anything here may change in any release.
#[doc(hidden)]
pub mod internals {
    pub use crate::codecs::gif;
    pub use crate::codecs::jpeg::{
        decode as jpeg_decode, encode as jpeg_encode, entropy_decode, estimate, exif, markers,
        requant,
    };
    pub use crate::codecs::webp;
    pub use crate::frames::{pick_frames, select_frames};
}
