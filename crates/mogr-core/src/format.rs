//! Image formats, recognised from their first bytes.

/// A container format mogr recognises.
///
/// ```
/// use mogr_core::ImageFormat;
/// let f = ImageFormat::sniff(b"\x89PNG\r\n\x1a\n....").unwrap();
/// assert_eq!((f, f.name(), f.mime_type()), (ImageFormat::Png, "png", "image/png"));
/// assert!(f.can_decode() && f.can_encode());
/// // HEIF and AVIF: only with the `heif` feature and libheif's plugins at run time.
/// let heif = ImageFormat::Heif;
/// assert_eq!(heif.feature(), Some("heif"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ImageFormat {
    /// JPEG (including MPO, whose first image is a JPEG).
    Jpeg,
    /// PNG.
    Png,
    /// GIF.
    Gif,
    /// WebP.
    Webp,
    /// BMP.
    Bmp,
    /// HEIF/HEIC.
    Heif,
    /// AVIF.
    Avif,
    /// Not an image: the JSON `ImageInfo` an `imageInfo` stage returns. Never sniffed.
    Json,
}

impl ImageFormat {
    /// The lowercase name used in outputs and JSON: `jpg png gif webp bmp heif avif`.
    pub fn name(self) -> &'static str {
        match self {
            ImageFormat::Jpeg => "jpg",
            ImageFormat::Png => "png",
            ImageFormat::Gif => "gif",
            ImageFormat::Webp => "webp",
            ImageFormat::Bmp => "bmp",
            ImageFormat::Heif => "heif",
            ImageFormat::Avif => "avif",
            ImageFormat::Json => "json",
        }
    }

    /// The media type for `Content-Type`: `image/jpeg`, `image/png`, `image/gif`,
    /// `image/webp`, `image/bmp`, `image/heic` (mogr's HEIF output is HEVC-coded),
    /// `image/avif`, and `application/json` for an `imageInfo` result.
    ///
    /// ```
    /// assert_eq!(mogr_core::ImageFormat::Webp.mime_type(), "image/webp");
    /// ```
    pub fn mime_type(self) -> &'static str {
        match self {
            ImageFormat::Jpeg => "image/jpeg",
            ImageFormat::Png => "image/png",
            ImageFormat::Gif => "image/gif",
            ImageFormat::Webp => "image/webp",
            ImageFormat::Bmp => "image/bmp",
            ImageFormat::Heif => "image/heic",
            ImageFormat::Avif => "image/avif",
            ImageFormat::Json => "application/json",
        }
    }

    /// The cargo feature of mogr that a format's codec needs (`heif` for HEIF and AVIF),
    /// `None` for the formats every build has.
    pub fn feature(self) -> Option<&'static str> {
        matches!(self, ImageFormat::Heif | ImageFormat::Avif).then_some("heif")
    }

    /// Whether this build can decode the format: always for JPEG, PNG, GIF, WebP and BMP;
    /// HEIF and AVIF when the `heif` feature is on and the libheif loaded at run time has a
    /// decoder plugin for them; never for `Json`.
    ///
    /// ```
    /// assert!(mogr_core::ImageFormat::Png.can_decode());
    /// assert!(!mogr_core::ImageFormat::Json.can_decode());
    /// ```
    pub fn can_decode(self) -> bool {
        match self {
            ImageFormat::Json => false,
            #[cfg(feature = "heif")]
            ImageFormat::Heif | ImageFormat::Avif => crate::codecs::heif::has_decoder(self),
            #[cfg(not(feature = "heif"))]
            ImageFormat::Heif | ImageFormat::Avif => false,
            _ => true,
        }
    }

    /// Whether this build can encode the format, on the same terms as
    /// [`ImageFormat::can_decode`] (HEIF and AVIF need libheif's x265 and aom plugins).
    pub fn can_encode(self) -> bool {
        match self {
            ImageFormat::Json => false,
            #[cfg(feature = "heif")]
            ImageFormat::Heif | ImageFormat::Avif => crate::codecs::heif::has_encoder(self),
            #[cfg(not(feature = "heif"))]
            ImageFormat::Heif | ImageFormat::Avif => false,
            _ => true,
        }
    }

    /// The error for a format whose codec this build leaves out (`None` when it has it):
    /// [`Error::NotCompiled`](crate::Error::NotCompiled), naming the cargo feature.
    pub(crate) fn not_compiled(self) -> Option<crate::Error> {
        let feature = self.feature()?;
        if cfg!(feature = "heif") {
            return None;
        }
        Some(crate::Error::NotCompiled {
            format: self,
            feature,
        })
    }

    /// Recognises a format from the first bytes of a file (`None` when unknown).
    pub fn sniff(bytes: &[u8]) -> Option<ImageFormat> {
        if bytes.starts_with(&[0xFF, 0xD8]) {
            return Some(ImageFormat::Jpeg);
        }
        if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            return Some(ImageFormat::Png);
        }
        if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
            return Some(ImageFormat::Gif);
        }
        if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
            return Some(ImageFormat::Webp);
        }
        if bytes.starts_with(b"BM") && bytes.len() >= 26 {
            return Some(ImageFormat::Bmp);
        }
        if bytes.len() >= 12 && &bytes[4..8] == b"ftyp" {
            let box_len = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
            let box_end = box_len.clamp(12, bytes.len());
            // Compatible brands follow the major brand and the minor version.
            let compatible = bytes.get(16..box_end).unwrap_or(&[]);
            if compatible
                .chunks_exact(4)
                .any(|b| b == b"avif" || b == b"avis")
            {
                return Some(ImageFormat::Avif);
            }
            return match &bytes[8..12] {
                b"avif" | b"avis" => Some(ImageFormat::Avif),
                b"heic" | b"heix" | b"heim" | b"heis" | b"hevc" | b"hevx" | b"mif1" | b"msf1" => {
                    Some(ImageFormat::Heif)
                }
                _ => None,
            };
        }
        None
    }
}

impl std::fmt::Display for ImageFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_build_reads_and_writes_the_core_formats() {
        for f in [
            ImageFormat::Jpeg,
            ImageFormat::Png,
            ImageFormat::Gif,
            ImageFormat::Webp,
            ImageFormat::Bmp,
        ] {
            assert!(f.can_decode() && f.can_encode(), "{f}");
            assert!(f.not_compiled().is_none(), "{f}");
            assert!(f.mime_type().starts_with("image/"), "{f}");
        }
        assert!(!ImageFormat::Json.can_decode() && !ImageFormat::Json.can_encode());
    }

    #[test]
    fn heif_and_avif_follow_the_heif_feature() {
        for f in [ImageFormat::Heif, ImageFormat::Avif] {
            if cfg!(feature = "heif") {
                assert!(f.not_compiled().is_none());
                continue;
            }
            assert!(!f.can_decode() && !f.can_encode(), "{f}");
            let e = f.not_compiled().unwrap();
            let name = f.name().to_ascii_uppercase();
            assert_eq!(
                e.to_string(),
                format!("{name} support is not compiled in (feature `heif` of mogr)")
            );
            assert!(e.is_ignorable());
        }
    }
}
