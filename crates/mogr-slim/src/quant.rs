//! Palette quantization for imageSlim PNG: a palette built by median cut and refined by
//! k-means in a perceptual space (Oklab; premultiplied by alpha when there is alpha), and a
//! remapping with Floyd–Steinberg error diffusion whose strength is a search parameter and
//! is lowered on edges and texture, where dithering noise buys no quality and costs bytes.
//!
//! A palette's colours are weighted by pixel count or, in a second family the PNG search
//! also tries, by smoothness ([`Weighting`]); that family spaces a grey image's levels for
//! the lights, and a grey image also gets a family of evenly spaced levels ([`Spacing`]).
//!
//! Every layout goes through the same code: points are four floats (`L, a, b, alpha`; alpha
//! is 1 for opaque images and the colour is multiplied by it otherwise, the lightness
//! around mid grey, [`GREY_L`]), and grey images get grey palette entries only.

use mogr_core::{Bitmap, Layout};
use std::collections::HashMap;

/// Oklab lightness of mid grey (sRGB 128: 0.5999), the origin of the lightness axis: a
/// translucent colour's lightness is premultiplied by its alpha around it, so that the
/// difference of two points' lightness is the difference of the colours composed over mid
/// grey (as the metric composes them), and over white or black that plus a multiple of
/// their alpha difference ([`distance`]). Around black (plain premultiplication), an alpha
/// error looked free on dark colours and costly on mid-grey ones, the reverse of what shows
/// over grey: a 256-colour palette of a translucent picture (`pil-transparent.webp`) scored
/// 77.5 that way, 80.6 around grey.
const GREY_L: f32 = 0.6;
/// A point of the quantization space.
type Point = [f32; 4];

/// How much alpha's spread weighs against colour's when median cut picks the axis to split
/// a box on (distances themselves compose alpha with colour: [`distance`]).
const ALPHA_WEIGHT: f32 = 0.5;
/// At most this many distinct colours enter the palette building (more are merged by
/// dropping low bits, keeping the weighted mean of each merged group).
const MAX_HISTOGRAM: usize = 1 << 15;
/// k-means iterations over the histogram.
const KMEANS_ITERATIONS: usize = 8;

/// What a palette's colours are weighted by when it is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Weighting {
    /// Every pixel alike.
    Pixels,
    /// Pixels in smooth areas up to [`SMOOTH_WEIGHT`] times those on edges and texture,
    /// where the metric (like the eye) misses errors: the palette spends its entries where
    /// they show. On a grey photograph whose dark, noisy hat took 5 of 17 grey levels, this
    /// moved them to the face and scored 80 at 17 colours where uniform weights needed 20; on
    /// other photographs the uniform palette passes with fewer colours. The search tries both.
    Smoothness,
}

/// How a grey image's palette spaces its levels: the lightness scale its median cut and
/// k-means run on, and its pixels are mapped and dithered on. Colour images (and grey ones
/// with alpha) are always built in Oklab.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Spacing {
    /// By Oklab lightness (about the cube root of luminance), as colours are.
    Oklab,
    /// Evenly in sRGB between the image's darkest and lightest grey, whatever its
    /// histogram.
    Even,
    /// By Oklab lightness raised to [`LIGHTS_POWER`] (about luminance to the power 0.53):
    /// fewer levels in the darks, more in the lights. On some grey images the metric wants
    /// those: 16-bit grey noise passed with pngquant's 14 levels, spread about evenly in
    /// sRGB, where k-means on Oklab lightness needed 16 (its 14 scored 77.3, these 80.6);
    /// on others Oklab's levels pass with fewer colours, so the PNG search tries both.
    Lights,
}

/// The power of Oklab lightness by which [`Spacing::Lights`] spaces grey levels. Measured
/// on 14 grey images with every palette built this way, against the pngquant search: 1.3
/// left a loss of 3% (the noise), 2.0 three of 3-5%, 1.6 none.
const LIGHTS_POWER: f32 = 1.6;

/// The weight of a pixel in the smoothest area against one on an edge, for
/// [`Weighting::Smoothness`].
const SMOOTH_WEIGHT: u64 = 3;

/// An image prepared for quantization: the colour histograms its palettes are built from,
/// and its dither map.
pub(crate) struct Prepared {
    layout: Layout,
    lut: [f32; 256],
    /// Distinct colours (merged when many) with their weights: by pixel count, and by
    /// smoothness.
    histogram: Vec<(Point, f32)>,
    smooth_histogram: Vec<(Point, f32)>,
    /// Per pixel, how much dithering it takes, 0..=255 (255 in smooth areas, down to 0 on
    /// edges and texture).
    dither_map: Vec<u8>,
    /// A grey image's darkest and lightest grey ([`Spacing::Even`]).
    grey_range: (u8, u8),
}

/// Points of recently seen colours, direct-mapped by a hash of the colour: converting to
/// Oklab takes three cube roots, and images repeat their colours.
struct PointCache {
    /// Colour keys; `u64::MAX` (no colour) marks an empty slot.
    keys: Vec<u64>,
    points: Vec<Point>,
}

impl PointCache {
    const BITS: u32 = 14;

