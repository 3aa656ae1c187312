//! JPEG: a mozjpeg-class encoder (trellis quantization, tuned tables, progressive scans,
//! optimized Huffman tables) searched for the lowest quality that still meets the threshold.

use mogr_core::internals::entropy_decode::{self, Coefficients};
use mogr_core::{Admitted, Bitmap, FramePick, JpegMetadata, Layout, Options};
use mogr_core::{Error, FormatName, ImageFormat, Stop};
use mozjpeg_rs::{Encoder, Preset, QuantTableIdx, Subsampling};

use crate::metric::Reference;
use crate::pace::Pace;
use crate::proxy;
use crate::search::{Plan, Point, Search};
use crate::Found;

/// Lowest and highest quality searched.
const Q_RANGE: (f32, f32) = (20.0, 98.0);
/// Where the search starts, and the expected score points per quality point.
const Q_START: f32 = 75.0;
const SLOPE: f64 = 0.7;

/// Base tables: tuned for MS-SSIM, they give the fewest bytes at a given SSIMULACRA2 on
/// photographs among mozjpeg's sets (measured on the corpus).
const TABLES: QuantTableIdx = QuantTableIdx::MssimTuned;

/// A base table scaled by libjpeg's quality formula, with a fractional quality so that the
/// search can land between integer qualities.
fn scaled(base: &[u16; 64], quality: f32) -> [u16; 64] {
    let scale = mozjpeg_rs::quant::quality_to_scale_factor_f32(quality);
    std::array::from_fn(|i| {
        (f32::from(base[i]) * scale / 100.0)
            .round()
            .clamp(1.0, 255.0) as u16
    })
}

/// How one candidate is written.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    /// Fractional quality on the tuned tables.
    pub quality: f32,
    /// Progressive scans.
    pub progressive: bool,
    /// Also search the progressive scan split (slower; a few bytes in ten thousand smaller).
    pub optimize_scans: bool,
    /// Trellis-quantize the DC coefficients too (up to [`DC_TRELLIS_MAX_PIXELS`]).
    pub dc_trellis: bool,
    /// Chroma subsampling (colour images).
    pub subsampling: Subsampling,
}

/// Images up to this many pixels are encoded with DC trellis quantization as well.
const DC_TRELLIS_MAX_PIXELS: u64 = 4_000_000;

/// Encodes `bitmap` (grey or RGB; alpha goes over white) at `settings`.
pub(crate) fn encode(
    bitmap: &Bitmap,
    settings: Settings,
    meta: &JpegMetadata<'_>,
) -> Result<Vec<u8>, Error> {
    let bitmap = &opaque(bitmap);
    let trellis_dc = settings.dc_trellis && pixels(bitmap) <= DC_TRELLIS_MAX_PIXELS;
    let out = encode_rows(
        bitmap,
        0..bitmap.height,
        settings,
        trellis_dc,
        meta.density(),
        true,
    )?;
    Ok(meta.splice(out))
}

/// `bitmap` without alpha (composed over white), borrowed when it has none.
fn opaque(bitmap: &Bitmap) -> std::borrow::Cow<'_, Bitmap> {
    if bitmap.layout == Layout::Rgba {
        std::borrow::Cow::Owned(bitmap.clone().without_alpha())
    } else {
        std::borrow::Cow::Borrowed(bitmap)
    }
}

fn pixels(bitmap: &Bitmap) -> u64 {
    u64::from(bitmap.width) * u64::from(bitmap.height)
}

