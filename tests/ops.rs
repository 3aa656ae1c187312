//! Persistent processing (`Pic-Operations`) on real images, and `mogr ops`.
#![cfg(feature = "ops")]

mod common;

use common::*;
use mogr::ops::{ProcessResult, Styles};
use mogr::{ImageFormat, PicOperations};

fn ops(json: &str) -> PicOperations {
    PicOperations::parse(json).unwrap()
}

#[test]
fn several_results_from_one_upload() {
    let input = image("jpeg/pil-flower.jpg");
    let header = ops(r#"{"is_pic_info":1,"rules":[
        {"bucket":"b-125","fileid":"thumbs/flower.webp","rule":"imageMogr2/format/webp/quality/60"},
        {"bucket":"b-125","fileid":"/abs/flower.png","rule":"imageMogr2/format/png"},
        {"bucket":"b-125","fileid":"q40.jpg","rule":"style/small"},
        {"bucket":"b-125","fileid":"bad.jpg","rule":"imageMogr2/quality/200"},
        {"fileid":"slim.jpg","rule":"imageSlim"}
    ]}"#);
    let styles = Styles::new().with("small", "imageMogr2/quality/40");
    let result = mogr::process_operations("photos/flower.jpg", &input, &header, &styles);
    assert!(!result.all_succeeded());
    let info = result.original.image_info.as_ref().unwrap();
    assert_eq!(
        (info.width, info.height, info.format.name()),
        (480, 360, "jpg")
    );
    assert_eq!(result.original.location, "b-125/photos/flower.jpg");
    assert_eq!(result.original.etag, mogr::ops::etag(&input));
    assert_eq!(result.results.len(), 5);
    let done: Vec<_> = result
        .results
        .iter()
        .filter_map(|r| match r {
            ProcessResult::Done(o) => Some(o),
            _ => None,
        })
        .collect();
    assert_eq!(done.len(), 4);
    let keys: Vec<&str> = done.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "photos/thumbs/flower.webp",
            "abs/flower.png",
            "photos/q40.jpg",
            "photos/slim.jpg"
        ]
    );
    assert_eq!(done[0].location, "b-125/photos/thumbs/flower.webp");
    assert_eq!(done[3].location, "photos/slim.jpg", "no bucket: the key");
    for o in &done {
        // Every result is what it says it is.
        let probe = mogr_core::probe(&o.bytes, &mogr::Limits::none()).unwrap();
        assert_eq!(
            (probe.format, probe.width, probe.height),
            (o.format, o.width, o.height)
        );
        assert_eq!(o.size, o.bytes.len() as u64);
        assert_eq!(o.etag, mogr::ops::etag(&o.bytes));
        assert_eq!(o.md5, mogr::info(&o.bytes).unwrap().md5);
    }
    assert_eq!(done[0].format, ImageFormat::Webp);
    assert_eq!(done[1].format, ImageFormat::Png);
    assert_eq!(done[2].quality, Some(40));
    match &result.results[3] {
        ProcessResult::Failed { key, code, message } => {
            assert_eq!(
                (key.as_str(), code.as_str()),
                ("photos/bad.jpg", "InvalidArgument")
            );
            assert!(message.contains("quality"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    let xml = result.to_xml();
    for element in [
        "<UploadResult><OriginalInfo><Key>photos/flower.jpg</Key>",
        "<Location>b-125/photos/flower.jpg</Location><ETag>&quot;",
        "<ImageInfo><Format>jpg</Format><Width>480</Width>",
        "</OriginalInfo><ProcessResults><Object><Key>photos/thumbs/flower.webp</Key>",
        "<Format>webp</Format>",
        "<Code>InvalidArgument</Code><Message>",
        "</Object></ProcessResults></UploadResult>",
    ] {
        assert!(xml.contains(element), "{element} not in {xml}");
    }
}

#[test]
fn refused_fileids_fail_alone() {
    let input = image("png/mpl-Minduka_Present_Blue_Pack.png");
    let header = ops(r#"{"rules":[
        {"fileid":"%2e%2e/%2e%2e/escape.png","rule":"imageMogr2/format/png"},
        {"fileid":"ok.gif","rule":"imageMogr2/format/gif"},
        {"fileid":"nostyle.png","rule":"style/missing"}
    ]}"#);
    let result = mogr::process_operations("a/b.png", &input, &header, &Styles::new());
    assert!(result.original.image_info.is_none(), "is_pic_info 0");
    let codes: Vec<&str> = result
        .results
        .iter()
        .map(|r| match r {
            ProcessResult::Done(_) => "done",
            ProcessResult::Failed { code, .. } => code.as_str(),
            _ => "other",
        })
        .collect();
    assert_eq!(codes, ["InvalidArgument", "done", "InvalidArgument"]);
}

#[test]
fn the_corpus_through_one_header() {
    let Some(corpus) = corpus() else { return };
    let header = ops(r#"{"is_pic_info":1,"rules":[
        {"fileid":"a.jpg","rule":"imageMogr2/format/jpg/quality/70"},
        {"fileid":"a.webp","rule":"imageMogr2/format/webp"},
        {"fileid":"a.gif","rule":"imageMogr2/format/gif/cgif/5"}
    ]}"#);
    for sub in ["jpeg", "png", "gif", "webp"] {
        for path in files(&corpus, sub, &["jpg", "png", "gif", "webp"]) {
            let input = std::fs::read(&path).unwrap();
            let result = mogr::process_operations("x/in", &input, &header, &Styles::new());
            assert!(
                result.all_succeeded(),
                "{}: {}",
                path.display(),
                result.to_xml()
            );
            assert!(result.original.image_info.is_some());
        }
    }
}

#[test]
fn control_characters_in_keys_and_rules_keep_the_xml_well_formed() {
    let input = image("jpeg/pil-flower.jpg");
    // JSON escapes put control characters in a fileid, a rule and (through them) messages.
    let header = ops(r#"{"is_pic_info":1,"rules":[
        {"fileid":"out\u0001\u001b[31m.png","rule":"imageMogr2/format/png"},
        {"fileid":"bad\u0007.jpg","rule":"imageMogr2/qual\u0007ity/50"},
        {"fileid":"%01x%7F.jpg","rule":"imageMogr2/quality/50"}
    ]}"#);
    let result = mogr::process_operations("in\u{2}.jpg", &input, &header, &Styles::new());
    let xml = result.to_xml();
    let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{e}: {xml:?}"));
    let keys: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("Key"))
        .filter_map(|n| n.text())
        .collect();
    assert_eq!(keys.len(), 4, "{xml:?}");
    assert!(keys.iter().all(|k| !k.chars().any(|c| c < ' ')), "{keys:?}");
    let info = result.original.image_info.as_ref().unwrap().to_xml();
    roxmltree::Document::parse(&info).unwrap();
    // The failed rule's message shows the control character escaped, not raw.
    let message = result
        .results
        .iter()
        .find_map(|r| match r {
            ProcessResult::Failed { message, .. } => Some(message.clone()),
            _ => None,
        })
        .unwrap();
    assert!(message.contains("qual\\u{7}ity"), "{message:?}");
    assert!(!message.chars().any(|c| c.is_control()), "{message:?}");
}
