//! Coefficients to pixels exactly as libjpeg(-turbo) does with its default settings: the
//! accurate integer IDCT ("islow": 13-bit constants, two passes, 10-bit wrap-around range
//! limit), "fancy" (triangle) upsampling of subsampled components with libjpeg's rules for
//! edges and for narrow components, and its fixed-point YCbCr to RGB conversion.
//!
//! `zune-jpeg` is faster and right on most files, but it smooths where libjpeg replicates
//! (a subsampled component 1 or 2 samples wide) and reads past the edge of a subsampled
//! component whose width is not a whole number of blocks; [`super::decode`] sends those
//! layouts here, so that every size decodes as `djpeg` decodes it.

use super::entropy_decode::{Coefficients, ComponentCoeffs};
use super::markers::ZIGZAG;
use crate::pixels::{Bitmap, Layout};

const CONST_BITS: u32 = 13;
const PASS1_BITS: u32 = 2;
// The islow constants: round(x * 2^13).
const F0_298: i64 = 2446;
const F0_390: i64 = 3196;
const F0_541: i64 = 4433;
const F0_765: i64 = 6270;
const F0_899: i64 = 7373;
const F1_175: i64 = 9633;
const F1_501: i64 = 12299;
const F1_847: i64 = 15137;
const F1_961: i64 = 16069;
const F2_053: i64 = 16819;
const F2_562: i64 = 20995;
const F3_072: i64 = 25172;

fn descale(x: i64, n: u32) -> i64 {
    (x + (1 << (n - 1))) >> n
}

/// libjpeg's post-IDCT range limit: the value wraps at 10 bits (as its table lookup with
/// `RANGE_MASK` does), is shifted by 128 and clamped to a byte.
fn range_limit(x: i64) -> u8 {
    let wrapped = ((x & 1023) ^ 512) - 512;
    (wrapped + 128).clamp(0, 255) as u8
}

/// One 8-point islow IDCT (even and odd halves) on dequantized inputs `v[0..8]`; returns
/// the eight outputs before descaling, in 64-bit arithmetic.
fn idct8(v: [i64; 8]) -> [i64; 8] {
    let z1 = (v[2] + v[6]) * F0_541;
    let tmp2 = z1 - v[6] * F1_847;
    let tmp3 = z1 + v[2] * F0_765;
    let tmp0 = (v[0] + v[4]) << CONST_BITS;
    let tmp1 = (v[0] - v[4]) << CONST_BITS;
    let (t10, t13, t11, t12) = (tmp0 + tmp3, tmp0 - tmp3, tmp1 + tmp2, tmp1 - tmp2);

    let (o0, o1, o2, o3) = (v[7], v[5], v[3], v[1]);
    let z1 = (o0 + o3) * -F0_899;
    let z2 = (o1 + o2) * -F2_562;
    let z5 = (o0 + o2 + o1 + o3) * F1_175;
    let z3 = (o0 + o2) * -F1_961 + z5;
    let z4 = (o1 + o3) * -F0_390 + z5;
    let a0 = o0 * F0_298 + z1 + z3;
    let a1 = o1 * F2_053 + z2 + z4;
    let a2 = o2 * F3_072 + z2 + z3;
    let a3 = o3 * F1_501 + z1 + z4;
    [
        t10 + a3,
        t11 + a2,
        t12 + a1,
        t13 + a0,
        t13 - a0,
        t12 - a1,
        t11 - a2,
        t10 - a3,
    ]
}

/// One block (zigzag order, quantized) to 8x8 samples at `out[y * stride + x]`.
fn idct_block(coefs: &[i16; 64], end: u8, table: &[u16; 64], out: &mut [u8], stride: usize) {
    if end <= 1 {
        // DC alone: both passes below reduce to one value for the whole block.
        let dc = i64::from(coefs[0]) * i64::from(table[0]) * i64::from(end);
        let value = range_limit(descale(dc << PASS1_BITS, PASS1_BITS + 3));
        for row in 0..8 {
            out[row * stride..row * stride + 8].fill(value);
        }
        return;
    }
    // Dequantized (an i16 times a u16 fits an i32), in natural order.
    let mut natural = [[0i32; 8]; 8];
    let mut small = true;
    for (k, &c) in coefs.iter().enumerate().take(usize::from(end).min(64)) {
        let n = ZIGZAG[k];
        let z = i32::from(c) * i32::from(table[n]);
        small &= z.unsigned_abs() <= I32_LIMIT;
        natural[n / 8][n % 8] = z;
    }
    if !(small && idct_i32(&natural, out, stride)) {
        idct_i64(&natural, out, stride);
    }
}