/// Encodes `rows` of `bitmap` (grey or RGB) at `settings` as a JPEG of their own, DC trellis
/// as `trellis_dc` says. A file that is `kept` gets the image's optimal Huffman tables. Any
/// other is a search's encode, only ever read back for its coefficients (a passing one is
/// rewritten with optimal tables by [`Kept::into_bytes`]): it is coded in one pass
/// with the standard tables, which leaves the coefficients as they are (trellis
/// quantization rates blocks against the standard tables either way) and spares the pass
/// that stores every block and counts symbols (DC trellis needs every block stored, so it
/// keeps that pass).
fn encode_rows(
    bitmap: &Bitmap,
    rows: std::ops::Range<u32>,
    settings: Settings,
    trellis_dc: bool,
    density: Option<mogr_core::Density>,
    kept: bool,
) -> Result<Vec<u8>, Error> {
    let preset = match (settings.progressive, settings.optimize_scans) {
        (false, _) => Preset::BaselineBalanced,
        (true, false) => Preset::ProgressiveBalanced,
        (true, true) => Preset::ProgressiveSmallest,
    };
    let luma = scaled(
        mozjpeg_rs::quant::get_luminance_quant_table(TABLES),
        settings.quality,
    );
    let chroma = scaled(
        mozjpeg_rs::quant::get_chrominance_quant_table(TABLES),
        settings.quality,
    );
    let density = density.filter(|d| d.x > 0 && d.y > 0).map_or(
        mozjpeg_rs::PixelDensity {
            unit: mozjpeg_rs::DensityUnit::None,
            x: 1,
            y: 1,
        },
        |d| mozjpeg_rs::PixelDensity {
            unit: match d.unit {
                1 => mozjpeg_rs::DensityUnit::DotsPerInch,
                2 => mozjpeg_rs::DensityUnit::DotsPerCm,
                _ => mozjpeg_rs::DensityUnit::None,
            },
            x: d.x,
            y: d.y,
        },
    );
    // DC trellis keeps every block's DCT in i32 for the whole image (6 bytes per pixel at
    // 4:2:0) for files 0.03-0.09% smaller (the 3.4 MP flower at quality 60-85), and takes
    // about a tenth of an encode's time: worth it only while that memory is small, and only
    // where every byte counts (`yjpeg`).
    let trellis = mozjpeg_rs::TrellisConfig {
        dc_enabled: trellis_dc,
        ..mozjpeg_rs::TrellisConfig::default()
    };
    // Quality 50 applies the tables as given.
    let enc = Encoder::new(preset)
        .trellis(trellis)
        .quality(50)
        .subsampling(settings.subsampling)
        .custom_luma_qtable(luma)
        .custom_chroma_qtable(chroma)
        .optimize_huffman(kept || trellis_dc || settings.progressive)
        .pixel_density(density);
    let fail = |e: mozjpeg_rs::Error| Error::Encode {
        format: FormatName(Some(ImageFormat::Jpeg)),
        message: format!("mozjpeg-rs: {e}"),
        source: None,
    };
    let row = bitmap.width as usize * bitmap.layout.channels();
    let data = &bitmap.data[rows.start as usize * row..rows.end as usize * row];
    let height = rows.end - rows.start;
    match bitmap.layout {
        Layout::Gray => enc.encode_gray(data, bitmap.width, height),
        _ => enc.encode_rgb(data, bitmap.width, height),
    }
    .map_err(fail)
}

/// One encode of a search: the files of its bands (mozjpeg-rs's), and their pixels as
/// libjpeg decodes them. The files are kept rather than the joined coefficients (a few
/// hundred KB against about 10 MB at 3.4 MP while the candidate is scored); the one a
/// search ends with decodes them again in [`Kept::into_bytes`].
pub(crate) struct Candidate {
    bands: Vec<Vec<u8>>,
    /// The decoded candidate.
    pub pixels: Bitmap,
}

/// Images at least this tall are encoded as two bands of rows on two threads.
const TWO_BANDS_MIN_HEIGHT: u32 = 64;

/// Encodes `bitmap` at `settings` (baseline) for the search. Where there are two cores and
/// the image is tall enough, its top and bottom halves (cut on the 16-row MCU grid) are
/// encoded on two threads and their coefficients joined: mozjpeg-rs quantizes each block by
/// itself (trellis against fixed tables; DC trellis chains run along one row of blocks), so
/// the halves hold exactly the whole image's coefficients (`halves_have_the_whole_images_coefficients`).
pub(crate) fn candidate(bitmap: &Bitmap, settings: Settings) -> Result<Candidate, Error> {
    candidate_in_bands(bitmap, settings, two_cores())
}

