//! Deadlines and cancellation: long work stops with a typed error.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use mogr::{Error, Processor};

#[test]
fn a_passed_deadline_stops_before_any_work() {
    let input = image("jpeg/pil-flower.jpg");
    let p = Processor::new().with_deadline(Duration::ZERO);
    for rule in [
        "imageMogr2/quality/50",
        "imageSlim",
        "imageMogr2/format/yjpeg",
        "imageInfo",
    ] {
        match p.process(&input, rule) {
            Err(Error::Stopped { reason }) => assert_eq!(reason, mogr::StopReason::DeadlinePassed),
            other => panic!("{rule}: {other:?}"),
        }
    }
    // Not something ignore-error turns into a success.
    assert!(matches!(
        p.process(&input, "imageMogr2/quality/50/ignore-error/1"),
        Err(Error::Stopped { .. })
    ));
}

#[test]
fn a_search_stops_within_its_deadline_and_on_a_flag() {
    let input = image("jpeg/jxl-flower_q85_420_progr.jpg"); // 3.4 MP: a search of several encodes
    let start = Instant::now();
    let full = Processor::new().process(&input, "imageSlim").unwrap();
    let whole = start.elapsed();
    assert_eq!(full.slim_flag, Some(mogr::SlimFlag::Compressed));

    let start = Instant::now();
    let stopped = Processor::new()
        .with_deadline(whole / 8)
        .process(&input, "imageSlim");
    assert!(
        matches!(
            stopped,
            Err(Error::Stopped {
                reason: mogr::StopReason::DeadlinePassed
            })
        ),
        "{stopped:?}"
    );
    assert!(
        start.elapsed() < whole,
        "stopped before the search would have ended"
    );

    let flag = Arc::new(AtomicBool::new(false));
    let raise = {
        let flag = flag.clone();
        std::thread::spawn(move || {
            std::thread::sleep(whole / 8);
            flag.store(true, Ordering::Relaxed);
        })
    };
    let cancelled = Processor::new()
        .with_cancel_flag(flag)
        .process(&input, "imageSlim");
    raise.join().unwrap();
    assert!(
        matches!(
            cancelled,
            Err(Error::Stopped {
                reason: mogr::StopReason::Cancelled
            })
        ),
        "{cancelled:?}"
    );
}

/// An animation large enough that decoding and writing its frames takes a while.
fn long_animation() -> Vec<u8> {
    let (w, h) = (320u32, 240u32);
    let frames = (0..90u32)
        .map(|k| mogr_core::Frame {
            bitmap: mogr_core::Bitmap {
                width: w,
                height: h,
                layout: mogr_core::Layout::Rgba,
                data: (0..w * h)
                    .flat_map(|i| {
                        let v = (i.wrapping_mul(2_654_435_761).wrapping_add(k * 7919)) >> 8;
                        [v as u8, (v >> 8) as u8, (v >> 16) as u8, 255]
                    })
                    .collect(),
            },
            delay_ms: 40,
        })
        .collect();
    gif_of(frames)
}

#[test]
fn a_deadline_stops_an_animation_between_frames() {
    let gif = long_animation();
    let rule = "imageMogr2/cgif/60";
    let start = Instant::now();
    let full = Processor::new().process(&gif, rule).unwrap();
    let whole = start.elapsed();
    assert_eq!(full.frames, 60);
    let deadline = whole / 4;
    let start = Instant::now();
    let stopped = Processor::new().with_deadline(deadline).process(&gif, rule);
    let took = start.elapsed();
    assert!(matches!(stopped, Err(Error::Stopped { .. })), "{stopped:?}");
    // Within the deadline plus one frame's work: far less than the whole run.
    assert!(
        took < deadline + (whole - deadline) / 2,
        "took {took:?} with a deadline of {deadline:?} (whole run {whole:?})"
    );
}
