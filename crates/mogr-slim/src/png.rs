//! PNG: palettes (fewest colours that pass, for three dithering strengths; see
//! [`crate::quant`]) and posterization when the score allows, lossless deflate optimization
//! (oxipng) unless a lossy result is far smaller; the smallest result wins.

use mogr_core::{Admitted, Error, FormatName, FramePick, ImageFormat, Metadata, Options, Stop};
use mogr_core::{Bitmap, Layout, Raster};

use crate::metric::Reference;
use crate::pace::Pace;
use crate::quant::{self, Prepared, Spacing, Weighting};
use crate::search::{Plan, Search};
use crate::{Found, Searched};

fn fail(e: impl std::fmt::Display) -> Error {
    Error::Encode {
        format: FormatName(Some(ImageFormat::Png)),
        message: format!("oxipng: {e}"),
        source: None,
    }
}

/// The chunks [`Metadata::Keep`] keeps: what oxipng keeps as affecting display (colour
/// space, physical size) and the metadata the policy names: text (comments, XMP in `iTXt`)
/// and EXIF. Not the chunks tied to the old encoding (`bKGD`, `sBIT`, `hIST`), its time
/// (`tIME`), nor `gAMA` and `cHRM`, which oxipng's own safe stripping drops too.
const KEPT_CHUNKS: [&[u8; 4]; 8] = [
    b"cICP", b"iCCP", b"sRGB", b"pHYs", b"tEXt", b"zTXt", b"iTXt", b"eXIf",
];

/// oxipng's preset 2 below a megapixel; preset 1 above, where preset 2 takes 70% longer for
/// about 0.1% fewer bytes (measured on the corpus's 3.4 MP photograph).
fn oxipng_options(metadata: Metadata, pixels: u64) -> oxipng::Options {
    let mut o = oxipng::Options::from_preset(if pixels > 1_000_000 { 1 } else { 2 });
    o.strip = match metadata {
        Metadata::Keep => oxipng::StripChunks::Keep(KEPT_CHUNKS.into_iter().copied().collect()),
        Metadata::IccOnly => oxipng::StripChunks::Safe,
        _ => oxipng::StripChunks::All,
    };
    o
}

/// Decodes the input (errors are the input's), then searches.
pub(crate) fn slim(
    input: &[u8],
    admitted: &Admitted,
    options: &Options,
    threshold: f64,
    stop: &Stop,
) -> Result<Searched, Error> {
    let raster = mogr_core::decode(input, admitted, FramePick::First(1), false)?;
    Ok(search(input, &raster, options, threshold, stop).into())
}

/// A lossy setting a family's search found.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Setting {
    /// A palette of at most `colors` entries built with `weighting` and `spacing`, remapped
    /// with error diffusion of `strength`.
    Palette {
        colors: usize,
        strength: f32,
        weighting: Weighting,
        spacing: Spacing,
    },
    /// Colour channels rounded to multiples of `step`.
    Posterize { step: u16 },
}

impl Setting {
    fn apply(self, prep: &Prepared, b: &Bitmap) -> Bitmap {
        match self {
            Setting::Palette {
                colors,
                strength,
                weighting,
                spacing,
            } => prep.remap(b, &prep.palette(colors, weighting, spacing), strength),
            Setting::Posterize { step } => posterize(b, step),
        }
    }
}