/// The largest magnitude of any value the 8-point IDCT ([`idct8`]) computes, per unit of
/// the largest magnitude of its inputs: its flowgraph evaluated on magnitudes (each constant
/// by its absolute value, each subtraction as an addition). Its outputs are the largest.
const IDCT_GAIN: i64 = {
    let m = 1i64;
    let z1 = 2 * m * F0_541;
    let tmp2 = z1 + m * F1_847;
    let tmp3 = z1 + m * F0_765;
    let tmp0 = (2 * m) << CONST_BITS;
    let (t10, t11) = (tmp0 + tmp3, tmp0 + tmp2);
    let z1 = 2 * m * F0_899;
    let z2 = 2 * m * F2_562;
    let z5 = 4 * m * F1_175;
    let z3 = 2 * m * F1_961 + z5;
    let z4 = 2 * m * F0_390 + z5;
    let a0 = m * F0_298 + z1 + z3;
    let a1 = m * F2_053 + z2 + z4;
    let a2 = m * F3_072 + z2 + z3;
    let a3 = m * F1_501 + z1 + z4;
    let outs = [t10 + a3, t11 + a2, t11 + a1, t10 + a0];
    let (mut max, mut i) = (0, 0);
    while i < 4 {
        if outs[i] > max {
            max = outs[i];
        }
        i += 1;
    }
    max
};

/// Inputs of the 8-point IDCT up to this magnitude keep every value it computes, and its
/// descaling's rounding term (at most 2^17), within an i32: then the i32 IDCT gives exactly
/// the 64-bit one's samples. Blocks of ordinary 8-bit images qualify (their dequantized
/// coefficients stay near 2^11 and their first-pass outputs near 2^12); others take the
/// 64-bit path.
const I32_LIMIT: u32 = ((i32::MAX as i64 - (1 << 17)) / IDCT_GAIN) as u32;

/// Eight values side by side: one 8-point IDCT per lane.
type Lanes = [i32; 8];

#[inline(always)]
fn add(a: Lanes, b: Lanes) -> Lanes {
    std::array::from_fn(|i| a[i] + b[i])
}

#[inline(always)]
fn sub(a: Lanes, b: Lanes) -> Lanes {
    std::array::from_fn(|i| a[i] - b[i])
}

#[inline(always)]
fn mul(a: Lanes, c: i64) -> Lanes {
    std::array::from_fn(|i| a[i] * c as i32)
}

/// [`idct8`] on eight sets of inputs at once (`v[k][lane]`), in i32: exact where every input
/// is within [`I32_LIMIT`].
#[inline(always)]
fn idct8_lanes(v: [Lanes; 8]) -> [Lanes; 8] {
    let z1 = mul(add(v[2], v[6]), F0_541);
    let tmp2 = sub(z1, mul(v[6], F1_847));
    let tmp3 = add(z1, mul(v[2], F0_765));
    let tmp0 = mul(add(v[0], v[4]), 1 << CONST_BITS);
    let tmp1 = mul(sub(v[0], v[4]), 1 << CONST_BITS);
    let (t10, t13) = (add(tmp0, tmp3), sub(tmp0, tmp3));
    let (t11, t12) = (add(tmp1, tmp2), sub(tmp1, tmp2));

    let (o0, o1, o2, o3) = (v[7], v[5], v[3], v[1]);
    let z1 = mul(add(o0, o3), -F0_899);
    let z2 = mul(add(o1, o2), -F2_562);
    let z5 = mul(add(add(o0, o2), add(o1, o3)), F1_175);
    let z3 = add(mul(add(o0, o2), -F1_961), z5);
    let z4 = add(mul(add(o1, o3), -F0_390), z5);
    let a0 = add(add(mul(o0, F0_298), z1), z3);
    let a1 = add(add(mul(o1, F2_053), z2), z4);
    let a2 = add(add(mul(o2, F3_072), z2), z3);
    let a3 = add(add(mul(o3, F1_501), z1), z4);
    [
        add(t10, a3),
        add(t11, a2),
        add(t12, a1),
        add(t13, a0),
        sub(t13, a0),
        sub(t12, a1),
        sub(t11, a2),
        sub(t10, a3),
    ]
}

