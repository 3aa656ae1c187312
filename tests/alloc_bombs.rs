//! Dimension and frame bombs are refused from their headers, before any large allocation:
//! measured with a counting global allocator (a bound on bytes, not on time).

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use common::*;

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to the system allocator unchanged; the counters only
// observe sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let now = CURRENT.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(now, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > layout.size() {
            let now = CURRENT.fetch_add(new_size - layout.size(), Ordering::Relaxed) + new_size
                - layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        } else {
            CURRENT.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The tests of this file take turns, whole: the counters are global, and a test building
/// its input while another measures would be counted in the other's peak (the work
/// measured runs on threads of its own too, so a per-thread count would miss it).
fn turn() -> std::sync::MutexGuard<'static, ()> {
    static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());
    TURN.lock().unwrap_or_else(|e| e.into_inner())
}

/// Peak bytes allocated while `f` runs, above what was allocated before (call under
/// [`turn`]).
fn peak_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let before = CURRENT.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let out = f();
    (out, PEAK.load(Ordering::Relaxed).saturating_sub(before))
}

fn at(data: &[u8], pattern: &[u8]) -> usize {
    data.windows(pattern.len())
        .position(|w| w == pattern)
        .unwrap()
}

/// The offset of the SOF marker, walking the top-level segments.
fn sof_offset(jpeg: &[u8]) -> usize {
    let mut pos = 2;
    loop {
        assert_eq!(jpeg[pos], 0xFF);
        if matches!(jpeg[pos + 1], 0xC0..=0xC2) {
            return pos;
        }
        pos += 2 + usize::from(u16::from_be_bytes([jpeg[pos + 2], jpeg[pos + 3]]));
    }
}

fn bombs() -> Vec<(&'static str, Vec<u8>)> {
    let mut out = Vec::new();
    // JPEG: SOF0 of 65,535 x 65,535.
    let mut jpeg = image("jpeg/pil-flower.jpg");
    let sof = sof_offset(&jpeg);
    jpeg[sof + 5..sof + 9].copy_from_slice(&[0xFF, 0xFF, 0xFF, 0xFF]);
    out.push(("jpeg 65535x65535", jpeg));
    // PNG: IHDR of 65,535 x 65,535.
    let mut png = image("png/mpl-Minduka_Present_Blue_Pack.png");
    png[16..24].copy_from_slice(&[0, 0, 0xFF, 0xFF, 0, 0, 0xFF, 0xFF]);
    out.push(("png 65535x65535", png));
    // GIF: screen and frame of 65,535 x 65,535.
    let mut gif = b"GIF89a\xff\xff\xff\xff\x80\x00\x00\x00\x00\x00\xff\xff\xff".to_vec();
    gif.extend_from_slice(&[0x2C, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0]);
    gif.extend_from_slice(&[2, 2, 0x4C, 0x01, 0, 0x3B]);
    out.push(("gif 65535x65535", gif));
    // GIF: 10,000 one-pixel frames.
    let mut many = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff".to_vec();
    for _ in 0..10_000 {
        many.extend_from_slice(&[0x21, 0xF9, 4, 0, 1, 0, 0, 0]);
        many.extend_from_slice(&[0x2C, 0, 0, 0, 0, 1, 0, 1, 0, 0]);
        many.extend_from_slice(&[2, 2, 0x4C, 0x01, 0]);
    }
    many.push(0x3B);
    out.push(("gif 10000 frames", many));
    // WebP (simple lossy): the VP8 frame header's 14-bit sides at their 16,383 maximum
    // (268 MP, over the 250 MP limit).
    let flower = image("webp/pil-flower.webp");
    let vp8_chunk = flower[at(&flower, b"VP8 ")..].to_vec();
    let riff = |chunks: &[u8]| {
        let mut w = b"RIFF\0\0\0\0WEBP".to_vec();
        w.extend_from_slice(chunks);
        let size = (w.len() - 8) as u32;
        w[4..8].copy_from_slice(&size.to_le_bytes());
        w
    };
    let mut webp = riff(&vp8_chunk);
    let start = at(&webp, &[0x9D, 0x01, 0x2A]) + 3;
    webp[start..start + 4].copy_from_slice(&[0xFF, 0x3F, 0xFF, 0x3F]);
    out.push(("webp 16383x16383", webp));
    // WebP (extended): a VP8X canvas of 65,535 x 65,535 before a small frame.
    let mut chunks = b"VP8X\x0a\0\0\0\0\0\0\0\xfe\xff\x00\xfe\xff\x00".to_vec();
    chunks.extend_from_slice(&vp8_chunk);
    out.push(("webp vp8x 65535x65535", riff(&chunks)));
    out
}

