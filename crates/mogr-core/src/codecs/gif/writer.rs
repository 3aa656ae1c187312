//! The GIF writer: one global palette, and each frame after the first as the rectangle
//! that changed (unchanged pixels transparent).

use super::palette::{ColourMap, Quantized};
use crate::error::Error;
use crate::format::ImageFormat;

/// Encodes composed frames as a GIF with one global palette of up to 255 colours (k-means in
/// Oklab, from `quantette`, over samples of every frame; the index after the colours is
/// transparent). Each frame after the first holds only the rectangle that changed, with
/// unchanged pixels transparent (disposal "keep"); a frame whose pixels turn transparent in
/// the next one also covers them and is disposed of to the background (cleared), since a
/// frame cannot make a pixel transparent. Alpha below 128 is transparent; other pixels are
/// composed over white.
pub fn encode(raster: &crate::pixels::Raster) -> Result<Vec<u8>, Error> {
    encode_with_colors(raster, 255, &crate::Stop::never())
}

/// As [`encode`], with at most `colors` palette entries (2..=255) besides the transparent one.
/// When the frames hold no more distinct opaque colours than that, the palette is exactly
/// those colours (no quantization, so a GIF re-encoded this way keeps its pixels).
/// `stop` is checked before each frame's colours are counted, indexed, compressed and
/// written.
pub fn encode_with_colors(
    raster: &crate::pixels::Raster,
    colors: usize,
    stop: &crate::Stop,
) -> Result<Vec<u8>, Error> {
    use std::borrow::Cow;
    let colors = colors.clamp(2, 255);
    let fail = |e: ::gif::EncodingError| Error::Encode {
        format: crate::error::FormatName(Some(ImageFormat::Gif)),
        message: format!("gif: {e}"),
        source: None,
    };
    let first = raster.first();
    let (w, h) = (first.width, first.height);
    let (w16, h16) = match (u16::try_from(w), u16::try_from(h)) {
        (Ok(a), Ok(b)) => (a, b),
        _ => {
            return Err(Error::Encode {
                format: crate::error::FormatName(Some(ImageFormat::Gif)),
                message: "GIF sides are limited to 65,535 pixels".into(),
                source: None,
            })
        }
    };
    // RGBA as it is (read through `shown`), other layouts widened to it.
    let frames: Vec<Cow<'_, [u8]>> = raster
        .frames
        .iter()
        .map(|f| match f.bitmap.layout {
            crate::pixels::Layout::Rgba => Cow::Borrowed(f.bitmap.data.as_slice()),
            _ => Cow::Owned(f.bitmap.to_rgba()),
        })
        .collect();
    // Palette from opaque samples of every frame, at most about 65,000 pixels.
    let total_px: usize = frames.iter().map(|f| f.len() / 4).sum();
    let step = total_px.div_ceil(1 << 16).max(1);
    let mut samples: Vec<u8> = Vec::with_capacity(total_px.div_ceil(step) * 4 + frames.len() * 4);
    for f in &frames {
        for p in f.as_chunks::<4>().0.iter().step_by(step).map(|p| shown(p)) {
            if p[3] == 255 {
                samples.extend_from_slice(&p);
            }
        }
    }
    let samples = if samples.is_empty() {
        vec![255, 255, 255, 255]
    } else {
        samples
    };
    // The exact colours when they fit, else a quantized palette (`stop` checked before
    // each frame's colours are counted).
    let mut exact: ColourMap = ColourMap::default();
    'count: for f in &frames {
        stop.check()?;
        let mut last = [0u8; 4];
        for p in f.as_chunks::<4>().0 {
            // A run of one colour is looked up once.
            if *p == last {
                continue;
            }
            last = *p;
            let p = shown(p);
            if p[3] != 255 {
                continue;
            }
            let next = exact.len();
            exact
                .entry(u32::from_be_bytes([p[0], p[1], p[2], 0]))
                .or_insert(next as u8);
            if exact.len() > colors {
                break 'count;
            }
        }
    }
    let quantized = (exact.len() > colors).then(|| Quantized::new(&samples, colors));
    let mut palette = match &quantized {
        Some(q) => q.rgb.clone(),
        None => {
            let mut pal = vec![0u8; exact.len() * 3];
            for (&key, &i) in &exact {
                let i = usize::from(i) * 3;
                pal[i..i + 3].copy_from_slice(&key.to_be_bytes()[..3]);
            }
            pal
        }
    };
    // The index after the colours is transparent; the table is a power of two long.
    let transparent = (palette.len() / 3) as u8;
    palette.resize(
        (usize::from(transparent) + 1).next_power_of_two().max(2) * 3,
        0,
    );
    let exact = (quantized.is_none()).then_some(exact);
    // Palette indices of every frame, the two halves of the animation on two threads (`stop`
    // checked before each frame on both).
    let indices: Vec<Vec<u8>> = {
        let map = |part: &[Cow<'_, [u8]>]| {
            index_frames(part, transparent, exact.clone(), quantized.as_ref(), stop)
        };
        let half = frames.len().div_ceil(2);
        if frames.len() < 4 {
            map(&frames)?
        } else {
            let (a, b) = frames.split_at(half);
            std::thread::scope(|s| {
                let second = s.spawn(|| map(b));
                let first = map(a);
                let second = second
                    .join()
                    .unwrap_or_else(|e| std::panic::resume_unwind(e));
                let mut first = first?;
                first.extend(second?);
                Ok::<_, Error>(first)
            })?
        }
    };
    let mut out = Vec::new();
    {
        let mut enc = ::gif::Encoder::new(&mut out, w16, h16, &palette).map_err(fail)?;
        if let Some(n) = raster.loop_count {
            let repeat = if n == 0 {
                ::gif::Repeat::Infinite
            } else {
                ::gif::Repeat::Finite(n)
            };
            enc.set_repeat(repeat).map_err(fail)?;
        }
        let width = w as usize;
        // What the canvas shows before the frame being written (a GIF starts transparent).
        let mut base = vec![transparent; width * h as usize];
        let mut coded = Vec::with_capacity(indices.len());
        for (k, (frame, cur)) in raster.frames.iter().zip(&indices).enumerate() {
            stop.check()?;
            let next = indices.get(k + 1);
            // The rectangle that changed (the whole canvas for the first frame), grown by
            // the pixels that turn transparent in the next frame: a frame can only keep or
            // cover what is under it, so those are cleared when this one is disposed of.
            let changed = if k == 0 {
                Some((0, 0, width, h as usize))
            } else {
                bbox(width, cur, &base, |a, b| a != b)
            };
            let vanish =
                next.and_then(|n| bbox(width, cur, n, |a, b| a != transparent && b == transparent));
            let rect = match (changed, vanish) {
                (Some(a), Some(b)) => (a.0.min(b.0), a.1.min(b.1), a.2.max(b.2), a.3.max(b.3)),
                (Some(r), None) | (None, Some(r)) => r,
                (None, None) => (0, 0, 1, 1), // nothing changed: one transparent pixel
            };
            let (x0, y0, x1, y1) = rect;
            // Inside the rectangle, what the canvas already shows is left transparent.
            let mut buf = Vec::with_capacity((x1 - x0) * (y1 - y0));
            for y in y0..y1 {
                let row = y * width + x0..y * width + x1;
                buf.extend(cur[row.clone()].iter().zip(&base[row]).map(|(&c, &b)| {
                    if c == b {
                        transparent
                    } else {
                        c
                    }
                }));
            }
            // Nearest centisecond; a nonzero delay stays nonzero.
            let cs = if frame.delay_ms == 0 {
                0
            } else {
                ((frame.delay_ms + 5) / 10).max(1)
            };
            coded.push(::gif::Frame {
                left: x0 as u16,
                top: y0 as u16,
                width: (x1 - x0) as u16,
                height: (y1 - y0) as u16,
                delay: u16::try_from(cs).unwrap_or(u16::MAX),
                transparent: Some(transparent),
                dispose: if vanish.is_some() {
                    ::gif::DisposalMethod::Background
                } else {
                    ::gif::DisposalMethod::Keep
                },
                buffer: Cow::Owned(buf),
                ..Default::default()
            });
            base.copy_from_slice(cur);
            if vanish.is_some() {
                for y in y0..y1 {
                    base[y * width + x0..y * width + x1].fill(transparent);
                }
            }
        }
        // LZW-compressed on two threads (each frame on its own, `stop` checked before
        // each), then written in order.
        let lzw = |part: &mut [::gif::Frame<'_>]| -> Result<(), Error> {
            for f in part {
                stop.check()?;
                f.buffer = Cow::Owned(super::lzw::encode(&f.buffer));
            }
            Ok(())
        };
        if coded.len() < 2 {
            lzw(&mut coded)?;
        } else {
            let half = coded.len() / 2;
            let (a, b) = coded.split_at_mut(half);
            std::thread::scope(|s| {
                let second = s.spawn(|| lzw(b));
                let first = lzw(a);
                let second = second
                    .join()
                    .unwrap_or_else(|e| std::panic::resume_unwind(e));
                first.and(second)
            })?;
        }
        for f in &coded {
            stop.check()?;
            enc.write_lzw_pre_encoded_frame(f).map_err(fail)?;
        }
    }
    Ok(out)
}