/// The block's two passes in i32, eight columns (then rows) at a time; false, with nothing
/// written, when a first-pass output is beyond [`I32_LIMIT`] (the caller then uses the
/// 64-bit IDCT).
#[inline(always)]
fn idct_i32_lanes(natural: &[Lanes; 8], out: &mut [u8], stride: usize) -> bool {
    let shift = CONST_BITS - PASS1_BITS;
    // Columns: lane c is column c; output k is row k.
    let ws: [Lanes; 8] =
        idct8_lanes(*natural).map(|r| r.map(|x| (x + (1 << (shift - 1))) >> shift));
    if ws.iter().flatten().any(|x| x.unsigned_abs() > I32_LIMIT) {
        return false;
    }
    // Rows: lane r is row r; input k is column k of the first pass.
    let by_column: [Lanes; 8] = std::array::from_fn(|k| std::array::from_fn(|r| ws[r][k]));
    let shift = CONST_BITS + PASS1_BITS + 3;
    let samples = idct8_lanes(by_column);
    for r in 0..8 {
        let line = &mut out[r * stride..r * stride + 8];
        for (k, px) in line.iter_mut().enumerate() {
            let x = (samples[k][r] + (1 << (shift - 1))) >> shift;
            *px = range_limit(i64::from(x));
        }
    }
    true
}

/// [`idct_i32_lanes`] compiled for AVX2 where the processor has it.
fn idct_i32(natural: &[Lanes; 8], out: &mut [u8], stride: usize) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        use archmage::SimdToken;
        if let Some(token) = archmage::X64V3Token::summon() {
            return idct_i32_avx2(token, natural, out, stride);
        }
    }
    idct_i32_lanes(natural, out, stride)
}

#[cfg(target_arch = "x86_64")]
#[archmage::arcane]
fn idct_i32_avx2(
    _token: archmage::X64V3Token,
    natural: &[Lanes; 8],
    out: &mut [u8],
    stride: usize,
) -> bool {
    idct_i32_lanes(natural, out, stride)
}

/// The block's two passes in 64-bit arithmetic, as libjpeg's `JLONG` on 64-bit systems:
/// no overflow whatever the coefficients of a damaged file hold.
fn idct_i64(natural: &[Lanes; 8], out: &mut [u8], stride: usize) {
    let mut ws = [0i64; 64];
    for col in 0..8 {
        let v: [i64; 8] = std::array::from_fn(|row| i64::from(natural[row][col]));
        for (row, x) in idct8(v).into_iter().enumerate() {
            ws[row * 8 + col] = descale(x, CONST_BITS - PASS1_BITS);
        }
    }
    for row in 0..8 {
        let v: [i64; 8] = std::array::from_fn(|col| ws[row * 8 + col]);
        let line = &mut out[row * stride..row * stride + 8];
        for (px, x) in line.iter_mut().zip(idct8(v)) {
            *px = range_limit(descale(x, CONST_BITS + PASS1_BITS + 3));
        }
    }
}

/// Threads for an image of `pixels`: one below a megapixel, else one per core up to four.
fn workers(pixels: usize) -> usize {
    if pixels < 1 << 20 {
        return 1;
    }
    std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
}

/// Runs `work(offset, band)` on consecutive bands of `data` of `band` bytes (the last may be
/// shorter), on scoped threads when there is more than one band.
fn in_bands(data: &mut [u8], band: usize, work: impl Fn(usize, &mut [u8]) + Sync) {
    let band = band.max(1);
    if data.len() <= band {
        work(0, data);
        return;
    }
    std::thread::scope(|scope| {
        for (i, chunk) in data.chunks_mut(band).enumerate() {
            let work = &work;
            scope.spawn(move || work(i * band, chunk));
        }
    });
}

/// A component's samples at its own (downsampled) size.
struct Plane {
    width: usize,
    height: usize,
    stride: usize,
    data: Vec<u8>,
}

impl Plane {
    fn row(&self, y: usize) -> &[u8] {
        &self.data[y * self.stride..y * self.stride + self.width]
    }
}

