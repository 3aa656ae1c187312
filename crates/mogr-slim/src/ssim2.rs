//! SSIMULACRA2 computed in bounded memory.
//!
//! The metric (Jon Sneyers' SSIMULACRA2, defined by libjxl's `tools/ssimulacra2.cc`) compares
//! two images at six scales, each half the size of the one before (2x2 box averages in linear
//! RGB). At each scale both images go to the positive XYB colour space; per channel, the two
//! images, their squares and their product are blurred with a recursive Gaussian (sigma 1.5);
//! an SSIM map and an edge map (artifacts and lost detail) follow pixel by pixel, and the mean
//! and the 4-norm of each map are weighted into one score.
//!
//! The usual implementations hold every map of a scale as a whole image (about 50 bytes per
//! pixel for the reference, as much again per comparison). Here each scale is a pipeline that
//! takes one row at a time: the horizontal blur runs on the row, the vertical blur is the same
//! recursion run down each column with its state kept per column, so it needs only the last
//! `2 * radius + 1` rows of horizontally blurred values; the maps of a row are summed as soon
//! as its blurred values are out, and every pair of rows is averaged into a row of the next
//! scale. The result is the whole image's score, computed exactly (not on strips or tiles),
//! in about 1.5 KB per pixel of width per scale, whatever the height. The rows go down the
//! scales (linear light, halving, XYB) a strip of [`STRIP_ROWS`] at a time; on two threads,
//! each thread converts one image and the two exchange their strips, then each sums the maps
//! of its channels.
//!
//! The code is mogr's. The metric's constants (the 108 weights, the XYB matrix and bias, the
//! final mapping, the blur's radius formula) are libjxl's (BSD-3-Clause, Copyright (c) the
//! JPEG XL Project Authors); the sRGB-to-linear table was recorded from libjxl's tool by the
//! `fast-ssim2` crate (BSD-2-Clause), against which the scores are tested.

use mogr_core::{Bitmap, Layout};

/// Scales compared at most (full size and five halvings).
const SCALES: usize = 6;
/// Sigma of the Gaussian blur.
const SIGMA: f64 = 1.5;
/// The SSIM map's stabilizing constant (there is no C1: the mean term is `1 - (mu1 - mu2)^2`).
const C2: f32 = 0.0009;
/// Alpha is composed over a grey before scoring, so that both colour and coverage count, by
/// default this one: ImageMagick's `gray50` (127), the 8-bit result truncated as `-background
/// gray50 -alpha remove` truncates it ([`over_grey`]). That is how one of the reference
/// scripts (`../shared/bench/lib.sh`) flattens both images before scoring them; the other
/// (`ref_slim_fair.sh`) flattens over `#808080` (128), also truncating. Both details matter
/// over wide semi-transparent areas: 127 or 128, truncated or rounded, moved the score of one
/// pair by up to 1.3 points, so [`crate::metric`] scores such images over both greys.
pub const ALPHA_BACKGROUND: u8 = 127;
/// The second grey that [`crate::metric`] composes translucent images over: `#808080`, as
/// `ref_slim_fair.sh` flattens (see [`ALPHA_BACKGROUND`]).
pub const SECOND_ALPHA_BACKGROUND: u8 = 128;
/// Smallest width and height that can be scored.
pub const MIN_SIDE: u32 = 8;
/// Bytes a comparison holds per pixel of width, all scales together, on each of the (up to
/// two) threads it runs on: per scale, up to 16 lanes (f32) in 20 rows (the laid-out input
/// row, the `2 * radius + 1` horizontally blurred rows, six rows of recursion state, the output
/// row and a row of zeros) and the XYB rows of both images for `radius` rows; the scales'
/// widths add up to under twice the image's. Then one image's rows on their way down the
/// scales (a full-size row in linear light, and per scale a row kept for halving and a halved
/// row), and its strips of XYB rows: up to [`STRIPS_AHEAD`] + 3 at once (one being made, those
/// sent ahead, the one each thread reads), each at most [`STRIP_FLOATS_PER_WIDTH`] values
/// per pixel of width. (`radius` is 5.)
pub const BYTES_PER_WIDTH: u64 = 2 * (16 * 4 * 20 + 4 * 5 * 6)
    + 4 * (3 + 2 * 5)
    + (STRIPS_AHEAD as u64 + 3) * 4 * STRIP_FLOATS_PER_WIDTH;
/// Values a strip holds per pixel of width: at scale s, up to `(STRIP_ROWS >> s) + 1` rows of
/// three planes at about `1 / 2^s` of the width.
const STRIP_FLOATS_PER_WIDTH: u64 = {
    let (mut s, mut halves) = (0, 0);
    while s < SCALES {
        // In units of 1/32 of the width.
        halves += ((STRIP_ROWS >> s) + 1) * (32 >> s);
        s += 1;
    }
    (3 * halves).div_ceil(32) as u64
};

/// The weights of the 108 aggregates, as published with the metric (libjxl), indexed
/// `((channel * 6 + scale) * 2 + norm) * 3 + map` with channel X, Y, B, norm 1 or 4, map SSIM,
/// artifact, lost detail.
#[rustfmt::skip]
const WEIGHT: [f64; 108] = [
    0.0, 0.000_737_660_670_740_658_6, 0.0, 0.0, 0.000_779_348_168_286_730_9, 0.0,
    0.0, 0.000_437_115_573_010_737_9, 0.0, 1.104_172_642_665_734_6, 0.000_662_848_341_292_71,
    0.000_152_316_327_837_187_52, 0.0, 0.001_640_643_745_659_975_4, 0.0,
    1.842_245_552_053_929_8, 11.441_172_603_757_666, 0.0, 0.000_798_910_943_601_516_3,
    0.000_176_816_438_078_653, 0.0, 1.878_759_497_954_638_7, 10.949_069_906_051_42, 0.0,
    0.000_728_934_699_150_807_2, 0.967_793_708_062_683_3, 0.0, 0.000_140_034_242_854_358_84,
    0.998_176_697_785_496_7, 0.000_319_497_559_344_350_53, 0.000_455_099_211_379_206_3, 0.0,
    0.0, 0.001_364_876_616_324_339_8, 0.0, 0.0, 0.0, 0.0, 0.0, 7.466_890_328_078_848, 0.0,
    17.445_833_984_131_262, 0.000_623_560_163_404_146_6, 0.0, 0.0, 6.683_678_146_179_332,
    0.000_377_244_079_796_112_96, 1.027_889_937_768_264, 225.205_153_008_492_74, 0.0, 0.0,
    19.213_238_186_143_016, 0.001_140_152_458_661_836_1, 0.001_237_755_635_509_985,
    176.393_175_984_506_94, 0.0, 0.0, 24.433_009_998_704_76, 0.285_208_026_121_177_57,
    0.000_448_543_692_383_340_8, 0.0, 0.0, 0.0, 34.779_063_444_837_72, 44.835_625_328_877_896,
    0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.000_868_055_657_329_169_8, 0.0, 0.0, 0.0, 0.0,
    0.0, 0.000_531_319_187_435_874_7, 0.0, 0.000_165_338_141_613_791_12, 0.0, 0.0, 0.0, 0.0,
    0.0, 0.000_417_917_180_325_133_6, 0.001_729_082_823_472_283_3, 0.0,
    0.002_082_700_584_663_643_7, 0.0, 0.0, 8.826_982_764_996_862, 23.192_433_439_989_26, 0.0,
    95.108_049_881_108_6, 0.986_397_803_440_068_2, 0.983_438_279_246_535_3,
    0.001_228_640_504_827_849_3, 171.266_725_589_730_7, 0.980_785_887_243_537_9, 0.0, 0.0,
    0.0, 0.000_513_006_458_899_067_9, 0.0, 0.000_108_540_578_584_115_37,
];

/// An image as the metric reads it: a grid of equal tiles cut from a bitmap (read in place),
/// side by side; a whole bitmap is a grid of one tile.
#[derive(Clone)]
pub struct Picture<'a> {
    bitmap: &'a Bitmap,
    tile: (u32, u32),
    xs: Vec<u32>,
    ys: Vec<u32>,
    /// The grey that alpha is composed over.
    background: u8,
}

impl<'a> Picture<'a> {
    /// All of `bitmap`.
    pub fn whole(bitmap: &'a Bitmap) -> Picture<'a> {
        Picture {
            bitmap,
            tile: (bitmap.width, bitmap.height),
            xs: vec![0],
            ys: vec![0],
            background: ALPHA_BACKGROUND,
        }
    }

    /// The `tile` x `tile` tiles of `bitmap` whose left edges are `xs` and top edges `ys`
    /// (each inside the bitmap), side by side as one image.
    pub fn tiles(bitmap: &'a Bitmap, tile: u32, xs: Vec<u32>, ys: Vec<u32>) -> Picture<'a> {
        assert!(
            xs.iter().all(|&x| x + tile <= bitmap.width)
                && ys.iter().all(|&y| y + tile <= bitmap.height),
            "tiles inside the bitmap"
        );
        Picture {
            bitmap,
            tile: (tile, tile),
            xs,
            ys,
            background: ALPHA_BACKGROUND,
        }
    }

    /// The same tiles cut from `bitmap` (of the same size as this picture's bitmap).
    pub fn over<'b>(&self, bitmap: &'b Bitmap) -> Picture<'b> {
        Picture {
            bitmap,
            tile: self.tile,
            xs: self.xs.clone(),
            ys: self.ys.clone(),
            background: self.background,
        }
    }

