//! GIF frames composed on the logical screen: the `gif` crate reads the blocks (header,
//! palettes, frame descriptors, each frame's LZW data) and `lzw.rs` decompresses the
//! frames' palette indices.
//!
//! The composition follows the `image` crate's GIF decoder (which mogr used before, and
//! whose output the conformance checks compare with): the canvas starts transparent; inside
//! a frame's rectangle (cropped to the screen) an opaque pixel covers the canvas and a
//! transparent one (the transparent index, or an index past the palette) shows it; outside
//! the rectangle the canvas shows. Then the frame is disposed of: "keep" (or unspecified)
//! leaves it on the canvas, "background" clears its rectangle to transparent, "previous"
//! leaves the canvas as it was before the frame. Only the rectangle is touched per frame,
//! and only the frames `pick` keeps are copied out.

use crate::error::Error;
use crate::format::ImageFormat;
use crate::frames::FramePick;
use crate::pixels::{Bitmap, Frame, Layout};

fn decode_error(e: ::gif::DecodingError) -> Error {
    Error::decode_with(ImageFormat::Gif, "corrupt or truncated data", e)
}

/// A frame as the decoder gives it: its rectangle, disposal, delay, palette and indices.
struct Decoded {
    left: usize,
    top: usize,
    width: usize,
    height: usize,
    dispose: ::gif::DisposalMethod,
    delay_ms: u32,
    transparent: Option<u8>,
    palette: Option<Vec<u8>>,
    indices: Vec<u8>,
}

/// The next frame of `reader`, `None` at the end. The reader hands over the frame's LZW
/// data undecoded (`options`), and [`lzw::decode`](super::lzw::decode) fills `indices`
/// with it (rows in order, an interlaced frame's passes put back in place).
fn read_frame<R: std::io::Read>(
    reader: &mut ::gif::Decoder<R>,
    mut indices: Vec<u8>,
) -> Result<Option<Decoded>, Error> {
    let Some(info) = reader.read_next_frame().map_err(decode_error)? else {
        return Ok(None);
    };
    let (width, height) = (usize::from(info.width), usize::from(info.height));
    indices.resize(width * height, 0);
    let (&min_size, lzw) = info.buffer.split_first().unwrap_or((&0, &[]));
    let lzw_error = |e: super::lzw::LzwError| {
        Error::decode(
            ImageFormat::Gif,
            match e {
                super::lzw::LzwError::CodeSize => "corrupt data: invalid LZW code size",
                super::lzw::LzwError::InvalidCode => "corrupt data: invalid LZW code",
                super::lzw::LzwError::Truncated => "truncated data: a frame ends early",
            },
        )
    };
    // (A frame may be zero pixels wide: its rows are then empty and there is nothing to
    // reorder.)
    if info.interlaced && height > 1 && width > 0 {
        // Rows 0, 8, 16.. then 4, 12.. then 2, 6.. then 1, 3..
        let mut stored = vec![0u8; indices.len()];
        super::lzw::decode(min_size, lzw, &mut stored).map_err(lzw_error)?;
        let rows = (0..height)
            .step_by(8)
            .chain((4..height).step_by(8))
            .chain((2..height).step_by(4))
            .chain((1..height).step_by(2));
        for (row, src) in rows.zip(stored.chunks_exact(width)) {
            indices[row * width..(row + 1) * width].copy_from_slice(src);
        }
    } else {
        super::lzw::decode(min_size, lzw, &mut indices).map_err(lzw_error)?;
    }
    Ok(Some(Decoded {
        left: usize::from(info.left),
        top: usize::from(info.top),
        width,
        height,
        dispose: info.dispose,
        delay_ms: u32::from(info.delay) * 10,
        transparent: info.transparent,
        palette: info.palette.clone(),
        indices,
    }))
}

/// The decoder's options: palette indices, each frame's LZW data handed over undecoded.
pub(super) fn options() -> ::gif::DecodeOptions {
    let mut options = ::gif::DecodeOptions::new();
    options.set_color_output(::gif::ColorOutput::Indexed);
    options.skip_frame_decoding(true);
    options
}

/// Screens of at least this many pixels are decoded on a second thread (`frames`).
const SPLIT_PIXELS: usize = 1 << 15;

/// The composed frames of `data` that `pick` keeps, from at most `max_frames` frames (the
/// delays of dropped frames are added to the kept frame before them). `stop` is checked
/// before each frame.
///
/// From [`SPLIT_PIXELS`] screen pixels up, a second thread reads and decompresses the
/// frames, in order and a frame or two ahead, while this one composes them: one decoder
/// reads the file either way, so the frames and the errors are the same.
pub(crate) fn frames(
    data: &[u8],
    max_frames: usize,
    pick: FramePick,
    stop: &crate::Stop,
) -> Result<Vec<Frame>, Error> {
    frames_split_from(data, max_frames, pick, stop, SPLIT_PIXELS)
}

