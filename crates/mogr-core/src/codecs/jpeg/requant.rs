//! JPEG to JPEG in the DCT domain: entropy-decode the coefficients, rescale them from the
//! input's quantization tables to the IJG tables at the output quality, entropy-encode.
//!
//! No IDCT, colour conversion or FDCT for luma, and so no pixel-domain rounding: faster than
//! a decode and re-encode, and closer to the input. Where the output wants 4:2:0 chroma
//! (below quality 90) and the input has 4:4:4, 4:2:2 or 4:4:0, each output chroma block is
//! made from the input blocks it covers: a reduced-size inverse DCT of their low frequencies
//! (a half-scale decode) and one forward DCT, chroma only. [`eligible`] says which inputs
//! qualify: grey or YCbCr, 8-bit, Huffman-coded, and for 4:4:4 output a 4:4:4 input.
//!
//! A sequential input (one interleaved scan, or a scan per component) with a baseline
//! output is done in bands of a few MCU rows on two threads ([`requantize_in_bands`]): one
//! entropy-decodes a band (every scan read side by side from its own place in the file) and
//! rescales its luma, the other converts its chroma and records the output's symbols; the
//! file is written once every band is recorded, with optimal Huffman tables. Only the
//! symbols are held, never the coefficients: the same bytes as [`requantize_whole`], in
//! about half the time and a fraction of the memory. Progressive files, and progressive
//! output, take the whole frame.

use super::entropy_decode::{
    decode_coefficients, Coefficients, ComponentCoeffs, Headers, HuffmanScan, Planned,
};
use super::entropy_encode::{write, Baseline, WriteSettings};
use super::estimate::{scaled_table, IJG_CHROMA, IJG_LUMA};
use super::huffman::BitReader;
use super::markers::{code, Density, JpegHeader, Segment, ZIGZAG};
use crate::error::Error;
use crate::format::ImageFormat;
use std::sync::atomic::Ordering;

/// Whether `header` can be requantized to `quality` without changing its layout.
pub fn eligible(header: &JpegHeader<'_>, quality: u8) -> bool {
    // Huffman- or arithmetic-coded DCT (the output is Huffman-coded either way).
    let huffman_dct = matches!(header.sof, code::SOF0..=code::SOF2);
    if header.precision != 8 || !(huffman_dct || header.is_arithmetic_dct()) {
        return false;
    }
    match header.components.len() {
        1 => true,
        3 => {
            // An Adobe transform of 0, or components named R, G, B, mean RGB, not YCbCr.
            let rgb = header.adobe_transform == Some(0)
                || header
                    .components
                    .iter()
                    .map(|c| c.id)
                    .eq([b'R', b'G', b'B']);
            let chroma_1x1 = header.components[1..].iter().all(|c| c.h == 1 && c.v == 1);
            let luma = header.components[0];
            let layout_fits = if quality < 90 {
                (1..=2).contains(&luma.h) && (1..=2).contains(&luma.v)
            } else {
                luma.h == 1 && luma.v == 1
            };
            let layout_fits = layout_fits && chroma_1x1;
            !rgb && layout_fits
        }
        _ => false,
    }
}

/// Requantizes `input` to the IJG tables at `quality` (1..=100); see the module docs. A
/// baseline output from a sequential input goes through [`requantize_in_bands`], anything
/// else through [`requantize_whole`]; a caller that admits memory per path calls those.
pub fn requantize(
    input: &[u8],
    quality: u8,
    progressive: bool,
    density: Option<Density>,
    segments: &[Segment<'_>],
) -> Result<Vec<u8>, Error> {
    if !progressive {
        if let Some(bytes) = requantize_in_bands(input, quality, density, segments)? {
            return Ok(bytes);
        }
    }
    requantize_whole(input, quality, progressive, density, segments)
}

/// The IJG tables at `quality`: luma, chroma.
fn output_tables(quality: u8) -> [[u16; 64]; 2] {
    [
        scaled_table(&IJG_LUMA, quality, true),
        scaled_table(&IJG_CHROMA, quality, true),
    ]
}

/// How the output is written around `tables` (luma's alone for a grey image of one
/// component).
fn write_settings<'a>(
    tables: &'a [[u16; 64]; 2],
    components: usize,
    progressive: bool,
    density: Option<Density>,
    segments: &'a [Segment<'a>],
) -> WriteSettings<'a> {
    WriteSettings {
        progressive,
        scan_per_component: false,
        tables: if components == 1 {
            &tables[..1]
        } else {
            tables
        },
        density,
        segments,
    }
}