    /// The same picture with alpha composed over `grey` (see [`ALPHA_BACKGROUND`]).
    pub fn with_background(mut self, grey: u8) -> Picture<'a> {
        self.background = grey;
        self
    }

    /// The bitmap the picture is cut from.
    pub fn bitmap(&self) -> &'a Bitmap {
        self.bitmap
    }

    /// Whether the picture is its whole bitmap.
    pub fn is_whole(&self) -> bool {
        self.tile == (self.bitmap.width, self.bitmap.height)
    }

    /// Width and height.
    pub fn size(&self) -> (u32, u32) {
        (
            self.tile.0 * self.xs.len() as u32,
            self.tile.1 * self.ys.len() as u32,
        )
    }

    /// The samples of row `y`, tile by tile.
    fn row(&self, y: u32) -> impl Iterator<Item = &'a [u8]> + '_ {
        let b = self.bitmap;
        let ch = b.layout.channels();
        let src_y = (self.ys[(y / self.tile.1) as usize] + y % self.tile.1) as usize;
        let len = self.tile.0 as usize * ch;
        self.xs.iter().map(move |&x0| {
            let at = (src_y * b.width as usize + x0 as usize) * ch;
            &b.data[at..at + len]
        })
    }
}

/// The SSIMULACRA2 score of `distorted` against `original` (100: identical; 80 and above: not
/// noticeable to an average viewer), or `None` when the two differ in size or either is
/// empty. Alpha is composed over the original picture's grey. Images under [`MIN_SIDE`]
/// either way are mirrored out to it first (the reference refuses them). Memory: a few rows
/// per scale. Where there are two cores, the channels are scored on two threads (each
/// converting one image for both), with the same result bit for bit.
pub fn score(original: &Picture, distorted: &Picture) -> Option<f64> {
    score_with(Kernel::detect(), original, distorted)
}

fn score_with(kernel: Kernel, original: &Picture, distorted: &Picture) -> Option<f64> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    score_on(kernel, original, distorted, cores > 1)
}

/// [`score_with`], on two threads when `two` and the image is large enough.
fn score_on(kernel: Kernel, original: &Picture, distorted: &Picture, two: bool) -> Option<f64> {
    let (w, h) = original.size();
    if distorted.size() != (w, h) || w == 0 || h == 0 {
        return None;
    }
    if w < MIN_SIDE || h < MIN_SIDE {
        let (a, b) = (mirrored(original), mirrored(distorted));
        let whole = |b| Picture::whole(b).with_background(original.background);
        return score_on(kernel, &whole(&a), &whole(&b), two);
    }
    let (w, h) = (w as usize, h as usize);
    let gauss = Gauss::new(SIGMA);
    let sizes = scale_sizes(w, h);
    let stages = if two && w * h >= SPLIT_PIXELS {
        let (gauss, sizes) = (&gauss, &sizes);
        std::thread::scope(|scope| {
            let (to_second, from_first) = std::sync::mpsc::sync_channel(STRIPS_AHEAD);
            let (to_first, from_second) = std::sync::mpsc::sync_channel(STRIPS_AHEAD);
            let other = scope.spawn(move || {
                let half = Half {
                    channels: second_thread,
                    image: 1,
                    send: to_first,
                    receive: from_first,
                };
                run_half(kernel, gauss, sizes, distorted, half)
            });
            let half = Half {
                channels: |s| second_thread(s).map(|c| !c),
                image: 0,
                send: to_second,
                receive: from_second,
            };
            let mine = run_half(kernel, gauss, sizes, original, half);
            let theirs = other
                .join()
                .unwrap_or_else(|e| std::panic::resume_unwind(e));
            let mut mine = mine?;
            for (m, t) in mine.iter_mut().zip(theirs?) {
                for (c, sums) in t.sums.into_iter().enumerate() {
                    if second_thread(t.scale)[c] {
                        m.sums[c] = sums;
                    }
                }
            }
            Some(mine)
        })?
    } else {
        run_one(kernel, &gauss, &sizes, [original, distorted])
    };
    Some(transform(stages.iter().map(Stage::weighted).sum()))
}

/// Images of at least this many pixels are scored on two threads where there are two cores.
const SPLIT_PIXELS: usize = 1 << 16;
/// The channels (X, Y, B) the second thread scores at `scale`: X and B, except at scales 2
/// and 3, where it scores B alone and the first thread X (with Y). At full size X and B have
/// the edge maps alone (2 blurred lanes each) against Y's SSIM and edge maps (5 lanes); the
/// halved scales weigh SSIM maps on X and B too, and with those of two middle scales on the
/// first thread the two threads take about as long (within 5% on the corpus's large JPEGs).
fn second_thread(scale: usize) -> [bool; 3] {
    if matches!(scale, 2 | 3) {
        [false, false, true]
    } else {
        [true, false, true]
    }
}
/// Rows of the full-size image taken through the scales at a time.
const STRIP_ROWS: usize = 16;
/// Strips a thread may have made and sent ahead of the other thread's.
const STRIPS_AHEAD: usize = 1;

/// One thread's part of a comparison on two threads: the XYB rows of one image (`image`, 0
/// for the original), made strip by strip and exchanged with the other thread, which makes
/// the other image's; and the maps of `channels`. Each image is thus converted once, and
/// each channel's sums come out as one thread computes them, bit for bit.
struct Half {
    channels: fn(usize) -> [bool; 3],
    image: usize,
    send: std::sync::mpsc::SyncSender<std::sync::Arc<Strip>>,
    receive: std::sync::mpsc::Receiver<std::sync::Arc<Strip>>,
}

/// Runs one [`Half`] over `picture`; `None` when the other thread stopped.
fn run_half(
    kernel: Kernel,
    gauss: &Gauss,
    sizes: &[(usize, usize)],
    picture: &Picture,
    half: Half,
) -> Option<Vec<Stage>> {
    let mut stages = stages(sizes, gauss, kernel, half.channels);
    let mut pyramid = Pyramid::new(sizes, kernel);
    let h = sizes[0].1;
    for y in (0..h).step_by(STRIP_ROWS) {
        let mine = std::sync::Arc::new(pyramid.strip(picture, y..(y + STRIP_ROWS).min(h)));
        half.send.send(std::sync::Arc::clone(&mine)).ok()?;
        let theirs = half.receive.recv().ok()?;
        let both = if half.image == 0 {
            [&*mine, &*theirs]
        } else {
            [&*theirs, &*mine]
        };
        feed(&mut stages, both, gauss);
    }
    for stage in &mut stages {
        stage.finish(gauss);
    }
    Some(stages)
}

/// A comparison on one thread: both images converted and every channel's maps summed.
fn run_one(
    kernel: Kernel,
    gauss: &Gauss,
    sizes: &[(usize, usize)],
    pictures: [&Picture; 2],
) -> Vec<Stage> {
    let mut stages = stages(sizes, gauss, kernel, |_| [true; 3]);
    let mut pyramids = [0, 1].map(|_| Pyramid::new(sizes, kernel));
    let h = sizes[0].1;
    for y in (0..h).step_by(STRIP_ROWS) {
        let rows = y..(y + STRIP_ROWS).min(h);
        let [a, b] = [0, 1].map(|i| pyramids[i].strip(pictures[i], rows.clone()));
        feed(&mut stages, [&a, &b], gauss);
    }
    for stage in &mut stages {
        stage.finish(gauss);
    }
    stages
}

/// The pixels of a picture as a bitmap.
fn copy(p: &Picture) -> Bitmap {
    let (w, h) = p.size();
    Bitmap {
        width: w,
        height: h,
        layout: p.bitmap.layout,
        data: (0..h).flat_map(|y| p.row(y).flatten().copied()).collect(),
    }
}

/// `p` extended to at least [`MIN_SIDE`] both ways by mirroring it at its right and bottom
/// edges (without repeating the edge pixel; a one-pixel side repeats it).
fn mirrored(p: &Picture) -> Bitmap {
    let b = &copy(p);
    let reflect = |i: u32, n: u32| {
        if n <= 1 {
            return 0;
        }
        let k = i % (2 * (n - 1));
        if k >= n {
            2 * (n - 1) - k
        } else {
            k
        }
    };
    let (w, h) = (b.width.max(MIN_SIDE), b.height.max(MIN_SIDE));
    let ch = b.layout.channels();
    let mut data = Vec::with_capacity((w * h) as usize * ch);
    for y in 0..h {
        for x in 0..w {
            let at = (reflect(y, b.height) * b.width + reflect(x, b.width)) as usize * ch;
            data.extend_from_slice(&b.data[at..at + ch]);
        }
    }
    Bitmap {
        width: w,
        height: h,
        layout: b.layout,
        data,
    }
}

/// The sizes of the scales of a `w` x `h` comparison: scale s + 1 is compared when scale s
/// is at least [`MIN_SIDE`] both ways (the reference tests the size before each halving), six
/// at most.
fn scale_sizes(w: usize, h: usize) -> Vec<(usize, usize)> {
    let min = MIN_SIDE as usize;
    let mut sizes = vec![(w, h)];
    while let Some(&(sw, sh)) = sizes.last().filter(|(sw, sh)| *sw >= min && *sh >= min) {
        if sizes.len() == SCALES {
            break;
        }
        sizes.push((sw.div_ceil(2), sh.div_ceil(2)));
    }
    sizes
}

/// The stages of a comparison at `sizes`, summing the maps of `channels`.
fn stages(
    sizes: &[(usize, usize)],
    gauss: &Gauss,
    kernel: Kernel,
    channels: impl Fn(usize) -> [bool; 3],
) -> Vec<Stage> {
    let count = sizes.len();
    sizes
        .iter()
        .enumerate()
        .map(|(s, &size)| Stage::new(s, count, size, channels(s), gauss, kernel))
        .collect()
}

/// A row of one image in linear light: R, G, B.
struct Rows {
    planes: [Vec<f32>; 3],
}

impl Rows {
    fn new(width: usize) -> Rows {
        Rows {
            planes: std::array::from_fn(|_| vec![0.0; width]),
        }
    }
}

/// One image's XYB rows made from a strip of its full-size rows, per scale: each row is its
/// X, Y and B planes one after the other (`3 * width` values at the scale's width).
struct Strip {
    scales: Vec<Vec<f32>>,
}