/// `comp`'s samples, cut into bands of block rows on up to `workers` threads.
fn plane(comp: &ComponentCoeffs, width: usize, height: usize, workers: usize) -> Option<Plane> {
    let table = comp.table.as_ref()?;
    let (bw, bh) = (width.div_ceil(8), height.div_ceil(8));
    if bw > comp.blocks_w || bh > comp.blocks_h {
        return None;
    }
    let stride = bw * 8;
    let mut data = vec![0u8; stride * bh * 8];
    // Bands of block rows, one per worker.
    let band_rows = bh.div_ceil(workers.max(1));
    in_bands(&mut data, band_rows * 8 * stride, |first, band| {
        let first_row = first / (8 * stride);
        for (r, rows) in band.chunks_mut(8 * stride).enumerate() {
            let by = first_row + r;
            for bx in 0..bw {
                let i = by * comp.blocks_w + bx;
                idct_block(
                    &comp.blocks[i],
                    comp.ends[i],
                    table,
                    &mut rows[bx * 8..],
                    stride,
                );
            }
        }
    });
    Some(Plane {
        width,
        height,
        stride,
        data,
    })
}

/// How one component is brought to full size, as libjpeg chooses.
#[derive(Clone, Copy)]
enum Upsample {
    /// Full size already.
    Copy,
    /// Twice as wide, triangle filter (downsampled width above 2).
    H2V1Fancy,
    /// Twice as wide and high, triangle filter (downsampled width above 2).
    H2V2Fancy,
    /// Twice as high, triangle filter.
    H1V2Fancy,
    /// Integer factors, each sample repeated.
    Replicate(usize, usize),
}

/// Buffers one band's upsampling reuses from row to row.
#[derive(Default)]
struct Scratch {
    /// The filter's input per sample of the downsampled row.
    sums: Vec<u32>,
    /// The row at twice the width, before it is cropped.
    wide: Vec<u8>,
}

/// [`plane`], then `comp`'s coefficients dropped (its samples are all that is used after).
fn plane_freeing(
    comp: &mut ComponentCoeffs,
    width: usize,
    height: usize,
    workers: usize,
) -> Option<Plane> {
    let p = plane(comp, width, height, workers);
    comp.blocks = Vec::new();
    comp.ends = Vec::new();
    p
}