    fn new() -> PointCache {
        PointCache {
            keys: vec![u64::MAX; 1 << Self::BITS],
            points: vec![[0.0; 4]; 1 << Self::BITS],
        }
    }

    fn get(&mut self, lut: &[f32; 256], layout: Layout, p: &[u8]) -> Point {
        let key = match layout {
            Layout::Gray => u32::from(p[0]),
            Layout::Rgb => u32::from_be_bytes([0, p[0], p[1], p[2]]),
            Layout::Rgba => u32::from_be_bytes([p[0], p[1], p[2], p[3]]),
        };
        let slot = (key.wrapping_mul(0x9E37_79B1) >> (32 - Self::BITS)) as usize;
        if self.keys[slot] != u64::from(key) {
            self.keys[slot] = u64::from(key);
            self.points[slot] = point_of(lut, layout, p);
        }
        self.points[slot]
    }
}

/// A palette: the entries as points and as 8-bit samples of the image's layout.
pub(crate) struct Palette {
    points: Vec<Point>,
    samples: Vec<[u8; 4]>,
    /// Whether the points' lightness is lifted ([`Spacing::Lights`]): the image's pixels
    /// are then lifted likewise before they are mapped.
    lifted: bool,
}

/// Oklab lightness relative to mid grey, raised to [`LIGHTS_POWER`] (relative to mid grey's
/// power).
fn lift(l: f32) -> f32 {
    (l + GREY_L).max(0.0).powf(LIGHTS_POWER) - GREY_L.powf(LIGHTS_POWER)
}

/// The inverse of [`lift`].
fn unlift(l: f32) -> f32 {
    (l + GREY_L.powf(LIGHTS_POWER))
        .max(0.0)
        .powf(1.0 / LIGHTS_POWER)
        - GREY_L
}

impl Palette {
    /// The number of entries.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.points.len()
    }
}

fn srgb_to_linear(v: u8) -> f32 {
    let c = f32::from(v) / 255.0;
    if c <= 0.04045 {
        c / 12.92
    } else {
        ((c + 0.055) / 1.055).powf(2.4)
    }
}

fn linear_to_srgb8(c: f32) -> u8 {
    let c = c.clamp(0.0, 1.0);
    let s = if c <= 0.003_130_8 {
        c * 12.92
    } else {
        1.055 * c.powf(1.0 / 2.4) - 0.055
    };
    (s * 255.0).round() as u8
}

fn oklab(lut: &[f32; 256], r: u8, g: u8, b: u8) -> [f32; 3] {
    let (r, g, b) = (lut[r as usize], lut[g as usize], lut[b as usize]);
    let l = (0.412_221_47 * r + 0.536_332_55 * g + 0.051_445_995 * b).cbrt();
    let m = (0.211_903_5 * r + 0.680_699_5 * g + 0.107_396_96 * b).cbrt();
    let s = (0.088_302_46 * r + 0.281_718_85 * g + 0.629_978_7 * b).cbrt();
    [
        0.210_454_26 * l + 0.793_617_8 * m - 0.004_072_047 * s,
        1.977_998_5 * l - 2.428_592_2 * m + 0.450_593_7 * s,
        0.025_904_037 * l + 0.782_771_77 * m - 0.808_675_77 * s,
    ]
}

fn oklab_to_srgb8(c: [f32; 3]) -> [u8; 3] {
    let l = c[0] + 0.396_337_78 * c[1] + 0.215_803_76 * c[2];
    let m = c[0] - 0.105_561_346 * c[1] - 0.063_854_17 * c[2];
    let s = c[0] - 0.089_484_18 * c[1] - 1.291_485_5 * c[2];
    let (l, m, s) = (l * l * l, m * m * m, s * s * s);
    [
        linear_to_srgb8(4.076_741_7 * l - 3.307_711_6 * m + 0.230_969_94 * s),
        linear_to_srgb8(-1.268_438 * l + 2.609_757_4 * m - 0.341_319_38 * s),
        linear_to_srgb8(-0.004_196_086_3 * l - 0.703_418_6 * m + 1.707_614_7 * s),
    ]
}

/// The point of 8-bit samples `p` (grey, RGB or RGBA).
fn point_of(lut: &[f32; 256], layout: Layout, p: &[u8]) -> Point {
    match layout {
        Layout::Gray => [oklab(lut, p[0], p[0], p[0])[0] - GREY_L, 0.0, 0.0, 1.0],
        Layout::Rgb => {
            let c = oklab(lut, p[0], p[1], p[2]);
            [c[0] - GREY_L, c[1], c[2], 1.0]
        }
        Layout::Rgba => {
            let a = f32::from(p[3]) / 255.0;
            let c = oklab(lut, p[0], p[1], p[2]);
            [(c[0] - GREY_L) * a, c[1] * a, c[2] * a, a]
        }
    }
}