/// The bounding box `(x0, y0, x1, y1)` (ends exclusive) of the pixels of two `width`-wide
/// index images where `mark(a, b)` holds; `None` when there are none. Row by row: a row's
/// first and last marks are all that count.
fn bbox(
    width: usize,
    a: &[u8],
    b: &[u8],
    mark: impl Fn(u8, u8) -> bool,
) -> Option<(usize, usize, usize, usize)> {
    let mut r: Option<(usize, usize, usize, usize)> = None;
    for (y, (ra, rb)) in a.chunks_exact(width).zip(b.chunks_exact(width)).enumerate() {
        let Some(first) = ra.iter().zip(rb).position(|(&p, &q)| mark(p, q)) else {
            continue;
        };
        let last = ra
            .iter()
            .zip(rb)
            .rposition(|(&p, &q)| mark(p, q))
            .unwrap_or(first);
        r = Some(match r {
            None => (first, y, last + 1, y + 1),
            Some((x0, y0, x1, _)) => (x0.min(first), y0, x1.max(last + 1), y + 1),
        });
    }
    r
}

/// A composed RGBA pixel as the GIF shows it: opaque over white from alpha 128 up, fully
/// transparent (and black) below.
fn shown(p: &[u8]) -> [u8; 4] {
    let a = u32::from(p[3]);
    if a == 255 {
        return [p[0], p[1], p[2], 255];
    }
    if a < 128 {
        return [0, 0, 0, 0];
    }
    let over = |c: u8| ((u32::from(c) * a + 255 * (255 - a) + 127) / 255) as u8;
    [over(p[0]), over(p[1]), over(p[2]), 255]
}