/// One image's scales: each full-size row in linear light is converted to XYB, and every
/// pair of rows averaged into a row of the next scale (2x2 box averages in linear RGB).
struct Pyramid {
    levels: Vec<Level>,
    input: Rows,
    lut: [f32; 256],
    kernel: Kernel,
}

/// One scale of a [`Pyramid`].
struct Level {
    width: usize,
    height: usize,
    /// Rows received so far.
    received: usize,
    /// Whether a next scale takes this one's rows, halved.
    halve: bool,
    /// An even row waiting for its odd partner.
    pending: Rows,
    /// The last halved row, for the next scale.
    down: Rows,
}

impl Pyramid {
    fn new(sizes: &[(usize, usize)], kernel: Kernel) -> Pyramid {
        let levels = sizes
            .iter()
            .enumerate()
            .map(|(s, &(width, height))| {
                let halve = s + 1 < sizes.len();
                Level {
                    width,
                    height,
                    received: 0,
                    halve,
                    pending: Rows::new(if halve { width } else { 0 }),
                    down: Rows::new(if halve { width.div_ceil(2) } else { 0 }),
                }
            })
            .collect();
        Pyramid {
            levels,
            input: Rows::new(sizes[0].0),
            lut: SRGB_TO_LINEAR.map(f32::from_bits),
            kernel,
        }
    }

    /// The XYB rows, at every scale, that full-size `rows` of `picture` make (the rows come
    /// in order, strip after strip).
    fn strip(&mut self, picture: &Picture, rows: std::ops::Range<usize>) -> Strip {
        let n = rows.len();
        let mut scales: Vec<Vec<f32>> = self
            .levels
            .iter()
            .enumerate()
            .map(|(s, l)| Vec::with_capacity(((n >> s) + 1) * 3 * l.width))
            .collect();
        for y in rows {
            linear_row(picture, y as u32, &self.lut, &mut self.input.planes);
            descend(&mut self.levels, &self.input, self.kernel, &mut scales);
        }
        Strip { scales }
    }
}

/// Converts `rows` (the next row of the first of `levels`) to XYB into `out`'s first list
/// and, when it completes a row of the next scale, passes that on.
fn descend(levels: &mut [Level], rows: &Rows, kernel: Kernel, out: &mut [Vec<f32>]) {
    let (Some((level, deeper)), Some((here, below))) =
        (levels.split_first_mut(), out.split_first_mut())
    else {
        return;
    };
    let w = level.width;
    let at = here.len();
    here.resize(at + 3 * w, 0.0);
    let (xs, rest) = here[at..].split_at_mut(w);
    let (ys, bs) = rest.split_at_mut(w);
    let [r, g, b] = &rows.planes;
    kernel.xyb([&r[..w], &g[..w], &b[..w]], [xs, ys, bs]);
    let y = level.received;
    level.received += 1;
    if level.halve && level.halve_row(y, rows) {
        descend(deeper, &level.down, kernel, below);
    }
}

impl Level {
    /// Averages rows `y - 1` and `y` (or the last row with itself) into `down`; true when it
    /// did (on every odd row and on the last).
    fn halve_row(&mut self, y: usize, rows: &Rows) -> bool {
        let last = y + 1 == self.height;
        if y.is_multiple_of(2) && !last {
            for (p, r) in self.pending.planes.iter_mut().zip(&rows.planes) {
                p.copy_from_slice(&r[..self.width]);
            }
            return false;
        }
        let top = if y.is_multiple_of(2) {
            rows
        } else {
            &self.pending
        };
        let w = self.width;
        for ((d, a), b) in self
            .down
            .planes
            .iter_mut()
            .zip(&top.planes)
            .zip(&rows.planes)
        {
            // Pairs of columns; an odd last column pairs with itself.
            let pairs = a[..w].chunks_exact(2).zip(b[..w].chunks_exact(2));
            for (d, (a, b)) in d.iter_mut().zip(pairs) {
                *d = (a[0] + a[1] + b[0] + b[1]) * 0.25;
            }
            if w % 2 == 1 {
                let (a, b) = (a[w - 1], b[w - 1]);
                d[w / 2] = (a + a + b + b) * 0.25;
            }
        }
        true
    }
}

/// Passes the rows of a strip of both images (original, distorted) to the stages, scale by
/// scale.
fn feed(stages: &mut [Stage], [a, b]: [&Strip; 2], gauss: &Gauss) {
    for (s, stage) in stages.iter_mut().enumerate() {
        let row = 3 * stage.width;
        let pairs = a.scales[s]
            .chunks_exact(row)
            .zip(b.scales[s].chunks_exact(row));
        for (a, b) in pairs {
            stage.push([a, b], gauss);
        }
    }
}

/// The recursive Gaussian of Charalampidis ("Recursive implementation of the Gaussian filter
/// using truncated cosine functions", 2016) with three cosine terms, as libjxl uses it: the
/// output at `n` is the sum over the terms of
/// `y[n] = n2 * (x[n - radius - 1] + x[n + radius - 1]) - d1 * y[n - 1] - y[n - 2]`.
struct Gauss {
    radius: usize,
    n2: [f32; 3],
    d1: [f32; 3],
    /// The recursion unrolled four steps: `y[n + j]` (j < 4) is the sum over m <= j of
    /// `ahead[j - m] * s[n + m]` plus `back1[j] * y[n - 1] + back2[j] * y[n - 2]`, where `s`
    /// is the sum of the two inputs a step reads.
    ahead: [[f32; 4]; 3],
    back1: [[f32; 4]; 3],
    back2: [[f32; 4]; 3],
}

impl Gauss {
    fn new(sigma: f64) -> Gauss {
        use std::f64::consts::PI;
        let radius = (3.2795 * sigma + 0.2546).round();
        let omega = [1.0, 3.0, 5.0].map(|k| k * PI / (2.0 * radius));
        let sign = [1.0, -1.0, 1.0];
        let p: [f64; 3] = std::array::from_fn(|i| sign[i] / (0.5 * omega[i]).tan());
        let r: [f64; 3] = std::array::from_fn(|i| sign[i] * p[i] * p[i] / omega[i].sin());
        let rho = omega.map(|o| (-0.5 * sigma * sigma * o * o).exp() / radius);
        let d13 = p[0] * r[1] - r[0] * p[1];
        let d35 = p[1] * r[2] - r[1] * p[2];
        let d51 = p[2] * r[0] - r[2] * p[0];
        let (zeta15, zeta35) = (d35 / d13, d51 / d13);
        // beta solves [p; r; zeta15 zeta35 1] beta = gamma (Cramer's rule).
        let a = [p, r, [zeta15, zeta35, 1.0]];
        let gamma = [
            1.0,
            radius * radius - sigma * sigma,
            zeta15 * rho[0] + zeta35 * rho[1] + rho[2],
        ];
        let det3 = |m: [[f64; 3]; 3]| {
            m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
                - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
                + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
        };
        let det = det3(a);
        let beta: [f64; 3] = std::array::from_fn(|k| {
            let mut m = a;
            for (row, g) in m.iter_mut().zip(gamma) {
                row[k] = g;
            }
            det3(m) / det
        });
        let n2: [f64; 3] = std::array::from_fn(|i| -beta[i] * (omega[i] * (radius + 1.0)).cos());
        let d1 = omega.map(|o| -2.0 * o.cos());
        let unrolled = |f: &dyn Fn(f64, f64, f64) -> [f64; 4]| -> [[f32; 4]; 3] {
            std::array::from_fn(|i| f(n2[i], d1[i], d1[i] * d1[i]).map(|v| v as f32))
        };
        Gauss {
            radius: radius as usize,
            n2: n2.map(|v| v as f32),
            d1: d1.map(|v| v as f32),
            ahead: unrolled(&|n, d, d2| [n, -d * n, d2 * n - n, -d2 * d * n + 2.0 * d * n]),
            back1: unrolled(&|_, d, d2| {
                [-d, d2 - 1.0, -d2 * d + 2.0 * d, d2 * d2 - 3.0 * d2 + 1.0]
            }),
            back2: unrolled(&|_, d, d2| [-1.0, d, -d2 + 1.0, d2 * d - 2.0 * d]),
        }
    }
}

/// `G` lanes of blur values, processed together (one SSE vector for 4, AVX for 8).
type LaneVec<const G: usize> = [f32; G];

#[inline(always)]
fn add<const G: usize>(a: LaneVec<G>, b: LaneVec<G>) -> LaneVec<G> {
    each(|k| a[k] + b[k])
}

/// `[f(0), f(1), ..]`, always inlined with `f`: `std::array::from_fn` goes through a
/// generic helper that a build may leave as a call, compiled outside the AVX2 code of its
/// caller (seen in the maps of a test build: 12% of a score's instructions).
#[inline(always)]
fn each<T: Copy + Default, const N: usize>(f: impl Fn(usize) -> T) -> [T; N] {
    let mut out = [T::default(); N];
    for (k, o) in out.iter_mut().enumerate() {
        *o = f(k);
    }
    out
}

/// How a multiply-add of the blur is rounded: the reference blurs with fused multiply-adds,
/// and the metric's small-distortion end is sensitive to that rounding (about 0.3 points at
/// JPEG quality 95 for a separate multiply and add).
trait MulAdd {
    /// `a * b + c`, rounded once.
    fn mul_add(a: f32, b: f32, c: f32) -> f32;

    #[inline(always)]
    fn mul_add_lanes<const G: usize>(a: f32, b: LaneVec<G>, c: LaneVec<G>) -> LaneVec<G> {
        each(|k| Self::mul_add(a, b[k], c[k]))
    }
}

/// The processor's fused multiply-add.
struct Fused;

impl MulAdd for Fused {
    #[inline(always)]
    fn mul_add(a: f32, b: f32, c: f32) -> f32 {
        a.mul_add(b, c)
    }
}

/// The exact product and sum in f64, rounded to f32: the fused result but for rare double
/// rounding, where the processor has no FMA.
struct Emulated;