/// Whether there are at least two cores to encode on.
fn two_cores() -> bool {
    std::thread::available_parallelism().map_or(1, |n| n.get()) > 1
}

/// Whether an image `height` rows tall is encoded in two bands, given whether there are
/// `two` cores (each band at least 32 rows, cut on the 16-row grid).
fn in_two_bands(height: u32, two: bool) -> bool {
    two && height >= TWO_BANDS_MIN_HEIGHT
}

/// [`candidate`], in two bands when `two` and the image is tall enough.
fn candidate_in_bands(bitmap: &Bitmap, settings: Settings, two: bool) -> Result<Candidate, Error> {
    let bitmap = &opaque(bitmap);
    let settings = Settings {
        progressive: false,
        ..settings
    };
    let trellis_dc = settings.dc_trellis && pixels(bitmap) <= DC_TRELLIS_MAX_PIXELS;
    let code = |rows| encode_rows(bitmap, rows, settings, trellis_dc, None, false);
    let h = bitmap.height;
    let cut = h / 2 / 16 * 16;
    let bands = if in_two_bands(h, two) {
        std::thread::scope(|scope| {
            let bottom = scope.spawn(|| code(cut..h));
            let top = code(0..cut);
            let bottom = bottom
                .join()
                .unwrap_or_else(|e| std::panic::resume_unwind(e));
            Ok::<_, Error>(vec![top?, bottom?])
        })?
    } else {
        vec![code(0..h)?]
    };
    let pixels = mogr_core::internals::jpeg_decode::from_coefficients(joined(&bands)?)?;
    Ok(Candidate { bands, pixels })
}

/// The coefficients of the whole image from its bands' files (each band's decoded on a
/// thread of its own).
fn joined(bands: &[Vec<u8>]) -> Result<Coefficients, Error> {
    let parts = match bands {
        [top, rest @ ..] if !rest.is_empty() => std::thread::scope(|scope| {
            let others: Vec<_> = rest
                .iter()
                .map(|b| scope.spawn(|| entropy_decode::decode_coefficients(b)))
                .collect();
            let mut parts = vec![entropy_decode::decode_coefficients(top)];
            for h in others {
                parts.push(h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)));
            }
            parts
        }),
        _ => bands
            .iter()
            .map(|b| entropy_decode::decode_coefficients(b))
            .collect(),
    };
    entropy_decode::stack(parts.into_iter().collect::<Result<Vec<_>, _>>()?)
}

/// Images up to this many pixels are also written as one interleaved scan, the smaller file
/// kept.
const INTERLEAVED_TOO_MAX_PIXELS: u64 = 1_000_000;

/// A candidate kept by the search: its bands' files and its size, its pixels dropped. It
/// is written as one file only if it is still the best when the search ends (a search often
/// passes at one quality, then at a lower one).
pub(crate) struct Kept {
    bands: Vec<Vec<u8>>,
    pixels: u64,
}

impl Candidate {
    /// The candidate without its pixels.
    pub(crate) fn kept(self) -> Kept {
        Kept {
            pixels: pixels(&self.pixels),
            bands: self.bands,
        }
    }
}

impl Kept {
    /// The candidate as one file: its coefficients with optimal Huffman tables, a scan per
    /// component, and `meta`'s density and segments. The pixels were dropped first: the
    /// coefficients are decoded again from the bands, and at 24 MP the pixels (72 MB) and
    /// the joined coefficients (72 MB, more while the bands are joined) would otherwise be
    /// held at once.
    pub(crate) fn into_bytes(self, meta: &JpegMetadata<'_>) -> Result<Vec<u8>, Error> {
        let Kept { bands, pixels } = self;
        // Small images: one interleaved scan may be smaller (fewer headers and tables).
        let interleaved_too = pixels <= INTERLEAVED_TOO_MAX_PIXELS;
        let settings = mogr_core::internals::jpeg_encode::JpegSettings {
            quality: 0,
            progressive: false,
            density: meta.density(),
            segments: Vec::new(),
        };
        let coefficients = joined(&bands)?;
        drop(bands);
        let write = |per_component| {
            mogr_core::internals::jpeg_encode::write_coefficients(
                &coefficients,
                &settings,
                per_component,
            )
        };
        let mut out = write(true)?;
        if interleaved_too {
            let interleaved = write(false)?;
            if interleaved.len() < out.len() {
                out = interleaved;
            }
        }
        Ok(meta.splice(out))
    }
}

