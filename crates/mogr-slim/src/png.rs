//! PNG: palette quantization or posterization when the score allows, lossless deflate
//! optimization always (oxipng), the smallest result wins.

use mogr_core::{Admitted, Error, FormatName, FramePick, ImageFormat, Metadata, Options, Stop};
use mogr_core::{Bitmap, Layout, Raster};
use quantette::deps::palette::Srgb;

use crate::metric::Reference;
use crate::pace::Pace;
use crate::search::{Plan, Search};
use crate::{Found, Searched};

fn fail(e: impl std::fmt::Display) -> Error {
    Error::Encode {
        format: FormatName(Some(ImageFormat::Png)),
        message: format!("oxipng: {e}"),
        source: None,
    }
}

/// oxipng's preset 2 below a megapixel; preset 1 above, where preset 2 takes 70% longer for
/// about 0.1% fewer bytes (measured on the corpus's 3.4 MP photograph).
fn oxipng_options(metadata: Metadata, pixels: u64) -> oxipng::Options {
    let mut o = oxipng::Options::from_preset(if pixels > 1_000_000 { 1 } else { 2 });
    o.strip = match metadata {
        Metadata::Keep => oxipng::StripChunks::None,
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

fn search(
    input: &[u8],
    raster: &Raster,
    options: &Options,
    threshold: f64,
    stop: &Stop,
) -> Result<Found, Error> {
    let bitmap = raster.first();
    let reference = Reference::new(bitmap)?;
    let mut found = Found::new(threshold);
    // Lossy families: the most aggressive setting of each that passes, as pixels. The two
    // searches are independent: the palette one runs on a second thread.
    let colors = |x: f32| 2f32.powf(x).round() as u16;
    let step = |x: f32| (256.0 / 2f32.powf(x)).round().max(2.0) as u16;
    let reference = &reference;
    let (palette, posterized) = std::thread::scope(|scope| {
        let palette = (bitmap.layout != Layout::Gray).then(|| {
            scope.spawn(move || {
                // Palettes: x is log2 of the colour count, 2..=256.
                let plan = Plan::palette(5);
                let s = Search::new(plan, threshold);
                let mut n = 0;
                let best = best_of_family(s, reference, threshold, stop, &mut n, &colors, &|c| {
                    quantize(bitmap, c)
                });
                (best, n)
            })
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
        let best = best_of_family(s, reference, threshold, stop, &mut n, &step, &|st| {
            posterize(bitmap, st)
        });
        let palette = palette.map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)));
        (palette, (best, n))
    });
    let mut lossy: Vec<(Bitmap, f64)> = Vec::new();
    if let Some((best, n)) = palette {
        found.encodes += n;
        lossy.extend(best?);
    }
    found.encodes += posterized.1;
    lossy.extend(posterized.0?);
    let pixels = u64::from(bitmap.width) * u64::from(bitmap.height);
    let mut opts = oxipng_options(options.metadata, pixels);
    opts.optimize_alpha = true;
    // oxipng stops its trials at a timeout of its own, set before each run to the time left
    // before the deadline (a run cut short still returns a valid file, which the stop check
    // after it refuses).
    // The families' results are sized with oxipng's fastest preset first; only those within
    // 3% of the smallest get the full preset (the slow part: near-optimal deflate).
    let mut quick = oxipng::Options::from_preset(0);
    quick.strip = opts.strip.clone();
    quick.optimize_alpha = true;
    let mut sized = Vec::with_capacity(lossy.len());
    let several = lossy.len() > 1;
    let (quick_pace, full_pace) = (Pace::default(), Pace::default());
    for (pixels, score) in lossy {
        let len = if several {
            found.encodes += 1;
            quick_pace.step(stop, || {
                quick.timeout = stop.remaining();
                Ok(encode(&pixels, raster.icc.as_deref(), &quick)?.len())
            })?
        } else {
            0
        };
        sized.push((len, pixels, score));
    }
    let smallest = sized.iter().map(|(len, ..)| *len).min().unwrap_or(0);
    for (len, pixels, score) in sized {
        if len * 100 > smallest * 103 {
            continue;
        }
        let bytes = full_pace.step(stop, || {
            opts.timeout = stop.remaining();
            encode(&pixels, raster.icc.as_deref(), &opts)
        })?;
        stop.check()?;
        found.encodes += 1;
        found.offer(bytes, score);
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
            oxipng::optimize_from_memory(input, &lossless).map_err(fail)
        })?;
        stop.check()?;
        found.encodes += 1;
        found.offer(bytes, 100.0);
    }
    Ok(found)
}