/// Requantization of the whole frame: every scan decoded, then converted and written
/// (progressive output, and inputs the band path declines).
pub fn requantize_whole(
    input: &[u8],
    quality: u8,
    progressive: bool,
    density: Option<Density>,
    segments: &[Segment<'_>],
) -> Result<Vec<u8>, Error> {
    let tables = output_tables(quality);
    let mut coeffs = decode_coefficients(input)?;
    let settings = write_settings(
        &tables,
        coeffs.components.len(),
        progressive,
        density,
        segments,
    );
    if !progressive {
        if let Some(bytes) = whole_in_bands(&coeffs, input.len(), quality, &tables, &settings)? {
            return Ok(bytes);
        }
    }
    convert(&mut coeffs, quality, &tables)?;
    Ok(write(&coeffs, &settings))
}

/// Whether the output of `c` at `quality` is 4:2:0 made from another layout.
fn to_420_needed(c: &Coefficients, quality: u8) -> bool {
    c.components.len() == 3 && quality < 90 && c.components[0].h * c.components[0].v != 4
}

/// Brings `c` (the whole frame or a band of whole MCU rows of the output) to the output:
/// chroma to 4:2:0 where needed, every component rescaled to its table in `tables`.
fn convert(c: &mut Coefficients, quality: u8, tables: &[[u16; 64]; 2]) -> Result<(), Error> {
    if to_420_needed(c, quality) {
        to_420(c, &tables[1])?;
    }
    for (i, comp) in c.components.iter_mut().enumerate() {
        rescale_component(comp, usize::from(i > 0), &tables[usize::from(i > 0)])?;
    }
    Ok(())
}

/// Rescales `comp`'s blocks from its table to `new` (table slot `slot`), unless they are
/// quantized with it already.
fn rescale_component(
    comp: &mut ComponentCoeffs,
    slot: usize,
    new: &[u16; 64],
) -> Result<(), Error> {
    let old = comp
        .table
        .ok_or_else(|| Error::decode(ImageFormat::Jpeg, "a component has no scan"))?;
    comp.tq = slot as u8;
    if old == *new {
        return Ok(()); // already quantized for the output (chroma made by `to_420`)
    }
    let steps = Steps::new(&old, new);
    for (block, end) in comp.blocks.iter_mut().zip(comp.ends.iter_mut()) {
        *end = steps.rescale_block(block, usize::from(*end).min(64));
    }
    comp.table = Some(*new);
    Ok(())
}

/// Pixel rows per band of [`requantize_in_bands`]: whole MCU rows of the input, and of the output
/// when chroma goes to 4:2:0 (16 rows).
const BAND_ROWS: usize = 32;

/// The baseline output of a sequential Huffman-coded `input` (one interleaved scan, or a
/// scan per component), made band by band on two threads: one entropy-decodes a band of a
/// few MCU rows (every scan read side by side from its own place in the file) and rescales
/// its luma, the other converts the band and records its output symbols; then the file is
/// written with optimal tables. Neither the input's nor the output's coefficients are ever
/// held whole: the recorded symbols are. The output is byte for byte
/// [`requantize_whole`]'s. `Ok(None)` when `input` is not of that kind (progressive,
/// arithmetic-coded, CMYK, or with scans that do not cover each component once), for
/// [`requantize_whole`]; nothing has been decoded then.
pub fn requantize_in_bands(
    input: &[u8],
    quality: u8,
    density: Option<Density>,
    segments: &[Segment<'_>],
) -> Result<Option<Vec<u8>>, Error> {
    let tables = &output_tables(quality);
    // Every scan's header, tables and start, read before any is decoded: the scans of a
    // sequential file that codes its components in separate scans are then decoded side by
    // side, band by band, each from its own place in the file.
    let mut headers = Headers::new(input, false)?;
    let mut scans = Vec::new();
    while let Some((scan, pos)) = headers.next_scan()? {
        if headers.progressive || headers.arithmetic || scans.len() == 4 {
            return Ok(None);
        }
        scans.push(Planned::new(&headers, scan, pos));
    }
    let Some(frame) = headers.coeffs.take() else {
        return Ok(None);
    };
    let n = frame.components.len();
    let mut covered = vec![0; n];
    for p in &scans {
        for &ci in &p.scan.comps {
            covered[ci] += 1;
        }
    }
    if n == 4 || covered.iter().any(|&c| c != 1) {
        return Ok(None);
    }
    let scans = &scans;
    let mut decoders = scans
        .iter()
        .map(|p| {
            Ok((
                BitReader::new(input, p.pos),
                HuffmanScan::new(&p.scan, &p.dc, &p.ac)?,
            ))
        })
        .collect::<Result<Vec<_>, Error>>()?;
    let fill = |band: &mut Coefficients, _top: usize, last: bool| -> Result<(), Error> {
        for ((reader, decoder), p) in decoders.iter_mut().zip(scans) {
            decoder.decode(reader, band, &p.scan, p.restart_interval)?;
        }
        if last && decoders.iter().any(|(reader, _)| reader.truncated()) {
            return Err(Error::decode(ImageFormat::Jpeg, "truncated scan data"));
        }
        Ok(())
    };
    let (baseline, out_frame) = pipeline(&frame, quality, tables, input.len(), fill)?;
    let Some(mut out_frame) = out_frame else {
        return Ok(None);
    };
    (out_frame.width, out_frame.height) = (frame.width, frame.height);
    let settings = write_settings(tables, n, false, density, segments);
    Ok(Some(baseline.finish(&out_frame, &settings)))
}

/// Pixel rows per band of `frame`: [`BAND_ROWS`] rounded up to whole MCU rows.
fn band_rows(frame: &Coefficients) -> usize {
    let mcu_rows = if frame.components.len() == 1 {
        8
    } else {
        8 * usize::from(frame.max_v())
    };
    mcu_rows * BAND_ROWS.div_ceil(mcu_rows)
}

/// The two threads of the band path, for a frame of `frame`'s shape: on one, `fill` gives
/// each band its blocks (`fill(band, top, last)`: the band of pixel rows from `top`, shaped
/// and zeroed, `last` for the last one) and its luma is rescaled; on the other, each band
/// is converted and recorded ([`record_bands`]). Bands travel between them through two
/// channels, the used ones coming back to be filled again.
fn pipeline(
    frame: &Coefficients,
    quality: u8,
    tables: &[[u16; 64]; 2],
    input_len: usize,
    mut fill: impl FnMut(&mut Coefficients, usize, bool) -> Result<(), Error> + Send,
) -> Result<(Baseline, Option<Coefficients>), Error> {
    let band_rows = band_rows(frame);
    let height = frame.height as usize;
    let (full_tx, full_rx) = std::sync::mpsc::sync_channel::<(Coefficients, bool)>(2);
    let (free_tx, free_rx) = std::sync::mpsc::channel::<Coefficients>();
    // Bands sent and not yet taken by the recording side. When one is waiting as the next
    // is filled, the recording side is the slower: the filling side then converts that
    // band itself (the same arithmetic either way, so the same bytes), which shares the
    // work between the threads whatever the file's mix of decoding and recording costs.
    let waiting = &std::sync::atomic::AtomicUsize::new(0);
    let (recorded, filled) = std::thread::scope(|s| {
        let filler = s.spawn(move || -> Result<(), Error> {
            for top in (0..height).step_by(band_rows) {
                let mut band = free_rx.try_recv().unwrap_or_else(|_| frame.shape());
                shape_band(&mut band, frame, band_rows.min(height - top));
                fill(&mut band, top, top + band_rows >= height)?;
                let converted = waiting.load(Ordering::Acquire) > 0;
                if converted {
                    convert(&mut band, quality, tables)?;
                } else {
                    rescale_component(&mut band.components[0], 0, &tables[0])?;
                }
                waiting.fetch_add(1, Ordering::AcqRel);
                if full_tx.send((band, converted)).is_err() {
                    break; // the other side failed; its error is the one reported
                }
            }
            Ok(())
        });
        let recorded = record_bands(full_rx, free_tx, waiting, quality, tables, input_len);
        let filled = filler
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e));
        (recorded, filled)
    });
    let recorded = recorded?;
    filled?;
    Ok(recorded)
}