fn search(
    input: &[u8],
    raster: &Raster,
    options: &Options,
    threshold: f64,
    stop: &Stop,
) -> Result<Found, Error> {
    let bitmap = raster.first();
    let pixels = u64::from(bitmap.width) * u64::from(bitmap.height);
    // Settings are searched on the whole image (the metric samples tiles of images over
    // `metric::SCORE_PIXELS` only): on a proxy of tiles spread over the image, a setting
    // scored up to 7 points above what the whole image then scored (a gradient the tiles
    // missed decides), and this search has no full-size confirmation to catch it.
    let reference = Reference::new(bitmap)?;
    let mut found = Found::new(threshold);
    // Lossy families: the most aggressive setting of each that passes (kept as the setting,
    // not the pixels: candidates are made again one at a time below). The searches are
    // independent: the palettes weighted by pixel count (and a grey image's evenly spaced
    // levels) run on a second thread, the posterization and then the palettes weighted by
    // smoothness on this one.
    let (reference, prep) = (&reference, &Prepared::new(bitmap));
    let (palette, posterized, smooth) = std::thread::scope(|scope| {
        let palette = scope.spawn(move || {
            // A grey image's third family follows on this thread: levels evenly spaced (a
            // grey photograph's k-means levels crowd its commonest greys; even ones,
            // dithered, passed at 26 where they needed 28).
            let families: &[(Weighting, Spacing)] = match bitmap.layout {
                Layout::Gray => &[
                    (Weighting::Pixels, Spacing::Oklab),
                    (Weighting::Pixels, Spacing::Even),
                ],
                _ => &[(Weighting::Pixels, Spacing::Oklab)],
            };
            let (mut n, mut best) = (0, Vec::new());
            for &family in families {
                match palettes(prep, bitmap, reference, family, threshold, stop, &mut n) {
                    Ok(found) => best.extend(found),
                    Err(e) => return (Err(e), n),
                }
            }
            (Ok(best), n)
        });
        // Posterization: x is log2 of the levels per channel; the step is 256 / levels.
        let plan = Plan {
            lo: 2.0,
            hi: 7.9,
            start: 6.0,
            slope: 6.0,
            x_tolerance: 0.3,
            max_evals: 4,
        };
        let s = Search::new(plan, threshold);
        let mut n = 0;
        let best = best_of_family(
            s,
            reference,
            threshold,
            stop,
            &mut n,
            &posterize_step,
            &|st| posterize(bitmap, st),
        )
        .map(|b| b.map(|(st, score)| (Setting::Posterize { step: st }, score)));
        // Palettes weighted by smoothness, on this thread once posterization is done (it
        // takes fewer scores than a palette family). Their grey levels are spaced for the
        // lights: two families that differ there too find the smaller palette on more grey
        // images (a halved grey photograph 22,074 -> 17,919 B, the pngquant search 19,539).
        let mut smooth_n = 0;
        let smooth = palettes(
            prep,
            bitmap,
            reference,
            (Weighting::Smoothness, Spacing::Lights),
            threshold,
            stop,
            &mut smooth_n,
        );
        let palette = palette
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e));
        (palette, (best, n), (smooth, smooth_n))
    });
    let mut lossy: Vec<(Setting, f64)> = Vec::new();
    found.encodes += palette.1 + smooth.1;
    lossy.extend(palette.0?);
    lossy.extend(smooth.0?);
    found.encodes += posterized.1;
    lossy.extend(posterized.0?);
    let mut opts = oxipng_options(options.metadata, pixels);
    opts.optimize_alpha = true;
    let preset_deflater = opts.deflater;
    // oxipng stops its trials at a timeout of its own, set before each run to the time left
    // before the deadline (a run cut short still returns a valid file, which the stop check
    // after it refuses).
    // The settings' results are sized with oxipng's fastest preset first; only those within
    // 3% of the smallest of their kind (palettes, posterized pixels) get the full preset (the
    // slow part: near-optimal deflate). Kinds are ranked apart because the fast sizing
    // misjudges palettes against posterized pixels: a palette is also packed sorted at full
    // size, which on a dithered grey photograph came out 6% under the posterized result the
    // fast sizing had ranked first (186,315 B against 198,898). Pixels are made at full size
    // for one setting at a time, and made again for the full preset.
    let carried = Carried::of(input, raster);
    let mut quick = oxipng::Options::from_preset(0);
    quick.strip = opts.strip.clone();
    quick.optimize_alpha = true;
    let mut sized = Vec::with_capacity(lossy.len());
    let several = lossy.len() > 1;
    let (quick_pace, full_pace) = (Pace::default(), Pace::default());
    for (setting, score) in lossy {
        let len = if several {
            found.encodes += 1;
            quick_pace.step(stop, || {
                quick.timeout = stop.remaining();
                let pixels = setting.apply(prep, bitmap);
                // Sized without the carried chunks: the same for every setting.
                let bare = Carried::default();
                Ok(Packing::Samples.encode(pixels, &bare, &quick)?.len())
            })?
        } else {
            0
        };
        sized.push((len, setting, score));
    }
    for (setting, score) in worth_the_full_preset(sized) {
        let packings: &[Packing] = match setting {
            Setting::Palette { .. } => &[Packing::Samples, Packing::SortedPalette],
            Setting::Posterize { .. } => &[Packing::Samples],
        };
        // Palette results deflate at libdeflate's strongest level whatever the preset: their
        // indices repeat (few colours, flat areas), where level 12 found up to 14% fewer
        // bytes than the presets' 10 or 11 (a 3-colour 1.9 MP graphic 3,655 -> 3,137 B), and
        // one byte a pixel deflates fast. Posterized results keep the preset's level: on a
        // 3.4 MP photograph level 12 saved 0.2% for twice the time.
        opts.deflater = match setting {
            Setting::Palette { .. } => oxipng::Deflater::Libdeflater { compression: 12 },
            Setting::Posterize { .. } => preset_deflater,
        };
        for &packing in packings {
            let bytes = full_pace.step(stop, || {
                opts.timeout = stop.remaining();
                let pixels = setting.apply(prep, bitmap);
                packing.encode(pixels, &carried, &opts)
            })?;
            stop.check()?;
            found.encodes += 1;
            let cost = image_bytes(&bytes);
            found.offer_at(bytes, score, cost);
        }
    }
    // Lossless: worth its time unless a lossy result is already far smaller.
    let far_smaller = found
        .best
        .as_ref()
        .is_some_and(|(b, _)| b.len() * 10 < input.len() * 6);
    if !far_smaller {
        let bytes = full_pace.step(stop, || {
            let mut lossless = oxipng_options(options.metadata, pixels);
            lossless.timeout = stop.remaining();
            one_trial_at_a_time(pixels, || oxipng::optimize_from_memory(input, &lossless))
                .map_err(fail)
        })?;
        stop.check()?;
        found.encodes += 1;
        let cost = image_bytes(&bytes);
        found.offer_at(bytes, 100.0, cost);
    }
    Ok(found)
}