impl MulAdd for Emulated {
    #[inline(always)]
    fn mul_add(a: f32, b: f32, c: f32) -> f32 {
        (f64::from(a) * f64::from(b) + f64::from(c)) as f32
    }
}

/// The blur code for this processor, chosen once per comparison.
#[derive(Clone, Copy)]
enum Kernel {
    /// Baseline code with emulated FMA.
    Emulated,
    /// Baseline code where FMA is part of the architecture (aarch64).
    #[cfg_attr(not(target_arch = "aarch64"), allow(dead_code))]
    Fused,
    /// AVX2 and FMA, detected at run time.
    #[cfg(target_arch = "x86_64")]
    Avx2(archmage::X64V3Token),
    /// AVX-512 (with AVX2 and FMA), detected at run time: the same code compiled for wider
    /// registers, the same operations in the same order (bit for bit the AVX2 kernel's
    /// scores).
    #[cfg(target_arch = "x86_64")]
    Avx512(archmage::X64V4Token),
}

impl Kernel {
    fn detect() -> Kernel {
        use archmage::SimdToken;
        #[cfg(target_arch = "x86_64")]
        if let Some(token) = archmage::X64V4Token::summon() {
            return Kernel::Avx512(token);
        }
        #[cfg(target_arch = "x86_64")]
        if let Some(token) = archmage::X64V3Token::summon() {
            return Kernel::Avx2(token);
        }
        if cfg!(target_arch = "aarch64") {
            Kernel::Fused
        } else {
            Kernel::Emulated
        }
    }

    fn xyb(self, rgb: [&[f32]; 3], out: [&mut [f32]; 3]) {
        match self {
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2(token) => xyb_avx2(token, rgb, out),
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512(token) => xyb_avx512(token, rgb, out),
            Kernel::Fused => xyb_row::<Fused>(rgb, out),
            Kernel::Emulated => xyb_row::<Emulated>(rgb, out),
        }
    }

    fn maps(self, p: Pixels, ssim: bool, edges: bool) -> [f64; 6] {
        match self {
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2(token) => maps_avx2(token, p, ssim, edges),
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512(token) => maps_avx512(token, p, ssim, edges),
            Kernel::Fused | Kernel::Emulated => maps_of(p, ssim, edges),
        }
    }

    fn horizontal(self, gauss: &Gauss, padded: &[f32], lanes: usize, out: &mut [f32]) {
        match self {
            Kernel::Emulated => horizontal::<Emulated>(gauss, padded, lanes, out),
            Kernel::Fused => horizontal::<Fused>(gauss, padded, lanes, out),
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2(token) => horizontal_avx2(token, gauss, padded, lanes, out),
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512(token) => horizontal_avx512(token, gauss, padded, lanes, out),
        }
    }

    fn vertical(
        self,
        gauss: &Gauss,
        first: &[f32],
        second: Option<&[f32]>,
        prev: &mut [Vec<f32>; 3],
        prev2: &mut [Vec<f32>; 3],
        out: &mut [f32],
    ) {
        let rows = (first, second);
        match self {
            Kernel::Emulated => vertical::<Emulated>(gauss, rows, prev, prev2, out),
            Kernel::Fused => vertical::<Fused>(gauss, rows, prev, prev2, out),
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2(token) => vertical_avx2(token, gauss, rows, prev, prev2, out),
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512(token) => vertical_avx512(token, gauss, rows, prev, prev2, out),
        }
    }
}

/// The vector kernels for one x86-64 level: the generic code compiled with the target
/// features of `archmage::$token` (FMA through [`Fused`]), for [`Kernel`] to call.
#[cfg(target_arch = "x86_64")]
macro_rules! x86_kernels {
    ($token:ident, $maps:ident, $xyb:ident, $horizontal:ident, $vertical:ident) => {
        #[archmage::arcane]
        fn $maps(_token: archmage::$token, p: Pixels, ssim: bool, edges: bool) -> [f64; 6] {
            maps_of(p, ssim, edges)
        }

        #[archmage::arcane]
        fn $xyb(_token: archmage::$token, rgb: [&[f32]; 3], out: [&mut [f32]; 3]) {
            xyb_row::<Fused>(rgb, out)
        }

        #[archmage::arcane]
        fn $horizontal(
            _token: archmage::$token,
            gauss: &Gauss,
            padded: &[f32],
            lanes: usize,
            out: &mut [f32],
        ) {
            horizontal::<Fused>(gauss, padded, lanes, out)
        }

        #[archmage::arcane]
        fn $vertical(
            _token: archmage::$token,
            gauss: &Gauss,
            rows: (&[f32], Option<&[f32]>),
            prev: &mut [Vec<f32>; 3],
            prev2: &mut [Vec<f32>; 3],
            out: &mut [f32],
        ) {
            vertical::<Fused>(gauss, rows, prev, prev2, out)
        }
    };
}

#[cfg(target_arch = "x86_64")]
x86_kernels!(
    X64V3Token,
    maps_avx2,
    xyb_avx2,
    horizontal_avx2,
    vertical_avx2
);
#[cfg(target_arch = "x86_64")]
x86_kernels!(
    X64V4Token,
    maps_avx512,
    xyb_avx512,
    horizontal_avx512,
    vertical_avx512
);

/// The horizontal blur of one row laid out `[x][lane]` with zero margins (`2 * radius` pixels
/// before, `radius` after) into `out` (`[x][lane]`, no margins): eight lanes at a time (four
/// for the rest), four outputs per step away from the edges (the recursion unrolled, as the
/// reference computes it).
#[inline(always)]
fn horizontal<F: MulAdd>(gauss: &Gauss, padded: &[f32], l: usize, out: &mut [f32]) {
    let mut g = 0;
    while g + 8 <= l {
        horizontal_lanes::<F, 8>(gauss, padded, l, g, out);
        g += 8;
    }
    if g < l {
        horizontal_lanes::<F, 4>(gauss, padded, l, g, out);
    }
}

/// [`horizontal`] for the `G` lanes from `g`.
#[inline(always)]
fn horizontal_lanes<F: MulAdd, const G: usize>(
    gauss: &Gauss,
    padded: &[f32],
    l: usize,
    g: usize,
    out: &mut [f32],
) {
    let r = gauss.radius as isize;
    let w = (out.len() / l) as isize;
    // Output n reads inputs n - r - 1 and n + r - 1, which are at n + r - 1 and n + 3r - 1
    // in `padded`; the first output that reads a pixel is n = 1 - r.
    let load = |i: isize| -> LaneVec<G> {
        let at = i as usize * l + g;
        padded[at..at + G].try_into().expect("G lanes")
    };
    let sum = |n: isize| add(load(n + r - 1), load(n + 3 * r - 1));
    let store = |out: &mut [f32], n: isize, t: [LaneVec<G>; 3]| {
        if n >= 0 {
            let at = n as usize * l + g;
            out[at..at + G].copy_from_slice(&add(t[0], add(t[1], t[2])));
        }
    };
    let mut prev = [[0f32; G]; 3];
    let mut prev2 = [[0f32; G]; 3];
    let single = |n: isize, prev: &mut [LaneVec<G>; 3], prev2: &mut [LaneVec<G>; 3]| {
        one_output::<F, G>(gauss, sum(n), prev, prev2)
    };
    let mut n = 1 - r;
    let aligned = (r + 1 + 3) / 4 * 4;
    while n < aligned.min(w) {
        store(out, n, single(n, &mut prev, &mut prev2));
        n += 1;
    }
    while n < w - r + 1 - 3 {
        let s = [sum(n), sum(n + 1), sum(n + 2), sum(n + 3)];
        // Term by term, last first, each output's terms added as `t0 + (t1 + t2)`; every
        // value held in vector registers (an array of the twelve spilled to the stack).
        let mut acc = [[0f32; G]; 4];
        for i in (0..3).rev() {
            let (a, b1, b2) = (&gauss.ahead[i], &gauss.back1[i], &gauss.back2[i]);
            let (p1, p2) = (prev[i], prev2[i]);
            let t = four_outputs::<F, G>(a, b1, b2, &s, p1, p2);
            prev2[i] = t[2];
            prev[i] = t[3];
            for (acc, t) in acc.iter_mut().zip(t) {
                *acc = if i == 2 { t } else { add(t, *acc) };
            }
        }
        for (j, acc) in acc.into_iter().enumerate() {
            let at = (n as usize + j) * l + g;
            out[at..at + G].copy_from_slice(&acc);
        }
        n += 4;
    }
    while n < w {
        store(out, n, single(n, &mut prev, &mut prev2));
        n += 1;
    }
}

/// The three terms' next output from the input sum `s`, their last two outputs updated.
#[inline(always)]
fn one_output<F: MulAdd, const G: usize>(
    gauss: &Gauss,
    s: LaneVec<G>,
    prev: &mut [LaneVec<G>; 3],
    prev2: &mut [LaneVec<G>; 3],
) -> [LaneVec<G>; 3] {
    let mut terms = [[0f32; G]; 3];
    for (i, t) in terms.iter_mut().enumerate() {
        let mut o = s;
        for x in &mut o {
            *x *= gauss.ahead[i][0];
        }
        o = F::mul_add_lanes(gauss.back2[i][0], prev2[i], o);
        prev2[i] = prev[i];
        o = F::mul_add_lanes(gauss.back1[i][0], prev[i], o);
        prev[i] = o;
        *t = o;
    }
    terms
}