#[test]
fn bombs_are_refused_without_allocating_their_size() {
    let _turn = turn();
    for (name, bomb) in bombs() {
        for rule in ["imageMogr2/format/png", "imageSlim", "imageInfo"] {
            let (result, peak) = peak_during(|| mogr::process(&bomb, rule));
            match result {
                Err(mogr::Error::Limits { .. }) => {}
                Err(other) => panic!("{name} under {rule}: {other}"),
                Ok(out) => panic!("{name} under {rule}: decoded, {}x{}", out.width, out.height),
            }
            eprintln!("{name} under {rule}: refused, peak {peak} bytes");
            assert!(
                peak < 1 << 20,
                "{name} under {rule}: {peak} bytes allocated before the refusal"
            );
        }
    }
}

/// A 16x16 PNG whose iCCP chunk inflates to 200 MB.
fn icc_bomb() -> Vec<u8> {
    let chunk = |kind: &[u8; 4], body: &[u8]| {
        let mut c = (body.len() as u32).to_be_bytes().to_vec();
        c.extend_from_slice(kind);
        c.extend_from_slice(body);
        let mut crc_input = kind.to_vec();
        crc_input.extend_from_slice(body);
        c.extend_from_slice(&crc32(&crc_input).to_be_bytes());
        c
    };
    let zeros = vec![0u8; 200 << 20];
    let mut iccp = b"icc\0\0".to_vec();
    iccp.extend(miniz_oxide::deflate::compress_to_vec_zlib(&zeros, 9));
    drop(zeros);
    let rows: Vec<u8> = (0..16u8)
        .flat_map(|y| std::iter::once(0).chain((0..48).map(move |x| x ^ y)))
        .collect();
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(chunk(b"IHDR", &[0, 0, 0, 16, 0, 0, 0, 16, 8, 2, 0, 0, 0]));
    png.extend(chunk(b"iCCP", &iccp));
    png.extend(chunk(
        b"IDAT",
        &miniz_oxide::deflate::compress_to_vec_zlib(&rows, 6),
    ));
    png.extend(chunk(b"IEND", &[]));
    png
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn an_icc_deflate_bomb_is_not_inflated() {
    let _turn = turn();
    let bomb = icc_bomb();
    for rule in [
        "imageMogr2/format/jpg",
        "imageInfo",
        "imageMogr2/format/webp",
    ] {
        let (result, peak) = peak_during(|| mogr::process(&bomb, rule));
        let out = result.unwrap_or_else(|e| panic!("{rule}: {e}"));
        assert_eq!((out.width, out.height), (16, 16), "{rule}");
        eprintln!("iCCP bomb under {rule}: peak {peak} bytes");
        assert!(peak < 32 << 20, "{rule}: {peak} bytes allocated");
    }
}

#[test]
fn a_memory_budget_refuses_before_decoding() {
    let _turn = turn();
    let input = image("jpeg/jxl-flower_q85_420_progr.jpg");
    let processor = mogr::Processor::new().with_memory_budget(32 << 20);
    for rule in [
        "imageMogr2/format/avif",
        "imageMogr2/format/png",
        "imageSlim",
        "imageMogr2/format/yjpeg/quality/70",
    ] {
        let (result, peak) = peak_during(|| processor.process(&input, rule));
        match result {
            Err(mogr::Error::Limits {
                kind: mogr::LimitKind::Memory { found, limit },
                ..
            }) => assert!(found > limit && limit == 32 << 20, "{rule}: {found}"),
            Err(other) => panic!("{rule}: {other}"),
            Ok(_) => panic!("{rule}: ran within a 32 MB budget on a 3.4 MP image"),
        }
        eprintln!("3.4 MP JPEG under {rule} with a 32 MB budget: peak {peak} bytes");
        assert!(
            peak < 1 << 20,
            "{rule}: {peak} bytes allocated before the refusal"
        );
    }
}

#[test]
fn cgif_holds_only_the_frames_it_keeps() {
    let _turn = turn();
    let gif = animated_gif(); // 40 frames of 400 x 400
    let canvas = 400 * 400 * 4;
    let (all, peak_all) = peak_during(|| mogr::process(&gif, "imageMogr2/format/webp"));
    assert_eq!(all.unwrap().frames, 40);
    let (kept, peak_kept) = peak_during(|| mogr::process(&gif, "imageMogr2/cgif/5"));
    let kept = kept.unwrap();
    assert_eq!(kept.frames, 5);
    let (first, peak_first) = peak_during(|| mogr::process(&gif, "imageMogr2/format/png"));
    assert_eq!(first.unwrap().frames, 1);
    eprintln!(
        "40-frame GIF: every frame {peak_all} B, cgif/5 {peak_kept} B, to PNG {peak_first} B \
         (canvas {canvas} B)"
    );
    // Holding every composed frame is 40 canvases; cgif/5 holds its 5, the decoder's
    // canvas and the encoder's buffers (palette indices, frame differences); a still
    // output holds one.
    assert!(peak_all > 40 * canvas);
    assert!(peak_kept < 24 * canvas, "cgif/5: {peak_kept} bytes");
    assert!(peak_first < 6 * canvas, "to PNG: {peak_first} bytes");
}
