//! The metadata policy: which metadata of an input its re-encoded outputs keep.
//!
//! JPEG outputs follow it segment by segment ([`Metadata::select`]), also when only metadata
//! is dropped and nothing is re-encoded. Outputs of other formats made from pixels carry the
//! input's ICC profile (so that colours stay right) and nothing else, whatever the policy;
//! `imageSlim` on a PNG maps the policy to oxipng's chunk stripping.

use crate::codecs::jpeg::markers::{Density, Segment, SegmentKind};

/// Which metadata segments of the input go into the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Metadata {
    /// Keep EXIF, ICC, XMP, IPTC (APP13) and comments. The default.
    #[default]
    Keep,
    /// Keep only the ICC profile (colours stay right, everything else goes).
    IccOnly,
    /// Strip everything.
    Strip,
}

impl Metadata {
    /// Whether a segment of this kind is carried into the output.
    pub fn keeps(self, kind: SegmentKind) -> bool {
        match self {
            Metadata::Strip => false,
            Metadata::IccOnly => kind == SegmentKind::Icc,
            Metadata::Keep => matches!(
                kind,
                SegmentKind::Exif
                    | SegmentKind::Xmp
                    | SegmentKind::Icc
                    | SegmentKind::Iptc
                    | SegmentKind::Comment
            ),
        }
    }

    /// The segments of an input kept by this policy, in order. A CMYK input's ICC profile
    /// goes (it does not describe the RGB pixels written). When the EXIF block goes but
    /// says the image is rotated or flipped, a minimal EXIF block with only the orientation
    /// takes its place, so that the output still shows the right way up.
    ///
    /// Each kind is bounded: when the segments of one kind (ICC, EXIF, XMP, IPTC, comments)
    /// hold more than 4 MiB together, that kind is dropped rather than copied.
    pub fn select<'a>(self, segments: &[Segment<'a>], cmyk: bool) -> Vec<Segment<'a>> {
        let total = |kind: SegmentKind| -> usize {
            segments
                .iter()
                .filter(|s| s.kind() == kind)
                .map(|s| s.payload.len())
                .sum()
        };
        let mut kept: Vec<Segment<'a>> = segments
            .iter()
            .filter(|s| self.keeps(s.kind()))
            .filter(|s| !(cmyk && s.kind() == SegmentKind::Icc))
            .filter(|s| total(s.kind()) <= MAX_METADATA_BYTES)
            .cloned()
            .collect();
        if let Some(o) = self.lost_orientation(segments) {
            kept.insert(
                0,
                Segment {
                    marker: crate::codecs::jpeg::markers::code::APP1,
                    payload: crate::codecs::jpeg::exif::orientation_only(o),
                },
            );
        }
        kept
    }

    /// The orientation (2..=8) this policy would lose by dropping the EXIF block.
    pub fn lost_orientation(self, segments: &[Segment<'_>]) -> Option<u16> {
        if self.keeps(SegmentKind::Exif) {
            return None;
        }
        segments
            .iter()
            .find(|s| s.kind() == SegmentKind::Exif)
            .and_then(|s| crate::codecs::jpeg::exif::orientation(s.payload))
            .filter(|&o| o != 1)
    }
}

/// The most bytes of one kind of metadata copied into an output (4 MiB: more than any real
/// ICC profile, EXIF or XMP block).
pub(crate) const MAX_METADATA_BYTES: usize = 4 << 20;

/// Segments that carry metadata (as opposed to what decoders need, like JFIF and Adobe).
pub(crate) fn is_metadata(kind: SegmentKind) -> bool {
    !matches!(kind, SegmentKind::Jfif | SegmentKind::Adobe)
}

/// A JPEG's metadata as an output keeps it: its JFIF density and the segments (EXIF, ICC,
/// XMP, IPTC, comments) a [`Metadata`] policy selects, ready to be written into another
/// encoder's JPEG of the same pixels (what `imageSlim` does with mozjpeg's output).
///
/// The default holds nothing: no density, no segments.
#[derive(Debug, Clone, Default)]
pub struct JpegMetadata<'a> {
    density: Option<Density>,
    segments: Vec<Segment<'a>>,
}

impl<'a> JpegMetadata<'a> {
    /// The metadata of `jpeg` that `policy` keeps ([`Metadata::select`]).
    pub fn read(jpeg: &'a [u8], policy: Metadata) -> Result<JpegMetadata<'a>, crate::Error> {
        let header = crate::codecs::jpeg::markers::read_header(jpeg)?;
        let cmyk = header.components.len() == 4;
        Ok(JpegMetadata {
            density: header.density,
            segments: policy.select(&header.segments, cmyk),
        })
    }

    /// Every segment of `jpeg` but its JFIF header, as they are: for a JPEG whose metadata
    /// was already selected (an output of mogr's own).
    pub fn all(jpeg: &'a [u8]) -> Result<JpegMetadata<'a>, crate::Error> {
        let header = crate::codecs::jpeg::markers::read_header(jpeg)?;
        Ok(JpegMetadata {
            density: header.density,
            segments: header
                .segments
                .into_iter()
                .filter(|s| s.kind() != SegmentKind::Jfif)
                .collect(),
        })
    }

    /// The JFIF density (unit and pixels per unit), when the JPEG has a JFIF header.
    pub fn density(&self) -> Option<Density> {
        self.density
    }

    /// `encoded` (a JPEG that starts with SOI and, usually, its encoder's JFIF header) with
    /// these segments written after them, in order.
    pub fn splice(&self, encoded: Vec<u8>) -> Vec<u8> {
        crate::codecs::jpeg::encode::splice_segments(encoded, &self.segments)
    }
}