/// The 8-bit samples nearest to point `q` in `layout` (unused channels 0).
fn samples_of(layout: Layout, q: Point) -> [u8; 4] {
    match layout {
        Layout::Gray => {
            let v = oklab_to_srgb8([q[0] + GREY_L, 0.0, 0.0])[0];
            [v, 0, 0, 0]
        }
        Layout::Rgb => {
            let c = oklab_to_srgb8([q[0] + GREY_L, q[1], q[2]]);
            [c[0], c[1], c[2], 0]
        }
        Layout::Rgba => {
            let a = (q[3] * 255.0).round().clamp(0.0, 255.0) as u8;
            if a == 0 {
                return [0; 4];
            }
            let f = 255.0 / f32::from(a);
            let c = oklab_to_srgb8([q[0] * f + GREY_L, q[1] * f, q[2] * f]);
            [c[0], c[1], c[2], a]
        }
    }
}

/// The squared distance between two points as it shows composed over a white and over a
/// black background, whichever is larger (over any grey in between it is no larger; Oklab's
/// chroma composes the same over every grey). An alpha difference alone costs what it
/// shows over white or black, not a weight of its own: a fixed weight either spent palette
/// entries on alpha levels that do not show over the metric's grey (a grey photograph with
/// a soft alpha edge needed 1.5x the colours pngquant did) or, set lower, let the alpha
/// drift where it shows over white. Never below the difference over mid grey (the lightness
/// difference there is a weighted mean of those over white and black), hence never below the
/// lightness difference squared, which [`Nearest`]'s search relies on.
fn distance(a: &Point, b: &Point) -> f32 {
    let (d0, da) = (a[0] - b[0], a[3] - b[3]);
    let over_white = d0 - (1.0 - GREY_L) * da;
    let over_black = d0 + GREY_L * da;
    let (d1, d2) = (a[1] - b[1], a[2] - b[2]);
    (over_white * over_white).max(over_black * over_black) + d1 * d1 + d2 * d2
}

/// Nearest-entry search: entries sorted by lightness, searched outwards from the query's
/// lightness until the lightness gap alone exceeds the best distance.
struct Nearest {
    sorted: Vec<(Point, u8)>,
}

impl Nearest {
    fn new(points: &[Point]) -> Nearest {
        let mut sorted: Vec<(Point, u8)> = points
            .iter()
            .enumerate()
            .map(|(i, p)| (*p, i as u8))
            .collect();
        sorted.sort_by(|a, b| a.0[0].total_cmp(&b.0[0]));
        Nearest { sorted }
    }

    fn find(&self, q: &Point) -> u8 {
        let s = &self.sorted;
        let start = s.partition_point(|e| e.0[0] < q[0]);
        let (mut best, mut best_d) = (0u8, f32::INFINITY);
        let (mut lo, mut hi) = (start, start);
        loop {
            let mut progressed = false;
            if hi < s.len() {
                let gap = s[hi].0[0] - q[0];
                if gap * gap < best_d {
                    let d = distance(&s[hi].0, q);
                    if d < best_d {
                        (best, best_d) = (s[hi].1, d);
                    }
                    hi += 1;
                    progressed = true;
                } else {
                    hi = s.len();
                }
            }
            if lo > 0 {
                let gap = q[0] - s[lo - 1].0[0];
                if gap * gap < best_d {
                    let d = distance(&s[lo - 1].0, q);
                    if d < best_d {
                        (best, best_d) = (s[lo - 1].1, d);
                    }
                    lo -= 1;
                    progressed = true;
                } else {
                    lo = 0;
                }
            }
            if !progressed {
                return best;
            }
        }
    }
}

impl Prepared {
    /// Prepares the palettes of `b` (any layout).
    pub fn new(b: &Bitmap) -> Prepared {
        let lut: [f32; 256] = std::array::from_fn(|v| srgb_to_linear(v as u8));
        let dither_map = dither_map(b, &lut);
        let (mut histogram, mut smooth_histogram) = (Vec::new(), Vec::new());
        for (key, n, smooth) in colour_counts(b, &dither_map) {
            let p = point_of(&lut, Layout::Rgba, &key.to_be_bytes());
            histogram.push((p, n));
            smooth_histogram.push((p, smooth));
        }
        let grey_range = match b.layout {
            Layout::Gray => (
                b.data.iter().copied().min().unwrap_or(0),
                b.data.iter().copied().max().unwrap_or(255),
            ),
            _ => (0, 255),
        };
        Prepared {
            layout: b.layout,
            lut,
            histogram,
            smooth_histogram,
            dither_map,
            grey_range,
        }
    }