/// Decodes one of our own candidates for scoring.
pub(crate) fn decode_candidate(bytes: &[u8]) -> Result<Bitmap, Error> {
    first_bitmap(crate::decode_candidate(bytes)?)
}

fn first_bitmap(raster: mogr_core::Raster) -> Result<Bitmap, Error> {
    raster
        .frames
        .into_iter()
        .next()
        .map(|f| f.bitmap)
        .ok_or_else(|| Error::Encode {
            format: FormatName(Some(ImageFormat::Jpeg)),
            message: "no frame decoded".into(),
            source: None,
        })
}

/// A JPEG ready to be searched: its pixels as stored (orientation untouched, since the
/// EXIF block travels with the output), the metadata to keep, the reference.
pub(crate) struct Source<'a> {
    pub bitmap: Bitmap,
    pub meta: JpegMetadata<'a>,
}

impl<'a> Source<'a> {
    /// Decodes `input`; an error here is the input's fault.
    pub fn new(
        input: &'a [u8],
        admitted: &Admitted,
        options: &Options,
    ) -> Result<Source<'a>, Error> {
        let raster = mogr_core::decode(input, admitted, FramePick::First(1), false)?;
        Ok(Source {
            bitmap: first_bitmap(raster)?,
            meta: JpegMetadata::read(input, options.metadata)?,
        })
    }
}

/// Searches the lowest quality whose full-size encoding scores at least `target` against
/// the source's reference (`reference`, or built here alongside the tile search); settles on
/// a proxy (tiles of the image) first when the image is large, so that at most
/// [`crate::MAX_FULL_EVALS`] full-size encodes are scored after at most
/// [`crate::MAX_PROXY_EVALS`] tile encodes; smaller images get up to their sum at full size.
/// Chroma is 4:2:0 unless the first encode shows that 4:2:0 costs the image too much of its
/// look (saturated fine detail), then 4:4:4. One more encode writes the winner as asked.
pub(crate) fn search(
    source: &Source<'_>,
    reference: Option<&Reference>,
    target: f64,
    scans: Scans,
    precision: Precision,
    stop: &Stop,
) -> Result<Found, Error> {
    let tiles = proxy::tiles(&source.bitmap);
    let mut encodes = 0;
    // The tile search (when there are tiles) runs while the full reference is prepared.
    let (tile_result, built) = std::thread::scope(|scope| {
        let built = reference
            .is_none()
            .then(|| scope.spawn(|| Reference::new(&source.bitmap)));
        let tile_result = tiles.as_ref().map(|tiles| -> Result<_, Error> {
            let tile_ref = Reference::new(tiles)?;
            let subsampling =
                choose_subsampling(tiles, &tile_ref, target, precision, &mut encodes)?;
            let plan = Plan {
                lo: Q_RANGE.0,
                hi: Q_RANGE.1,
                start: Q_START,
                slope: SLOPE,
                x_tolerance: 0.5,
                max_evals: crate::MAX_PROXY_EVALS,
            };
            let mut s = Search::new(plan, target);
            s.record(Q_START, subsampling.1);
            while let Some(q) = s.next() {
                stop.check()?;
                let c = candidate(tiles, search_settings(q, subsampling.0, precision))?;
                encodes += 1;
                let score = tile_ref.score(&c.pixels)?;
                s.record(q, score);
            }
            Ok(TileFit {
                points: s.points().to_vec(),
                best: s.best().map(|p| p.x),
                slope: s.slope(),
                subsampling: subsampling.0,
            })
        });
        let built = built.map(|h| h.join().unwrap_or_else(|_| Err(panicked())));
        (tile_result, built)
    });
    let built = built.transpose()?;
    let reference = reference.or(built.as_ref()).ok_or_else(panicked)?;
    let (x_tolerance, score_tolerance, extra) = match precision {
        Precision::Fast => (1.0, 0.4, 0),
        Precision::Fine => (0.4, 0.15, 2),
    };
    let full = Full {
        source,
        reference,
        target,
        scans,
        stop,
        pace: Pace::default(),
        x_tolerance,
        score_tolerance,
        precision,
    };
    let mut found = match tile_result {
        Some(fit) => full.calibrated(fit?, crate::MAX_FULL_EVALS + extra)?,
        None => {
            let (sub, score) =
                choose_subsampling(&source.bitmap, reference, target, precision, &mut encodes)?;
            full.direct(
                sub,
                score,
                crate::MAX_FULL_EVALS + crate::MAX_PROXY_EVALS + extra,
            )?
        }
    };
    found.encodes += encodes;
    Ok(found)
}