/// The settings whose fast size (the first of each triple) is within 3% of the smallest of
/// their kind, palettes and posterized pixels ranked apart, in their order.
fn worth_the_full_preset(sized: Vec<(usize, Setting, f64)>) -> Vec<(Setting, f64)> {
    let palette = |s: &Setting| matches!(s, Setting::Palette { .. });
    let smallest = |kind: bool| {
        sized
            .iter()
            .filter(|(_, s, _)| palette(s) == kind)
            .map(|(len, ..)| *len)
            .min()
            .unwrap_or(0)
    };
    let smallest = [smallest(false), smallest(true)];
    sized
        .into_iter()
        .filter(|(len, s, _)| *len * 100 <= smallest[usize::from(palette(s))] * 103)
        .map(|(_, s, score)| (s, score))
        .collect()
}

/// The bytes of a PNG's image (the chunks that make its pixels: header, palette,
/// transparency, data, end), by which results are compared. The lossless result keeps the
/// input's metadata chunks as [`Options::metadata`] says, and a lossy one carries them too
/// ([`Carried`]), but the two can differ (the input's ICC profile as it was, or as decoded);
/// compared whole, a lossy result without the input's text chunks had won against a
/// lossless one whose pixels took fewer bytes.
fn image_bytes(png: &[u8]) -> usize {
    png.len().min(8)
        + chunks(png)
            .filter(|(kind, _)| matches!(kind, b"IHDR" | b"PLTE" | b"tRNS" | b"IDAT" | b"IEND"))
            .map(|(_, data)| 12 + data.len())
            .sum::<usize>()
}

/// The chunks of a PNG in order, as kind and data, up to the first that runs past the end.
fn chunks(png: &[u8]) -> impl Iterator<Item = ([u8; 4], &[u8])> {
    let mut rest = png.get(8..).unwrap_or_default();
    std::iter::from_fn(move || {
        let len = u32::from_be_bytes(rest.get(..4)?.try_into().ok()?) as usize;
        let kind: [u8; 4] = rest.get(4..8)?.try_into().ok()?;
        let data = rest.get(8..8 + len)?;
        rest = rest.get(12 + len..)?;
        Some((kind, data))
    })
}

/// The input chunks a lossy result may carry: the display chunks and the metadata the
/// policy names (text, XMP in `iTXt`, EXIF). oxipng then keeps those the policy keeps
/// ([`oxipng_options`]). Not the ICC profile (the decoder's is added on its own), nor chunks
/// tied to the old encoding.
const CARRIED_CHUNKS: [&[u8; 4]; 7] = [
    b"cICP", b"sRGB", b"pHYs", b"tEXt", b"zTXt", b"iTXt", b"eXIf",
];

/// What a lossy result carries of the input besides its pixels.
#[derive(Debug, Default)]
struct Carried {
    icc: Option<Vec<u8>>,
    chunks: Vec<([u8; 4], Vec<u8>)>,
}

impl Carried {
    /// The ICC profile of `raster` and the [`CARRIED_CHUNKS`] of `input` (a PNG).
    fn of(input: &[u8], raster: &Raster) -> Carried {
        Carried {
            icc: raster.icc.clone(),
            chunks: chunks(input)
                .filter(|(kind, _)| CARRIED_CHUNKS.contains(&kind))
                .map(|(kind, data)| (kind, data.to_vec()))
                .collect(),
        }
    }
}

/// Error diffusion strengths tried for palettes: none (flat artwork compresses best
/// without noise), half, and full in smooth areas (gradients reach the score with far fewer
/// colours).
const DITHER: [f32; 3] = [0.0, 0.5, 1.0];

/// Palette counts are searched until the passing and the failing counts are this close.
const COLOR_RATIO: f32 = 1.12;

/// The factor by which a palette search seeded with the previous strength's count steps
/// down (or up) from it to bracket the fewest colours that pass.
const GALLOP: f32 = 1.25;

/// Strength trims per dithered palette: at the colour count found, the strength is bisected
/// this many times between the next lower strength of [`DITHER`] and its own.
const STRENGTH_TRIMS: usize = 2;