    /// A palette of at most `colors` entries, the colours weighted by `weighting`, a grey
    /// image's levels spaced by `spacing`: median cut, then k-means.
    pub fn palette(&self, colors: usize, weighting: Weighting, spacing: Spacing) -> Palette {
        let colors = colors.clamp(2, 256);
        if spacing == Spacing::Even && self.layout == Layout::Gray {
            return self.even_greys(colors);
        }
        let histogram = match weighting {
            Weighting::Pixels => &self.histogram,
            Weighting::Smoothness => &self.smooth_histogram,
        };
        let lifted: Vec<(Point, f32)>;
        let lifting = spacing == Spacing::Lights && self.layout == Layout::Gray;
        let histogram = if lifting {
            lifted = histogram
                .iter()
                .map(|(p, n)| ([lift(p[0]), 0.0, 0.0, 1.0], *n))
                .collect();
            &lifted
        } else {
            histogram
        };
        let mut centres = median_cut(histogram, colors);
        for _ in 0..KMEANS_ITERATIONS {
            let nearest = Nearest::new(&centres);
            let mut sums = vec![[0f32; 5]; centres.len()];
            for (p, n) in histogram {
                let s = &mut sums[usize::from(nearest.find(p))];
                for c in 0..4 {
                    s[c] += p[c] * n;
                }
                s[4] += n;
            }
            let mut moved = false;
            for (c, s) in centres.iter_mut().zip(&sums) {
                if s[4] > 0.0 {
                    let m = [s[0] / s[4], s[1] / s[4], s[2] / s[4], s[3] / s[4]];
                    moved |= distance(c, &m) > 1e-9;
                    *c = m;
                }
            }
            if !moved {
                break;
            }
        }
        if lifting {
            for c in &mut centres {
                c[0] = unlift(c[0]);
            }
        }
        // Entries as the samples they will be written as, and back to points, so that the
        // error diffusion works from what the file holds.
        let mut samples: Vec<[u8; 4]> = centres
            .iter()
            .map(|q| samples_of(self.layout, *q))
            .collect();
        samples.sort_unstable();
        samples.dedup();
        let ch = self.layout.channels();
        let points = samples
            .iter()
            .map(|s| {
                let mut p = point_of(&self.lut, self.layout, &s[..ch]);
                if lifting {
                    p[0] = lift(p[0]);
                }
                p
            })
            .collect();
        Palette {
            points,
            samples,
            lifted: lifting,
        }
    }

    /// `colors` grey levels evenly spaced between the image's darkest and lightest grey.
    fn even_greys(&self, colors: usize) -> Palette {
        let (lo, hi) = (f32::from(self.grey_range.0), f32::from(self.grey_range.1));
        let mut samples: Vec<[u8; 4]> = (0..colors)
            .map(|i| {
                let v = lo + (hi - lo) * i as f32 / (colors - 1) as f32;
                [v.round() as u8, 0, 0, 0]
            })
            .collect();
        samples.dedup();
        let points = samples
            .iter()
            .map(|s| point_of(&self.lut, Layout::Gray, &s[..1]))
            .collect();
        Palette {
            points,
            samples,
            lifted: false,
        }
    }

    /// `b` (the image prepared) mapped to `palette`, with error diffusion of `strength` (0:
    /// none, 1: full Floyd–Steinberg in smooth areas), serpentine.
    pub fn remap(&self, b: &Bitmap, palette: &Palette, strength: f32) -> Bitmap {
        debug_assert_eq!(self.dither_map.len(), b.data.len() / b.layout.channels());
        let nearest = Nearest::new(&palette.points);
        let (w, ch) = (b.width as usize, b.layout.channels());
        let mut data = vec![0u8; b.data.len()];
        let mut cache = PointCache::new();
        let greys: Vec<Point> = if palette.lifted {
            (0..=255u8)
                .map(|v| {
                    let p = point_of(&self.lut, Layout::Gray, &[v]);
                    [lift(p[0]), p[1], p[2], p[3]]
                })
                .collect()
        } else {
            Vec::new()
        };
        let mut point = |i: usize| {
            if palette.lifted {
                greys[usize::from(b.data[i])]
            } else {
                cache.get(&self.lut, b.layout, &b.data[i * ch..i * ch + ch])
            }
        };
        let mut put = |i: usize, e: u8| {
            data[i * ch..i * ch + ch].copy_from_slice(&palette.samples[usize::from(e)][..ch]);
        };
        if strength <= 0.0 {
            // Runs of one colour map once.
            let mut last: Option<(&[u8], u8)> = None;
            for (i, p) in b.data.chunks_exact(ch).enumerate() {
                let e = match last {
                    Some((l, e)) if l == p => e,
                    _ => nearest.find(&point(i)),
                };
                last = Some((p, e));
                put(i, e);
            }
            return same_shape(b, data);
        }
        // Error rows with a pixel of margin on each side.
        let mut this = vec![[0f32; 4]; w + 2];
        let mut next = vec![[0f32; 4]; w + 2];
        for y in 0..b.height as usize {
            let ltr = y % 2 == 0;
            for k in 0..w {
                let x = if ltr { k } else { w - 1 - k };
                let i = y * w + x;
                let mut q = point(i);
                let err = this[x + 1];
                for c in 0..4 {
                    q[c] += err[c];
                }
                q[3] = q[3].clamp(0.0, 1.0);
                let e = nearest.find(&q);
                put(i, e);
                let s = strength * f32::from(self.dither_map[i]) / 255.0;
                let chosen = palette.points[usize::from(e)];
                let mut d = [0f32; 4];
                for c in 0..4 {
                    d[c] = (q[c] - chosen[c]) * s;
                }
                // Large errors (a colour the palette lacks) are not spread: they would smear.
                let norm = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
                if norm > MAX_ERROR * MAX_ERROR {
                    let f = MAX_ERROR / norm.sqrt();
                    for v in &mut d[..3] {
                        *v *= f;
                    }
                }
                let (ahead, behind) = if ltr { (x + 2, x) } else { (x, x + 2) };
                for c in 0..4 {
                    this[ahead][c] += d[c] * (7.0 / 16.0);
                    next[behind][c] += d[c] * (3.0 / 16.0);
                    next[x + 1][c] += d[c] * (5.0 / 16.0);
                    next[ahead][c] += d[c] * (1.0 / 16.0);
                }
            }
            std::mem::swap(&mut this, &mut next);
            next.iter_mut().for_each(|e| *e = [0.0; 4]);
        }
        same_shape(b, data)
    }
}