/// [`requantize_whole`]'s baseline output from a frame decoded whole (a progressive
/// input): its bands copied out in turn and run through [`pipeline`], so that the
/// conversion and the recording share two threads. `Ok(None)` when the frame's block grid
/// is not the bands' (then the whole frame is converted and written at once).
fn whole_in_bands(
    coeffs: &Coefficients,
    input_len: usize,
    quality: u8,
    tables: &[[u16; 64]; 2],
    settings: &WriteSettings<'_>,
) -> Result<Option<Vec<u8>>, Error> {
    // A band's rows are `mcus().0 * h` blocks wide (see `shape_band`): the frame's must be.
    let mcus_w = coeffs.mcus().0;
    let same_grid = coeffs.components.iter().all(|f| {
        f.blocks_w == mcus_w * usize::from(f.h) && f.blocks.len() == f.blocks_w * f.blocks_h
    });
    if coeffs.components.len() == 4 || !same_grid {
        return Ok(None);
    }
    let fill = |band: &mut Coefficients, top: usize, _last: bool| -> Result<(), Error> {
        for (b, f) in band.components.iter_mut().zip(&coeffs.components) {
            // The band starts at a whole MCU row of the frame (a block row for one component).
            let row0 = if coeffs.components.len() == 1 {
                top / 8
            } else {
                top / (8 * usize::from(coeffs.max_v())) * usize::from(f.v)
            };
            let (from, count) = (row0 * f.blocks_w, b.blocks.len());
            let (Some(blocks), Some(ends)) = (
                f.blocks.get(from..from + count),
                f.ends.get(from..from + count),
            ) else {
                return Err(Error::decode(ImageFormat::Jpeg, "band outside the frame"));
            };
            b.blocks.copy_from_slice(blocks);
            b.ends.copy_from_slice(ends);
        }
        Ok(())
    };
    let (baseline, out_frame) = pipeline(coeffs, quality, tables, input_len, fill)?;
    let Some(mut out_frame) = out_frame else {
        return Ok(None);
    };
    (out_frame.width, out_frame.height) = (coeffs.width, coeffs.height);
    Ok(Some(baseline.finish(&out_frame, settings)))
}