/// Runs one lossy family's search: `key` maps a setting to the parameter (neighbouring
/// settings may give the same one, which ends the search), `make` the parameter to pixels.
/// Returns the passing pixels at the lowest setting, with their score.
fn best_of_family(
    mut s: Search,
    reference: &Reference,
    threshold: f64,
    stop: &Stop,
    encodes: &mut u32,
    key: &dyn Fn(f32) -> u16,
    make: &dyn Fn(u16) -> Bitmap,
) -> Result<Option<(Bitmap, f64)>, Error> {
    let mut tried = Vec::new();
    let mut best = None;
    let pace = Pace::default();
    while let Some(x) = s.next() {
        let k = key(x);
        if tried.contains(&k) {
            break; // converged
        }
        tried.push(k);
        let (pixels, score) = pace.step(stop, || {
            let pixels = make(k);
            let score = reference.score(&pixels)?;
            Ok((pixels, score))
        })?;
        *encodes += 1;
        s.record(x, score);
        if score >= threshold && s.best().is_some_and(|p| p.x == x) {
            best = Some((pixels, score));
        }
    }
    Ok(best)
}

/// Pixels as an optimized PNG (oxipng picks colour type, palette, bit depth and filters).
fn encode(b: &Bitmap, icc: Option<&[u8]>, opts: &oxipng::Options) -> Result<Vec<u8>, Error> {
    let color = match b.layout {
        Layout::Gray => oxipng::ColorType::Grayscale {
            transparent_shade: None,
        },
        Layout::Rgb => oxipng::ColorType::RGB {
            transparent_color: None,
        },
        Layout::Rgba => oxipng::ColorType::RGBA,
    };
    let mut raw = oxipng::RawImage::new(
        b.width,
        b.height,
        color,
        oxipng::BitDepth::Eight,
        b.data.clone(),
    )
    .map_err(fail)?;
    if let Some(icc) = icc {
        raw.add_icc_profile(icc);
    }
    raw.create_optimized_png(opts).map_err(fail)
}

/// At most `colors` colours: quantette (Wu's method in Oklab, Floyd-Steinberg dithering) for
/// opaque images; for images with alpha, NeuQuant's palette refined by k-means in
/// premultiplied RGBA.
fn quantize(b: &Bitmap, colors: u16) -> Bitmap {
    let colors = colors.clamp(2, 256);
    match b.layout {
        Layout::Rgba => {
            let nq = color_quant::NeuQuant::new(10, usize::from(colors), &b.data);
            let palette = refine_rgba(&b.data, nq.color_map_rgba(), 8);
            let data = map_rgba(&b.data, &palette);
            Bitmap { data, ..b.clone() }
        }
        _ => {
            let rgb = b.clone().without_alpha();
            let pixels: Vec<Srgb<u8>> = rgb
                .data
                .chunks_exact(3)
                .map(|p| Srgb::new(p[0], p[1], p[2]))
                .collect();
            let Ok(image) = quantette::ImageRef::new(rgb.width, rgb.height, pixels.as_slice())
            else {
                return rgb;
            };
            let Ok(size) = quantette::PaletteSize::try_from(colors) else {
                return rgb;
            };
            let out = quantette::Pipeline::new()
                .palette_size(size)
                .input_image(image)
                .output_srgb8_image();
            let data = out
                .as_slice()
                .iter()
                .flat_map(|c| [c.red, c.green, c.blue])
                .collect();
            Bitmap { data, ..rgb }
        }
    }
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
    Bitmap { data, ..b.clone() }
}

/// A colour premultiplied by its alpha, with the alpha: distances between these weigh a
/// colour difference by how visible it is.
fn premultiplied(p: &[u8]) -> [f32; 4] {
    let a = f32::from(p[3]) / 255.0;
    [
        f32::from(p[0]) * a,
        f32::from(p[1]) * a,
        f32::from(p[2]) * a,
        f32::from(p[3]),
    ]
}

fn nearest(palette: &[[f32; 4]], c: [f32; 4]) -> usize {
    let mut best = (f32::MAX, 0);
    for (i, q) in palette.iter().enumerate() {
        let d = (q[0] - c[0]).powi(2)
            + (q[1] - c[1]).powi(2)
            + (q[2] - c[2]).powi(2)
            + (q[3] - c[3]).powi(2);
        if d < best.0 {
            best = (d, i);
        }
    }
    best.1
}