/// `data` as an image of `b`'s size and layout (without copying `b`'s own pixels).
pub(crate) fn same_shape(b: &Bitmap, data: Vec<u8>) -> Bitmap {
    Bitmap {
        width: b.width,
        height: b.height,
        layout: b.layout,
        data,
    }
}

/// The largest colour error (Oklab distance) a pixel passes on.
const MAX_ERROR: f32 = 0.08;

/// The RGBA colour of 8-bit samples `p` in `layout`: alpha 255 for layouts without alpha,
/// and every fully transparent pixel the one colour `[0; 4]`.
pub(crate) fn rgba(layout: Layout, p: &[u8]) -> [u8; 4] {
    match layout {
        Layout::Gray => [p[0], p[0], p[0], 255],
        Layout::Rgb => [p[0], p[1], p[2], 255],
        Layout::Rgba if p[3] == 0 => [0; 4],
        Layout::Rgba => [p[0], p[1], p[2], p[3]],
    }
}

/// Distinct RGBA colours ([`rgba`]) over a sample of at most about 2^18 pixels, merged down to
/// [`MAX_HISTOGRAM`] entries, with their pixel counts and their weights by smoothness (a
/// pixel weighs 1 on an edge, up to [`SMOOTH_WEIGHT`] where `dither_map` says smooth).
fn colour_counts(b: &Bitmap, dither_map: &[u8]) -> Vec<(u32, f32, f32)> {
    let ch = b.layout.channels();
    let pixels = b.data.len() / ch;
    let step = pixels.div_ceil(1 << 18).max(1);
    let key = |p: &[u8]| u32::from_be_bytes(rgba(b.layout, p));
    // Per colour: pixels, and smoothness weight in 255ths.
    let mut counts: HashMap<u32, [u64; 2]> = HashMap::new();
    for (i, p) in b.data.chunks_exact(ch).enumerate().step_by(step) {
        let c = counts.entry(key(p)).or_insert([0; 2]);
        c[0] += 1;
        c[1] += 255 + (SMOOTH_WEIGHT - 1) * u64::from(dither_map[i]);
    }
    let mut shift = 0u32;
    while counts.len() > MAX_HISTOGRAM && shift < 7 {
        shift += 1;
        // Merge into groups of the upper bits, each group's colour the pixel-weighted mean.
        let mut groups: HashMap<u32, [u64; 6]> = HashMap::new();
        for (k, n) in &counts {
            let bytes = k.to_be_bytes();
            let g = u32::from_be_bytes(bytes.map(|v| v >> shift));
            let s = groups.entry(g).or_insert([0; 6]);
            for c in 0..4 {
                s[c] += u64::from(bytes[c]) * n[0];
            }
            s[4] += n[0];
            s[5] += n[1];
        }
        counts = HashMap::new();
        for s in groups.into_values() {
            let m = |c: usize| ((s[c] + s[4] / 2) / s[4]) as u8;
            let c = counts
                .entry(u32::from_be_bytes([m(0), m(1), m(2), m(3)]))
                .or_insert([0; 2]);
            c[0] += s[4];
            c[1] += s[5];
        }
    }
    // In colour order: the palettes sum over this list in floating point, and a hash map's
    // order changes from run to run (so did the palettes, and the output, before).
    let mut counts: Vec<(u32, f32, f32)> = counts
        .into_iter()
        .map(|(k, n)| (k, n[0] as f32, n[1] as f32 / 255.0))
        .collect();
    counts.sort_unstable_by_key(|c| c.0);
    counts
}

/// Per pixel, how much dithering it takes (0..=255): full where the neighbourhood is smooth
/// (banding would show), falling to none where the lightness already varies by more than a
/// visible step (edges, texture: dithering noise is masked there and costs bytes).
fn dither_map(b: &Bitmap, lut: &[f32; 256]) -> Vec<u8> {
    const SMOOTH: f32 = 0.01;
    const BUSY: f32 = 0.06;
    let (w, h, ch) = (b.width as usize, b.height as usize, b.layout.channels());
    if w == 0 || h == 0 {
        return Vec::new();
    }
    // Lightness (premultiplied: what shows of a pixel) of one row.
    let row = |y: usize| -> Vec<f32> {
        b.data[y * w * ch..(y + 1) * w * ch]
            .chunks_exact(ch)
            .map(|p| point_of(lut, b.layout, p)[0])
            .collect()
    };
    let mut map = Vec::with_capacity(w * h);
    let (mut above, mut here) = (None::<Vec<f32>>, row(0));
    for y in 0..h {
        let below = (y + 1 < h).then(|| row(y + 1));
        for x in 0..w {
            let l = here[x];
            let mut m = 0f32;
            let mut see = |v: f32| m = m.max((v - l).abs());
            if x > 0 {
                see(here[x - 1]);
            }
            if x + 1 < w {
                see(here[x + 1]);
            }
            if let Some(a) = &above {
                see(a[x]);
            }
            if let Some(b) = &below {
                see(b[x]);
            }
            let f = 1.0 - ((m - SMOOTH) / (BUSY - SMOOTH)).clamp(0.0, 1.0);
            map.push((f * 255.0).round() as u8);
        }
        above = Some(std::mem::take(&mut here));
        if let Some(b) = below {
            here = b;
        }
    }
    map
}

