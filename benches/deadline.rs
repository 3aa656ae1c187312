//! How far past its deadline each kind of work runs: the overrun table of benches/README.md.
//!
//!     cargo bench --bench deadline
//!
//! Each operation runs once to its end (its whole time), then again with a deadline of a
//! quarter of that; the table gives the second run's time and how far it went past the
//! deadline. Work in mogr's own loops stops at the next frame or encode; a single call into
//! a codec library without a way to stop (libwebp's animation encoder, libheif, the JPEG
//! encoders) runs to its end.

use std::time::{Duration, Instant};

use mogr::{Processor, StopReason};
use mogr_core::{Bitmap, Frame, Layout, Raster};

fn noise(w: u32, h: u32, seed: u32) -> Bitmap {
    Bitmap {
        width: w,
        height: h,
        layout: Layout::Rgb,
        data: (0..w * h)
            .flat_map(|i| {
                let v = i
                    .wrapping_mul(2_654_435_761)
                    .wrapping_add(seed.wrapping_mul(7919))
                    >> 8;
                let smooth = ((i % w) / 4 + (i / w) / 4) as u8;
                [
                    smooth.wrapping_add(v as u8 & 15),
                    smooth,
                    (v >> 16) as u8 & 63,
                ]
            })
            .collect(),
    }
}

fn animation(frames: u32, w: u32, h: u32) -> Vec<u8> {
    let frames = (0..frames)
        .map(|k| Frame {
            bitmap: noise(w, h, k),
            delay_ms: 40,
        })
        .collect();
    let raster = Raster {
        frames,
        loop_count: Some(0),
        icc: None,
    };
    mogr_core::internals::gif::encode(&raster).unwrap()
}

fn still(format: mogr::ImageFormat, w: u32, h: u32) -> Vec<u8> {
    let settings = mogr_core::EncodeSettings::default().with_quality(90);
    let raster = Raster::still(noise(w, h, 1), None);
    mogr_core::encode(&raster, format, settings, &mogr::Stop::never()).unwrap()
}

fn main() {
    let gif = animation(300, 200, 150);
    let png = still(mogr::ImageFormat::Png, 3000, 2000);
    let jpeg = still(mogr::ImageFormat::Jpeg, 6000, 4000);
    let mut cases: Vec<(&str, &[u8], &str)> = vec![
        ("300-frame GIF, cgif/100", &gif, "imageMogr2/cgif/100"),
        ("300-frame GIF, imageSlim", &gif, "imageSlim"),
        (
            "300-frame GIF to WebP",
            &gif,
            "imageMogr2/format/webp/quality/75",
        ),
        ("6 MP PNG, imageSlim", &png, "imageSlim"),
        ("24 MP JPEG, quality/60!", &jpeg, "imageMogr2/quality/60!"),
        (
            "24 MP JPEG to WebP",
            &jpeg,
            "imageMogr2/format/webp/quality/75",
        ),
    ];
    if mogr::ImageFormat::Heif.can_encode() {
        cases.push((
            "24 MP JPEG to HEIF",
            &jpeg,
            "imageMogr2/format/heif/quality/50",
        ));
    }
    println!("| operation | whole run | deadline | stopped after | overrun |");
    println!("| --- | ---: | ---: | ---: | ---: |");
    for (name, input, rule) in cases {
        let start = Instant::now();
        Processor::new().process(input, rule).unwrap();
        let whole = start.elapsed();
        let deadline = whole / 4;
        let start = Instant::now();
        let result = Processor::new()
            .with_deadline(deadline)
            .process(input, rule);
        let took = start.elapsed();
        let stopped = matches!(
            result,
            Err(mogr::Error::Stopped {
                reason: StopReason::DeadlinePassed
            })
        );
        let ms = |d: Duration| format!("{} ms", d.as_millis());
        println!(
            "| {name} | {} | {} | {}{} | {} |",
            ms(whole),
            ms(deadline),
            ms(took),
            if stopped { "" } else { " (finished)" },
            ms(took.saturating_sub(deadline))
        );
    }
}