/// The recording side of [`requantize_in_bands`]: each band from `full` converted (unless
/// the decoding side did it: the flag), recorded and handed back through `free`; `waiting`
/// counts the bands sent and not yet taken. Returns the recording and the output's frame
/// (components as the output has them, without blocks).
fn record_bands(
    full: std::sync::mpsc::Receiver<(Coefficients, bool)>,
    free: std::sync::mpsc::Sender<Coefficients>,
    waiting: &std::sync::atomic::AtomicUsize,
    quality: u8,
    tables: &[[u16; 64]; 2],
    input_len: usize,
) -> Result<(Baseline, Option<Coefficients>), Error> {
    // About one token per byte of the input (reserved, not touched: the budget counts it).
    let mut baseline = Baseline::new(input_len);
    let mut frame = None;
    for (mut band, converted) in full {
        waiting.fetch_sub(1, Ordering::AcqRel);
        if !converted {
            convert(&mut band, quality, tables)?;
        }
        baseline.add(&band);
        frame.get_or_insert_with(|| band.shape());
        // The decoder may have finished already: then the band is simply dropped.
        let _ = free.send(band);
    }
    Ok((baseline, frame))
}

/// Makes `band` a band of `rows` pixel rows of `frame`'s layout (whole MCU rows), every
/// block zero, reusing its allocations.
fn shape_band(band: &mut Coefficients, frame: &Coefficients, rows: usize) {
    band.width = frame.width;
    band.height = rows as u32;
    if band.components.len() != frame.components.len() {
        band.components = frame.shape().components;
    }
    for (comp, f) in band.components.iter_mut().zip(&frame.components) {
        (comp.id, comp.h, comp.v, comp.tq, comp.table) = (f.id, f.h, f.v, f.tq, f.table);
    }
    let (mx, my) = band.mcus();
    for comp in &mut band.components {
        comp.blocks_w = mx * usize::from(comp.h);
        comp.blocks_h = my * usize::from(comp.v);
        let count = comp.blocks_w * comp.blocks_h;
        comp.blocks.clear();
        comp.blocks.resize(count, [0; 64]); // in cache: the band was just converted
        comp.ends.clear();
        comp.ends.resize(count, 0);
    }
}

/// Per zigzag position, the old step and the new one as [`Steps::rescale_block`] uses them.
struct Steps {
    /// The input's step.
    from: [i32; 64],
    /// Half the output's step, rounded down (added before the division: ties toward zero).
    half: [i32; 64],
    /// 1024 output steps: magnitudes are capped there before the division.
    cap: [i32; 64],
    /// The output's step (1..=255).
    to: [f32; 64],
}

impl Steps {
    /// The steps from table `old` to table `new` (natural order; `new` clamped to 1..=255).
    fn new(old: &[u16; 64], new: &[u16; 64]) -> Steps {
        let to = |k: usize| i32::from(new[ZIGZAG[k]].clamp(1, 255));
        Steps {
            from: std::array::from_fn(|k| i32::from(old[ZIGZAG[k]])),
            half: std::array::from_fn(|k| (to(k) - 1) / 2),
            cap: std::array::from_fn(|k| 1024 * to(k)),
            to: std::array::from_fn(|k| to(k) as f32),
        }
    }

    /// Rescales the first `end` coefficients of `block` (zigzag order; the rest are zero)
    /// from step `from` to step `to`: round to nearest, ties toward zero, magnitude at most
    /// 1023. Returns the block's new end.
    ///
    /// Ties are common (an old step that is half the new one makes every odd coefficient a
    /// tie), and rounding them away from zero would inflate magnitudes systematically: on
    /// the corpus at q60, ties toward zero give 2% fewer bytes and a higher SSIMULACRA2.
    /// 1023 keeps every value (and DC difference) inside baseline Huffman categories.
    ///
    /// Eight coefficients at a time, in lanes that vectorize, as far as `end` reaches. All of
    /// it is exact: `|coef * from|` is below 2^31 (|coef| <= 2^15, from < 2^16), and the
    /// capped magnitude `n` is at most 1024 * 255 < 2^24, so it is exact in `f32`; the
    /// quotient `n / to` is correctly rounded, and where it is not an integer it is at least
    /// `1 / to >= 1/255` below the next one, far more than the rounding error (at most
    /// 2^-14 for quotients up to 1024): its floor is floor(n / to) exactly.
    fn rescale_block(&self, block: &mut [i16; 64], end: usize) -> u8 {
        let lanes = end.div_ceil(8);
        let (coefs, _) = block.as_chunks_mut::<8>();
        let parts = self
            .from
            .as_chunks::<8>()
            .0
            .iter()
            .zip(self.half.as_chunks::<8>().0);
        let parts = parts
            .zip(self.cap.as_chunks::<8>().0)
            .zip(self.to.as_chunks::<8>().0);
        for (c, (((from, half), cap), to)) in coefs.iter_mut().zip(parts).take(lanes) {
            for i in 0..8 {
                let v = i32::from(c[i]) * from[i];
                let n = (v.abs() + half[i]).min(cap[i]);
                let q = (floor_small(n as f32 / to[i])).min(1023);
                c[i] = (if v < 0 { -q } else { q }) as i16;
            }
        }
        block[..lanes * 8]
            .iter()
            .rposition(|&q| q != 0)
            .map_or(0, |k| k as u8 + 1)
    }
}