/// What the tile search learnt: its points, the slope, the subsampling.
struct TileFit {
    points: Vec<Point>,
    best: Option<f32>,
    slope: f64,
    subsampling: Subsampling,
}

/// The full-size part of a search.
struct Full<'s, 'a> {
    source: &'s Source<'a>,
    reference: &'s Reference<'s>,
    target: f64,
    scans: Scans,
    stop: &'s Stop,
    /// Full-size encodes and scores: one that would end past the deadline is not started.
    pace: Pace,
    x_tolerance: f32,
    score_tolerance: f64,
    precision: Precision,
}

impl Full<'_, '_> {
    /// Encodes at `q`: baseline (the search's own encodes, which are fastest and have the
    /// same coefficients), or progressive with the scan split searched.
    fn encode(
        &self,
        q: f32,
        subsampling: Subsampling,
        progressive: bool,
    ) -> Result<Vec<u8>, Error> {
        let settings = Settings {
            progressive,
            optimize_scans: progressive && self.precision == Precision::Fine,
            ..search_settings(q, subsampling, self.precision)
        };
        encode(&self.source.bitmap, settings, &self.source.meta)
    }

    /// Encodes baseline and scores.
    fn evaluate(&self, q: f32, sub: Subsampling) -> Result<(Candidate, f64), Error> {
        self.pace.step(self.stop, || {
            let c = candidate(&self.source.bitmap, search_settings(q, sub, self.precision))?;
            let score = self.reference.score(&c.pixels)?;
            Ok((c, score))
        })
    }

    /// Keeps `c` as the best so far when it passes at the lowest quality yet (its pixels
    /// dropped; written as one file when the search ends).
    fn keep_lowest(&self, best: &mut Option<(f32, f64, Kept)>, q: f32, score: f64, c: Candidate) {
        if score >= self.target && best.as_ref().is_none_or(|b| q < b.0) {
            *best = Some((q, score, c.kept()));
        }
    }

    /// After a tile search: one full-size encode at the tiles' answer measures how the whole
    /// image scores against its tiles; the tiles' curve, calibrated by that, predicts the
    /// next quality, and the search goes on from there at full size.
    ///
    /// The calibration is on the distance from a perfect score: the whole image's is taken
    /// as a constant multiple of the tiles'. (The tiles, a sample, usually score higher than
    /// the whole, by less as quality rises: a constant offset overshot by up to half a point
    /// a few quality steps away.)
    fn calibrated(&self, fit: TileFit, max_evals: usize) -> Result<Found, Error> {
        let q_t = fit.best.unwrap_or(Q_RANGE.1);
        let tile_score = fit
            .points
            .iter()
            .find(|p| p.x == q_t)
            .map_or(self.target, |p| p.score);
        let mut s = self.search(q_t, fit.slope, max_evals);
        let mut best = None;
        let (c, s1) = self.evaluate(q_t, fit.subsampling)?;
        let mut encodes = 1;
        s.record(q_t, s1);
        self.keep_lowest(&mut best, q_t, s1, c);
        // The tiles' curve, calibrated by the whole image's score, aims the next step.
        let aim = tile_aim(self.target + self.score_tolerance / 2.0, s1, tile_score);
        // (At least a step of the tolerance away, or the search's own proposal.)
        let mut next = s.next().map(|own| {
            let q = solve(&fit.points, aim, fit.slope).clamp(Q_RANGE.0, Q_RANGE.1);
            if (q - q_t).abs() >= self.x_tolerance {
                q
            } else {
                own
            }
        });
        while let Some(q) = next {
            let (c, score) = self.evaluate(q, fit.subsampling)?;
            encodes += 1;
            s.record(q, score);
            self.keep_lowest(&mut best, q, score, c);
            next = s.next();
        }
        self.write(best, fit.subsampling, encodes, false)
    }

