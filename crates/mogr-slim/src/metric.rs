//! The perceptual metric: SSIMULACRA2 (computed by mogr in bounded memory, rows streamed
//! through each scale) against a reference image.

use mogr_core::Bitmap;

use crate::ssim2::{Picture, SECOND_ALPHA_BACKGROUND};
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
    /// Whether any pixel of the image is not opaque.
    translucent: bool,
}

/// Whether any pixel of `b` is not opaque.
fn translucent(b: &Bitmap) -> bool {
    b.layout == mogr_core::Layout::Rgba && b.data.chunks_exact(4).any(|p| p[3] != 255)
}

impl<'a> Reference<'a> {
    /// Prepares `bitmap` as a reference.
    ///
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
        Ok(Reference {
            picture,
            translucent: translucent(bitmap),
        })
    }

    /// Whether images are scored on a sample of tiles rather than whole.
    pub fn sampled(&self) -> bool {
        !self.picture.is_whole()
    }

    /// The SSIMULACRA2 score of `candidate` against the reference: 100 is identical, 80 and
    /// above is not noticeable to an average viewer. A candidate of other dimensions scores
    /// negative infinity; a malformed one ([`Bitmap::malformed`]) is an error.
    ///
    /// Where either image is not opaque, both are composed over mid grey twice, over 127 and
    /// over 128 (each truncated to 8 bits, as ImageMagick flattens them), and the lower of the
    /// two scores counts: over wide semi-transparent areas that one step of grey moved a
    /// score by up to 1.3 points.
    pub fn score(&self, candidate: &Bitmap) -> Result<f64, Error> {
        if let Some(e) = candidate.malformed() {
            return Err(metric_error(e));
        }
        let source = self.picture.bitmap();
        if (candidate.width, candidate.height) != (source.width, source.height) {
            return Ok(f64::NEG_INFINITY);
        }
        let candidate_picture = self.picture.over(candidate);
        let score = |a: &Picture, b: &Picture| {
            crate::ssim2::score(a, b).ok_or_else(|| metric_error("the images differ in size"))
        };
        let first = score(&self.picture, &candidate_picture)?;
        if !self.translucent && !translucent(candidate) {
            return Ok(first);
        }
        let second = score(
            &self
                .picture
                .clone()
                .with_background(SECOND_ALPHA_BACKGROUND),
            &candidate_picture.with_background(SECOND_ALPHA_BACKGROUND),
        )?;
        Ok(first.min(second))
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
    fn translucent_images_score_the_lower_of_two_greys() {
        // Noise under a ramp of alpha, and the same with colours and alpha nudged.
        let rgb = noise(96, 80, 5);
        let rgba = |nudge: u8| Bitmap {
            layout: Layout::Rgba,
            data: rgb
                .data
                .chunks_exact(3)
                .enumerate()
                .flat_map(|(i, p)| {
                    let a = ((i % 96) * 255 / 95) as u8;
                    let n = |v: u8| v.saturating_add(nudge * (i % 3 == 0) as u8);
                    [n(p[0]), p[1], n(p[2]), a.saturating_sub(nudge)]
                })
                .collect(),
            ..rgb.clone()
        };
        let (a, b) = (rgba(0), rgba(3));
        let over = |grey| {
            let (pa, pb) = (Picture::whole(&a), Picture::whole(&b));
            crate::ssim2::score(&pa.with_background(grey), &pb.with_background(grey)).unwrap()
        };
        let (s127, s128) = (over(127), over(128));
        assert_ne!(s127, s128);
        let got = Reference::new(&a).unwrap().score(&b).unwrap();
        assert_eq!(got, s127.min(s128));
        // Opaque images are scored once, over nothing.
        let opaque = |b: &Bitmap| Bitmap {
            data: b
                .data
                .chunks_exact(4)
                .flat_map(|p| [p[0], p[1], p[2], 255])
                .collect(),
            ..b.clone()
        };
        let (oa, ob) = (opaque(&a), opaque(&b));
        let once = crate::ssim2::score(&Picture::whole(&oa), &Picture::whole(&ob)).unwrap();
        assert_eq!(Reference::new(&oa).unwrap().score(&ob).unwrap(), once);
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
