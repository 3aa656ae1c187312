//! Image formats, recognised from their first bytes.

/// A container format mogr recognises.
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