    /// Small images: the search runs at full size from the start quality (already scored).
    fn direct(&self, sub: Subsampling, start_score: f64, max_evals: usize) -> Result<Found, Error> {
        let mut s = self.search(Q_START, SLOPE, max_evals);
        s.record(Q_START, start_score);
        let mut best = None;
        let mut encodes = 0;
        while let Some(q) = s.next() {
            let (c, score) = self.evaluate(q, sub)?;
            encodes += 1;
            s.record(q, score);
            self.keep_lowest(&mut best, q, score, c);
        }
        if best.is_none() {
            // Only the start passed: encode it again (its bytes were not kept).
            if let Some(p) = s.best() {
                encodes += 1;
                let c = candidate(
                    &self.source.bitmap,
                    search_settings(p.x, sub, self.precision),
                )?;
                best = Some((p.x, p.score, c.kept()));
            }
        }
        self.write(best, sub, encodes, true)
    }

    fn search(&self, start: f32, slope: f64, max_evals: usize) -> Search {
        let plan = Plan {
            lo: Q_RANGE.0,
            hi: Q_RANGE.1,
            start,
            slope,
            x_tolerance: self.x_tolerance,
            max_evals,
        };
        Search::new(plan, self.target).with_score_tolerance(self.score_tolerance)
    }

    /// The winner as it is written: progressive when asked; for [`Scans::Smallest`], the
    /// progressive version too when the image is `small` (cheap to try), the smaller kept.
    fn write(
        &self,
        best: Option<(f32, f64, Kept)>,
        sub: Subsampling,
        encodes: u32,
        small: bool,
    ) -> Result<Found, Error> {
        let mut found = Found::new(self.target);
        found.encodes = encodes;
        let Some((q, score, kept)) = best else {
            return Ok(found);
        };
        let baseline = kept.into_bytes(&self.source.meta)?;
        let try_progressive = match self.scans {
            Scans::Progressive => true,
            Scans::Baseline => false,
            Scans::Smallest => small,
        };
        if try_progressive {
            let written = self.encode(q, sub, true)?;
            found.encodes += 1;
            let score = self.same_or_score(&baseline, &written, score)?;
            found.offer(written, score);
        }
        if self.scans != Scans::Progressive {
            found.offer(baseline, score);
        }
        Ok(found)
    }

    /// The score of `written`: `known` when it decodes to the same pixels as `searched`
    /// (the scan layout changed, not the coefficients), else scored again.
    fn same_or_score(&self, searched: &[u8], written: &[u8], known: f64) -> Result<f64, Error> {
        let again = decode_candidate(written)?;
        if decode_candidate(searched)?.data == again.data {
            Ok(known)
        } else {
            self.reference.score(&again)
        }
    }
}

/// How the output's scans are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scans {
    /// Progressive, the scan split searched (`yjpeg`, `interlace/1`).
    Progressive,
    /// Baseline (`interlace/0`).
    Baseline,
    /// Whichever is smaller: baseline, and progressive too where the image is small enough
    /// for the extra encode to be cheap (imageSlim).
    Smallest,
}

/// The tiles' score at which the whole image is predicted to score `aim`, given that it
/// scored `whole` where the tiles scored `tiles`: the distances from a perfect score in the
/// same ratio (within 1:2 and 2:1), or the same offset where the tiles scored perfectly.
fn tile_aim(aim: f64, whole: f64, tiles: f64) -> f64 {
    if tiles < PERFECT - 1e-6 && whole.is_finite() && whole < PERFECT {
        let ratio = ((PERFECT - whole) / (PERFECT - tiles)).clamp(0.5, 2.0);
        PERFECT - (PERFECT - aim) / ratio
    } else {
        aim - (whole - tiles)
    }
}