/// Splits the weighted colours into `k` boxes, always the one with the largest weighted
/// squared error, across its widest axis at its weighted mean; returns the boxes' means.
fn median_cut(histogram: &[(Point, f32)], k: usize) -> Vec<Point> {
    struct Box {
        items: Vec<(Point, f32)>,
        mean: Point,
        error: f32,
        axis: usize,
    }
    let make = |items: Vec<(Point, f32)>| -> Box {
        let total: f32 = items.iter().map(|(_, n)| n).sum::<f32>().max(1e-9);
        let mut mean = [0f32; 4];
        for (p, n) in &items {
            for c in 0..4 {
                mean[c] += p[c] * n / total;
            }
        }
        let mut var = [0f32; 4];
        for (p, n) in &items {
            for c in 0..4 {
                var[c] += (p[c] - mean[c]).powi(2) * n;
            }
        }
        var[3] *= ALPHA_WEIGHT * ALPHA_WEIGHT;
        let axis = (0..4)
            .max_by(|&a, &b| var[a].total_cmp(&var[b]))
            .unwrap_or(0);
        let error = if items.len() > 1 {
            var.iter().sum()
        } else {
            0.0
        };
        Box {
            items,
            mean,
            error,
            axis,
        }
    };
    let mut boxes = vec![make(histogram.to_vec())];
    while boxes.len() < k {
        let Some((i, _)) = boxes
            .iter()
            .enumerate()
            .filter(|(_, b)| b.error > 0.0)
            .max_by(|a, b| a.1.error.total_cmp(&b.1.error))
        else {
            break;
        };
        let b = boxes.swap_remove(i);
        let (axis, cut) = (b.axis, b.mean[b.axis]);
        let (low, high): (Vec<_>, Vec<_>) = b.items.into_iter().partition(|(p, _)| p[axis] < cut);
        if low.is_empty() || high.is_empty() {
            // Every item on one side of the mean: they are equal on this axis.
            let items = if low.is_empty() { high } else { low };
            let mut again = make(items);
            again.error = 0.0;
            boxes.push(again);
            continue;
        }
        boxes.push(make(low));
        boxes.push(make(high));
    }
    boxes.into_iter().map(|b| b.mean).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oklab_round_trips_every_grey_and_some_colours() {
        let lut: [f32; 256] = std::array::from_fn(|v| srgb_to_linear(v as u8));
        for v in 0..=255u8 {
            assert_eq!(oklab_to_srgb8(oklab(&lut, v, v, v)), [v, v, v]);
        }
        for c in [[255, 0, 0], [12, 200, 99], [0, 0, 255], [250, 250, 3]] {
            assert_eq!(oklab_to_srgb8(oklab(&lut, c[0], c[1], c[2])), c);
        }
    }

    #[test]
    fn the_point_cache_gives_the_points_of_every_colour() {
        let lut: [f32; 256] = std::array::from_fn(|v| srgb_to_linear(v as u8));
        for layout in [Layout::Gray, Layout::Rgb, Layout::Rgba] {
            let mut cache = PointCache::new();
            // Opaque white and transparent black among them (their keys are extremes),
            // each colour asked twice, with colliding colours in between.
            let colours: Vec<[u8; 4]> = [[255; 4], [0; 4], [255, 255, 255, 0]]
                .into_iter()
                .chain((0..5000u32).map(|i| i.wrapping_mul(2_654_435_761).to_be_bytes()))
                .collect();
            for p in colours.iter().chain(&colours) {
                let ch = layout.channels();
                assert_eq!(
                    cache.get(&lut, layout, &p[..ch]),
                    point_of(&lut, layout, &p[..ch]),
                    "{layout:?} {p:?}"
                );
            }
        }
    }

    /// The histogram comes in colour order, whatever the hash map's order (which changes
    /// from one map to the next: palettes summed in that order differed from run to run),
    /// and smoothness weighs each pixel between 1 and [`SMOOTH_WEIGHT`].
    #[test]
    fn colour_counts_come_in_the_same_order_every_time() {
        let lut: [f32; 256] = std::array::from_fn(|v| srgb_to_linear(v as u8));
        for layout in [Layout::Gray, Layout::Rgb, Layout::Rgba] {
            let b = gradient(layout);
            let map = dither_map(&b, &lut);
            let counts = colour_counts(&b, &map);
            assert!(counts.len() >= 64, "{layout:?}: {}", counts.len());
            assert_eq!(counts, colour_counts(&b, &map), "{layout:?}");
            assert!(counts.windows(2).all(|w| w[0].0 < w[1].0));
            for (_, n, smooth) in &counts {
                assert!(*n <= *smooth && *smooth <= *n * SMOOTH_WEIGHT as f32);
            }
        }
    }

    #[test]
    fn nearest_agrees_with_a_full_scan() {
        let pts: Vec<Point> = (0..97u32)
            .map(|i| {
                let f = |m: u32| ((i * m) % 101) as f32 / 101.0;
                [f(7), f(13) - 0.5, f(29) - 0.5, f(3)]
            })
            .collect();
        let n = Nearest::new(&pts);
        for j in 0..500u32 {
            let f = |m: u32| ((j * m) % 211) as f32 / 211.0;
            let q = [f(5), f(11) - 0.5, f(17) - 0.5, f(23)];
            let got = usize::from(n.find(&q));
            let best = (0..pts.len())
                .min_by(|&a, &b| distance(&pts[a], &q).total_cmp(&distance(&pts[b], &q)))
                .unwrap();
            assert!((distance(&pts[got], &q) - distance(&pts[best], &q)).abs() < 1e-7);
        }
    }

    fn gradient(layout: Layout) -> Bitmap {
        let (w, h) = (64u32, 32u32);
        let ch = layout.channels();
        let data = (0..w * h)
            .flat_map(|i| {
                let (x, y) = (i % w, i / w);
                let px = [
                    (x * 4) as u8,
                    (y * 8) as u8,
                    128,
                    if y < 4 { 0 } else { 255 - x as u8 },
                ];
                px[..ch].to_vec()
            })
            .collect();
        Bitmap {
            width: w,
            height: h,
            layout,
            data,
        }
    }

    #[test]
    fn remapped_images_use_the_palette_only_and_dithering_lowers_banding_error() {
        for layout in [Layout::Gray, Layout::Rgb, Layout::Rgba] {
            let b = gradient(layout);
            let prep = Prepared::new(&b);
            let palette = prep.palette(8, Weighting::Pixels, Spacing::Oklab);
            assert!(palette.len() <= 8 && palette.len() >= 2);
            for strength in [0.0, 1.0] {
                let out = prep.remap(&b, &palette, strength);
                assert_eq!(out.data.len(), b.data.len());
                let ch = layout.channels();
                let allowed: std::collections::HashSet<&[u8]> =
                    palette.samples.iter().map(|s| &s[..ch]).collect();
                assert!(out.data.chunks_exact(ch).all(|p| allowed.contains(p)));
            }
            // Blurred error (what the eye sees of a dithered area) is lower with dithering.
            let blur_error = |out: &Bitmap| -> f64 {
                let ch = layout.channels();
                let row = |d: &[u8], y: usize| -> Vec<f64> {
                    (0..64).map(|x| f64::from(d[(y * 64 + x) * ch])).collect()
                };
                (8..32)
                    .map(|y| {
                        let (a, o) = (row(&b.data, y), row(&out.data, y));
                        (0..60)
                            .map(|x| {
                                let s: f64 = (x..x + 4).map(|i| a[i] - o[i]).sum();
                                s.abs()
                            })
                            .sum::<f64>()
                    })
                    .sum()
            };
            let plain = prep.remap(&b, &palette, 0.0);
            let dithered = prep.remap(&b, &palette, 1.0);
            assert!(blur_error(&dithered) < blur_error(&plain), "{layout:?}");
        }
    }

    /// Evenly spaced levels run from the image's darkest grey to its lightest in equal
    /// steps (to rounding), whatever its histogram, and a remapped image holds them only;
    /// a colour image's palette ignores the spacing.
    #[test]
    fn even_grey_levels_span_the_image_in_equal_steps() {
        let b = crate::testing::image("png/ski-coffee.grey.png");
        assert_eq!(b.layout, Layout::Gray);
        let (lo, hi) = (*b.data.iter().min().unwrap(), *b.data.iter().max().unwrap());
        let prep = Prepared::new(&b);
        for k in [2, 7, 26] {
            let p = prep.palette(k, Weighting::Pixels, Spacing::Even);
            let levels: Vec<u8> = p.samples.iter().map(|s| s[0]).collect();
            assert_eq!(levels.len(), k);
            assert_eq!((levels[0], levels[k - 1]), (lo, hi));
            let step = f32::from(hi - lo) / (k - 1) as f32;
            for w in levels.windows(2) {
                assert!((f32::from(w[1] - w[0]) - step).abs() <= 1.0, "{levels:?}");
            }
            let out = prep.remap(&b, &p, 1.0);
            assert!(out.data.iter().all(|v| levels.contains(v)));
        }
        colour_palettes_ignore(Spacing::Even);
    }

    /// A colour image's palettes are the same with `spacing` as in Oklab.
    fn colour_palettes_ignore(spacing: Spacing) {
        for layout in [Layout::Rgb, Layout::Rgba] {
            let b = gradient(layout);
            let prep = Prepared::new(&b);
            let [theirs, oklab] =
                [spacing, Spacing::Oklab].map(|s| prep.palette(8, Weighting::Pixels, s).samples);
            assert_eq!(theirs, oklab, "{layout:?}");
        }
    }

    /// Lifting keeps mid grey at the origin and the order of lightness, and unlifting
    /// undoes it over every grey.
    #[test]
    fn lifted_lightness_round_trips_every_grey() {
        let lut: [f32; 256] = std::array::from_fn(|v| srgb_to_linear(v as u8));
        assert!(lift(0.0).abs() < 1e-6);
        let mut last = f32::NEG_INFINITY;
        for v in 0..=255u8 {
            let l = point_of(&lut, Layout::Gray, &[v])[0];
            let up = lift(l);
            assert!(up > last, "{v}");
            last = up;
            assert!((unlift(up) - l).abs() < 1e-5, "{v}");
        }
    }

    /// A grey photograph's palette spaced for the lights has fewer of its levels in the
    /// darks and a lighter mean level than one spaced by Oklab lightness at the same count,
    /// and its remapped pixels are its entries; a colour image's palette is the same either
    /// way.
    #[test]
    fn grey_levels_spaced_for_the_lights_give_the_lights_more_levels() {
        let b = crate::testing::image("png/mpl-grace_hopper.grey-half.png");
        assert_eq!(b.layout, Layout::Gray);
        let prep = Prepared::new(&b);
        let darks = |p: &Palette| p.samples.iter().filter(|s| s[0] < 64).count();
        let mean = |p: &Palette| {
            p.samples.iter().map(|s| f32::from(s[0])).sum::<f32>() / p.samples.len() as f32
        };
        for k in [8, 17, 32] {
            let lights = prep.palette(k, Weighting::Smoothness, Spacing::Lights);
            let oklab = prep.palette(k, Weighting::Smoothness, Spacing::Oklab);
            assert!(
                darks(&lights) < darks(&oklab) && mean(&lights) > mean(&oklab),
                "{k}: {:?} against {:?}",
                lights.samples,
                oklab.samples
            );
            for strength in [0.0, 1.0] {
                let out = prep.remap(&b, &lights, strength);
                assert!(out
                    .data
                    .iter()
                    .all(|&v| lights.samples.iter().any(|s| s[0] == v)));
            }
        }
        colour_palettes_ignore(Spacing::Lights);
    }

    /// Translucent colours are quantized as they show over mid grey (the metric composes
    /// them so): a 256-colour palette of a picture with wide semi-transparent areas passes
    /// with room to spare, where premultiplying around black scored it 77.5. Its alpha also
    /// stays close: the mean alpha error of the remapped picture is under 1.5 of 255.
    #[test]
    fn translucent_colours_are_quantized_as_they_show_over_grey() {
        let b = crate::testing::image("webp/pil-transparent.webp");
        assert_eq!(b.layout, Layout::Rgba);
        let prep = Prepared::new(&b);
        let out = prep.remap(
            &b,
            &prep.palette(256, Weighting::Pixels, Spacing::Oklab),
            0.0,
        );
        let score = crate::metric::Reference::new(&b)
            .unwrap()
            .score(&out)
            .unwrap();
        assert!(score > 80.3, "{score}");
        let alpha_error: u64 = b
            .data
            .chunks_exact(4)
            .zip(out.data.chunks_exact(4))
            .map(|(p, q)| u64::from(p[3].abs_diff(q[3])))
            .sum();
        let mean = alpha_error as f64 / (b.data.len() / 4) as f64;
        assert!(mean < 1.5, "{mean}");
    }

    /// An alpha difference costs what it shows over white or black, whichever is more:
    /// the same grey at two opacities differs by `(1 - L_grey) * da` over white and
    /// `L_grey * da` over black; over mid grey (the metric's background) not at all, and two
    /// colours that compose to the same grey over white cost their difference over black.
    #[test]
    fn an_alpha_difference_costs_what_it_shows_over_white_or_black() {
        let lut: [f32; 256] = std::array::from_fn(|v| srgb_to_linear(v as u8));
        let grey = |a: u8| point_of(&lut, Layout::Rgba, &[128, 128, 128, a]);
        let (opaque, half) = (grey(255), grey(128));
        let da = 1.0 - 128.0 / 255.0;
        let worst = (GREY_L * da).max((1.0 - GREY_L) * da);
        assert!((distance(&opaque, &half) - worst * worst).abs() < 1e-4);
        assert_eq!(distance(&opaque, &opaque), 0.0);
        // Symmetric, and never below the difference over mid grey.
        let (a, b) = (
            point_of(&lut, Layout::Rgba, &[200, 40, 90, 180]),
            point_of(&lut, Layout::Rgba, &[30, 60, 200, 70]),
        );
        assert_eq!(distance(&a, &b), distance(&b, &a));
        let over_grey = (0..3).map(|c| (a[c] - b[c]).powi(2)).sum::<f32>();
        assert!(distance(&a, &b) >= over_grey);
        // Composed alike over white (lightness apart by (1 - L_grey) * da): the difference
        // over black counts, (L_grey + 1 - L_grey) * da = da.
        let da = 0.5;
        let (c, d) = (
            [0.1, 0.0, 0.0, 1.0],
            [0.1 - (1.0 - GREY_L) * da, 0.0, 0.0, 1.0 - da],
        );
        assert!((distance(&c, &d) - da * da).abs() < 1e-6);
    }
}