/// One term's next four outputs from the four input sums `s` and the term's last two
/// outputs, in the reference's order of operations: `s[0] * a[j]`, then the later sums
/// multiplied and added one by one, then `back2[j] * p2` and `back1[j] * p1` added.
#[inline(always)]
fn four_outputs<F: MulAdd, const G: usize>(
    a: &[f32; 4],
    b1: &[f32; 4],
    b2: &[f32; 4],
    s: &[LaneVec<G>; 4],
    p1: LaneVec<G>,
    p2: LaneVec<G>,
) -> [LaneVec<G>; 4] {
    let mul = |c: f32, v: LaneVec<G>| -> LaneVec<G> {
        let mut o = v;
        for x in &mut o {
            *x *= c;
        }
        o
    };
    let fma = F::mul_add_lanes::<G>;
    let back = |j: usize, o: LaneVec<G>| fma(b1[j], p1, fma(b2[j], p2, o));
    let t0 = back(0, mul(a[0], s[0]));
    let t1 = back(1, fma(a[0], s[1], mul(a[1], s[0])));
    let t2 = back(2, fma(a[0], s[2], fma(a[1], s[1], mul(a[2], s[0]))));
    let t3 = back(
        3,
        fma(
            a[0],
            s[3],
            fma(a[1], s[2], fma(a[2], s[1], mul(a[3], s[0]))),
        ),
    );
    [t0, t1, t2, t3]
}

/// One step of the vertical blur over a row: its input is the sum of the two input rows it
/// reads (the first alone when there is no second), `prev` and `prev2` are the last two
/// outputs of each term, `out` the blurred row.
#[inline(always)]
fn vertical<F: MulAdd>(
    gauss: &Gauss,
    (first, second): (&[f32], Option<&[f32]>),
    prev: &mut [Vec<f32>; 3],
    prev2: &mut [Vec<f32>; 3],
    out: &mut [f32],
) {
    match second {
        Some(second) => vertical_step::<F, true>(gauss, first, second, prev, prev2, out),
        None => vertical_step::<F, false>(gauss, first, first, prev, prev2, out),
    }
}

/// [`vertical`], the input `first[j] + second[j]` when `TWO`, else `first[j]`.
#[inline(always)]
fn vertical_step<F: MulAdd, const TWO: bool>(
    gauss: &Gauss,
    first: &[f32],
    second: &[f32],
    prev: &mut [Vec<f32>; 3],
    prev2: &mut [Vec<f32>; 3],
    out: &mut [f32],
) {
    let row = first.len();
    let (first, second) = (&first[..row], &second[..row]);
    let [p0, p1, p2] = prev;
    let [q0, q1, q2] = prev2;
    let (p0, p1, p2) = (&mut p0[..row], &mut p1[..row], &mut p2[..row]);
    let (q0, q1, q2) = (&mut q0[..row], &mut q1[..row], &mut q2[..row]);
    let out = &mut out[..row];
    let (n2, d1) = (gauss.n2, gauss.d1);
    for j in 0..row {
        let s = if TWO { first[j] + second[j] } else { first[j] };
        let o0 = F::mul_add(n2[0], s, F::mul_add(-d1[0], p0[j], -q0[j]));
        let o1 = F::mul_add(n2[1], s, F::mul_add(-d1[1], p1[j], -q1[j]));
        let o2 = F::mul_add(n2[2], s, F::mul_add(-d1[2], p2[j], -q2[j]));
        (q0[j], q1[j], q2[j]) = (p0[j], p1[j], p2[j]);
        (p0[j], p1[j], p2[j]) = (o0, o1, o2);
        out[j] = o0 + (o1 + o2);
    }
}

/// Which blur values a scale needs, and where they are in a pixel's lanes.
struct Lanes {
    /// Lanes per pixel, a multiple of 4.
    count: usize,
    /// Per channel: its first lane (image 1, image 2, then with SSIM their squares and their
    /// product), or none when no weight of the channel at this scale is non-zero.
    first: [Option<usize>; 3],
    /// Per channel: whether the SSIM map is weighted (it needs the squares and the product).
    ssim: [bool; 3],
    /// Per channel: whether the edge maps are weighted.
    edges: [bool; 3],
}

impl Lanes {
    fn new(count: usize, scale: usize, channels: [bool; 3]) -> Lanes {
        let weighted = |c: usize, maps: std::ops::Range<usize>| {
            channels[c]
                && maps
                    .clone()
                    .any(|m| (0..2).any(|n| WEIGHT[weight_index(c, count, scale, n, m)] != 0.0))
        };
        let ssim = std::array::from_fn(|c| weighted(c, 0..1));
        let edges = std::array::from_fn(|c| weighted(c, 1..3));
        let mut next = 0usize;
        let first = std::array::from_fn(|c| {
            let used = if ssim[c] {
                5
            } else if edges[c] {
                2
            } else {
                0
            };
            let first = (used > 0).then_some(next);
            next += used;
            first
        });
        Lanes {
            count: next.div_ceil(4).max(1) * 4,
            first,
            ssim,
            edges,
        }
    }
}

/// One scale: rows in, sums of the maps out, every other pair of rows averaged for the next.
struct Stage {
    scale: usize,
    /// Scales in the comparison.
    count: usize,
    width: usize,
    height: usize,
    radius: usize,
    lanes: Lanes,
    kernel: Kernel,
    /// Rows received so far.
    received: usize,
    /// XYB of both images for the last `radius` rows: `[slot][image * 3 + channel][x]`.
    xyb: Vec<f32>,
    /// One row of blur inputs, `[x][lane]`, with zero margins: `2 * radius` pixels before it
    /// and `radius` after.
    padded: Vec<f32>,
    /// Horizontally blurred rows, the last `2 * radius + 1`: `[slot][x][lane]`.
    blurred: Vec<f32>,
    /// The vertical recursion's last two outputs per term, per column and lane.
    prev: [Vec<f32>; 3],
    prev2: [Vec<f32>; 3],
    /// The fully blurred row.
    out: Vec<f32>,
    /// A row of zeros: the vertical step's input past both edges of a short image.
    zeros: Vec<f32>,
    /// Per channel: SSIM sum and sum of 4th powers, artifact ditto, lost detail ditto.
    sums: [[f64; 6]; 3],
}

impl Stage {
    fn new(
        scale: usize,
        count: usize,
        (width, height): (usize, usize),
        channels: [bool; 3],
        gauss: &Gauss,
        kernel: Kernel,
    ) -> Stage {
        let radius = gauss.radius;
        let lanes = Lanes::new(count, scale, channels);
        let row = width * lanes.count;
        Stage {
            scale,
            count,
            width,
            height,
            radius,
            received: 0,
            xyb: vec![0.0; radius * 6 * width],
            padded: vec![0.0; (width + 3 * radius) * lanes.count],
            blurred: vec![0.0; (2 * radius + 1) * row],
            prev: std::array::from_fn(|_| vec![0.0; row]),
            prev2: std::array::from_fn(|_| vec![0.0; row]),
            out: vec![0.0; row],
            zeros: vec![0.0; row],
            sums: [[0.0; 6]; 3],
            lanes,
            kernel,
        }
    }

    /// Takes the next row of both images (each its X, Y and B planes).
    fn push(&mut self, rows: [&[f32]; 2], gauss: &Gauss) {
        let y = self.received;
        self.received += 1;
        self.convert_row(y, rows);
        self.blur_row(y, gauss);
        self.vertical(y, gauss);
    }

    /// Keeps row `y` of both images in XYB and lays out its blur inputs.
    fn convert_row(&mut self, y: usize, [a, b]: [&[f32]; 2]) {
        let w = self.width;
        let slot = &mut self.xyb[(y % self.radius) * 6 * w..][..6 * w];
        slot[..3 * w].copy_from_slice(&a[..3 * w]);
        slot[3 * w..].copy_from_slice(&b[..3 * w]);
        let lanes = &self.lanes;
        let inputs = &mut self.padded[2 * self.radius * lanes.count..][..w * lanes.count];
        // Channel by channel, so that each loop is one shape.
        for c in 0..3 {
            let Some(f) = lanes.first[c] else { continue };
            let pixels = inputs.chunks_exact_mut(lanes.count);
            let values = slot[c * w..][..w].iter().zip(&slot[(3 + c) * w..][..w]);
            if lanes.ssim[c] {
                for (px, (&a, &b)) in pixels.zip(values) {
                    px[f..f + 5].copy_from_slice(&[a, b, a * a, b * b, a * b]);
                }
            } else {
                for (px, (&a, &b)) in pixels.zip(values) {
                    px[f..f + 2].copy_from_slice(&[a, b]);
                }
            }
        }
    }

    /// The horizontal blur of the laid-out row `y` into its slot of `blurred`.
    fn blur_row(&mut self, y: usize, gauss: &Gauss) {
        let row = self.width * self.lanes.count;
        let slot = (y % (2 * self.radius + 1)) * row;
        let out = &mut self.blurred[slot..slot + row];
        self.kernel
            .horizontal(gauss, &self.padded, self.lanes.count, out);
    }

    /// One step of the vertical blur after input row `y` (a row past the end reads as zero):
    /// output row `y + 1 - radius` is then complete and its maps are summed.
    fn vertical(&mut self, y: usize, gauss: &Gauss) {
        let r = self.radius;
        let row = self.width * self.lanes.count;
        let ring = 2 * r + 1;
        let n = y as isize + 1 - r as isize;
        let top = n - r as isize - 1;
        let cur = (y < self.height).then(|| (y % ring) * row);
        let old = (top >= 0).then(|| (top as usize % ring) * row);
        // The input of the step: the two rows it reads (or zeros past the edges), summed
        // (by the step itself when there are two).
        let b = &self.blurred;
        let (first, second) = match (cur, old) {
            (Some(c), Some(o)) => (&b[o..o + row], Some(&b[c..c + row])),
            (Some(i), None) | (None, Some(i)) => (&b[i..i + row], None),
            (None, None) => (&self.zeros[..row], None),
        };
        self.kernel.vertical(
            gauss,
            first,
            second,
            &mut self.prev,
            &mut self.prev2,
            &mut self.out,
        );
        if n >= 0 {
            self.sum_maps(n as usize);
        }
    }