/// [`frames`], on two threads from `split_pixels` screen pixels up.
fn frames_split_from(
    data: &[u8],
    max_frames: usize,
    pick: FramePick,
    stop: &crate::Stop,
    split_pixels: usize,
) -> Result<Vec<Frame>, Error> {
    let mut reader = options().read_info(data).map_err(decode_error)?;
    let (w, h) = (usize::from(reader.width()), usize::from(reader.height()));
    let global: Option<Vec<u8>> = reader.global_palette().map(<[u8]>::to_vec);
    if w * h < split_pixels {
        return compose(global, (w, h), max_frames, pick, stop, |_, buf| {
            read_frame(&mut reader, buf)
        });
    }
    std::thread::scope(|s| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Result<Option<Decoded>, Error>>(2);
        // Index buffers the composing thread is done with, for the reader to reuse.
        let (spare_tx, spare_rx) = std::sync::mpsc::channel::<Vec<u8>>();
        let reading = s.spawn(move || {
            for k in 0..max_frames {
                if pick.done(k) {
                    break;
                }
                // Stopped: the frame it would have read is the error.
                let buf = spare_rx.try_recv().unwrap_or_default();
                let frame = stop.check().and_then(|()| read_frame(&mut reader, buf));
                let last = !matches!(frame, Ok(Some(_)));
                if tx.send(frame).is_err() || last {
                    break;
                }
            }
        });
        let composed = compose(global, (w, h), max_frames, pick, stop, move |_, buf| {
            let _ = spare_tx.send(buf);
            rx.recv().unwrap_or(Ok(None))
        });
        // The receiver went with the closure, so the reading thread ends at its next frame
        // if it has not already. Joined, not left to the scope, so that it has fully exited
        // (its thread-local destructors run) when the frames are returned.
        reading
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e));
        composed
    })
}

