//! Property test of GIF animation encoding: whatever the transparent and opaque pixels do
//! from frame to frame, the changed-rectangle frames show exactly the frames given.

mod common;

use mogr_core::{Bitmap, Frame, Layout, Raster};
use proptest::prelude::*;

/// Transparent, then five opaque colours.
const COLOURS: [[u8; 4]; 6] = [
    [0, 0, 0, 0],
    [255, 0, 0, 255],
    [0, 160, 0, 255],
    [20, 20, 220, 255],
    [255, 255, 255, 255],
    [0, 0, 0, 255],
];

/// 1 to 6 frames of up to 9 x 7 pixels, each pixel one of [`COLOURS`], runs of a colour
/// more likely than noise (so frames repeat and rectangles stay small).
fn animation() -> impl Strategy<Value = (u32, u32, Vec<Vec<u8>>)> {
    (1u32..=9, 1u32..=7, 1usize..=6).prop_flat_map(|(w, h, n)| {
        let frame = prop_oneof![
            (0u8..6).prop_map(move |c| vec![c; (w * h) as usize]),
            proptest::collection::vec(prop_oneof![3 => Just(0u8), 1 => 1u8..6], (w * h) as usize),
        ];
        (Just(w), Just(h), proptest::collection::vec(frame, n))
    })
}

proptest! {
    #[test]
    fn every_frame_reads_back_as_given((w, h, frames) in animation()) {
        let raster = Raster {
            frames: frames
                .iter()
                .map(|f| Frame {
                    bitmap: Bitmap {
                        width: w,
                        height: h,
                        layout: Layout::Rgba,
                        data: f.iter().flat_map(|&c| COLOURS[usize::from(c)]).collect(),
                    },
                    delay_ms: 30,
                })
                .collect(),
            loop_count: Some(0),
            icc: None,
        };
        let gif = mogr_core::internals::gif::encode(&raster).unwrap();
        let back = common::decode_all(&gif);
        prop_assert_eq!(back.frames.len(), frames.len());
        for (k, (got, want)) in back.frames.iter().zip(&frames).enumerate() {
            let got = got.bitmap.to_rgba();
            for (i, (g, &c)) in got.chunks_exact(4).zip(want).enumerate() {
                let e = COLOURS[usize::from(c)];
                let ok = if e[3] == 0 { g[3] == 0 } else { g == e };
                prop_assert!(ok, "frame {} pixel {}: {:?} for {:?}", k, i, g, e);
            }
        }
    }
}