/// floor(`y`) for any `y` in 0.0..=4096.0, exactly. A float-to-int cast saturates, which
/// keeps the compiler from vectorizing the loops around it; this is arithmetic only.
/// Adding 1.5 * 2^23 (from where the spacing of `f32` is 1) rounds `y` to the nearest
/// integer, which is one too many where it rounded up; and the integer, added to the same
/// constant again, sits in the low bits of the sum's representation.
#[inline(always)]
fn floor_small(y: f32) -> i32 {
    const MAGIC: f32 = 12_582_912.0;
    let nearest = (y + MAGIC) - MAGIC;
    let floor = if nearest > y { nearest - 1.0 } else { nearest };
    (floor + MAGIC).to_bits() as i32 - MAGIC.to_bits() as i32
}

/// The orthonormal DCT-II matrix of size `n` (n = 4 or 8): `m[u][x]`.
fn dct_matrix(n: usize) -> [[f32; 8]; 8] {
    let mut m = [[0f32; 8]; 8];
    for (u, row) in m.iter_mut().enumerate().take(n) {
        let alpha = if u == 0 {
            (1.0 / n as f64).sqrt()
        } else {
            (2.0 / n as f64).sqrt()
        };
        for (x, v) in row.iter_mut().enumerate().take(n) {
            let angle = std::f64::consts::PI * (2 * x + 1) as f64 * u as f64 / (2 * n) as f64;
            *v = (alpha * angle.cos()) as f32;
        }
    }
    m
}

/// Re-lays a YCbCr image with 1x1 chroma and luma factors of 1 or 2 out as 4:2:0: luma
/// blocks are kept (the grid padded to whole 16x16 MCUs), chroma is downsampled in the DCT
/// domain and quantized with `chroma_table`, which becomes the chroma components' table.
#[inline(never)]
fn to_420(c: &mut Coefficients, chroma_table: &[u16; 64]) -> Result<(), Error> {
    let (hy, vy) = (
        usize::from(c.components[0].h),
        usize::from(c.components[0].v),
    );
    if !(1..=2).contains(&hy)
        || !(1..=2).contains(&vy)
        || c.components[1..].iter().any(|k| k.h != 1 || k.v != 1)
    {
        return Err(Error::decode(
            ImageFormat::Jpeg,
            "layout not convertible to 4:2:0",
        ));
    }
    let valid: Vec<(usize, usize)> = (0..3).map(|i| c.scan_blocks(i)).collect();
    let (mx, my) = (
        (c.width as usize).div_ceil(16),
        (c.height as usize).div_ceil(16),
    );

    // Luma: same blocks on a grid of whole MCUs; blocks past the image repeat the edge's DC.
    let y = &mut c.components[0];
    let (vw, vh) = valid[0];
    let (nw, nh) = (2 * mx, 2 * my);
    if (nw, nh) == (y.blocks_w, y.blocks_h) && (vw, vh) == (nw, nh) {
        // The same grid (the usual case): the blocks stay where they are.
        (y.h, y.v) = (2, 2);
        return to_420_chroma(c, chroma_table, &valid, (mx, my), (2 / hy, 2 / vy));
    }
    if nw == y.blocks_w && vw == nw && vh == y.blocks_h && nh >= vh {
        // Only block rows to add below (the usual whole-frame case: a height that is a
        // multiple of 8 but not of 16): the image's blocks stay where they are, and the new
        // ones repeat the last row's DC, as below.
        for _ in vh..nh {
            for bx in 0..nw {
                let dc = y.blocks[(vh - 1) * nw + bx][0];
                let mut b = [0i16; 64];
                b[0] = dc;
                y.blocks.push(b);
                y.ends.push(u8::from(dc != 0));
            }
        }
        (y.h, y.v, y.blocks_h) = (2, 2, nh);
        return to_420_chroma(c, chroma_table, &valid, (mx, my), (2 / hy, 2 / vy));
    }
    let mut blocks = Vec::with_capacity(nw * nh);
    let mut ends = Vec::with_capacity(nw * nh);
    for by in 0..nh {
        for bx in 0..nw {
            let (sx, sy) = (bx.min(vw - 1), by.min(vh - 1));
            let idx = sy * y.blocks_w + sx;
            if sx == bx && sy == by {
                blocks.push(y.blocks[idx]);
                ends.push(y.ends[idx]);
            } else {
                let mut b = [0i16; 64];
                b[0] = y.blocks[idx][0];
                blocks.push(b);
                ends.push(u8::from(b[0] != 0));
            }
        }
    }
    (y.h, y.v, y.blocks_w, y.blocks_h, y.blocks, y.ends) = (2, 2, nw, nh, blocks, ends);
    to_420_chroma(c, chroma_table, &valid, (mx, my), (2 / hy, 2 / vy))
}