/// Composes the frames `next(idx, buffer)` gives, in order, from at most `max_frames`, on a
/// `w` x `h` screen whose global palette is `global` (see [`frames`]). `buffer` is the
/// previous frame's indices, for reuse.
fn compose(
    global: Option<Vec<u8>>,
    (w, h): (usize, usize),
    max_frames: usize,
    pick: FramePick,
    stop: &crate::Stop,
    mut next: impl FnMut(usize, Vec<u8>) -> Result<Option<Decoded>, Error>,
) -> Result<Vec<Frame>, Error> {
    // The canvas as the next frame finds it (what the `image` crate calls the non-disposed
    // frame), RGBA.
    let mut canvas = vec![0u8; w * h * 4];
    let mut out: Vec<Frame> = Vec::with_capacity(pick.capacity());
    let mut spare = Vec::new();
    for idx in 0..max_frames {
        if pick.done(idx) {
            break;
        }
        stop.check()?;
        let Some(frame) = next(idx, std::mem::take(&mut spare))? else {
            break;
        };
        let Decoded {
            left,
            top,
            width: fw,
            height: fh,
            dispose,
            delay_ms,
            ..
        } = frame;
        // Index -> RGBA; transparent for the transparent index and past the palette.
        let palette = frame
            .palette
            .as_deref()
            .or(global.as_deref())
            .unwrap_or(&[]);
        // Pixels as native-endian words of their RGBA bytes: 0 (transparent) shows the canvas.
        let mut lut = [0u32; 256];
        for (i, c) in palette.chunks_exact(3).take(256).enumerate() {
            if frame.transparent != Some(i as u8) {
                lut[i] = u32::from_ne_bytes([c[0], c[1], c[2], 255]);
            }
        }
        let indices = &frame.indices;
        // The rectangle cropped to the screen.
        let (x1, y1) = ((left + fw).min(w), (top + fh).min(h));
        let put = |i: u8, px: &mut [u8; 4]| {
            let c = lut[usize::from(i)];
            let shows = if c == 0 { u32::from_ne_bytes(*px) } else { c };
            *px = shows.to_ne_bytes();
        };
        // Eight transparent indices (none when the frame has no transparent index).
        let clear8 = frame.transparent.map(|t| u64::from_ne_bytes([t; 8]));
        let draw = |target: &mut [u8]| {
            for y in top..y1 {
                let row = &indices[(y - top) * fw..(y - top) * fw + (x1 - left)];
                let dst = target[(y * w + left) * 4..(y * w + x1) * 4]
                    .as_chunks_mut::<4>()
                    .0;
                // Eight pixels at a time; eight of the transparent index leave the canvas.
                let (row8, row_rest) = row.as_chunks::<8>();
                let (dst8, dst_rest) = dst.as_chunks_mut::<8>();
                for (i8, px8) in row8.iter().zip(dst8) {
                    if clear8 == Some(u64::from_ne_bytes(*i8)) {
                        continue;
                    }
                    for (&i, px) in i8.iter().zip(px8) {
                        put(i, px);
                    }
                }
                for (&i, px) in row_rest.iter().zip(dst_rest) {
                    put(i, px);
                }
            }
        };
        // A frame that stays on the canvas is drawn there once, and shown from it.
        let stays = matches!(
            dispose,
            ::gif::DisposalMethod::Any | ::gif::DisposalMethod::Keep
        );
        if stays && left < x1 {
            draw(&mut canvas);
        }
        if pick.keeps(idx) {
            let mut shown = canvas.clone();
            if !stays && left < x1 {
                draw(&mut shown);
            }
            out.push(Frame {
                bitmap: Bitmap {
                    width: w as u32,
                    height: h as u32,
                    layout: Layout::Rgba,
                    data: shown,
                },
                delay_ms,
            });
        } else if let Some(last) = out.last_mut() {
            last.delay_ms += delay_ms;
        }
        if left < x1 && dispose == ::gif::DisposalMethod::Background {
            for y in top..y1 {
                canvas[(y * w + left) * 4..(y * w + x1) * 4].fill(0);
            }
        }
        spare = frame.indices;
    }
    if out.is_empty() {
        return Err(Error::decode(ImageFormat::Gif, "no frames"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::AnimationDecoder;

    /// The `image` crate's composition of every frame, with delays in milliseconds.
    fn reference(data: &[u8]) -> Result<Vec<(Vec<u8>, u32)>, image::ImageError> {
        let d = image::codecs::gif::GifDecoder::new(std::io::Cursor::new(data))?;
        d.into_frames()
            .map(|f| {
                f.map(|f| {
                    let (n, d) = f.delay().numer_denom_ms();
                    (f.into_buffer().into_raw(), n / d.max(1))
                })
            })
            .collect()
    }

    fn ours(data: &[u8], pick: FramePick) -> Result<Vec<(Vec<u8>, u32)>, Error> {
        Ok(frames(data, 10_000, pick, &crate::Stop::never())?
            .into_iter()
            .map(|f| (f.bitmap.data, f.delay_ms))
            .collect())
    }

    /// A GIF of random frames: rectangles that may reach past the screen, local or global
    /// palettes of random sizes, transparent indices (some past the palette) and runs of
    /// them, every disposal method, interlacing.
    fn random_gif(seed: u64) -> Vec<u8> {
        let mut next = super::super::test_random(seed);
        let (w, h) = (3 + next(30) as u16, 3 + next(20) as u16);
        let global: Vec<u8> = (0..3 * (2 + next(60))).map(|_| next(256) as u8).collect();
        let mut out = Vec::new();
        {
            let mut enc = ::gif::Encoder::new(&mut out, w, h, &global).unwrap();
            for _ in 0..1 + next(7) {
                let (fw, fh) = (
                    1 + next(u64::from(w) + 4) as u16,
                    1 + next(u64::from(h) + 4) as u16,
                );
                let local = (next(3) == 0).then(|| {
                    (0..3 * (2 + next(200)))
                        .map(|_| next(256) as u8)
                        .collect::<Vec<u8>>()
                });
                let colours = local.as_ref().map_or(global.len(), Vec::len) / 3;
                let mut buffer: Vec<u8> = (0..usize::from(fw) * usize::from(fh))
                    .map(|_| next(colours as u64 + 2) as u8)
                    .collect();
                let transparent = (next(3) != 0).then(|| next(colours as u64 + 3) as u8);
                // Runs of one index (the transparent one, when there is one), as animations
                // have, from 1 to 40 pixels long.
                if next(2) == 0 {
                    let fill = transparent.unwrap_or(next(colours as u64) as u8);
                    let mut at = next(buffer.len() as u64) as usize;
                    while at < buffer.len() {
                        let run = (1 + next(40) as usize).min(buffer.len() - at);
                        buffer[at..at + run].fill(fill);
                        at += run + next(30) as usize;
                    }
                }
                let frame = ::gif::Frame {
                    left: next(u64::from(w)) as u16,
                    top: next(u64::from(h)) as u16,
                    width: fw,
                    height: fh,
                    delay: next(50) as u16,
                    dispose: [
                        ::gif::DisposalMethod::Any,
                        ::gif::DisposalMethod::Keep,
                        ::gif::DisposalMethod::Background,
                        ::gif::DisposalMethod::Previous,
                    ][next(4) as usize],
                    transparent,
                    interlaced: next(4) == 0,
                    palette: local,
                    buffer: std::borrow::Cow::Owned(buffer),
                    ..Default::default()
                };
                enc.write_frame(&frame).unwrap();
            }
        }
        out
    }

    #[test]
    fn frames_read_on_two_threads_equal_those_read_in_order() {
        // Random animations, whole, cut short and with bytes changed, every way of picking
        // frames and a frame limit: the same frames, or the same error, both ways.
        let run = |data: &[u8], max: usize, pick: FramePick, split: usize| {
            frames_split_from(data, max, pick, &crate::Stop::never(), split)
                .map(|f| {
                    f.into_iter()
                        .map(|f| (f.bitmap.data, f.delay_ms))
                        .collect::<Vec<_>>()
                })
                .map_err(|e| e.to_string())
        };
        let mut split_ok = 0;
        for seed in 1..300 {
            let gif = random_gif(seed);
            let mut variants = vec![gif.clone(), gif[..gif.len() * 2 / 3].to_vec()];
            let mut changed = gif.clone();
            let at = (seed as usize * 7919) % changed.len();
            changed[at] ^= 0x5A;
            variants.push(changed);
            for data in &variants {
                let frames = super::super::read_header(data, 1000).map_or(0, |h| h.frames as usize);
                for (max, pick) in [
                    (1000, FramePick::All),
                    (3, FramePick::All),
                    (1000, FramePick::First(2)),
                    (1000, FramePick::cgif(2, frames.max(1))),
                ] {
                    let in_order = run(data, max, pick, usize::MAX);
                    let split = run(data, max, pick, 0);
                    assert_eq!(in_order, split, "seed {seed}");
                    split_ok += usize::from(split.is_ok());
                }
            }
        }
        assert!(split_ok > 100, "{split_ok} split decodes compared");
    }

    #[test]
    fn composition_equals_the_image_crates_on_random_animations() {
        let interlaced = |gif: &[u8]| {
            let mut reader = options().read_info(gif).unwrap();
            std::iter::from_fn(|| {
                reader
                    .read_next_frame()
                    .ok()
                    .flatten()
                    .map(|f| f.interlaced)
            })
            .any(|i| i)
        };
        let (mut compared, mut read_whole) = (0, 0);
        for seed in 1..400 {
            let gif = random_gif(seed);
            let want = match reference(&gif) {
                Ok(want) => want,
                // The `gif` crate reads an interlaced frame row by row, and `weezl` can return
                // no pixels for a short row whose pixels the stream holds ("image
                // truncated"); mogr decompresses whole frames, so such a file reads here.
                Err(e) if e.to_string().contains("image truncated") && interlaced(&gif) => {
                    if ours(&gif, FramePick::All).is_ok() {
                        read_whole += 1;
                    }
                    continue;
                }
                Err(e) => {
                    assert!(ours(&gif, FramePick::All).is_err(), "seed {seed}: {e}");
                    continue;
                }
            };
            compared += 1;
            assert_eq!(ours(&gif, FramePick::All).unwrap(), want, "seed {seed}");
            // Picked frames are those frames, with the dropped frames' delays added.
            let n = want.len();
            let pick = FramePick::cgif(2, n);
            let picked = ours(&gif, pick).unwrap();
            let mut expect: Vec<(Vec<u8>, u32)> = Vec::new();
            for (i, (px, d)) in want.into_iter().enumerate() {
                if pick.keeps(i) {
                    expect.push((px, d));
                } else if let Some(last) = expect.last_mut() {
                    last.1 += d;
                }
            }
            assert_eq!(picked, expect, "seed {seed}");
        }
        assert!(compared > 300, "{compared} animations compared");
        assert!(
            read_whole < 10,
            "{read_whole} animations the reference could not read"
        );
    }

    #[test]
    fn composition_equals_the_image_crates_on_the_repo_gifs() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut seen = 0;
        for dir in [
            "tests/images/gif",
            "tests/images/conformance",
            "../shared/corpus/gif",
        ] {
            let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
                continue;
            };
            for path in entries.flatten().map(|e| e.path()) {
                if path.extension().is_none_or(|e| e != "gif") {
                    continue;
                }
                let data = std::fs::read(&path).unwrap();
                let data = super::super::normalized(&data);
                let want = reference(&data).unwrap();
                assert_eq!(
                    ours(&data, FramePick::All).unwrap(),
                    want,
                    "{}",
                    path.display()
                );
                seen += 1;
            }
        }
        assert!(seen >= 5, "{seen} GIFs");
    }
}
