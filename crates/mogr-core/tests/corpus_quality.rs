//! JPEG quality estimates against ImageMagick's `%Q` in `../shared/corpus/MANIFEST.tsv`.

mod common;

use common::corpus;
use mogr_core::internals::{estimate, markers};

#[test]
fn estimates_agree_with_imagemagick_on_the_corpus() {
    let Some(dir) = corpus() else { return };
    let manifest = std::fs::read_to_string(dir.join("MANIFEST.tsv")).unwrap();
    let mut checked = 0;
    for line in manifest.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        let (file, im_q) = (cols[0], cols[6]);
        let Ok(im_q) = im_q.parse::<u8>() else {
            continue;
        };
        let bytes = std::fs::read(dir.join(file)).unwrap();
        let Ok(header) = markers::read_header(&bytes) else {
            assert!(file.starts_with("corrupt/"), "{file} did not parse");
            continue;
        };
        let ours = estimate::estimate_quality(&header.qtables).unwrap();
        match estimate::imagemagick(&header.qtables) {
            // Wherever ImageMagick's method finds a match, ours is its `%Q`.
            Some(im) => {
                assert_eq!(im, im_q, "{file}: our ImageMagick port");
                assert_eq!(ours, im_q, "{file}: ours {ours}, ImageMagick {im_q}");
            }
            // Where it finds none, `%Q` prints its fallback 92; ours is a real estimate.
            None => {
                assert_eq!(im_q, 92, "{file}");
                assert_ne!(ours, 92, "{file}: the fallback instead of an estimate");
            }
        }
        checked += 1;
    }
    assert!(checked >= 15, "only {checked} JPEGs checked");
}