/// Entries of [`index_frames`]'s table of recent colours.
const RECENT: usize = 1 << 14;

/// The palette indices of `frames` (RGBA as composed), in order: `transparent` for what
/// shows transparent, else the exact colour's index when the palette is the exact colours,
/// else the nearest entry of `quantized`. A pixel equal to the one at its place in the
/// previous frame, or to its left neighbour, takes that pixel's index (most of an
/// animation repeats); others are looked up, through a cache. `stop` is checked before
/// each frame.
fn index_frames(
    frames: &[std::borrow::Cow<'_, [u8]>],
    transparent: u8,
    exact: Option<ColourMap>,
    quantized: Option<&Quantized>,
    stop: &crate::Stop,
) -> Result<Vec<Vec<u8>>, Error> {
    let mut cache = exact.unwrap_or_default();
    // In front of the map, a direct-mapped table of recent colours (the packed colour with
    // its low byte set, so that 0 is empty, and its index): most lookups stop there.
    let mut recent = vec![(0u32, 0u8); RECENT];
    let mut index = |raw: &[u8]| -> u8 {
        let p = shown(raw);
        if p[3] == 0 {
            return transparent;
        }
        let key = u32::from_be_bytes([p[0], p[1], p[2], 0]);
        let slot = (u64::from(key).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 48) as usize;
        let entry = &mut recent[slot % RECENT];
        if entry.0 == key | 1 {
            return entry.1;
        }
        let k = *cache
            .entry(key)
            .or_insert_with(|| quantized.map_or(0, |q| q.nearest(&p)));
        *entry = (key | 1, k);
        k
    };
    let mut out: Vec<Vec<u8>> = Vec::with_capacity(frames.len());
    for (n, f) in frames.iter().enumerate() {
        stop.check()?;
        let pixels = f.as_chunks::<4>().0;
        let before = n
            .checked_sub(1)
            .map(|b| (frames[b].as_chunks::<4>().0, &out[b]));
        let before = before.filter(|(bf, _)| bf.len() == pixels.len());
        let mut idx = Vec::with_capacity(pixels.len());
        let mut last: Option<([u8; 4], u8)> = None;
        for (i, p) in pixels.iter().enumerate() {
            let k = match (before, last) {
                (Some((bf, bi)), _) if bf[i] == *p => bi[i],
                (_, Some((q, k))) if q == *p => k,
                _ => index(p),
            };
            last = Some((*p, k));
            idx.push(k);
        }
        out.push(idx);
    }
    Ok(out)
}