    /// Adds row `y`'s SSIM and edge maps to the sums.
    fn sum_maps(&mut self, y: usize) {
        let w = self.width;
        let l = self.lanes.count;
        let slot = &self.xyb[(y % self.radius) * 6 * w..][..6 * w];
        for c in 0..3 {
            let Some(f) = self.lanes.first[c] else {
                continue;
            };
            let (ssim, edges) = (self.lanes.ssim[c], self.lanes.edges[c]);
            let img1 = &slot[c * w..][..w];
            let img2 = &slot[(3 + c) * w..][..w];
            let s = self.kernel.maps(
                Pixels {
                    out: &self.out,
                    lanes: l,
                    first: f,
                    img1,
                    img2,
                },
                ssim,
                edges,
            );
            for (t, v) in self.sums[c].iter_mut().zip(s) {
                *t += v;
            }
        }
    }

    /// Runs the vertical blur past the last row, so that every row's maps are summed.
    fn finish(&mut self, gauss: &Gauss) {
        for y in self.height..self.height + self.radius - 1 {
            self.vertical(y, gauss);
        }
    }

    /// This scale's part of the weighted sum.
    fn weighted(&self) -> f64 {
        let per_pixel = 1.0 / (self.width * self.height) as f64;
        let mut total = 0.0;
        for (c, sums) in self.sums.iter().enumerate() {
            // [SSIM, artifact, lost detail] x [mean, 4-norm].
            for map in 0..3 {
                let mean = per_pixel * sums[map * 2];
                let norm4 = (per_pixel * sums[map * 2 + 1]).sqrt().sqrt();
                for (norm, value) in [mean, norm4].into_iter().enumerate() {
                    let i = weight_index(c, self.count, self.scale, norm, map);
                    total += WEIGHT[i] * value.abs();
                }
            }
        }
        total
    }
}

/// One channel's values of a row for its maps: the blurred lanes of each pixel (`lanes` per
/// pixel, the channel's from `first`: image 1, image 2, then with SSIM their squares and their
/// product), and the XYB values of both images.
#[derive(Clone, Copy)]
struct Pixels<'a> {
    out: &'a [f32],
    lanes: usize,
    first: usize,
    img1: &'a [f32],
    img2: &'a [f32],
}

/// Pixels summed side by side in [`maps`] (each lane of the sums takes every fourth pixel).
const MAP_LANES: usize = 4;

/// The sums of a row's SSIM map (and its 4th powers) and of its artifact and lost-detail maps
/// (ditto), as the reference computes each pixel's values (in f32, then f64); the pixels are
/// summed four side by side, so that the f64 arithmetic runs on vectors.
#[inline(always)]
fn maps<const SSIM: bool, const EDGES: bool>(p: Pixels) -> [f64; 6] {
    const K: usize = MAP_LANES;
    let w = p.img1.len();
    let out = &p.out[..w * p.lanes];
    let mut acc = [[0f64; K]; 6];
    let whole = w / K * K;
    for x0 in (0..whole).step_by(K) {
        add_maps::<SSIM, EDGES, K>(p, out, x0, &mut acc);
    }
    for x in whole..w {
        add_maps::<SSIM, EDGES, 1>(p, out, x, &mut acc);
    }
    acc.map(|a| a.iter().sum())
}

/// Adds the maps of the `N` pixels from `x0` to the sums, pixel `x0 + k` to lane `k`.
#[inline(always)]
fn add_maps<const SSIM: bool, const EDGES: bool, const N: usize>(
    p: Pixels,
    out: &[f32],
    x0: usize,
    acc: &mut [[f64; MAP_LANES]; 6],
) {
    let (l, f) = (p.lanes, p.first);
    let lane = |o: usize| -> [f32; N] { std::array::from_fn(|k| out[(x0 + k) * l + f + o]) };
    let (mu1, mu2) = (lane(0), lane(1));
    if SSIM {
        let (s11, s22, s12) = (lane(2), lane(3), lane(4));
        let d: [f64; N] = std::array::from_fn(|k| {
            let (mu1, mu2) = (mu1[k], mu2[k]);
            let dm = mu1 - mu2;
            let num_m = 1.0 - dm * dm;
            let num_s = 2.0 * (s12[k] - mu1 * mu2) + C2;
            let denom_s = (s11[k] - mu1 * mu1) + (s22[k] - mu2 * mu2) + C2;
            positive(1.0 - f64::from(num_m * num_s / denom_s))
        });
        for k in 0..N {
            acc[0][k] += d[k];
            acc[1][k] += fourth(d[k]);
        }
    }
    if EDGES {
        let d1: [f64; N] = std::array::from_fn(|k| {
            let num = 1.0 + f64::from((p.img2[x0 + k] - mu2[k]).abs());
            let den = 1.0 + f64::from((p.img1[x0 + k] - mu1[k]).abs());
            num / den - 1.0
        });
        for k in 0..N {
            let artifact = positive(d1[k]);
            let lost = positive(-d1[k]);
            acc[2][k] += artifact;
            acc[3][k] += fourth(artifact);
            acc[4][k] += lost;
            acc[5][k] += fourth(lost);
        }
    }
}

/// [`maps`] for the maps a channel has.
#[inline(always)]
fn maps_of(p: Pixels, ssim: bool, edges: bool) -> [f64; 6] {
    match (ssim, edges) {
        (true, true) => maps::<true, true>(p),
        (true, false) => maps::<true, false>(p),
        (false, true) => maps::<false, true>(p),
        (false, false) => [0.0; 6],
    }
}

/// Where the weight of a channel's (X, Y, B) norm (mean, 4-norm) of a map (SSIM, artifact,
/// lost detail) at a scale is, when `count` scales are compared. The reference walks the table
/// channel by channel over the scales compared, so an image with fewer than six scales takes
/// the next channel's weights early; this keeps its scores.
fn weight_index(channel: usize, count: usize, scale: usize, norm: usize, map: usize) -> usize {
    ((channel * count + scale) * 2 + norm) * 3 + map
}

/// `x` when it is above zero, else zero (NaN too): `max(x, 0)` as one vector instruction
/// computes it (`f64::max` has to treat NaN specially, which kept the sums scalar).
#[inline(always)]
fn positive(x: f64) -> f64 {
    if x > 0.0 {
        x
    } else {
        0.0
    }
}

fn fourth(x: f64) -> f64 {
    let x2 = x * x;
    x2 * x2
}

/// The final mapping of the weighted sum onto the 0..=100 scale.
fn transform(weighted: f64) -> f64 {
    let s = weighted * 0.956_238_261_683_484_4;
    let s = 2.326_765_642_916_932 * s - 0.020_884_521_182_843_837 * s * s
        + 6.248_496_625_763_138e-05 * s * s * s;
    if s > 0.0 {
        100.0 - 10.0 * s.powf(0.627_633_646_783_138_7)
    } else {
        100.0
    }
}

