//! `ImageInfo`: facts about an image, as the service's `imageInfo` reports them.

use md5::{Digest, Md5};
use serde::Serialize;

use crate::codecs::jpeg::{exif, markers};
use crate::codecs::{bmff, png, webp};
use crate::error::Error;
use crate::format::ImageFormat;
use crate::limits::Limits;

/// Facts about an image, with the service's field names when serialized.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
#[non_exhaustive]
pub struct ImageInfo {
    /// The format; serialized as its lowercase name (`jpg png bmp gif webp heif avif`).
    #[serde(serialize_with = "format_name")]
    pub format: ImageFormat,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Size of the file in bytes.
    pub size: u64,
    /// Estimated quality; `null` where the format has none.
    pub quality: Option<u8>,
    /// Mean colour of the first frame (8-bit sRGB values, alpha over white), `0xrrggbb`.
    pub ave: String,
    /// EXIF orientation, 1 when absent.
    pub orientation: u16,
    /// Frames of an animation (1 for still images).
    pub frame_count: u32,
    /// Bits per channel.
    pub bit_depth: u8,
    /// Horizontal resolution in dots per inch, as ImageMagick finds it: a JPEG's EXIF
    /// resolution, else its JFIF density when the unit is set; a WebP's EXIF chunk; PNG
    /// pHYs; 72 when absent.
    pub horizontal_dpi: u32,
    /// Vertical resolution, found like `horizontal_dpi`.
    pub vertical_dpi: u32,
    /// Hex MD5 of the file's bytes.
    pub md5: String,
}

fn format_name<S: serde::Serializer>(format: &ImageFormat, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(format.name())
}

impl ImageInfo {
    /// The JSON object, fields in the order above.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The `<ImageInfo>` XML element, as in the service's documents.
    pub fn to_xml(&self) -> String {
        let mut w = crate::XmlWriter::new();
        self.write_xml(&mut w);
        w.finish()
    }

    /// Writes the `<ImageInfo>` element into a larger document (the `UploadResult`).
    pub fn write_xml(&self, w: &mut crate::XmlWriter) {
        let quality = self.quality.map(|q| q.to_string()).unwrap_or_default();
        w.open("ImageInfo")
            .element("Format", self.format.name())
            .element("Width", &self.width.to_string())
            .element("Height", &self.height.to_string())
            .element("Size", &self.size.to_string())
            .element("Quality", &quality)
            .element("Ave", &self.ave)
            .element("Orientation", &self.orientation.to_string())
            .element("FrameCount", &self.frame_count.to_string())
            .element("BitDepth", &self.bit_depth.to_string())
            .element("HorizontalDpi", &self.horizontal_dpi.to_string())
            .element("VerticalDpi", &self.vertical_dpi.to_string())
            .element("Md5", &self.md5)
            .close("ImageInfo");
    }
}

/// Reads an image's facts: headers for most fields, the first frame's pixels for `Ave`.
pub fn info(input: &[u8], limits: &Limits) -> Result<ImageInfo, Error> {
    let probe = crate::probe::probe(input, limits)?;
    let admitted = probe.admit(limits, crate::budget::info(input, &probe))?;
    // A JPEG's mean colour comes from its 8x8 block means (a 1/8-scale decode). The sums
    // are taken from the decoded samples as they are (no RGBA copy: the decode is the peak).
    let bitmap = if probe.format == ImageFormat::Jpeg {
        let header = markers::read_header(input)?;
        if header.is_arithmetic_dct() {
            // Arithmetic-coded: only mogr's own decoder reads it, at full size.
            crate::codecs::jpeg::decode::decode(input, &header)?
        } else {
            match crate::codecs::jpeg::decode::decode_scaled(input, &header, true) {
                Ok(bitmap) => bitmap,
                // jpeg-decoder refuses some damage the rules' decoders get past (a scan cut
                // a few bytes short, decoded as libjpeg does): `info` answers for every
                // file a rule reads, through a full decode admitted on its own estimate.
                Err(scaled) => {
                    let full = crate::budget::BASE + crate::budget::decode(input, &probe, 1);
                    probe.admit(limits, full)?;
                    crate::codecs::jpeg::decode::decode(input, &header).map_err(|_| scaled)?
                }
            }
        }
    } else {
        let first = crate::frames::FramePick::First(1);
        let mut raster = crate::decode::decode(input, &admitted, first, false)?;
        raster.frames.swap_remove(0).bitmap
    };
    let channels = bitmap.layout.channels();
    let pixels = (bitmap.data.len() / channels).max(1) as u64;
    let mut sums = [0u64; 3];
    for p in bitmap.data.chunks_exact(channels) {
        let (rgb, a) = match p.len() {
            1 => ([p[0]; 3], 255),
            3 => ([p[0], p[1], p[2]], 255),
            _ => ([p[0], p[1], p[2]], p[3]),
        };
        let a = u64::from(a);
        for (s, &c) in sums.iter_mut().zip(&rgb) {
            *s += (u64::from(c) * a + 255 * (255 - a)) / 255;
        }
    }
    let mean = sums.map(|s| ((s + pixels / 2) / pixels).min(255));
    let ave = format!("0x{:02x}{:02x}{:02x}", mean[0], mean[1], mean[2]);
    let (mut orientation, mut bit_depth, mut dpi) = (1, 8, None);
    match probe.format {
        ImageFormat::Jpeg => {
            let h = markers::read_header(input)?;
            bit_depth = h.precision;
            let exif_seg = h
                .segments
                .iter()
                .find(|s| s.kind() == markers::SegmentKind::Exif);
            orientation = exif_seg
                .and_then(|s| exif::orientation(s.payload))
                .unwrap_or(1);
            // As ImageMagick: EXIF resolution first, then a JFIF density with its unit set.
            dpi = exif_seg
                .and_then(|s| exif::dpi(s.payload))
                .or(match h.density {
                    Some(d) if d.unit == 1 && d.x > 0 && d.y > 0 => {
                        Some((u32::from(d.x), u32::from(d.y)))
                    }
                    Some(d) if d.unit == 2 && d.x > 0 && d.y > 0 => Some((
                        (f64::from(d.x) * 2.54).round() as u32,
                        (f64::from(d.y) * 2.54).round() as u32,
                    )),
                    _ => None,
                });
        }
        ImageFormat::Png => {
            bit_depth = png::bit_depth(input);
            dpi = png::dpi(input);
        }
        ImageFormat::Webp => {
            if let Some(e) = webp::exif(input) {
                orientation = exif::orientation(e).unwrap_or(1);
                dpi = exif::dpi(e);
            }
        }
        _ => {}
    }
    let (horizontal_dpi, vertical_dpi) = dpi.unwrap_or((72, 72));
    // A HEIF/AVIF image sequence is decoded as its primary image, but it reports the frames
    // its track holds, as ImageMagick does.
    let frame_count = match probe.format {
        ImageFormat::Heif | ImageFormat::Avif => {
            bmff::sequence_frames(input).map_or(probe.frames, |n| n.max(1))
        }
        _ => probe.frames,
    };
    let md5 = Md5::digest(input)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok(ImageInfo {
        format: probe.format,
        width: probe.width,
        height: probe.height,
        size: input.len() as u64,
        quality: probe.quality,
        ave,
        orientation,
        frame_count,
        bit_depth,
        horizontal_dpi,
        vertical_dpi,
        md5,
    })
}
