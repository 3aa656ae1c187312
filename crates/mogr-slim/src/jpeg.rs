//! JPEG: a mozjpeg-class encoder (trellis quantization, tuned tables, progressive scans,
//! optimized Huffman tables) searched for the lowest quality that still meets the threshold.

use mogr_core::codecs::jpeg::markers::{self, Density, Segment};
use mogr_core::codecs::jpeg::{decode, encode::splice_segments};
use mogr_core::pixels::{Bitmap, Layout};
use mogr_core::transcode::Options;
use mogr_core::{Error, FormatName, ImageFormat};
use mozjpeg_rs::{Encoder, Preset, QuantTableIdx, Subsampling};

use crate::metric::Reference;
use crate::proxy;
use crate::search::Search;
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
    /// Also search the progressive scan split (slower, about 1% smaller).
    pub optimize_scans: bool,
    /// Chroma subsampling (colour images).
    pub subsampling: Subsampling,
}

/// Encodes `bitmap` (grey or RGB; alpha goes over white) at `settings`.
pub(crate) fn encode(
    bitmap: &Bitmap,
    settings: Settings,
    density: Option<Density>,
    segments: &[Segment<'_>],
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
    // Quality 50 applies the tables as given.
    let enc = Encoder::new(preset)
        .quality(50)
        .subsampling(settings.subsampling)
        .custom_luma_qtable(luma)
        .custom_chroma_qtable(chroma)
        .pixel_density(density);
    let fail = |e: mozjpeg_rs::Error| Error::Encode {
        format: FormatName(Some(ImageFormat::Jpeg)),
        message: format!("mozjpeg-rs: {e}"),
        source: None,
    };
    let out = match bitmap.layout {
        Layout::Gray => enc.encode_gray(&bitmap.data, bitmap.width, bitmap.height),
        Layout::Rgb => enc.encode_rgb(&bitmap.data, bitmap.width, bitmap.height),
        Layout::Rgba => {
            let rgb = bitmap.clone().without_alpha();
            enc.encode_rgb(&rgb.data, rgb.width, rgb.height)
        }
    }
    .map_err(fail)?;
    Ok(splice_segments(out, segments))
}

/// Decodes one of our own candidates for scoring.
pub(crate) fn decode_candidate(bytes: &[u8]) -> Result<Bitmap, Error> {
    let header = markers::read_header(bytes)?;
    decode::decode(bytes, &header)
}

/// A JPEG ready to be searched: its pixels as stored (orientation untouched, since the
/// EXIF block travels with the output), the metadata to keep, the reference.
pub(crate) struct Source<'a> {
    pub bitmap: Bitmap,
    pub density: Option<Density>,
    pub segments: Vec<Segment<'a>>,
}