/// SSIMULACRA2's score of identical images.
const PERFECT: f64 = 100.0;

/// The setting where the tiles' piecewise-linear curve reaches `score`, extended past its
/// ends with `slope`.
fn solve(points: &[Point], score: f64, slope: f64) -> f32 {
    let mut pts: Vec<Point> = points
        .iter()
        .copied()
        .filter(|p| p.score.is_finite())
        .collect();
    pts.sort_by(|a, b| a.x.total_cmp(&b.x));
    for w in pts.windows(2) {
        let (a, b) = (w[0], w[1]);
        if (a.score <= score && score <= b.score) && b.score > a.score {
            let t = (score - a.score) / (b.score - a.score);
            return a.x + (b.x - a.x) * t as f32;
        }
    }
    // Outside the points: from the nearest one in score.
    let near = pts
        .iter()
        .min_by(|a, b| (a.score - score).abs().total_cmp(&(b.score - score).abs()));
    match near {
        Some(p) => p.x + ((score - p.score) / slope.max(0.05)) as f32,
        None => Q_START,
    }
}

/// How close to the target a search lands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Precision {
    /// Within 0.4 points and 1 quality step (imageSlim: bounded time); no DC trellis, and
    /// progressive scans in a fixed 9-scan split.
    Fast,
    /// Within 0.15 points and 0.4 quality steps, with two more full-size encodes allowed, DC
    /// trellis and the progressive scan split searched (yjpeg: every byte counts, the target
    /// is an exact score).
    Fine,
}

/// The search's own encodes: baseline, which is faster and has the same coefficients.
fn search_settings(quality: f32, subsampling: Subsampling, precision: Precision) -> Settings {
    Settings {
        quality,
        progressive: false,
        optimize_scans: false,
        dc_trellis: precision == Precision::Fine,
        subsampling,
    }
}

/// 4:2:0 unless it scores this much below 4:4:4 at the start quality.
const CHROMA_LOSS: f64 = 4.0;

/// Encodes `bitmap` at the start quality in 4:2:0 and returns the subsampling to search with
/// and its score there: 4:2:0 when it reaches the target, else whichever of 4:2:0 and 4:4:4
/// (encoded for colour images only) [`CHROMA_LOSS`] says. Where each encode is cut into two
/// bands on two cores ([`candidate`]), 4:4:4 is encoded only when 4:2:0 misses; otherwise it
/// is encoded on a second thread while 4:2:0 is encoded and scored.
fn choose_subsampling(
    bitmap: &Bitmap,
    reference: &Reference,
    target: f64,
    precision: Precision,
    encodes: &mut u32,
) -> Result<(Subsampling, f64), Error> {
    let encode_at = |sub| candidate(bitmap, search_settings(Q_START, sub, precision));
    let colour = bitmap.layout != Layout::Gray;
    let in_bands = in_two_bands(bitmap.height, two_cores());
    let pick = |s420: f64, s444: f64| {
        if s444 - s420 > CHROMA_LOSS {
            (Subsampling::S444, s444)
        } else {
            (Subsampling::S420, s420)
        }
    };
    if !colour || in_bands {
        let s420 = reference.score(&encode_at(Subsampling::S420)?.pixels)?;
        *encodes += 1;
        if !colour || s420 >= target {
            return Ok((Subsampling::S420, s420));
        }
        let s444 = reference.score(&encode_at(Subsampling::S444)?.pixels)?;
        *encodes += 1;
        return Ok(pick(s420, s444));
    }
    std::thread::scope(|scope| {
        let s444 = scope.spawn(|| encode_at(Subsampling::S444));
        let s420 = reference.score(&encode_at(Subsampling::S420)?.pixels)?;
        let s444 = s444
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e))?;
        *encodes += 2;
        if s420 >= target {
            return Ok((Subsampling::S420, s420));
        }
        Ok(pick(s420, reference.score(&s444.pixels)?))
    })
}