/// Lloyd iterations (k-means) on the distinct colours of at most about 65,000 sampled
/// pixels, weighted by their counts, starting from `map` (RGBA entries); returns the
/// palette as premultiplied entries.
fn refine_rgba(data: &[u8], map: Vec<u8>, iterations: usize) -> Vec<[f32; 4]> {
    use std::collections::HashMap;
    let mut palette: Vec<[f32; 4]> = map.chunks_exact(4).map(premultiplied).collect();
    let pixels = data.len() / 4;
    let step = pixels.div_ceil(1 << 16).max(1);
    let mut counts: HashMap<u32, u32> = HashMap::new();
    for p in data.chunks_exact(4).step_by(step) {
        // Fully transparent pixels are one colour whatever their RGB.
        let key = if p[3] == 0 {
            0
        } else {
            u32::from_be_bytes([p[0], p[1], p[2], p[3]])
        };
        *counts.entry(key).or_insert(0) += 1;
    }
    let colours: Vec<([f32; 4], f32)> = counts
        .into_iter()
        .map(|(k, n)| (premultiplied(&k.to_be_bytes()), n as f32))
        .collect();
    for _ in 0..iterations {
        let mut sums = vec![[0f32; 5]; palette.len()];
        for (c, n) in &colours {
            let s = &mut sums[nearest(&palette, *c)];
            for ch in 0..4 {
                s[ch] += c[ch] * n;
            }
            s[4] += n;
        }
        for (q, s) in palette.iter_mut().zip(&sums) {
            if s[4] > 0.0 {
                *q = [s[0] / s[4], s[1] / s[4], s[2] / s[4], s[3] / s[4]];
            }
        }
    }
    palette
}

/// Every pixel as its nearest palette entry (premultiplied entries back to RGBA).
fn map_rgba(data: &[u8], palette: &[[f32; 4]]) -> Vec<u8> {
    use std::collections::HashMap;
    let rgba: Vec<[u8; 4]> = palette
        .iter()
        .map(|q| {
            let a = q[3].round().clamp(0.0, 255.0);
            let un = |v: f32| {
                if a > 0.0 {
                    (v * 255.0 / a).round().clamp(0.0, 255.0) as u8
                } else {
                    0
                }
            };
            [un(q[0]), un(q[1]), un(q[2]), a as u8]
        })
        .collect();
    let mut cache: HashMap<u32, usize> = HashMap::new();
    data.chunks_exact(4)
        .flat_map(|p| {
            let key = u32::from_be_bytes([p[0], p[1], p[2], p[3]]);
            let i = *cache
                .entry(key)
                .or_insert_with(|| nearest(palette, premultiplied(p)));
            rgba[i]
        })
        .collect()
}

#[cfg(test)]
mod rgba_tests {
    use super::*;

    /// Squared error (premultiplied) of `data` against its mapping to `palette`.
    fn error(data: &[u8], palette: &[[f32; 4]]) -> f64 {
        data.chunks_exact(4)
            .map(|p| {
                let c = premultiplied(p);
                let q = palette[nearest(palette, c)];
                (0..4)
                    .map(|i| f64::from((c[i] - q[i]).powi(2)))
                    .sum::<f64>()
            })
            .sum()
    }

    #[test]
    fn k_means_lowers_the_error_of_neuquants_palette() {
        // A 96x96 RGBA image: colour gradients under an alpha ramp with a transparent band.
        let data: Vec<u8> = (0..96u32 * 96)
            .flat_map(|i| {
                let (x, y) = (i % 96, i / 96);
                let a = if y < 16 { 0 } else { (x * 255 / 95) as u8 };
                [(x * 2) as u8, (y * 2) as u8, ((x + y) % 256) as u8, a]
            })
            .collect();
        let nq = color_quant::NeuQuant::new(10, 16, &data);
        let start: Vec<[f32; 4]> = nq
            .color_map_rgba()
            .chunks_exact(4)
            .map(premultiplied)
            .collect();
        let refined = refine_rgba(&data, nq.color_map_rgba(), 8);
        let (before, after) = (error(&data, &start), error(&data, &refined));
        assert!(after < before * 0.9, "{after} vs {before}");
        // Mapping gives pixels of the palette only, transparent ones fully transparent.
        let mapped = map_rgba(&data, &refined);
        let distinct: std::collections::HashSet<&[u8]> = mapped.chunks_exact(4).collect();
        assert!(distinct.len() <= 16);
        assert!(mapped.chunks_exact(4).take(96 * 16).all(|p| p[3] == 0));
    }
}
