//! JPEG quality estimates against ImageMagick's `%Q` in `../shared/corpus/MANIFEST.tsv`.

use mogr_core::codecs::jpeg::{estimate, markers};
use std::path::PathBuf;

fn corpus() -> Option<PathBuf> {
    let dir = std::env::var_os("MOGR_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../../shared/corpus"
            ))
        });
    if dir.join("MANIFEST.tsv").exists() {
        Some(dir)
    } else {
        eprintln!(
            "notice: no corpus at {}, skipping corpus tests",
            dir.display()
        );
        None
    }
}

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
        let im = estimate::imagemagick(&header.qtables);
        assert_eq!(ours, im_q, "{file}: ours {ours}, ImageMagick {im_q}");
        if file.ends_with("pil-hopper_16bit_qtables.jpg") {
            // 16-bit tables at a low quality: ImageMagick's method finds no match and `%Q`
            // prints its default, 92; ours says the same.
            assert_eq!(im, None, "{file}");
            assert_eq!(im_q, 92);
        } else {
            assert_eq!(im, Some(im_q), "{file}: our ImageMagick port");
        }
        checked += 1;
    }
    assert!(checked >= 15, "only {checked} JPEGs checked");
}