/// The palette family: for each dither strength, the fewest colours (2..=256, bisected on a
/// log scale; from the second strength on, bracketed from the previous strength's count
/// first) with which `bitmap` (the image `prep` was made from) passes, with its score; for
/// each dithered one, the lowest strength at that count that still passes replaces its
/// own (less dithering noise: fewer bytes; the score is not monotonic in the strength, and
/// the count's bisection stops up to 12% above the fewest colours that pass, so a lower
/// strength often lands nearer the threshold). Palettes are built once per colour count
/// and shared by the strengths; their colours are weighted by `weighting` and a grey
/// image's levels spaced by `spacing`.
fn palettes(
    prep: &Prepared,
    bitmap: &Bitmap,
    reference: &Reference,
    (weighting, spacing): (Weighting, Spacing),
    threshold: f64,
    stop: &Stop,
    encodes: &mut u32,
) -> Result<Vec<(Setting, f64)>, Error> {
    let mut built: Vec<(usize, quant::Palette)> = Vec::new();
    let pace = Pace::default();
    let mut eval = |k: usize, strength: f32| -> Result<f64, Error> {
        *encodes += 1;
        pace.step(stop, || {
            let i = match built.iter().position(|(n, _)| *n == k) {
                Some(i) => i,
                None => {
                    built.push((k, prep.palette(k, weighting, spacing)));
                    built.len() - 1
                }
            };
            reference.score(&prep.remap(bitmap, &built[i].1, strength))
        })
    };
    let mut out = Vec::new();
    // The count the previous strength settled on (see `fewest_colors`).
    let mut seed: Option<usize> = None;
    for (i, strength) in DITHER.into_iter().enumerate() {
        let Some(pass) = fewest_colors(&mut |k| eval(k, strength), seed, threshold)? else {
            continue;
        };
        let colors = pass.0;
        seed = Some(colors);
        // Dithered results are trimmed: the lowest strength that still passes at the same
        // count replaces the strength's own (less dithering noise, fewer bytes).
        let (mut strength, mut score) = (strength, pass.1);
        if i > 0 {
            let (mut lo, mut hi) = (DITHER[i - 1], strength);
            for _ in 0..STRENGTH_TRIMS {
                let mid = (lo + hi) / 2.0;
                let s = eval(colors, mid)?;
                if s >= threshold {
                    (strength, score) = (mid, s);
                    hi = mid;
                } else {
                    lo = mid;
                }
            }
        }
        out.push((
            Setting::Palette {
                colors,
                strength,
                weighting,
                spacing,
            },
            score,
        ));
    }
    Ok(out)
}

/// The fewest colours (2..=256) that pass, with their score, by the scores `eval` gives a
/// count; `None` when even 256 fail. Without a `seed`, a bisection on a log scale over
/// 1..=256 (at most 8 scores). With one (the count the previous strength settled on: strengths
/// need similar counts), it starts there and takes one step of [`GALLOP`] down or up to
/// bracket the count before bisecting: 3 or 4 scores where the count is the same, at most
/// 9.
/// The bisection stops when the passing count is within [`COLOR_RATIO`] of a failing one.
fn fewest_colors(
    eval: &mut dyn FnMut(usize) -> Result<f64, Error>,
    seed: Option<usize>,
    threshold: f64,
) -> Result<Option<(usize, f64)>, Error> {
    // A failing count (1: none known) below a passing one, with its score.
    let (mut fail, mut pass) = match seed {
        None => {
            let top = eval(256)?;
            if top < threshold {
                return Ok(None);
            }
            (1usize, (256usize, top))
        }
        Some(g) => {
            let score = eval(g)?;
            if score >= threshold {
                // One step down: a failure there brackets the count; else the bisection
                // goes on below it.
                let below = ((g as f32 / GALLOP).round() as usize).min(g - 1);
                if below < 2 {
                    (1, (g, score))
                } else {
                    let s = eval(below)?;
                    if s >= threshold {
                        (1, (below, s))
                    } else {
                        (below, (g, score))
                    }
                }
            } else {
                // One step up; past it, the top decides whether any count passes.
                let above = ((g as f32 * GALLOP).ceil() as usize).min(256);
                let s = eval(above)?;
                if s >= threshold {
                    (g, (above, s))
                } else if above == 256 {
                    return Ok(None);
                } else {
                    let top = eval(256)?;
                    if top < threshold {
                        return Ok(None);
                    }
                    (above, (256, top))
                }
            }
        }
    };
    while pass.0 as f32 / fail as f32 > COLOR_RATIO {
        let mid = ((fail * pass.0) as f32).sqrt().round() as usize;
        if mid <= fail || mid >= pass.0 {
            break;
        }
        let score = eval(mid)?;
        if score >= threshold {
            pass = (mid, score);
        } else {
            fail = mid;
        }
    }
    Ok(Some(pass))
}