/// The samples of every component (of the sizes given), each component's coefficients
/// dropped once its samples are made. The first (luma, the largest) is cut into bands on
/// `workers` threads; the others (chroma, often a quarter of its size each) then run side by
/// side, the threads shared among them, rather than one after the other on one thread each.
fn planes(
    components: &mut [ComponentCoeffs],
    sizes: &[(usize, usize)],
    workers: usize,
) -> Option<Vec<Plane>> {
    let (first, rest) = components.split_first_mut()?;
    let (pw, ph) = sizes[0];
    let mut planes = vec![plane_freeing(first, pw, ph, workers)?];
    let side_by_side = workers > 1 && rest.len() > 1;
    let each = (workers / rest.len().max(1)).max(1);
    let made: Vec<Option<Plane>> = if side_by_side {
        std::thread::scope(|scope| {
            let handles: Vec<_> = rest
                .iter_mut()
                .zip(&sizes[1..])
                .map(|(comp, &(pw, ph))| scope.spawn(move || plane_freeing(comp, pw, ph, each)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                .collect()
        })
    } else {
        rest.iter_mut()
            .zip(&sizes[1..])
            .map(|(comp, &(pw, ph))| plane_freeing(comp, pw, ph, workers))
            .collect()
    };
    for p in made {
        planes.push(p?);
    }
    Some(planes)
}

/// Full-size row `y` of a component, cropped to `out.len()` samples.
fn upsample_row(p: &Plane, mode: Upsample, y: usize, out: &mut [u8], scratch: &mut Scratch) {
    let last = p.height - 1;
    match mode {
        Upsample::Copy => out.copy_from_slice(&p.row(y.min(last))[..out.len()]),
        Upsample::Replicate(hf, vf) => {
            let row = p.row((y / vf).min(last));
            for (x, o) in out.iter_mut().enumerate() {
                *o = row[(x / hf).min(p.width - 1)];
            }
        }
        Upsample::H2V1Fancy => {
            let row = p.row(y.min(last));
            scratch.sums.clear();
            scratch.sums.extend(row.iter().map(|&v| u32::from(v)));
            // 3/4 of the nearer sample and 1/4 of the further, rounded alternately.
            twice_as_wide(&scratch.sums, [1, 2], 2, &mut scratch.wide);
            out.copy_from_slice(&scratch.wide[..out.len()]);
        }
        Upsample::H1V2Fancy => {
            let r = (y / 2).min(last);
            let (near, bias) = if y.is_multiple_of(2) {
                (r.saturating_sub(1), 1)
            } else {
                ((r + 1).min(last), 2)
            };
            let (a, b) = (p.row(r), p.row(near));
            for (x, o) in out.iter_mut().enumerate() {
                *o = ((u32::from(a[x]) * 3 + u32::from(b[x]) + bias) >> 2) as u8;
            }
        }
        Upsample::H2V2Fancy => {
            let r = (y / 2).min(last);
            let near = if y.is_multiple_of(2) {
                r.saturating_sub(1)
            } else {
                (r + 1).min(last)
            };
            let (a, b) = (p.row(r), p.row(near));
            // Vertically 3/4 of the nearer row and 1/4 of the further, then horizontally.
            scratch.sums.clear();
            let column = a
                .iter()
                .zip(b)
                .map(|(&a, &b)| u32::from(a) * 3 + u32::from(b));
            scratch.sums.extend(column);
            twice_as_wide(&scratch.sums, [8, 7], 4, &mut scratch.wide);
            out.copy_from_slice(&scratch.wide[..out.len()]);
        }
    }
}

/// libjpeg's fancy horizontal doubling of `v` into `wide`: output `2i` is
/// `(3 v[i] + v[i - 1] + bias[0]) >> shift` and output `2i + 1` is
/// `(3 v[i] + v[i + 1] + bias[1]) >> shift`, where a neighbour past either end is `v[i]`
/// itself.
fn twice_as_wide(v: &[u32], [left, right]: [u32; 2], shift: u32, wide: &mut Vec<u8>) {
    let n = v.len();
    wide.resize(2 * n, 0);
    let pair = |before: u32, this: u32, after: u32| {
        [
            ((this * 3 + before + left) >> shift) as u8,
            ((this * 3 + after + right) >> shift) as u8,
        ]
    };
    match n {
        0 => {}
        1 => wide.copy_from_slice(&pair(v[0], v[0], v[0])),
        _ => {
            wide[..2].copy_from_slice(&pair(v[0], v[0], v[1]));
            let inner = wide[2..2 * n - 2].chunks_exact_mut(2).zip(v.windows(3));
            for (out, w) in inner {
                let [l, r] = pair(w[0], w[1], w[2]);
                (out[0], out[1]) = (l, r);
            }
            wide[2 * n - 2..].copy_from_slice(&pair(v[n - 2], v[n - 1], v[n - 1]));
        }
    }
}

/// libjpeg's YCbCr to RGB: 16-bit fixed point, rounded once per channel.
fn ycc_to_rgb(y: u8, cb: u8, cr: u8) -> [u8; 3] {
    const HALF: i32 = 1 << 15;
    let (y, cb, cr) = (i32::from(y), i32::from(cb) - 128, i32::from(cr) - 128);
    let r = y + ((91881 * cr + HALF) >> 16);
    let g = y + ((-22554 * cb + HALF - 46802 * cr) >> 16);
    let b = y + ((116130 * cb + HALF) >> 16);
    [r, g, b].map(|v| v.clamp(0, 255) as u8)
}

/// The image as libjpeg decodes it by default, for grey or YCbCr coefficients; `None` for
/// layouts libjpeg itself refuses (fractional sampling factors) or coefficients that do
/// not cover the frame. Each component's coefficients are dropped once its samples are
/// made, so the peak is the larger of (coefficients + one plane) and (planes + output).
pub(crate) fn to_bitmap(mut c: Coefficients) -> Option<Bitmap> {
    let (width, height) = (c.width as usize, c.height as usize);
    if width == 0 || height == 0 || !matches!(c.components.len(), 1 | 3) {
        return None;
    }
    let (max_h, max_v) = (usize::from(c.max_h()), usize::from(c.max_v()));
    let mut sizes = Vec::with_capacity(c.components.len());
    let mut modes = Vec::with_capacity(c.components.len());
    for comp in &c.components {
        let (h, v) = (usize::from(comp.h), usize::from(comp.v));
        if h == 0 || v == 0 || max_h % h != 0 || max_v % v != 0 {
            return None;
        }
        let (pw, ph) = ((width * h).div_ceil(max_h), (height * v).div_ceil(max_v));
        let mode = match (max_h / h, max_v / v) {
            (1, 1) => Upsample::Copy,
            (2, 1) if pw > 2 => Upsample::H2V1Fancy,
            (2, 2) if pw > 2 => Upsample::H2V2Fancy,
            (1, 2) => Upsample::H1V2Fancy,
            (hf, vf) => Upsample::Replicate(hf, vf),
        };
        sizes.push((pw, ph));
        modes.push(mode);
    }
    let planes = planes(&mut c.components, &sizes, workers(width * height))?;
    let channels = if planes.len() == 1 { 1 } else { 3 };
    let mut data = vec![0u8; width * height * channels];
    let line = width * channels;
    let band_rows = height.div_ceil(workers(width * height));
    in_bands(&mut data, band_rows * line, |first, band| {
        let mut rows = vec![vec![0u8; width]; planes.len()];
        let mut scratch = Scratch::default();
        for (r, out) in band.chunks_exact_mut(line).enumerate() {
            let y = first / line + r;
            if channels == 1 {
                upsample_row(&planes[0], modes[0], y, out, &mut scratch);
                continue;
            }
            for ((p, &mode), row) in planes.iter().zip(&modes).zip(rows.iter_mut()) {
                upsample_row(p, mode, y, row, &mut scratch);
            }
            let samples = rows[0].iter().zip(&rows[1]).zip(&rows[2]);
            for (px, ((&y, &cb), &cr)) in out.chunks_exact_mut(3).zip(samples) {
                let [r, g, b] = ycc_to_rgb(y, cb, cr);
                (px[0], px[1], px[2]) = (r, g, b);
            }
        }
    });
    Some(Bitmap {
        width: c.width,
        height: c.height,
        layout: if channels == 1 {
            Layout::Gray
        } else {
            Layout::Rgb
        },
        data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Blocks of dequantized coefficients from a seeded generator, their magnitudes up to
    /// `scale` (a few coefficients per block nonzero, or all of them).
    fn blocks(seed: u64, scale: i32, count: usize) -> Vec<[Lanes; 8]> {
        let mut x = seed;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        (0..count)
            .map(|i| {
                let dense = i % 2 == 0;
                std::array::from_fn(|_| {
                    std::array::from_fn(|_| {
                        let r = next();
                        if dense || r % 5 == 0 {
                            (r >> 8) as i32 % (scale + 1)
                        } else {
                            0
                        }
                    })
                })
            })
            .collect()
    }

    type Kernel = fn(&[Lanes; 8], &mut [u8], usize) -> bool;

    fn via_i64(natural: &[Lanes; 8]) -> [u8; 64] {
        let mut out = [0u8; 64];
        idct_i64(natural, &mut out, 8);
        out
    }

    #[test]
    fn the_i32_idct_gives_the_64_bit_samples_or_declines() {
        assert_eq!(IDCT_GAIN, 178_219);
        let (mut exact, mut declined) = (0, 0);
        for (seed, scale) in [
            (1, 255),
            (2, 2047),
            (3, 8191),
            (4, I32_LIMIT as i32),
            (5, 30_000),
        ] {
            for natural in blocks(seed, scale, 2000) {
                let want = via_i64(&natural);
                let small = natural
                    .iter()
                    .flatten()
                    .all(|z| z.unsigned_abs() <= I32_LIMIT);
                let kernels: &[Kernel] = if small {
                    &[idct_i32_lanes, idct_i32]
                } else {
                    &[]
                };
                for kernel in kernels {
                    let mut got = [0u8; 64];
                    if kernel(&natural, &mut got, 8) {
                        assert_eq!(got, want, "{natural:?}");
                        exact += 1;
                    } else {
                        assert_eq!(got, [0; 64], "nothing written when it declines");
                        declined += 1;
                    }
                }
            }
        }
        // Ordinary magnitudes take the i32 path; the largest inputs the 64-bit one.
        assert!(exact > 1000, "{exact}");
        assert!(declined > 0, "{declined}");
    }

    #[test]
    fn blocks_decode_the_same_whichever_path_they_take() {
        let table = [1u16; 64];
        for (seed, scale) in [(7, 1023), (8, 32_767)] {
            for natural in blocks(seed, scale, 500) {
                // Back to zigzag order, quantized by a table of ones.
                let mut coefs = [0i16; 64];
                for (k, &n) in ZIGZAG.iter().enumerate() {
                    coefs[k] = natural[n / 8][n % 8].clamp(-32_768, 32_767) as i16;
                }
                let clamped: [Lanes; 8] = std::array::from_fn(|r| {
                    std::array::from_fn(|c| i32::from(coefs_at(&coefs, r * 8 + c)))
                });
                let mut got = [0u8; 64];
                idct_block(&coefs, 64, &table, &mut got, 8);
                assert_eq!(got, via_i64(&clamped));
            }
        }
    }

    fn coefs_at(coefs: &[i16; 64], natural: usize) -> i16 {
        let k = ZIGZAG.iter().position(|&n| n == natural).unwrap();
        coefs[k]
    }
}
