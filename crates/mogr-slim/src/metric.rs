//! The perceptual metric: SSIMULACRA2 (through `fast-ssim2`) against a reference prepared once.

use fast_ssim2::{PixelDescriptor, PixelSlice, Ssimulacra2Reference};
use mogr_core::Error;
use mogr_core::{Bitmap, Layout};

/// Alpha is composed over this grey before scoring, so that both colour and coverage count.
const ALPHA_BACKGROUND: u32 = 128;

/// Images up to this many pixels are scored whole; larger ones are scored on a sample of
/// full-resolution 512x512 tiles spread over them (about this many pixels), so that artifacts
/// are judged at 1:1 while the metric's memory (about 120 bytes per scored pixel, about 500 MB
/// here) and time stay bounded whatever the input's size.
pub const SCORE_PIXELS: u64 = 4_000_000;
const SCORE_TILE: u32 = 512;

/// A decoded image prepared as the reference that candidates are scored against.
pub struct Reference {
    inner: Ssimulacra2Reference,
    width: u32,
    height: u32,
    sampled: bool,
}

impl Reference {
    /// Prepares `bitmap` as a reference.
    pub fn new(bitmap: &Bitmap) -> Result<Reference, Error> {
        let pixels = u64::from(bitmap.width) * u64::from(bitmap.height);
        let sample = if pixels > SCORE_PIXELS {
            sample(bitmap)
        } else {
            None
        };
        let sampled = sample.is_some();
        let b = sample.as_ref().unwrap_or(bitmap);
        let (data, desc, channels) = scorable(b);
        let slice = PixelSlice::new(&data, b.width, b.height, b.width as usize * channels, desc)
            .map_err(metric_error)?;
        Ok(Reference {
            inner: Ssimulacra2Reference::new(&slice).map_err(metric_error)?,
            width: bitmap.width,
            height: bitmap.height,
            sampled,
        })
    }

    /// Whether images are scored on a sample of tiles rather than whole.
    pub fn sampled(&self) -> bool {
        self.sampled
    }

    /// The SSIMULACRA2 score of `candidate` against the reference: 100 is identical, 80 and
    /// above is not noticeable to an average viewer. A candidate of other dimensions scores
    /// negative infinity.
    pub fn score(&self, candidate: &Bitmap) -> Result<f64, Error> {
        if (candidate.width, candidate.height) != (self.width, self.height) {
            return Ok(f64::NEG_INFINITY);
        }
        let sample = if self.sampled {
            sample(candidate)
        } else {
            None
        };
        let candidate = sample.as_ref().unwrap_or(candidate);
        let (data, desc, channels) = scorable(candidate);
        let slice = PixelSlice::new(
            &data,
            candidate.width,
            candidate.height,
            candidate.width as usize * channels,
            desc,
        )
        .map_err(metric_error)?;
        self.inner.compare(&slice).map_err(metric_error)
    }
}

/// The tiles a large image is scored on.
fn sample(b: &Bitmap) -> Option<Bitmap> {
    let count = (SCORE_PIXELS / u64::from(SCORE_TILE * SCORE_TILE)) as u32;
    crate::proxy::mosaic(b, SCORE_TILE, count)
}

/// Borrowed pixels for grey and RGB; RGBA composed over grey into RGB.
fn scorable(b: &Bitmap) -> (std::borrow::Cow<'_, [u8]>, PixelDescriptor, usize) {
    match b.layout {
        Layout::Gray => (b.data.as_slice().into(), PixelDescriptor::GRAY8_SRGB, 1),
        Layout::Rgb => (b.data.as_slice().into(), PixelDescriptor::RGB8_SRGB, 3),
        Layout::Rgba => {
            let rgb: Vec<u8> = b
                .data
                .chunks_exact(4)
                .flat_map(|p| {
                    let a = u32::from(p[3]);
                    let over = |c: u8| {
                        ((u32::from(c) * a + ALPHA_BACKGROUND * (255 - a) + 127) / 255) as u8
                    };
                    [over(p[0]), over(p[1]), over(p[2])]
                })
                .collect();
            (rgb.into(), PixelDescriptor::RGB8_SRGB, 3)
        }
    }
}

fn metric_error(e: impl std::fmt::Display) -> Error {
    Error::Encode {
        format: mogr_core::FormatName(None),
        message: format!("SSIMULACRA2 could not score the image: {e}"),
        source: None,
    }
}

/// References for the frames of an animation: up to [`MAX_SCORED_FRAMES`] frames spread
/// evenly over it, each scored on its own; a candidate scores its worst frame.
pub struct FrameReferences {
    picks: Vec<usize>,
    frames: usize,
    references: Vec<Reference>,
}

/// Frames scored per animation.
pub const MAX_SCORED_FRAMES: usize = 16;

impl FrameReferences {
    /// Prepares references for `raster`'s frames.
    pub fn new(raster: &mogr_core::Raster) -> Result<FrameReferences, Error> {
        let n = raster.frames.len();
        let k = n.min(MAX_SCORED_FRAMES);
        let mut picks: Vec<usize> = (0..k).map(|i| i * n / k).collect();
        picks.dedup();
        let references = picks
            .iter()
            .map(|&i| Reference::new(&raster.frames[i].bitmap))
            .collect::<Result<_, _>>()?;
        Ok(FrameReferences {
            picks,
            frames: n,
            references,
        })
    }

    /// The lowest score over the scored frames; negative infinity when the frame count
    /// differs.
    pub fn score(&self, candidate: &mogr_core::Raster) -> Result<f64, Error> {
        if candidate.frames.len() != self.frames {
            return Ok(f64::NEG_INFINITY);
        }
        let mut worst = f64::INFINITY;
        for (&i, r) in self.picks.iter().zip(&self.references) {
            worst = worst.min(r.score(&candidate.frames[i].bitmap)?);
        }
        Ok(worst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise(w: u32, h: u32, seed: u32) -> Bitmap {
        let mut x = seed;
        let data = (0..w * h * 3)
            .map(|i| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                ((i % 200) as u8).wrapping_add((x >> 28) as u8)
            })
            .collect();
        Bitmap {
            width: w,
            height: h,
            layout: Layout::Rgb,
            data,
        }
    }

    #[test]
    fn large_images_are_scored_on_tiles_and_identical_images_score_100() {
        let small = noise(64, 48, 1);
        let r = Reference::new(&small).unwrap();
        assert!(!r.sampled());
        assert_eq!(r.score(&small).unwrap(), 100.0);
        let big = noise(3000, 3000, 2);
        let r = Reference::new(&big).unwrap();
        assert!(r.sampled());
        assert_eq!(r.score(&big).unwrap(), 100.0);
        assert!(r.score(&noise(3000, 3000, 3)).unwrap() < 100.0);
        assert_eq!(r.score(&small).unwrap(), f64::NEG_INFINITY);
    }
}