/// The chroma half of [`to_420`]: each of the `mx` x `my` output blocks covers `fx` x `fy`
/// input blocks (`valid`: each component's blocks that carry image data).
///
/// Per output block, the input blocks' low frequencies (the `8/fy` x `8/fx` that survive
/// the downsampling), dequantized and laid side by side in an 8x8 matrix `X`, give the
/// output's coefficients as `G = A X B`: `A` and `B` fold the reduced inverse DCTs of the
/// input blocks, the forward 8x8 DCT of the tile they make and the scale into one matrix per
/// axis. Output blocks are written over the input ones (output block `k` reads input blocks
/// at `k` and after); the two chroma components run on two threads for large images.
fn to_420_chroma(
    c: &mut Coefficients,
    chroma_table: &[u16; 64],
    valid: &[(usize, usize)],
    (mx, my): (usize, usize),
    (fx, fy): (usize, usize),
) -> Result<(), Error> {
    let (mh, mv) = (8 / fx, 8 / fy); // size of each input block's part of the output tile
    let c8 = dct_matrix(8);
    let (ch, cv) = (dct_matrix(mh), dct_matrix(mv));
    let scale = ((mh * mv) as f32 / 64.0).sqrt();
    // A = scale * c8 * blockdiag(cv)^T; B = blockdiag(ch) * c8^T.
    let a: [[f32; 8]; 8] = std::array::from_fn(|u| {
        std::array::from_fn(|r| {
            scale
                * (0..8)
                    .map(|y| c8[u][y] * block_diag(&cv, mv, r, y))
                    .sum::<f32>()
        })
    });
    let b: [[f32; 8]; 8] = std::array::from_fn(|v| {
        std::array::from_fn(|x| {
            (0..8)
                .map(|k| block_diag(&ch, mh, v, k) * c8[x][k])
                .sum::<f32>()
        })
    });
    let inv: [f32; 64] = std::array::from_fn(|n| 1.0 / f32::from(chroma_table[n].clamp(1, 255)));
    // The zigzag positions that survive the downsampling, in zigzag order: (k, row, column).
    let kept: Vec<(usize, usize, usize)> = ZIGZAG
        .iter()
        .enumerate()
        .map(|(k, &n)| (k, n / 8, n % 8))
        .filter(|&(_, u, v)| u < mv && v < mh)
        .collect();
    let work = |comp: &mut ComponentCoeffs, (vw, vh): (usize, usize)| -> Result<(), Error> {
        let old_table = comp
            .table
            .ok_or_else(|| Error::decode(ImageFormat::Jpeg, "a component has no scan"))?;
        let old: [f32; 64] = std::array::from_fn(|n| f32::from(old_table[n]));
        for oy in 0..my {
            for ox in 0..mx {
                let mut x = [[0f32; 8]; 8];
                for j in 0..fy {
                    for i in 0..fx {
                        let (sx, sy) = ((ox * fx + i).min(vw - 1), (oy * fy + j).min(vh - 1));
                        let idx = sy * comp.blocks_w + sx;
                        let (src, end) = (&comp.blocks[idx], usize::from(comp.ends[idx]));
                        for &(k, u, v) in kept.iter().take_while(|p| p.0 < end) {
                            x[j * mv + u][i * mh + v] = f32::from(src[k]) * old[u * 8 + v];
                        }
                    }
                }
                // T = X B, then G = A T: dense (adding zeros changes no sum), so that the
                // lanes vectorize.
                let mut t = [[0f32; 8]; 8];
                for (tr, xr) in t.iter_mut().zip(&x) {
                    for (&xv, bv) in xr.iter().zip(&b) {
                        axpy(tr, xv, bv);
                    }
                }
                let mut g = [[0f32; 8]; 8];
                for (gu, au) in g.iter_mut().zip(&a) {
                    for (&aur, tr) in au.iter().zip(&t) {
                        axpy(gu, aur, tr);
                    }
                }
                // Quantized in natural order (round half away from zero, magnitude at most
                // 1023), then zigzagged.
                let mut natural = [0i16; 64];
                for (n, q) in natural.iter_mut().enumerate() {
                    let v = g[n / 8][n % 8] * inv[n];
                    let m = floor_small(v.abs().min(1023.0) + 0.5);
                    *q = (if v < 0.0 { -m } else { m }) as i16;
                }
                let out: [i16; 64] = std::array::from_fn(|k| natural[ZIGZAG[k]]);
                let last = out.iter().rposition(|&q| q != 0).map_or(0, |k| k as u8 + 1);
                // In place: every input block read so far is at this index or after it.
                let k = oy * mx + ox;
                comp.blocks[k] = out;
                comp.ends[k] = last;
            }
        }
        comp.blocks.truncate(mx * my);
        comp.ends.truncate(mx * my);
        (comp.blocks_w, comp.blocks_h) = (mx, my);
        comp.table = Some(*chroma_table);
        Ok(())
    };
    let chroma = c.components.iter_mut().zip(valid).skip(1);
    if mx * my < 4096 {
        for (comp, &v) in chroma {
            work(comp, v)?;
        }
        return Ok(());
    }
    std::thread::scope(|scope| {
        let handles: Vec<_> = chroma
            .map(|(comp, &v)| {
                let work = &work;
                scope.spawn(move || work(comp, v))
            })
            .collect();
        handles
            .into_iter()
            .try_for_each(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
    })
}

/// Entry (`r`, `c`) of the 8x8 block-diagonal matrix made of copies of the `n` x `n` matrix
/// `m`.
fn block_diag(m: &[[f32; 8]; 8], n: usize, r: usize, c: usize) -> f32 {
    if r / n == c / n {
        m[r % n][c % n]
    } else {
        0.0
    }
}

/// `acc += a * x`, element-wise over 8 lanes.
#[inline(always)]
fn axpy(acc: &mut [f32; 8], a: f32, x: &[f32; 8]) {
    for (y, &xi) in acc.iter_mut().zip(x) {
        *y += a * xi;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One coefficient rescaled through [`Steps::rescale_block`].
    fn r(coef: i16, from: u16, to: u16) -> i32 {
        let steps = Steps::new(&[from; 64], &[to; 64]);
        let mut block = [0i16; 64];
        block[0] = coef;
        let end = steps.rescale_block(&mut block, 1);
        assert_eq!(end, u8::from(block[0] != 0));
        i32::from(block[0])
    }

    #[test]
    fn rescale_rounds_to_nearest_with_ties_toward_zero() {
        assert_eq!(r(3, 8, 16), 1); // 1.5
        assert_eq!(r(-3, 8, 16), -1);
        assert_eq!(r(5, 8, 16), 2); // 2.5
        assert_eq!(r(7, 10, 16), 4); // 4.375
        assert_eq!(r(-7, 10, 16), -4);
        assert_eq!(r(9, 10, 16), 6); // 5.625
        assert_eq!(r(0, 200, 1), 0);
        assert_eq!(r(10, 3, 7), 4); // 4.29
        assert_eq!(r(3, 7, 2), 10); // 10.5
    }

    #[test]
    fn rescale_is_exact_division_everywhere_and_clamped() {
        // Every coefficient value, laid 64 to a block, for every output step and input
        // steps from 1 to the 16-bit maximum; and every end.
        let coefs: Vec<i16> = (i16::MIN..=i16::MAX).collect();
        for to in 1..=255u16 {
            for from in [1u16, 2, 3, 16, 99, 255, 256, 4095, 65535] {
                let steps = Steps::new(&[from; 64], &[to; 64]);
                for (n, chunk) in coefs.chunks_exact(64).enumerate() {
                    let mut block: [i16; 64] = std::array::from_fn(|k| chunk[k]);
                    let end = 64 - n % 64;
                    block[end..].fill(0);
                    let got_end = steps.rescale_block(&mut block, end);
                    let mut last = 0;
                    for (k, (&coef, &got)) in chunk.iter().zip(&block).enumerate() {
                        let v = i64::from(coef) * i64::from(from);
                        // Nearest, ties toward zero: floor((2|v| + to - 1) / (2 to)).
                        let twice = 2 * v.unsigned_abs();
                        let q = ((twice + u64::from(to) - 1) / (2 * u64::from(to))).min(1023);
                        let expected = if k < end { q as i64 * v.signum() } else { 0 };
                        assert_eq!(i64::from(got), expected, "{coef}*{from}/{to}");
                        if expected != 0 {
                            last = k + 1;
                        }
                    }
                    assert_eq!(usize::from(got_end), last);
                }
            }
        }
    }

    #[test]
    fn floor_small_is_floor_on_its_range() {
        // Every 31st float from 0 to 4096 (all binades, integers and halves among them).
        let top = 4096f32.to_bits();
        let mut checked = 0;
        for bits in (0..=top)
            .step_by(31)
            .chain([top, 0.5f32.to_bits(), 1.0f32.to_bits()])
        {
            let y = f32::from_bits(bits);
            assert_eq!(floor_small(y), y.floor() as i32, "{y}");
            checked += 1;
        }
        assert!(checked > 1_000_000);
    }

    #[test]
    fn chroma_rounding_is_half_away_from_zero_and_clamped() {
        // The arithmetic `to_420_chroma` quantizes with, against the plain formula, on floats
        // of every magnitude up to past the clamp, both signs.
        let top = 5000f32.to_bits();
        for bits in (0..=top).step_by(29) {
            for v in [f32::from_bits(bits), -f32::from_bits(bits)] {
                let m = floor_small(v.abs().min(1023.0) + 0.5);
                let got = (if v < 0.0 { -m } else { m }) as i16;
                let want = (v + 0.5f32.copysign(v)).clamp(-1023.0, 1023.0) as i16;
                assert_eq!(got, want, "{v}");
            }
        }
    }

    /// The whole frame decoded, converted and written at once: the reference that both
    /// band paths (from the file, and from a frame decoded whole) must match byte for byte.
    fn whole(input: &[u8], quality: u8) -> Result<Vec<u8>, Error> {
        let tables = output_tables(quality);
        let mut coeffs = decode_coefficients(input)?;
        convert(&mut coeffs, quality, &tables)?;
        let n = coeffs.components.len();
        Ok(write(
            &coeffs,
            &write_settings(&tables, n, false, None, &[]),
        ))
    }

    /// A picture with edges, gradients and texture, from a hash (no randomness crate).
    fn picture(w: u16, h: u16, channels: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(usize::from(w) * usize::from(h) * channels);
        for y in 0..u32::from(h) {
            for x in 0..u32::from(w) {
                let noise = (x.wrapping_mul(2_654_435_761) ^ y.wrapping_mul(40_503)) >> 24;
                for c in 0..channels as u32 {
                    let edge = if (x / 7 + y / 5 + c) % 3 == 0 { 90 } else { 0 };
                    out.push(((x * 3 + y * (c + 1) + edge + noise / 4) % 256) as u8);
                }
            }
        }
        out
    }

    #[test]
    fn bands_give_the_whole_frame_paths_bytes() {
        use jpeg_encoder::{ColorType, Encoder, SamplingFactor as S};
        let mut cases = 0;
        for (w, h) in [(1, 1), (17, 9), (64, 64), (333, 251), (40, 97)] {
            for (sampling, restart) in [
                (Some(S::F_1_1), 0),
                (Some(S::F_2_2), 0),
                (Some(S::F_2_1), 3),
                (Some(S::F_1_2), 0),
                (Some(S::F_1_1), 1),
                (Some(S::F_2_2), 7),
                (None, 0),
                (None, 2),
            ] {
                let mut jpeg = Vec::new();
                let mut encoder = Encoder::new(&mut jpeg, 93);
                encoder.set_restart_interval(restart);
                let color = match sampling {
                    Some(f) => {
                        encoder.set_sampling_factor(f);
                        ColorType::Rgb
                    }
                    None => ColorType::Luma,
                };
                let channels = if sampling.is_some() { 3 } else { 1 };
                encoder
                    .encode(&picture(w, h, channels), w, h, color)
                    .expect("encodes");
                // The same picture progressive: decoded whole, then converted and recorded
                // in bands ([`whole_in_bands`]).
                let mut progressive = Vec::new();
                let mut encoder = Encoder::new(&mut progressive, 93);
                encoder.set_progressive(true);
                if let Some(f) = sampling {
                    encoder.set_sampling_factor(f);
                }
                encoder
                    .encode(&picture(w, h, channels), w, h, color)
                    .expect("encodes");
                for quality in [30, 75, 89, 95] {
                    let banded = requantize_in_bands(&jpeg, quality, None, &[])
                        .expect("decodes")
                        .expect("one interleaved scan: the band path");
                    let case = format!("{w}x{h} {sampling:?} restart {restart} q{quality}");
                    assert!(banded == whole(&jpeg, quality).expect("decodes"), "{case}");
                    let from_whole = requantize_whole(&progressive, quality, false, None, &[]);
                    let reference = whole(&progressive, quality).expect("decodes");
                    assert!(
                        from_whole.expect("decodes") == reference,
                        "progressive {case}"
                    );
                    cases += 1;
                }
                // Truncated scan data is an error on both paths.
                let cut = &jpeg[..jpeg.len() * 3 / 4];
                if w > 17 {
                    let banded = requantize_in_bands(cut, 75, None, &[]);
                    assert!(banded.is_err() && whole(cut, 75).is_err());
                }
            }
        }
        assert_eq!(cases, 5 * 8 * 4);
    }

    #[test]
    fn bands_decline_progressive_files_and_take_real_ones() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/images/jpeg/");
        // Progressive files are the whole-frame path's.
        let name = "jxl-flower_q85_420_progr.jpg";
        let input = std::fs::read(format!("{root}{name}")).expect("repo image");
        assert!(requantize_in_bands(&input, 50, None, &[])
            .expect(name)
            .is_none());
        // Sequential photographs (colour and grey, one scan or a scan per component) give
        // the same bytes both ways.
        for name in [
            "mpl-grace_hopper.jpg",
            "jxl-flower_q85_gray.jpg",
            "jxl-flower_small_q85_420_noninterleaved.jpg",
            "pil-flower.jpg",
        ] {
            let input = std::fs::read(format!("{root}{name}")).expect("repo image");
            for quality in [50, 92] {
                let banded = requantize_in_bands(&input, quality, None, &[]);
                let banded = banded.expect(name).expect(name);
                let whole = whole(&input, quality).expect(name);
                assert!(banded == whole, "{name} q{quality}");
            }
        }
    }

    #[test]
    fn bands_read_a_scan_per_component_side_by_side() {
        use crate::pixels::{Bitmap, Layout};
        // mogr's own encoder writes a scan per component (4:2:0 below q90, 4:4:4 above).
        for (w, h) in [(1u16, 1u16), (33, 17), (250, 131)] {
            let bitmap = Bitmap {
                width: u32::from(w),
                height: u32::from(h),
                layout: Layout::Rgb,
                data: picture(w, h, 3),
            };
            for source_quality in [80, 95] {
                let settings = super::super::encode::JpegSettings {
                    quality: source_quality,
                    progressive: false,
                    density: None,
                    segments: Vec::new(),
                };
                let jpeg = super::super::encode::encode(&bitmap, &settings).expect("encodes");
                let mut headers = Headers::new(&jpeg, false).expect("header");
                let mut scans = 0;
                while headers.next_scan().expect("scan").is_some() {
                    scans += 1;
                }
                assert_eq!(scans, 3, "a scan per component");
                for quality in [40, 85, 93] {
                    let banded = requantize_in_bands(&jpeg, quality, None, &[]).expect("decodes");
                    let banded = banded.expect("sequential scans: the band path");
                    let case = format!("{w}x{h} q{source_quality} -> q{quality}");
                    assert!(banded == whole(&jpeg, quality).expect("decodes"), "{case}");
                }
            }
        }
    }
}