/// Linear light of each 8-bit sRGB value, as the reference tool computes it (through lcms2's
/// sRGB curve, up to 5e-6 away from the exact one; the metric is that sensitive to it at
/// small distortions): f32 bit patterns, as recorded by the `fast-ssim2` crate (BSD-2-Clause)
/// from the reference binary. Scores then agree with a whole-image port of the reference to
/// about 1e-13.
#[rustfmt::skip]
const SRGB_TO_LINEAR: [u32; 256] = [
    0x0000_0000, 0x399f_22b4, 0x3a1f_22b4, 0x3a6e_b40f, 0x3a9f_22b4, 0x3ac6_eb61,
    0x3aee_b40f, 0x3b0b_3e5e, 0x3b1f_22b4, 0x3b33_070b, 0x3b46_eb61, 0x3b5b_51a9,
    0x3b70_f162, 0x3b83_e19c, 0x3b8f_e5e5, 0x3b9c_87ce, 0x3ba9_c98d, 0x3bb7_ad51,
    0x3bc6_353a, 0x3bd5_635b, 0x3be5_39ca, 0x3bf5_ba84, 0x3c03_73c5, 0x3c0c_6165,
    0x3c15_a71b, 0x3c1f_45d7, 0x3c29_3e86, 0x3c33_9212, 0x3c3e_4163, 0x3c49_4d5d,
    0x3c54_b6de, 0x3c60_7ec9, 0x3c6c_a5f0, 0x3c79_2d30, 0x3c83_0aae, 0x3c89_afa2,
    0x3c90_85de, 0x3c97_8dc6, 0x3c9e_c7c0, 0x3ca6_3430, 0x3cad_d379, 0x3cb5_a5fb,
    0x3cbd_ac1a, 0x3cc5_e632, 0x3cce_54a3, 0x3cd6_f7ca, 0x3cdf_d005, 0x3ce8_ddae,
    0x3cf2_2123, 0x3cfb_9ab9, 0x3d02_a565, 0x3d07_98d8, 0x3d0c_a7e2, 0x3d11_d2aa,
    0x3d17_1961, 0x3d1c_7c2d, 0x3d21_fb38, 0x3d27_96af, 0x3d2d_4eb9, 0x3d33_2380,
    0x3d39_152a, 0x3d3f_23e4, 0x3d45_4fd2, 0x3d4b_991e, 0x3d51_ffee, 0x3d58_8469,
    0x3d5f_26b9, 0x3d65_e702, 0x3d6c_c567, 0x3d73_c212, 0x3d7a_dd2a, 0x3d81_0b69,
    0x3d84_b795, 0x3d88_7331, 0x3d8c_3e4b, 0x3d90_18f8, 0x3d94_0347, 0x3d97_fd4c,
    0x3d9c_0719, 0x3da0_20be, 0x3da4_4a4f, 0x3da8_83da, 0x3dac_cd74, 0x3db1_272b,
    0x3db5_9114, 0x3dba_0b3d, 0x3dbe_95b6, 0x3dc3_3093, 0x3dc7_dbe5, 0x3dcc_97b9,
    0x3dd1_641f, 0x3dd6_412d, 0x3ddb_2ef2, 0x3de0_2d79, 0x3de5_3cd6, 0x3dea_5d19,
    0x3def_8e55, 0x3df4_d095, 0x3dfa_23ea, 0x3dff_8863, 0x3e02_7f08, 0x3e05_4281,
    0x3e08_0ea4, 0x3e0a_e378, 0x3e0d_c106, 0x3e10_a754, 0x3e13_966c, 0x3e16_8e52,
    0x3e19_8f11, 0x3e1c_98ad, 0x3e1f_ab31, 0x3e22_c6a2, 0x3e25_eb08, 0x3e29_186a,
    0x3e2c_4ed0, 0x3e2f_8e42, 0x3e32_d6c6, 0x3e36_2861, 0x3e39_831f, 0x3e3c_e704,
    0x3e40_5417, 0x3e43_ca61, 0x3e47_49e5, 0x3e4a_d2b0, 0x3e4e_64c3, 0x3e52_002b,
    0x3e55_a4e8, 0x3e59_5306, 0x3e5d_0a89, 0x3e60_cb7c, 0x3e64_95df, 0x3e68_69be,
    0x3e6c_471e, 0x3e70_2e08, 0x3e74_1e7e, 0x3e78_188b, 0x3e7c_1c34, 0x3e80_14bf,
    0x3e82_203a, 0x3e84_308c, 0x3e86_45b9, 0x3e88_5fc3, 0x3e8a_7eb0, 0x3e8c_a282,
    0x3e8e_cb3d, 0x3e90_f8e0, 0x3e93_2b73, 0x3e95_62f8, 0x3e97_9f70, 0x3e99_e0e0,
    0x3e9c_274d, 0x3e9e_72b8, 0x3ea0_c321, 0x3ea3_1892, 0x3ea5_7308, 0x3ea7_d28a,
    0x3eaa_3718, 0x3eac_a0b8, 0x3eaf_0f6a, 0x3eb1_8333, 0x3eb3_fc16, 0x3eb6_7a17,
    0x3eb8_fd34, 0x3ebb_8578, 0x3ebe_12df, 0x3ec0_a570, 0x3ec3_3d2b, 0x3ec5_da15,
    0x3ec8_7c30, 0x3ecb_2383, 0x3ecd_d009, 0x3ed0_81cb, 0x3ed3_38cc, 0x3ed5_f50a,
    0x3ed8_b68a, 0x3edb_7d53, 0x3ede_4964, 0x3ee1_1ac1, 0x3ee3_f16b, 0x3ee6_cd67,
    0x3ee9_aeb5, 0x3eec_955d, 0x3eef_815d, 0x3ef2_72bb, 0x3ef5_6976, 0x3ef8_6593,
    0x3efb_6716, 0x3efe_6e01, 0x3f00_bd2c, 0x3f02_460d, 0x3f03_d1a5, 0x3f05_5ff8,
    0x3f06_f106, 0x3f08_84d0, 0x3f0a_1b56, 0x3f0b_b49b, 0x3f0d_50a0, 0x3f0e_ef68,
    0x3f10_90f1, 0x3f12_353e, 0x3f13_dc52, 0x3f15_862b, 0x3f17_32ce, 0x3f18_e238,
    0x3f1a_9470, 0x3f1c_4972, 0x3f1e_0142, 0x3f1f_bbe0, 0x3f21_794f, 0x3f23_398f,
    0x3f24_fca0, 0x3f26_c288, 0x3f28_8b42, 0x3f2a_56d4, 0x3f2c_253d, 0x3f2d_f680,
    0x3f2f_ca9d, 0x3f31_a197, 0x3f33_7b6c, 0x3f35_5820, 0x3f37_37b2, 0x3f39_1a26,
    0x3f3a_ff7c, 0x3f3c_e7b3, 0x3f3e_d2d1, 0x3f40_c0d4, 0x3f42_b1be, 0x3f44_a58f,
    0x3f46_9c4c, 0x3f48_95f1, 0x3f4a_9283, 0x3f4c_9202, 0x3f4e_946f, 0x3f50_99cc,
    0x3f52_a21a, 0x3f54_ad59, 0x3f56_bb8a, 0x3f58_ccb2, 0x3f5a_e0ce, 0x3f5c_f7e1,
    0x3f5f_11ed, 0x3f61_2eef, 0x3f63_4ef2, 0x3f65_71ec, 0x3f67_97e2, 0x3f69_c0d7,
    0x3f6b_eccc, 0x3f6e_1bc1, 0x3f70_4db8, 0x3f72_82b1, 0x3f74_baad, 0x3f76_f5b0,
    0x3f79_33b7, 0x3f7b_74c7, 0x3f7d_b8df, 0x3f80_0000,
];

/// Row `y` of `p` as linear R, G, B planes (grey copied to all three, alpha over mid grey:
/// [`over_grey`]).
fn linear_row(p: &Picture, y: u32, lut: &[f32; 256], out: &mut [Vec<f32>]) {
    let layout = p.bitmap.layout;
    let grey = p.background;
    let ch = layout.channels();
    let [r, g, bl] = out else {
        unreachable!("three planes")
    };
    let mut x = 0;
    for tile in p.row(y) {
        let n = tile.len() / ch;
        let (r, g, bl) = (&mut r[x..x + n], &mut g[x..x + n], &mut bl[x..x + n]);
        x += n;
        let mut put = |i: usize, rgb: [u8; 3]| {
            r[i] = lut[usize::from(rgb[0])];
            g[i] = lut[usize::from(rgb[1])];
            bl[i] = lut[usize::from(rgb[2])];
        };
        match layout {
            Layout::Gray => {
                for (i, &v) in tile.iter().enumerate() {
                    put(i, [v; 3]);
                }
            }
            Layout::Rgb => {
                for (i, p) in tile.chunks_exact(3).enumerate() {
                    put(i, [p[0], p[1], p[2]]);
                }
            }
            Layout::Rgba => {
                for (i, p) in tile.chunks_exact(4).enumerate() {
                    let over = |c: u8| over_grey(c, p[3], grey);
                    put(i, [over(p[0]), over(p[1]), over(p[2])]);
                }
            }
        }
    }
}

/// Sample `c` of alpha `a` composed over `grey`, truncated to 8 bits.
#[inline(always)]
fn over_grey(c: u8, a: u8, grey: u8) -> u8 {
    let a = u32::from(a);
    ((u32::from(c) * a + u32::from(grey) * (255 - a)) / 255) as u8
}

/// The opsin absorbance matrix and bias of XYB (libjxl).
const OPSIN: [[f32; 3]; 3] = [
    [0.30, 0.622, 0.078],
    [0.23, 0.692, 0.078],
    [0.243_422_69, 0.204_767_45, 0.551_809_86],
];
const BIAS: f32 = 0.003_793_073_4;

/// A row of linear RGB to XYB, shifted and scaled to be positive as SSIMULACRA2 does.
#[inline(always)]
fn xyb_row<F: MulAdd>([r, g, b]: [&[f32]; 3], [xs, ys, bs]: [&mut [f32]; 3]) {
    let w = xs.len();
    let (r, g, b, ys, bs) = (&r[..w], &g[..w], &b[..w], &mut ys[..w], &mut bs[..w]);
    let [o0, o1, o2] = OPSIN;
    let mix = |o: [f32; 3], x: usize| {
        F::mul_add(
            o[0],
            r[x],
            F::mul_add(o[1], g[x], F::mul_add(o[2], b[x], BIAS)),
        )
    };
    for x in 0..w {
        let m0 = cube_root_and_add::<F>(mix(o0, x), -BIAS_ROOT);
        let m1 = cube_root_and_add::<F>(mix(o1, x), -BIAS_ROOT);
        let m2 = cube_root_and_add::<F>(mix(o2, x), -BIAS_ROOT);
        let yv = 0.5 * (m0 + m1);
        xs[x] = 0.5 * (m0 - m1) * 14.0 + 0.42;
        ys[x] = yv + 0.01;
        bs[x] = (m2 - yv) + 0.55;
    }
}

/// The cube root of XYB's bias (as the C library's `cbrtf` gives it).
const BIAS_ROOT: f32 = 0.155_954_2;

