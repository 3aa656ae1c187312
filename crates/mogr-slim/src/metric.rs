//! The perceptual metric: SSIMULACRA2 (computed by mogr in bounded memory, rows streamed
//! through each scale) against a reference image.

use mogr_core::Bitmap;

use crate::ssim2::Picture;
use mogr_core::Error;

/// Images up to this many pixels are scored whole; larger ones are scored on a sample of
/// full-resolution 512x512 tiles spread over them (about this many pixels, read in place),
/// so that artifacts are judged at 1:1 while the time a score takes stays bounded whatever
/// the input's size.
/// The metric's memory does not grow with the image's height: a few rows per scale
/// ([`BYTES_PER_WIDTH`] per pixel of width at most).
pub const SCORE_PIXELS: u64 = 4_000_000;
const SCORE_TILE: u32 = 512;
/// Bytes a score holds at most per pixel of the scored width (all scales' rows together, on
/// both threads a score runs on).
pub const BYTES_PER_WIDTH: u64 = 2 * crate::ssim2::BYTES_PER_WIDTH;

/// A decoded image as the reference that candidates are scored against. It borrows the image
/// (over [`SCORE_PIXELS`], the metric reads its sample of tiles in place).
pub struct Reference<'a> {
    /// The image, or its tiles; candidates are cut the same way.
    picture: Picture<'a>,
}

impl<'a> Reference<'a> {
    /// Prepares `bitmap` as a reference.
    /// A bitmap that disagrees with itself ([`Bitmap::malformed`]) is an error.
    pub fn new(bitmap: &'a Bitmap) -> Result<Reference<'a>, Error> {
        if let Some(e) = bitmap.malformed() {
            return Err(metric_error(e));
        }
        let pixels = u64::from(bitmap.width) * u64::from(bitmap.height);
        let count = (SCORE_PIXELS / u64::from(SCORE_TILE * SCORE_TILE)) as u32;
        let grid = (pixels > SCORE_PIXELS)
            .then(|| crate::proxy::grid(bitmap.width, bitmap.height, SCORE_TILE, count))
            .flatten();
        let picture = match grid {
            Some((xs, ys)) => Picture::tiles(bitmap, SCORE_TILE, xs, ys),
            None => Picture::whole(bitmap),
        };
        Ok(Reference { picture })
    }

    /// Whether images are scored on a sample of tiles rather than whole.
    pub fn sampled(&self) -> bool {
        !self.picture.is_whole()
    }

    /// The SSIMULACRA2 score of `candidate` against the reference: 100 is identical, 80 and
    /// above is not noticeable to an average viewer. A candidate of other dimensions scores
    /// negative infinity; a malformed one ([`Bitmap::malformed`]) is an error.
    pub fn score(&self, candidate: &Bitmap) -> Result<f64, Error> {
        if let Some(e) = candidate.malformed() {
            return Err(metric_error(e));
        }
        let source = self.picture.bitmap();
        if (candidate.width, candidate.height) != (source.width, source.height) {
            return Ok(f64::NEG_INFINITY);
        }
        crate::ssim2::score(&self.picture, &self.picture.over(candidate))
            .ok_or_else(|| metric_error("the images differ in size"))
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
pub struct FrameReferences<'a> {
    picks: Vec<usize>,
    frames: usize,
    references: Vec<Reference<'a>>,
}

/// Frames scored per animation.
pub const MAX_SCORED_FRAMES: usize = 16;

impl<'a> FrameReferences<'a> {
    /// Prepares references for `raster`'s frames.
    ///
    /// A raster with no frames, or with frames that disagree with their size
    /// ([`mogr_core::Raster::malformed`]), is an error.
    pub fn new(raster: &'a mogr_core::Raster) -> Result<FrameReferences<'a>, Error> {
        if let Some(e) = raster.malformed() {
            return Err(metric_error(e));
        }
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
    use mogr_core::Layout;

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
    fn bitmaps_that_disagree_with_their_size_are_errors_not_panics() {
        let good = noise(32, 32, 1);
        let mut short = good.clone();
        short.data.truncate(100);
        let mut long = good.clone();
        long.data.push(0);
        let empty = Bitmap {
            width: 0,
            height: 0,
            layout: Layout::Rgb,
            data: Vec::new(),
        };
        for bad in [&short, &long, &empty] {
            let e = Reference::new(bad).err().expect("refused as a reference");
            assert!(e.to_string().contains("bitmap"), "{e}");
            let e = Reference::new(&good).unwrap().score(bad).unwrap_err();
            assert!(e.to_string().contains("bitmap"), "{e}");
        }
        assert_eq!(Reference::new(&good).unwrap().score(&good).unwrap(), 100.0);
        // An animation with no frames, and a proxy of a malformed bitmap.
        let none = mogr_core::Raster {
            frames: Vec::new(),
            loop_count: Some(0),
            icc: None,
        };
        let e = FrameReferences::new(&none).err().expect("refused");
        assert!(e.to_string().contains("no frames"), "{e}");
        let mut big = noise(600, 600, 4);
        assert!(crate::proxy::mosaic(&big, 128, 4).is_some());
        assert!(crate::proxy::mosaic(&big, 0, 4).is_none());
        big.data.pop();
        assert!(crate::proxy::mosaic(&big, 128, 4).is_none());
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
        let other = noise(3000, 3000, 3);
        let score = r.score(&other).unwrap();
        assert!(score < 100.0);
        // The tiles read in place score as the same tiles copied out.
        let count = (SCORE_PIXELS / u64::from(SCORE_TILE * SCORE_TILE)) as u32;
        let (a, b) = [&big, &other]
            .map(|x| crate::proxy::mosaic(x, SCORE_TILE, count).unwrap())
            .into();
        let copied = crate::ssim2::score(&Picture::whole(&a), &Picture::whole(&b)).unwrap();
        assert_eq!(score, copied);
        assert_eq!(r.score(&small).unwrap(), f64::NEG_INFINITY);
    }
}