impl<'a> Source<'a> {
    /// Decodes `input`; an error here is the input's fault.
    pub fn new(input: &'a [u8], options: &Options) -> Result<Source<'a>, Error> {
        let header = markers::read_header(input)?;
        let bitmap = decode::decode(input, &header)?;
        let cmyk = header.components.len() == 4;
        let segments = options.metadata.select(&header.segments, cmyk);
        Ok(Source {
            bitmap,
            density: header.density,
            segments,
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
    progressive: bool,
    precision: Precision,
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
            let subsampling = choose_subsampling(tiles, &tile_ref, target, &mut encodes)?;
            let mut s = Search::new(
                Q_RANGE.0,
                Q_RANGE.1,
                target,
                Q_START,
                SLOPE,
                0.5,
                crate::MAX_PROXY_EVALS,
            );
            s.record(Q_START, subsampling.1);
            while let Some(q) = s.next() {
                let bytes = encode(tiles, search_settings(q, subsampling.0), None, &[])?;
                encodes += 1;
                let score = tile_ref.score(&decode_candidate(&bytes)?)?;
                s.record(q, score);
            }
            Ok((
                s.best().map_or(Q_RANGE.1, |p| p.x),
                s.slope(),
                subsampling.0,
            ))
        });
        let built = built.map(|h| h.join().unwrap_or_else(|_| Err(panicked())));
        (tile_result, built)
    });
    let built = built.transpose()?;
    let reference = reference.or(built.as_ref()).ok_or_else(panicked)?;
    let (start, slope, full_evals, subsampling, first) = match tile_result {
        Some(r) => {
            let (start, slope, sub) = r?;
            (start, slope, crate::MAX_FULL_EVALS, sub, None)
        }
        None => {
            let (sub, score) = choose_subsampling(&source.bitmap, reference, target, &mut encodes)?;
            (
                Q_START,
                SLOPE,
                crate::MAX_FULL_EVALS + crate::MAX_PROXY_EVALS,
                sub,
                Some(score),
            )
        }
    };
    let (x_tolerance, score_tolerance, extra) = match precision {
        Precision::Fast => (1.0, 0.4, 0),
        Precision::Fine => (0.4, 0.15, 2),
    };
    let mut s = Search::new(
        Q_RANGE.0,
        Q_RANGE.1,
        target,
        start,
        slope,
        x_tolerance,
        full_evals + extra,
    )
    .with_score_tolerance(score_tolerance);
    let mut best: Option<(Vec<u8>, f64, f32)> = None;
    if let Some(score) = first {
        // Already scored at the start by the subsampling choice; encoded again only if it wins.
        s.record(Q_START, score);
    }
    // One full-size evaluation: encode, decode, score.
    let evaluate = |q: f32| -> Result<(Vec<u8>, f64), Error> {
        let settings = search_settings(q, subsampling);
        let bytes = encode(&source.bitmap, settings, source.density, &source.segments)?;
        let score = reference.score(&decode_candidate(&bytes)?)?;
        Ok((bytes, score))
    };
    // After a tile search, the tiles' answer and one a little above it (tiles tend to score
    // the image slightly high) are tried at once, on two threads.
    let mut round: Vec<f32> = match (first, s.next()) {
        (None, Some(q)) => {
            let above = (q + (1.5 / slope) as f32).min(Q_RANGE.1);
            if above > q + 0.5 {
                vec![q, above]
            } else {
                vec![q]
            }
        }
        (_, next) => next.into_iter().collect(),
    };
    while !round.is_empty() {
        let results: Vec<Result<(Vec<u8>, f64), Error>> = if round.len() == 1 {
            vec![evaluate(round[0])]
        } else {
            std::thread::scope(|scope| {
                let handles: Vec<_> = round
                    .iter()
                    .map(|&q| scope.spawn(move || evaluate(q)))
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().unwrap_or_else(|_| Err(panicked())))
                    .collect()
            })
        };
        for (&q, result) in round.iter().zip(results) {
            let (bytes, score) = result?;
            encodes += 1;
            s.record(q, score);
            if score >= target && best.as_ref().is_none_or(|b| bytes.len() < b.0.len()) {
                best = Some((bytes, score, q));
            }
        }
        round = s.next().into_iter().collect();
    }
    // The start point passed and nothing below it did: encode it for real.
    if best.is_none() {
        if let Some(p) = s.best() {
            let bytes = encode(
                &source.bitmap,
                search_settings(p.x, subsampling),
                source.density,
                &source.segments,
            )?;
            encodes += 1;
            best = Some((bytes, p.score, p.x));
        }
    }
    // The winner written as asked, progressive with its scan split searched: the same
    // coefficients in fewer bytes. Kept when it decodes to the same pixels or still passes.
    let mut found = Found::new(target);
    found.encodes = encodes;
    if let Some((bytes, score, q)) = best {
        if progressive {
            let finer = Settings {
                progressive,
                optimize_scans: true,
                ..search_settings(q, subsampling)
            };
            let written = encode(&source.bitmap, finer, source.density, &source.segments)?;
            found.encodes += 1;
            let again = decode_candidate(&written)?;
            let score = if decode_candidate(&bytes)?.data == again.data {
                score
            } else {
                reference.score(&again)?
            };
            found.offer(written, score);
        } else {
            found.offer(bytes, score);
        }
    }
    Ok(found)
}

/// How close to the target a search lands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Precision {
    /// Within 0.4 points and 1 quality step (imageSlim: bounded time).
    Fast,
    /// Within 0.15 points and 0.4 quality steps, with two more full-size encodes allowed
    /// (yjpeg: every byte counts, the target is an exact score).
    Fine,
}

/// The search's own encodes: baseline, which is faster and has the same coefficients.
fn search_settings(quality: f32, subsampling: Subsampling) -> Settings {
    Settings {
        quality,
        progressive: false,
        optimize_scans: false,
        subsampling,
    }
}

/// 4:2:0 unless it scores this much below 4:4:4 at the start quality.
const CHROMA_LOSS: f64 = 4.0;

/// Encodes `bitmap` at the start quality in 4:2:0 (and 4:4:4 for colour) and returns the
/// subsampling to search with and its score there.
fn choose_subsampling(
    bitmap: &Bitmap,
    reference: &Reference,
    target: f64,
    encodes: &mut u32,
) -> Result<(Subsampling, f64), Error> {
    let mut score = |sub| -> Result<f64, Error> {
        let bytes = encode(bitmap, search_settings(Q_START, sub), None, &[])?;
        *encodes += 1;
        reference.score(&decode_candidate(&bytes)?)
    };
    let s420 = score(Subsampling::S420)?;
    if bitmap.layout == Layout::Gray || s420 >= target {
        return Ok((Subsampling::S420, s420));
    }
    let s444 = score(Subsampling::S444)?;
    Ok(if s444 - s420 > CHROMA_LOSS {
        (Subsampling::S444, s444)
    } else {
        (Subsampling::S420, s420)
    })
}

fn panicked() -> Error {
    Error::Encode {
        format: FormatName(Some(ImageFormat::Jpeg)),
        message: "the reference could not be prepared".into(),
        source: None,
    }
}