fn panicked() -> Error {
    Error::Encode {
        format: FormatName(Some(ImageFormat::Jpeg)),
        message: "the reference could not be prepared".into(),
        source: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{crop, image};
    use mogr_core::internals::entropy_decode::decode_coefficients;

    #[test]
    fn the_tiles_aim_keeps_the_ratio_of_distances_from_a_perfect_score() {
        // The whole image 21 points from perfect where the tiles were 19.7: aiming the whole
        // at 80.2 (19.8 away) aims the tiles 19.8 / (21 / 19.7) away.
        let aim = tile_aim(80.2, 79.0, 80.3);
        assert!((aim - (100.0 - 19.8 * 19.7 / 21.0)).abs() < 1e-9, "{aim}");
        // Agreeing scores aim where the whole image should land; a whole image that scored
        // higher than its tiles aims the tiles lower.
        assert!((tile_aim(80.2, 78.0, 78.0) - 80.2).abs() < 1e-9);
        assert!(tile_aim(80.2, 82.0, 81.0) < 80.2);
        // Tiles that scored perfectly: the offset instead; the ratio is bounded.
        assert!((tile_aim(80.2, 99.0, 100.0) - 81.2).abs() < 1e-9);
        assert!((tile_aim(80.2, 20.0, 99.0) - (100.0 - 19.8 / 2.0)).abs() < 1e-9);
    }

    #[test]
    fn halves_have_the_whole_images_coefficients() {
        let photo = image("jpeg/mpl-grace_hopper.jpg");
        let grey = crop(&image("jpeg/jxl-flower_q85_gray.jpg"), 301, 203);
        let mut cases = 0;
        // Heights on and off the MCU grid, widths odd and even, colour and grey.
        for bitmap in [
            crop(&photo, photo.width, photo.height),
            crop(&photo, 333, 250),
            crop(&photo, 64, 64),
            crop(&photo, 17, 95),
            grey,
        ] {
            for subsampling in [Subsampling::S420, Subsampling::S444] {
                for (quality, dc_trellis) in [(35.5, false), (72.0, true), (91.25, false)] {
                    let settings = Settings {
                        quality,
                        progressive: false,
                        optimize_scans: false,
                        dc_trellis,
                        subsampling,
                    };
                    let c = candidate_in_bands(&bitmap, settings, true).unwrap();
                    assert_eq!(c.bands.len(), 2);
                    let whole = encode(&bitmap, settings, &JpegMetadata::default()).unwrap();
                    let expected = decode_coefficients(&whole).unwrap();
                    let got = &joined(&c.bands).unwrap();
                    assert_eq!((got.width, got.height), (expected.width, expected.height));
                    for (a, b) in got.components.iter().zip(&expected.components) {
                        assert_eq!((a.blocks_w, a.blocks_h), (b.blocks_w, b.blocks_h));
                        assert_eq!(a.table, b.table);
                        assert!(
                            a.blocks == b.blocks,
                            "{}x{} q{quality}",
                            got.width,
                            got.height
                        );
                    }
                    // The file written from them holds the same coefficients (in the
                    // blocks its scans cover: a scan per component skips the padding
                    // blocks of whole MCUs), and its pixels are the candidate's.
                    let pixels_before = c.pixels.clone();
                    let file = c.kept().into_bytes(&JpegMetadata::default()).unwrap();
                    let again = decode_coefficients(&file).unwrap();
                    for (i, (a, b)) in again.components.iter().zip(&got.components).enumerate() {
                        let (bw, bh) = got.scan_blocks(i);
                        for y in 0..bh {
                            let row = y * a.blocks_w..y * a.blocks_w + bw;
                            assert!(a.blocks[row.clone()] == b.blocks[row]);
                        }
                    }
                    let pixels = mogr_core::internals::jpeg_decode::from_coefficients(again);
                    assert_eq!(pixels.unwrap().data, pixels_before.data);
                    assert_eq!(
                        (pixels_before.width, pixels_before.height),
                        (bitmap.width, bitmap.height)
                    );
                    cases += 1;
                }
            }
        }
        assert_eq!(cases, 30);
    }
}