/// `cbrt(v) + add` for a non-negative `v`, computed the way the reference does (its rounding
/// shows in scores): an estimate of `v^(-1/3)` from the exponent bits, three Newton steps
/// and a last correction for it, then `v * r^2`. Vectorizes, where `f32::cbrt` does not.
#[inline(always)]
fn cube_root_and_add<F: MulAdd>(v: f32, add: f32) -> f32 {
    const THIRD: f32 = 1.0 / 3.0;
    const FOUR_THIRDS: f32 = 4.0 / 3.0;
    let bits = v.to_bits() as i32;
    // The exponent of 1 + 1/3 minus a third of v's exponent (biased).
    let seed = if bits == 0 {
        0
    } else {
        0x5480_0000 - (bits >> 23) * 0x002A_AAAA
    };
    let mut r = f32::from_bits(seed as u32);
    let v3 = THIRD * v;
    for _ in 0..3 {
        let r2 = r * r;
        r = F::mul_add(-v3, r2 * r2, FOUR_THIRDS * r);
    }
    let r2 = r * r;
    r = F::mul_add(THIRD, F::mul_add(-v, r2 * r2, r), r);
    let r2 = r * r;
    F::mul_add(r2, v, add)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{crop, image};

    #[test]
    fn the_cube_root_is_accurate_over_the_range_the_metric_uses() {
        for i in 0..=10_000 {
            let v = BIAS + i as f32 / 10_000.0;
            let exact = f64::from(v).cbrt();
            for root in [
                cube_root_and_add::<Fused>(v, 0.0),
                cube_root_and_add::<Emulated>(v, 0.0),
            ] {
                let err = (f64::from(root) - exact).abs() / exact;
                assert!(err < 2e-6, "{v}: {err}");
            }
        }
        assert_eq!(BIAS_ROOT, f64::from(BIAS).cbrt() as f32);
    }

    #[test]
    fn the_memory_held_is_bounded_by_the_width() {
        let gauss = Gauss::new(SIGMA);
        let bitmap = |w: usize, h: usize| Bitmap {
            width: w as u32,
            height: h as u32,
            layout: Layout::Gray,
            data: vec![7; w * h],
        };
        for (w, h) in [(8, 8), (100, 3000), (4000, 9), (16_384, 16_384)] {
            let sizes = scale_sizes(w, h);
            let stages: usize = stages(&sizes, &gauss, Kernel::Emulated, |_| [true; 3])
                .iter()
                .map(|s| {
                    let state = s.prev.iter().chain(&s.prev2).map(Vec::len).sum::<usize>();
                    4 * (s.xyb.len()
                        + s.padded.len()
                        + s.blurred.len()
                        + state
                        + s.out.len()
                        + s.zeros.len())
                })
                .sum();
            let mut pyramid = Pyramid::new(&sizes, Kernel::Emulated);
            let rows = |r: &Rows| r.planes.iter().map(Vec::len).sum::<usize>();
            let levels: usize = pyramid
                .levels
                .iter()
                .map(|l| 4 * (rows(&l.pending) + rows(&l.down)))
                .sum::<usize>()
                + 4 * rows(&pyramid.input);
            // The largest strip the image makes.
            let b = bitmap(w, h.min(64));
            let picture = Picture::whole(&b);
            let strip = (0..b.height as usize)
                .step_by(STRIP_ROWS)
                .map(|y| {
                    let s = pyramid.strip(&picture, y..(y + STRIP_ROWS).min(b.height as usize));
                    4 * s.scales.iter().map(Vec::capacity).sum::<usize>()
                })
                .max()
                .unwrap();
            let held = stages + levels + (STRIPS_AHEAD + 3) * strip;
            // The margins of the laid-out rows (3 * radius pixels of 16 lanes per scale), and
            // a value per row of a strip where a scale's width is rounded up.
            let bound = BYTES_PER_WIDTH as usize * w + 6 * 15 * 16 * 4 + 4 * 4 * 3 * 24;
            assert!(held <= bound, "{w}x{h}: {held} > {bound}");
            assert!(held * 2 > bound, "{w}x{h}: {held} is far under {bound}");
        }
    }

    #[test]
    fn alpha_is_composed_as_the_reference_scripts_compose_it() {
        // Values read back from `convert in.png -background gray50 -alpha remove out.png`
        // (ImageMagick 6.9 Q16): transparent is 127, and 255 at alpha 235 is 244 (244.96).
        let g = ALPHA_BACKGROUND;
        assert_eq!(over_grey(0, 0, g), 127);
        assert_eq!(over_grey(255, 0, g), 127);
        assert_eq!(over_grey(200, 255, g), 200);
        assert_eq!(over_grey(255, 235, g), 244);
        assert_eq!(over_grey(239, 235, g), 230);
        assert_eq!(over_grey(171, 235, g), 167);
        // `-background '#808080' -flatten`: 245.04, 230.29 and 167.63 truncated.
        assert_eq!(over_grey(255, 235, 128), 245);
        assert_eq!(over_grey(239, 235, 128), 230);
        assert_eq!(over_grey(171, 235, 128), 167);
        for grey in [127, 128] {
            for c in 0..=255u8 {
                for a in 0..=255u8 {
                    let exact = (f64::from(c) * f64::from(a)
                        + f64::from(grey) * f64::from(255 - a))
                        / 255.0;
                    assert_eq!(over_grey(c, a, grey), exact.floor() as u8, "{c} at {a}");
                }
            }
        }
    }

    #[test]
    fn the_gaussian_sums_to_one() {
        let g = Gauss::new(SIGMA);
        assert_eq!(g.radius, 5);
        // An impulse in the middle of a long row: the response must sum to 1 and peak at it.
        let mut prev = [0f64; 3];
        let mut prev2 = [0f64; 3];
        let (mut total, mut peak) = (0.0, (0, 0.0));
        let x = |i: isize| if i == 50 { 1.0 } else { 0.0 };
        for n in -4isize..100 {
            let sum = x(n - 6) + x(n + 4);
            let mut out = 0.0;
            for i in 0..3 {
                let o = f64::from(g.n2[i]) * sum - f64::from(g.d1[i]) * prev[i] - prev2[i];
                prev2[i] = prev[i];
                prev[i] = o;
                out += o;
            }
            total += out;
            if out > peak.1 {
                peak = (n, out);
            }
        }
        assert!((total - 1.0).abs() < 1e-3, "{total}");
        assert_eq!(peak.0, 50);
    }

    /// fast-ssim2's score (a port of libjxl's whole-image computation) of the same pair.
    fn whole_image_score(a: &Bitmap, b: &Bitmap) -> f64 {
        use fast_ssim2::{PixelDescriptor, PixelSlice, Ssimulacra2Reference};
        // Alpha composed as `linear_row` does (an identity table gives the 8-bit values).
        let identity: [f32; 256] = std::array::from_fn(|i| i as f32);
        let rgb = |b: &Bitmap| -> Vec<u8> {
            let mut p: [Vec<f32>; 3] = std::array::from_fn(|_| vec![0.0; b.width as usize]);
            let mut out = Vec::new();
            for y in 0..b.height as usize {
                linear_row(&Picture::whole(b), y as u32, &identity, &mut p);
                out.extend((0..b.width as usize).flat_map(|x| p.each_ref().map(|c| c[x] as u8)));
            }
            out
        };
        let (da, db) = (rgb(a), rgb(b));
        let desc = PixelDescriptor::RGB8_SRGB;
        let stride = a.width as usize * 3;
        let sa = PixelSlice::new(&da, a.width, a.height, stride, desc).unwrap();
        let sb = PixelSlice::new(&db, a.width, a.height, stride, desc).unwrap();
        let reference = Ssimulacra2Reference::new(&sa).unwrap();
        reference.compare(&sb).unwrap()
    }

    fn jpeg(b: &Bitmap, quality: u8) -> Bitmap {
        let mut out = Vec::new();
        let color = match b.layout {
            Layout::Gray => jpeg_encoder::ColorType::Luma,
            Layout::Rgb => jpeg_encoder::ColorType::Rgb,
            Layout::Rgba => jpeg_encoder::ColorType::Rgba,
        };
        jpeg_encoder::Encoder::new(&mut out, quality)
            .encode(&b.data, b.width as u16, b.height as u16, color)
            .unwrap();
        let mut d = crate::jpeg::decode_candidate(&out).unwrap();
        if b.layout == Layout::Rgba {
            // Keep the original coverage, so that alpha composition is part of the comparison.
            let data = d
                .data
                .chunks_exact(3)
                .zip(b.data.chunks_exact(4))
                .flat_map(|(p, q)| [p[0], p[1], p[2], q[3]])
                .collect();
            d = Bitmap {
                layout: Layout::Rgba,
                data,
                ..d
            };
        }
        d
    }

    #[test]
    fn scores_agree_with_the_whole_image_computation() {
        let mut cases = 0;
        for path in [
            "jpeg/mpl-grace_hopper.jpg",
            "jpeg/jxl-flower_q85_gray.jpg",
            "jpeg/pil-flower.jpg",
            "png/mpl-Minduka_Present_Blue_Pack.png",
            "png/jxl-DJI-FC6310-16bit.png",
        ] {
            let original = image(path);
            for quality in [15, 40, 70, 95] {
                let distorted = jpeg(&original, quality);
                let (a, b) = (Picture::whole(&original), Picture::whole(&distorted));
                let ours = score(&a, &b).unwrap();
                let theirs = whole_image_score(&original, &distorted);
                assert!(
                    (ours - theirs).abs() < 1e-9,
                    "{path} q{quality}: {ours} vs {theirs}"
                );
                let emulated = score_with(Kernel::Emulated, &a, &b).unwrap();
                assert!(
                    (ours - emulated).abs() < 1e-6,
                    "{path} q{quality}: {emulated}"
                );
                // Every vector kernel the machine has gives the same score, bit for bit.
                #[cfg(target_arch = "x86_64")]
                {
                    use archmage::SimdToken;
                    if let Some(v3) = archmage::X64V3Token::summon() {
                        let avx2 = score_with(Kernel::Avx2(v3), &a, &b).unwrap();
                        assert_eq!(avx2.to_bits(), ours.to_bits(), "{path} q{quality} AVX2");
                    }
                    if let Some(v4) = archmage::X64V4Token::summon() {
                        let avx512 = score_with(Kernel::Avx512(v4), &a, &b).unwrap();
                        assert_eq!(
                            avx512.to_bits(),
                            ours.to_bits(),
                            "{path} q{quality} AVX-512"
                        );
                    }
                }
                // The channels scored on two threads give the one thread's score, bit for bit.
                for two in [false, true] {
                    let on = score_on(Kernel::detect(), &a, &b, two).unwrap();
                    assert_eq!(on.to_bits(), ours.to_bits(), "{path} q{quality} {two}");
                }
                cases += 1;
            }
            let whole = Picture::whole(&original);
            assert_eq!(score(&whole, &whole), Some(100.0));
        }
        // Odd and tiny sizes: every scale's edge handling.
        for (w, h) in [
            (8, 8),
            (9, 13),
            (17, 8),
            (31, 33),
            (64, 7),
            (1, 1),
            (5, 3),
            (1, 40),
        ] {
            let a = crop(&image("jpeg/pil-flower.jpg"), w, h);
            let b = jpeg(&a, 30);
            let ours = score(&Picture::whole(&a), &Picture::whole(&b)).unwrap();
            let theirs = whole_image_score(&a, &b);
            assert!((ours - theirs).abs() < 1e-9, "{w}x{h}: {ours} vs {theirs}");
            cases += 1;
        }
        assert_eq!(cases, 28);
    }
}