/// Runs one lossy family's search: `key` maps a setting to the parameter (neighbouring
/// settings may give the same one, which ends the search), `make` the parameter to pixels;
/// the parameter grows as the setting falls (coarser). Returns the parameter of the lowest
/// setting that passes, with its score. The search ends when a proposal maps to a parameter
/// already tried, which can leave parameters untried between the one that passes and the
/// nearest coarser one that fails: those are then bisected (at most
/// [`PARAMETER_BISECTIONS`] more scores).
fn best_of_family(
    mut s: Search,
    reference: &Reference,
    threshold: f64,
    stop: &Stop,
    encodes: &mut u32,
    key: &dyn Fn(f32) -> u16,
    make: &dyn Fn(u16) -> Bitmap,
) -> Result<Option<(u16, f64)>, Error> {
    let mut tried: Vec<(u16, f64)> = Vec::new();
    let mut best = None;
    let pace = Pace::default();
    let mut score_of = |k: u16| -> Result<f64, Error> {
        *encodes += 1;
        pace.step(stop, || reference.score(&make(k)))
    };
    while let Some(x) = s.next() {
        let k = key(x);
        if tried.iter().any(|t| t.0 == k) {
            break; // converged
        }
        let score = score_of(k)?;
        tried.push((k, score));
        s.record(x, score);
        if score >= threshold && s.best().is_some_and(|p| p.x == x) {
            best = Some((k, score));
        }
    }
    let Some(mut pass) = best else {
        return Ok(None);
    };
    let coarser_failing = tried
        .iter()
        .filter(|t| t.0 > pass.0 && t.1 < threshold)
        .map(|t| t.0)
        .min();
    if let Some(mut fail) = coarser_failing {
        for _ in 0..PARAMETER_BISECTIONS {
            if fail - pass.0 < 2 {
                break;
            }
            let mid = pass.0 + (fail - pass.0) / 2;
            let score = score_of(mid)?;
            if score >= threshold {
                pass = (mid, score);
            } else {
                fail = mid;
            }
        }
    }
    Ok(Some(pass))
}

/// At most this many parameters are bisected after a family's search ([`best_of_family`]).
const PARAMETER_BISECTIONS: usize = 3;

/// How a candidate's pixels are handed to oxipng.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Packing {
    /// As samples: oxipng picks the colour type and, for a palette, the order of its entries
    /// (by its own trials, judged with a fast deflate).
    Samples,
    /// As an indexed image whose palette is in order of opacity, then lightness, kept in that
    /// order, with every filter judged by the full deflate. On dithered palettes neighbouring
    /// pixels then have neighbouring indices, which PNG's filters predict; oxipng's own order
    /// (most common edge colour first) and its fast judgement of filters can miss that: a
    /// dithered grey photograph at 17 colours, 21,718 B as samples, 19,641 B sorted.
    SortedPalette,
}

impl Packing {
    /// `b` as a PNG, optimized by oxipng with `opts` (which takes the pixels: no copy).
    fn encode(
        self,
        b: Bitmap,
        carried: &Carried,
        opts: &oxipng::Options,
    ) -> Result<Vec<u8>, Error> {
        let (width, height) = (b.width, b.height);
        let pixels = u64::from(width) * u64::from(height);
        let mut opts = std::borrow::Cow::Borrowed(opts);
        let indexed = match self {
            Packing::SortedPalette => sorted_indexed(&b),
            Packing::Samples => None,
        };
        let (color, data) = match indexed {
            Some((palette, indices)) => {
                drop(b);
                let o = opts.to_mut();
                o.palette_reduction = false;
                o.color_type_reduction = false;
                o.fast_evaluation = false;
                (oxipng::ColorType::Indexed { palette }, indices)
            }
            None => {
                let color = match b.layout {
                    Layout::Gray => oxipng::ColorType::Grayscale {
                        transparent_shade: None,
                    },
                    Layout::Rgb => oxipng::ColorType::RGB {
                        transparent_color: None,
                    },
                    Layout::Rgba => oxipng::ColorType::RGBA,
                };
                (color, b.data)
            }
        };
        let mut raw = oxipng::RawImage::new(width, height, color, oxipng::BitDepth::Eight, data)
            .map_err(fail)?;
        if let Some(icc) = &carried.icc {
            raw.add_icc_profile(icc);
        }
        for (kind, data) in &carried.chunks {
            raw.add_png_chunk(*kind, data.clone());
        }
        one_trial_at_a_time(pixels, || raw.create_optimized_png(&opts)).map_err(fail)
    }
}

/// The palette and indices of `b` when it has at most 256 colours (else `None`), the
/// palette in order of opacity (transparent entries first: the tRNS chunk stops at the last
/// one), then lightness.
fn sorted_indexed(b: &Bitmap) -> Option<(Vec<oxipng::RGBA8>, Vec<u8>)> {
    let ch = b.layout.channels();
    let mut seen: std::collections::HashMap<[u8; 4], u8> = std::collections::HashMap::new();
    let mut colours: Vec<[u8; 4]> = Vec::new();
    let mut indices = Vec::with_capacity(b.data.len() / ch);
    let mut last: Option<([u8; 4], u8)> = None;
    for p in b.data.chunks_exact(ch) {
        let c = quant::rgba(b.layout, p);
        let i = match last {
            Some((l, i)) if l == c => i,
            _ => {
                let i = match seen.get(&c) {
                    Some(&i) => i,
                    None => {
                        let i = u8::try_from(colours.len()).ok()?;
                        seen.insert(c, i);
                        colours.push(c);
                        i
                    }
                };
                last = Some((c, i));
                i
            }
        };
        indices.push(i);
    }
    // Indices in order of first appearance, renumbered in palette order.
    let mut order: Vec<usize> = (0..colours.len()).collect();
    order.sort_by_key(|&i| {
        let c = colours[i];
        let luma = 299 * u32::from(c[0]) + 587 * u32::from(c[1]) + 114 * u32::from(c[2]);
        (c[3], luma, c)
    });
    let mut renumber = [0u8; 256];
    for (new, &old) in order.iter().enumerate() {
        renumber[old] = new as u8;
    }
    indices
        .iter_mut()
        .for_each(|i| *i = renumber[usize::from(*i)]);
    let palette = order
        .iter()
        .map(|&i| {
            let c = colours[i];
            oxipng::RGBA8::new(c[0], c[1], c[2], c[3])
        })
        .collect();
    Some((palette, indices))
}

