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

/// The composed frames of `data` that `pick` keeps, from at most `max_frames` frames (the
/// delays of dropped frames are added to the kept frame before them). `stop` is checked
/// before each frame.
pub(crate) fn frames(
    data: &[u8],
    max_frames: usize,
    pick: FramePick,
    stop: &crate::Stop,
) -> Result<Vec<Frame>, Error> {
    let mut options = ::gif::DecodeOptions::new();
    options.set_color_output(::gif::ColorOutput::Indexed);
    let mut reader = options.read_info(data).map_err(decode_error)?;
    let (w, h) = (usize::from(reader.width()), usize::from(reader.height()));
    let global: Option<Vec<u8>> = reader.global_palette().map(<[u8]>::to_vec);
    // The canvas as the next frame finds it (what the `image` crate calls the non-disposed
    // frame), RGBA.
    let mut canvas = vec![0u8; w * h * 4];
    let mut out: Vec<Frame> = Vec::with_capacity(pick.capacity());
    let mut indices = Vec::new();
    for idx in 0..max_frames {
        if pick.done(idx) {
            break;
        }
        stop.check()?;
        let Some(info) = reader.next_frame_info().map_err(decode_error)? else {
            break;
        };
        let (left, top) = (usize::from(info.left), usize::from(info.top));
        let (fw, fh) = (usize::from(info.width), usize::from(info.height));
        let dispose = info.dispose;
        let delay_ms = u32::from(info.delay) * 10;
        // Index -> RGBA; transparent for the transparent index and past the palette.
        let palette = info.palette.as_deref().or(global.as_deref()).unwrap_or(&[]);
        let mut lut = [[0u8; 4]; 256];
        for (i, c) in palette.chunks_exact(3).take(256).enumerate() {
            if info.transparent != Some(i as u8) {
                lut[i] = [c[0], c[1], c[2], 255];
            }
        }
        indices.resize(reader.buffer_size(), 0);
        reader
            .read_into_buffer(&mut indices)
            .map_err(decode_error)?;
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
