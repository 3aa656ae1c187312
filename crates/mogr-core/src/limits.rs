//! Resource limits, checked from headers before any large allocation.

use crate::error::{Error, FormatName, LimitKind};
use crate::format::ImageFormat;

/// Limits on untrusted input; the defaults are the cloud service's own.
///
/// Build from [`Limits::default`] (or [`Limits::none`], for trusted input) with the `with_`
/// methods; limits may be added in any release.
///
/// ```
/// let limits = mogr_core::Limits::default().with_max_side(8000).with_max_frames(100);
/// assert_eq!((limits.max_side, limits.max_pixels), (8000, 250_000_000));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Largest input in bytes. Default: 32 MiB (33,554,432).
    pub max_input_bytes: u64,
    /// Largest width or height in pixels. Default: 30,000.
    pub max_side: u32,
    /// Largest width x height x frames. Default: 250,000,000 (250 MP).
    pub max_pixels: u64,
    /// Most frames in an animation. Default: 300.
    pub max_frames: u32,
    /// Most scans in a progressive JPEG (each one is a pass over the whole image; encoders
    /// write about 10, a work bomb hundreds). Default: 100.
    pub max_scans: u32,
    /// Most bytes one stage may hold at its peak, as estimated from the header before
    /// decoding (see [`crate::budget`]): a per-request memory budget. Default: no budget
    /// (`u64::MAX`); the pixel limits above still bound every request.
    pub max_memory_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_input_bytes: 32 * 1024 * 1024,
            max_side: 30_000,
            max_pixels: 250_000_000,
            max_frames: 300,
            max_scans: 100,
            max_memory_bytes: u64::MAX,
        }
    }
}

impl Limits {
    /// Limits that accept anything a decoder can represent (for trusted input only).
    pub fn none() -> Limits {
        Limits {
            max_input_bytes: u64::MAX,
            max_side: u32::MAX,
            max_pixels: u64::MAX,
            max_frames: u32::MAX,
            max_scans: u32::MAX,
            max_memory_bytes: u64::MAX,
        }
    }

    /// With the largest input size in bytes.
    #[must_use]
    pub fn with_max_input_bytes(mut self, bytes: u64) -> Limits {
        self.max_input_bytes = bytes;
        self
    }

    /// With the largest width or height.
    #[must_use]
    pub fn with_max_side(mut self, pixels: u32) -> Limits {
        self.max_side = pixels;
        self
    }

    /// With the largest width x height x frames.
    #[must_use]
    pub fn with_max_pixels(mut self, pixels: u64) -> Limits {
        self.max_pixels = pixels;
        self
    }

    /// With the most frames of an animation.
    #[must_use]
    pub fn with_max_frames(mut self, frames: u32) -> Limits {
        self.max_frames = frames;
        self
    }

    /// With the most scans of a progressive JPEG.
    #[must_use]
    pub fn with_max_scans(mut self, scans: u32) -> Limits {
        self.max_scans = scans;
        self
    }

    /// With a per-stage memory budget in bytes (see [`Limits::max_memory_bytes`]).
    #[must_use]
    pub fn with_max_memory_bytes(mut self, bytes: u64) -> Limits {
        self.max_memory_bytes = bytes;
        self
    }

    /// Checks the input size, before anything is parsed.
    pub(crate) fn check_input_size(&self, len: usize) -> Result<(), Error> {
        let found = len as u64;
        if found > self.max_input_bytes {
            return Err(Error::Limits {
                format: FormatName(None),
                kind: LimitKind::InputBytes {
                    found,
                    limit: self.max_input_bytes,
                },
            });
        }
        Ok(())
    }

    /// Checks the number of scans of a progressive JPEG.
    pub(crate) fn check_scans(&self, scans: u32) -> Result<(), Error> {
        if scans > self.max_scans {
            return Err(Error::Limits {
                format: FormatName(Some(ImageFormat::Jpeg)),
                kind: LimitKind::Scans {
                    found: scans.into(),
                    limit: self.max_scans.into(),
                },
            });
        }
        Ok(())
    }

    /// Checks a stage's memory estimate (bytes, from [`crate::budget`]) against
    /// [`Limits::max_memory_bytes`].
    pub(crate) fn check_memory(&self, format: ImageFormat, estimate: u64) -> Result<(), Error> {
        if estimate > self.max_memory_bytes {
            return Err(Error::Limits {
                format: FormatName(Some(format)),
                kind: LimitKind::Memory {
                    found: estimate,
                    limit: self.max_memory_bytes,
                },
            });
        }
        Ok(())
    }

    /// Checks dimensions and frame count read from a header.
    pub(crate) fn check_dimensions(
        &self,
        format: ImageFormat,
        width: u32,
        height: u32,
        frames: u32,
    ) -> Result<(), Error> {
        let fail = |kind| {
            Err(Error::Limits {
                format: FormatName(Some(format)),
                kind,
            })
        };
        let side = width.max(height);
        if side > self.max_side {
            return fail(LimitKind::Side {
                found: side.into(),
                limit: self.max_side.into(),
            });
        }
        if frames > self.max_frames {
            return fail(LimitKind::Frames {
                found: frames.into(),
                limit: self.max_frames.into(),
            });
        }
        let pixels = u64::from(width) * u64::from(height) * u64::from(frames.max(1));
        if pixels > self.max_pixels {
            return fail(LimitKind::Pixels {
                found: pixels,
                limit: self.max_pixels,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_defaults_are_the_real_ones() {
        let d = Limits::default();
        assert_eq!(d.max_input_bytes, 33_554_432);
        assert_eq!(d.max_side, 30_000);
        assert_eq!(d.max_pixels, 250_000_000);
        assert_eq!(d.max_frames, 300);
        assert_eq!(d.max_scans, 100);
        assert_eq!(d.max_memory_bytes, u64::MAX);
        let built = Limits::none()
            .with_max_input_bytes(33_554_432)
            .with_max_side(30_000)
            .with_max_pixels(250_000_000)
            .with_max_frames(300)
            .with_max_scans(100);
        assert_eq!(built, d, "every limit has a builder");
    }
}