/// Above this many pixels, oxipng's trials run one at a time instead of on every core.
///
/// Each trial holds a filtered copy of the image (a byte per sample) and its compressor's
/// buffers: on two cores, a 24 MP photograph's search peaked at 356 MiB, over its goal of
/// 339 MiB (four times the decoded image plus 64 MiB), and at 286 MiB with the trials one
/// at a time, in the same 32.6 s (the trials at that size are few and deflate takes the
/// time). Below it (the 3.4 MP flower: 5.0 s on two cores, 5.2 s on one) they keep the
/// cores. The same size above which the metric samples tiles.
const ONE_TRIAL_AT_A_TIME_PIXELS: u64 = crate::metric::SCORE_PIXELS;

/// Runs `run` (an oxipng call) on a pool of one thread when the image has more than
/// [`ONE_TRIAL_AT_A_TIME_PIXELS`] pixels (oxipng runs its trials on the pool it is called
/// from); else, or when that thread cannot be started, as it is.
fn one_trial_at_a_time<T: Send>(pixels: u64, run: impl FnOnce() -> T + Send) -> T {
    if pixels > ONE_TRIAL_AT_A_TIME_PIXELS {
        if let Ok(pool) = rayon::ThreadPoolBuilder::new().num_threads(1).build() {
            return pool.install(run);
        }
    }
    run()
}

/// The posterization step for search setting `x`, log2 of the levels per channel: 256 /
/// levels, at least 2.
fn posterize_step(x: f32) -> u16 {
    (256.0 / 2f32.powf(x)).round().max(2.0) as u16
}

