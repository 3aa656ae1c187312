//! GIF frames composed on the logical screen, from the `gif` crate's palette indices.
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

/// The next frame of `reader`, `None` at the end.
fn read_frame<R: std::io::Read>(
    reader: &mut ::gif::Decoder<R>,
    mut indices: Vec<u8>,
) -> Result<Option<Decoded>, Error> {
    let Some(info) = reader.next_frame_info().map_err(decode_error)? else {
        return Ok(None);
    };
    let mut frame = Decoded {
        left: usize::from(info.left),
        top: usize::from(info.top),
        width: usize::from(info.width),
        height: usize::from(info.height),
        dispose: info.dispose,
        delay_ms: u32::from(info.delay) * 10,
        transparent: info.transparent,
        palette: info.palette.clone(),
        indices: Vec::new(),
    };
    indices.resize(reader.buffer_size(), 0);
    reader
        .read_into_buffer(&mut indices)
        .map_err(decode_error)?;
    frame.indices = indices;
    Ok(Some(frame))
}

fn options() -> ::gif::DecodeOptions {
    let mut options = ::gif::DecodeOptions::new();
    options.set_color_output(::gif::ColorOutput::Indexed);
    options
}

/// Where each frame's blocks (its extensions, descriptor, palette and data) lie in `data`,
/// and the length of the header before them; `None` unless the whole file walks cleanly
/// to its trailer (then a frame can be read alone, with the header in front of it).
fn frame_spans(data: &[u8]) -> Option<(usize, Vec<(usize, usize)>)> {
    let mut pos = 13 + super::table_len(*data.get(10)?);
    let header = pos;
    let mut spans = Vec::new();
    let mut start = pos;
    loop {
        match *data.get(pos)? {
            0x3B => return Some((header, spans)),
            0x21 => pos = super::skip_sub_blocks(data, pos + 2).ok()?,
            0x2C => {
                pos += 10 + super::table_len(*data.get(pos + 9)?);
                pos = super::skip_sub_blocks(data, pos + 1).ok()?;
                spans.push((start, pos));
                start = pos;
            }
            _ => return None,
        }
    }
}

/// Frames of at least this many canvas pixels are read on two threads (`frames`).
const SPLIT_PIXELS: usize = 1 << 15;

/// The composed frames of `data` that `pick` keeps, from at most `max_frames` frames (the
/// delays of dropped frames are added to the kept frame before them). `stop` is checked
/// before each frame.
///
/// A file whose blocks walk cleanly to the trailer has its frames decompressed on two
/// threads: the odd ones by a second thread, each from the header and that frame's blocks
/// alone (a frame's decoding depends on nothing else), one or two frames ahead, while this
/// one decompresses the even ones and composes them all in order. Each frame is decoded by
/// the same code either way, so the output and the errors are the same.
pub(crate) fn frames(
    data: &[u8],
    max_frames: usize,
    pick: FramePick,
    stop: &crate::Stop,
) -> Result<Vec<Frame>, Error> {
    frames_split_from(data, max_frames, pick, stop, SPLIT_PIXELS)
}

/// [`frames`], on two threads from `split_pixels` canvas pixels up.
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
    let split = frame_spans(data).filter(|(_, spans)| spans.len() >= 4 && w * h >= split_pixels);
    let Some((header, spans)) = split else {
        return compose(global, (w, h), max_frames, pick, stop, |_, buf| {
            read_frame(&mut reader, buf)
        });
    };
    // One frame read alone: the header, its blocks, the trailer.
    let alone = |k: usize, buf: Vec<u8>| -> Result<Option<Decoded>, Error> {
        let (from, to) = spans[k];
        let stream = std::io::Read::chain(
            std::io::Read::chain(&data[..header], &data[from..to]),
            &[0x3Bu8][..],
        );
        let mut one = options().read_info(stream).map_err(decode_error)?;
        read_frame(&mut one, buf)
    };
    let count = spans.len().min(max_frames);
    std::thread::scope(|s| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Result<Option<Decoded>, Error>>(1);
        s.spawn(move || {
            for k in (1..count).step_by(2) {
                if pick.done(k) {
                    break;
                }
                // Stopped: the frame it would have read is the error.
                let frame = stop.check().and_then(|()| alone(k, Vec::new()));
                let stopped = frame.is_err();
                if tx.send(frame).is_err() || stopped {
                    break;
                }
            }
        });
        compose(global, (w, h), count, pick, stop, |k, buf| {
            if k % 2 == 0 {
                alone(k, buf)
            } else {
                rx.recv().unwrap_or(Ok(None))
            }
        })
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
        let mut lut = [[0u8; 4]; 256];
        for (i, c) in palette.chunks_exact(3).take(256).enumerate() {
            if frame.transparent != Some(i as u8) {
                lut[i] = [c[0], c[1], c[2], 255];
            }
        }
        let indices = &frame.indices;
        // The rectangle cropped to the screen.
        let (x1, y1) = ((left + fw).min(w), (top + fh).min(h));
        let draw = |target: &mut [u8]| {
            for y in top..y1 {
                let row = &indices[(y - top) * fw..(y - top) * fw + (x1 - left)];
                let dst = &mut target[(y * w + left) * 4..(y * w + x1) * 4];
                for (&i, px) in row.iter().zip(dst.chunks_exact_mut(4)) {
                    let c = lut[usize::from(i)];
                    if c[3] != 0 {
                        px.copy_from_slice(&c);
                    }
                }
            }
        };
        if pick.keeps(idx) {
            let mut shown = canvas.clone();
            if left < x1 {
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
        if left < x1 {
            match dispose {
                ::gif::DisposalMethod::Any | ::gif::DisposalMethod::Keep => draw(&mut canvas),
                ::gif::DisposalMethod::Background => {
                    for y in top..y1 {
                        canvas[(y * w + left) * 4..(y * w + x1) * 4].fill(0);
                    }
                }
                ::gif::DisposalMethod::Previous => {}
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
    /// palettes of random sizes, transparent indices (some past the palette), every
    /// disposal method, interlacing.
    fn random_gif(seed: u64) -> Vec<u8> {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut next = |n: u64| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s % n
        };
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
                let buffer: Vec<u8> = (0..usize::from(fw) * usize::from(fh))
                    .map(|_| next(colours as u64 + 2) as u8)
                    .collect();
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
                    transparent: (next(3) != 0).then(|| next(colours as u64 + 3) as u8),
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
                let frames = frame_spans(data).map_or(0, |(_, s)| s.len());
                for (max, pick) in [
                    (1000, FramePick::All),
                    (3, FramePick::All),
                    (1000, FramePick::First(2)),
                    (1000, FramePick::cgif(2, frames.max(1))),
                ] {
                    let alone = run(data, max, pick, usize::MAX);
                    let split = run(data, max, pick, 0);
                    assert_eq!(alone, split, "seed {seed}");
                    split_ok += usize::from(frames >= 4 && split.is_ok());
                }
            }
        }
        assert!(split_ok > 100, "{split_ok} split decodes compared");
    }

    #[test]
    fn composition_equals_the_image_crates_on_random_animations() {
        let mut compared = 0;
        for seed in 1..400 {
            let gif = random_gif(seed);
            let Ok(want) = reference(&gif) else {
                assert!(ours(&gif, FramePick::All).is_err(), "seed {seed}");
                continue;
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