/// Colour channels rounded to multiples of `step` (alpha untouched): fewer distinct values,
/// which deflate after PNG's filters codes in fewer bits.
fn posterize(b: &Bitmap, step: u16) -> Bitmap {
    let lut: [u8; 256] = std::array::from_fn(|v| {
        let v = v as u16;
        (((v + step / 2) / step) * step).min(255) as u8
    });
    let ch = b.layout.channels();
    let colour = if b.layout == Layout::Rgba { 3 } else { ch };
    let mut data = b.data.clone();
    for p in data.chunks_exact_mut(ch) {
        for c in &mut p[..colour] {
            *c = lut[usize::from(*c)];
        }
    }
    quant::same_shape(b, data)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Results are compared by their image chunks alone: metadata chunks do not count.
    #[test]
    fn image_bytes_count_the_chunks_that_make_the_pixels() {
        let chunk = |kind: &[u8; 4], len: usize| {
            let mut c = (len as u32).to_be_bytes().to_vec();
            c.extend_from_slice(kind);
            c.extend(std::iter::repeat_n(7u8, len));
            c.extend_from_slice(&[0; 4]);
            c
        };
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        for (kind, len) in [
            (b"IHDR", 13),
            (b"tEXt", 500),
            (b"PLTE", 9),
            (b"tRNS", 3),
            (b"eXIf", 40),
            (b"IDAT", 100),
            (b"tIME", 7),
            (b"IEND", 0),
        ] {
            png.extend(chunk(kind, len));
        }
        assert_eq!(image_bytes(&png), 8 + (13 + 9 + 3 + 100) + 5 * 12);
        // A chunk running past the data ends the count.
        png.truncate(png.len() - 20);
        assert!(image_bytes(&png) <= png.len());
    }

    /// The full preset goes to the settings within 3% of the smallest fast size of their
    /// kind: the best palette is encoded in full even when posterized pixels sized smaller.
    #[test]
    fn palettes_and_posterized_pixels_are_ranked_apart_for_the_full_preset() {
        let palette = |colors| Setting::Palette {
            colors,
            strength: 0.5,
            weighting: Weighting::Pixels,
            spacing: Spacing::Oklab,
        };
        let sized = vec![
            (130, palette(10), 80.3),
            (100, Setting::Posterize { step: 8 }, 80.2),
            (120, palette(8), 80.1),
            (123, palette(9), 80.4),
            (104, Setting::Posterize { step: 6 }, 81.0),
            (103, Setting::Posterize { step: 7 }, 80.5),
        ];
        let kept: Vec<(Setting, f64)> = worth_the_full_preset(sized);
        assert_eq!(
            kept,
            [
                (Setting::Posterize { step: 8 }, 80.2),
                (palette(8), 80.1),
                (palette(9), 80.4),
                (Setting::Posterize { step: 7 }, 80.5),
            ]
        );
    }

    /// Runs [`fewest_colors`] on a score that passes from `needed` colours up, returning
    /// its answer and the counts it scored.
    fn count_search(needed: usize, seed: Option<usize>) -> (Option<usize>, Vec<usize>) {
        let mut asked = Vec::new();
        let mut eval = |k: usize| -> Result<f64, Error> {
            asked.push(k);
            Ok(if k >= needed { 85.0 } else { 70.0 })
        };
        let found = fewest_colors(&mut eval, seed, 80.0).unwrap();
        (
            found.map(|(k, score)| {
                assert_eq!(score, 85.0);
                k
            }),
            asked,
        )
    }

    /// Every answer passes and lies within the bisection's ratio of the fewest that pass;
    /// the scores taken stay within the documented bounds: 8 unseeded, 3 or 4 seeded at the
    /// count itself, 9 at most seeded anywhere.
    #[test]
    fn the_colour_count_search_brackets_within_its_bounds() {
        for needed in (2..=256).chain([257]) {
            let (found, asked) = count_search(needed, None);
            assert!(asked.len() <= 8, "{needed}: {asked:?}");
            let seeds = [needed, needed / 2, needed * 2, 2, 37, 200, 256];
            for seed in seeds.into_iter().filter(|&s| (2..=256).contains(&s)) {
                let (seeded, asked) = count_search(needed, Some(seed));
                assert!(asked.len() <= 9, "{needed} from {seed}: {asked:?}");
                if seed == needed {
                    assert!(asked.len() <= 4, "{needed} from itself: {asked:?}");
                }
                for answer in [found, seeded] {
                    match answer {
                        None => assert_eq!(needed, 257),
                        Some(k) => {
                            assert!(k >= needed && k <= 256);
                            assert!(
                                k as f32 <= (needed as f32 * COLOR_RATIO).ceil().max(2.0),
                                "{needed} from {seed}: {k}"
                            );
                        }
                    }
                }
            }
        }
    }

    /// A posterization search that stops on a parameter already tried (coarse tolerance, few
    /// steps) still ends on the boundary: the step it returns passes and the next coarser
    /// step fails.
    #[test]
    fn posterization_steps_left_between_pass_and_fail_are_bisected() {
        let b = crate::testing::image("jpeg/pil-flower.jpg");
        let reference = Reference::new(&b).unwrap();
        let plan = Plan {
            lo: 2.0,
            hi: 7.9,
            start: 6.0,
            slope: 6.0,
            x_tolerance: 1.5,
            max_evals: 2,
        };
        let mut n = 0;
        let make = |st| posterize(&b, st);
        let (pass, score) = best_of_family(
            Search::new(plan, 80.0),
            &reference,
            80.0,
            &Stop::never(),
            &mut n,
            &posterize_step,
            &make,
        )
        .unwrap()
        .expect("a step passes");
        assert!(n > 2, "nothing bisected after the search's {n} scores");
        assert_eq!(reference.score(&make(pass)).unwrap(), score);
        assert!(score >= 80.0);
        let coarser = reference.score(&make(pass + 1)).unwrap();
        assert!(
            coarser < 80.0,
            "step {} also passes: {coarser:.2}",
            pass + 1
        );
    }

    /// A grey photograph whose palette family needs full dithering: at the colour count the
    /// bisection settles on, a lower strength still passes (the score is not monotonic in
    /// the strength) and makes a smaller file; the trimmed setting is offered instead of the
    /// strength's own, with its score.
    #[test]
    fn a_dithered_palette_is_trimmed_to_the_lowest_strength_that_passes() {
        let b = crate::testing::image("png/pil-exif-72dpi-int.grey.png");
        let (reference, prep) = (Reference::new(&b).unwrap(), Prepared::new(&b));
        let mut n = 0;
        let found = palettes(
            &prep,
            &b,
            &reference,
            (Weighting::Pixels, Spacing::Oklab),
            80.0,
            &Stop::never(),
            &mut n,
        )
        .unwrap();
        let bytes = |s: Setting| {
            let opts = oxipng_options(Metadata::Strip, 0);
            Packing::Samples
                .encode(s.apply(&prep, &b), &Carried::default(), &opts)
                .unwrap()
                .len()
        };
        let mut trims = 0;
        for &(setting, score) in &found {
            let Setting::Palette {
                colors,
                strength,
                weighting,
                spacing,
            } = setting
            else {
                continue;
            };
            if DITHER.contains(&strength) {
                continue;
            }
            trims += 1;
            let above = DITHER.iter().position(|&d| d > strength).unwrap();
            let (previous, own) = (DITHER[above - 1], DITHER[above]);
            assert!(
                previous < strength && strength < own,
                "{strength} not in ({previous}, {own})"
            );
            let again = reference.score(&setting.apply(&prep, &b)).unwrap();
            assert_eq!(again, score);
            assert!(again >= 80.0, "trimmed setting scores {again:.2}");
            let own_setting = Setting::Palette {
                colors,
                strength: own,
                weighting,
                spacing,
            };
            let own_score = reference.score(&own_setting.apply(&prep, &b)).unwrap();
            assert!(own_score >= 80.0, "strength {own} scores {own_score:.2}");
            assert!(
                bytes(setting) < bytes(own_setting),
                "strength {strength} is no smaller than {own}"
            );
        }
        assert!(trims > 0, "no strength trimmed: {found:?}");
    }

    /// The colours of the palette at dithering strength 0.5 (or its trim) that `weighting`'s
    /// family settles on for `b`.
    fn half_strength_colours(b: &Bitmap, weighting: Weighting, spacing: Spacing) -> usize {
        let (reference, prep) = (Reference::new(b).unwrap(), Prepared::new(b));
        let mut n = 0;
        let found = palettes(
            &prep,
            b,
            &reference,
            (weighting, spacing),
            80.0,
            &Stop::never(),
            &mut n,
        );
        found
            .unwrap()
            .into_iter()
            .find_map(|(s, score)| match s {
                Setting::Palette {
                    colors, strength, ..
                } if strength > 0.0 && strength <= 0.5 => {
                    assert!(score >= 80.0);
                    Some(colors)
                }
                _ => None,
            })
            .expect("a half-strength palette passes")
    }

    /// A small grey photograph whose dark, noisy hat took grey levels that the face needed:
    /// weighted by smoothness, its palette passes with fewer colours.
    #[test]
    fn smoothness_weighting_passes_a_grey_photograph_with_fewer_colours() {
        let b = crate::testing::image("png/mpl-grace_hopper.grey-half.png");
        let smooth = half_strength_colours(&b, Weighting::Smoothness, Spacing::Oklab);
        let pixels = half_strength_colours(&b, Weighting::Pixels, Spacing::Oklab);
        assert!(smooth < pixels, "{smooth} colours against {pixels}");
    }

    /// A dithered palette packed with its entries in lightness order decodes to the same
    /// pixels and makes a smaller file than oxipng's own packing of the samples.
    #[test]
    fn a_sorted_palette_keeps_the_pixels_and_packs_dithering_smaller() {
        let b = crate::testing::image("png/mpl-grace_hopper.grey-half.png");
        let prep = Prepared::new(&b);
        let setting = Setting::Palette {
            colors: 17,
            strength: 0.5,
            weighting: Weighting::Smoothness,
            spacing: Spacing::Oklab,
        };
        let pixels = setting.apply(&prep, &b);
        let opts = oxipng_options(Metadata::Strip, 0);
        let samples = Packing::Samples
            .encode(pixels.clone(), &Carried::default(), &opts)
            .unwrap();
        let sorted = Packing::SortedPalette
            .encode(pixels.clone(), &Carried::default(), &opts)
            .unwrap();
        let back = crate::decode_candidate(&sorted)
            .unwrap()
            .frames
            .remove(0)
            .bitmap;
        let ch = back.layout.channels();
        assert_eq!((back.width, back.height), (b.width, b.height));
        for (i, p) in back.data.chunks_exact(ch).enumerate() {
            assert!(
                p[..ch.min(3)].iter().all(|&v| v == pixels.data[i]),
                "pixel {i}"
            );
        }
        assert!(
            sorted.len() < samples.len(),
            "sorted {} B, samples {} B",
            sorted.len(),
            samples.len()
        );
    }

    /// Palette order: transparent and translucent entries first, by opacity, then by
    /// lightness; more than 256 colours are not indexed.
    #[test]
    fn sorted_indices_order_the_palette_by_opacity_then_lightness() {
        let rgba = |data: Vec<u8>| Bitmap {
            width: (data.len() / 4) as u32,
            height: 1,
            layout: Layout::Rgba,
            data,
        };
        let b = rgba(vec![
            200, 200, 200, 255, 10, 10, 10, 255, 90, 9, 9, 0, 50, 50, 50, 128, 10, 10, 10, 255, 1,
            2, 3, 0,
        ]);
        let (palette, indices) = sorted_indexed(&b).unwrap();
        let entries: Vec<[u8; 4]> = palette.iter().map(|c| [c.r, c.g, c.b, c.a]).collect();
        assert_eq!(
            entries,
            [
                [0, 0, 0, 0],
                [50, 50, 50, 128],
                [10, 10, 10, 255],
                [200, 200, 200, 255]
            ]
        );
        assert_eq!(indices, [3, 2, 0, 1, 2, 0]);
        let many = rgba(
            (0..257u32)
                .flat_map(|i| [i as u8, (i >> 8) as u8, 0, 255])
                .collect(),
        );
        assert!(sorted_indexed(&many).is_none());
    }

    #[test]
    fn oxipng_runs_its_trials_one_at_a_time_on_large_images_only() {
        let threads = |pixels| one_trial_at_a_time(pixels, rayon::current_num_threads);
        assert_eq!(threads(ONE_TRIAL_AT_A_TIME_PIXELS + 1), 1);
        assert_eq!(
            threads(ONE_TRIAL_AT_A_TIME_PIXELS),
            rayon::current_num_threads()
        );
    }
}
