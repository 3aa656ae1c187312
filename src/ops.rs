//! Persistent processing: the service's `Pic-Operations` header, several results from one
//! upload, and the `UploadResult` document that reports them.
//!
//! ```
//! use mogr::ops::{PicOperations, Styles};
//!
//! let ops = PicOperations::parse(
//!     r#"{"is_pic_info":1,"rules":[{"bucket":"b-1250000000","fileid":"small/%E5%9B%BE.webp","rule":"imageMogr2/format/webp"}]}"#,
//! )?;
//! assert_eq!(ops.rules.len(), 1);
//! // Relative to the folder of the object key, URL-decoded.
//! assert_eq!(mogr::ops::resolve_fileid("photos/a.jpg", &ops.rules[0].fileid)?, "photos/small/图.webp");
//! assert!(mogr::ops::resolve_fileid("photos/a.jpg", "../../etc/passwd").is_err());
//! let styles = Styles::new().with("thumb", "imageMogr2/quality/60");
//! assert_eq!(styles.get("thumb"), Some("imageMogr2/quality/60"));
//! # Ok::<(), mogr::ops::OpsError>(())
//! ```

use std::collections::HashMap;

use mogr_core::DecodeCache;
use sha1::{Digest, Sha1};

use crate::{ImageFormat, ImageInfo, Processor, ServiceCode, XmlWriter};
use mogr_parse::Printable;

/// At most this many rules in one `Pic-Operations` header (the service's limit).
pub const MAX_RULES: usize = 5;

/// A parsed `Pic-Operations` header.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PicOperations {
    /// `is_pic_info`: whether the result reports the original's [`ImageInfo`].
    pub is_pic_info: bool,
    /// The rules, one result each (at most [`MAX_RULES`]).
    pub rules: Vec<PicRule>,
}

/// One rule of a `Pic-Operations` header.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PicRule {
    /// The destination bucket (`BucketName-APPID`), when given.
    pub bucket: Option<String>,
    /// Where the result goes, URL-encoded, absolute with a leading `/` or relative to the
    /// object key's folder.
    pub fileid: String,
    /// The processing rule, or `style/<name>`.
    pub rule: String,
}

/// What is wrong with a `Pic-Operations` header or one of its rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OpsError {
    /// Not JSON, or not the expected shape.
    #[error("Pic-Operations is not valid: {0}")]
    Json(String),
    /// More rules than the service takes.
    #[error("Pic-Operations has {0} rules; at most 5 are allowed")]
    TooManyRules(usize),
    /// A rule lacks a field, or has it with the wrong type.
    #[error("rule {index}: `{field}` is missing or not a string")]
    Field {
        /// The rule's position, from 0.
        index: usize,
        /// The field.
        field: &'static str,
    },
    /// `is_pic_info` is neither 0 nor 1.
    #[error("is_pic_info must be 0 or 1")]
    IsPicInfo,
    /// An empty `fileid`.
    #[error("rule {index}: fileid is empty")]
    EmptyFileId {
        /// The rule's position, from 0.
        index: usize,
    },
    /// A `fileid` ending with `/`, which names no file.
    #[error("rule {index}: fileid `{}` ends with `/`, which leaves an empty file name", Printable(.fileid))]
    TrailingSlash {
        /// The rule's position, from 0.
        index: usize,
        /// The fileid as given.
        fileid: String,
    },
    /// A `fileid` that is not valid percent-encoded UTF-8.
    #[error("fileid `{}` is not valid URL encoding", Printable(.0))]
    Encoding(String),
    /// A `fileid` that would leave the bucket's root (`..` segments, encoded or not).
    #[error("fileid `{}` leaves the bucket's root", Printable(.0))]
    Escapes(String),
    /// `style/<name>` with no such style.
    #[error("no style named `{}`", Printable(.0))]
    UnknownStyle(String),
}

impl PicOperations {
    /// Parses the header's JSON.
    pub fn parse(json: &str) -> Result<PicOperations, OpsError> {
        let v: serde_json::Value =
            serde_json::from_str(json).map_err(|e| OpsError::Json(e.to_string()))?;
        let obj = v
            .as_object()
            .ok_or_else(|| OpsError::Json("expected a JSON object".into()))?;
        let is_pic_info = match obj.get("is_pic_info") {
            None | Some(serde_json::Value::Null) => false,
            Some(x) => match x
                .as_u64()
                .or_else(|| x.as_str().and_then(|s| s.parse().ok()))
            {
                Some(0) => false,
                Some(1) => true,
                _ => return Err(OpsError::IsPicInfo),
            },
        };
        let rules = match obj.get("rules") {
            None | Some(serde_json::Value::Null) => Vec::new(),
            Some(serde_json::Value::Array(a)) => a.clone(),
            Some(_) => return Err(OpsError::Json("`rules` must be an array".into())),
        };
        if rules.len() > MAX_RULES {
            return Err(OpsError::TooManyRules(rules.len()));
        }
        let rules = rules
            .iter()
            .enumerate()
            .map(|(index, r)| {
                let field = |field: &'static str| {
                    r.get(field)
                        .and_then(|f| f.as_str())
                        .map(str::to_owned)
                        .ok_or(OpsError::Field { index, field })
                };
                let fileid = field("fileid")?;
                if fileid.is_empty() {
                    return Err(OpsError::EmptyFileId { index });
                }
                let decoded = percent_decode(&fileid)?;
                if decoded.ends_with('/') {
                    return Err(OpsError::TrailingSlash { index, fileid });
                }
                Ok(PicRule {
                    bucket: r.get("bucket").and_then(|b| b.as_str()).map(str::to_owned),
                    fileid,
                    rule: field("rule")?,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(PicOperations { is_pic_info, rules })
    }
}

/// Named rules for `style/<name>`, as a bucket's styles.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Styles(HashMap<String, String>);

impl Styles {
    /// No styles.
    pub fn new() -> Styles {
        Styles::default()
    }

    /// These styles and one more.
    #[must_use]
    pub fn with(mut self, name: &str, rule: &str) -> Styles {
        self.0.insert(name.to_owned(), rule.to_owned());
        self
    }

    /// The rule of a style.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// `rule` itself, or the rule of the style it names (`style/<name>`).
    pub fn expand<'a>(&'a self, rule: &'a str) -> Result<&'a str, OpsError> {
        match rule.strip_prefix("style/") {
            Some(name) => self
                .get(name)
                .ok_or_else(|| OpsError::UnknownStyle(name.to_owned())),
            None => Ok(rule),
        }
    }
}

fn percent_decode(s: &str) -> Result<String, OpsError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| OpsError::Encoding(s.to_owned()))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| OpsError::Encoding(s.to_owned()))
}

/// Where a rule's result goes: `fileid` URL-decoded, absolute when it starts with `/`, else
/// relative to the folder of `object_key`; `.` and empty segments dropped, `..` going up a
/// folder. Refused when it would leave the bucket's root, holds a backslash or a NUL, or
/// names no file.
pub fn resolve_fileid(object_key: &str, fileid: &str) -> Result<String, OpsError> {
    let decoded = percent_decode(fileid)?;
    let escapes = || OpsError::Escapes(fileid.to_owned());
    if decoded.contains(['\\', '\0']) {
        return Err(escapes());
    }
    let joined = match decoded.strip_prefix('/') {
        Some(absolute) => absolute.to_owned(),
        None => {
            let key = object_key.trim_start_matches('/');
            let folder = key.rfind('/').map_or("", |i| &key[..=i]);
            format!("{folder}{decoded}")
        }
    };
    let mut parts: Vec<&str> = Vec::new();
    for seg in joined.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop().ok_or_else(escapes)?;
            }
            s => parts.push(s),
        }
    }
    if parts.is_empty() || decoded.ends_with('/') {
        return Err(OpsError::EmptyFileId { index: 0 });
    }
    Ok(parts.join("/"))
}

/// The `UploadResult` of one upload.
#[derive(Debug)]
#[non_exhaustive]
pub struct UploadResult {
    /// The original image.
    pub original: OriginalInfo,
    /// One result per rule, in order.
    pub results: Vec<ProcessResult>,
}

/// `OriginalInfo`: the uploaded object.
#[derive(Debug)]
#[non_exhaustive]
pub struct OriginalInfo {
    /// The object key.
    pub key: String,
    /// `<bucket>/<key>` (the first rule's bucket), or the key.
    pub location: String,
    /// Its image information, when `is_pic_info` is 1 (`None` also when it is not an image).
    pub image_info: Option<ImageInfo>,
    /// The quoted hex SHA-1 of its bytes.
    pub etag: String,
}

/// One `ProcessResults.Object`.
#[derive(Debug)]
#[non_exhaustive]
pub enum ProcessResult {
    /// The rule produced an image.
    Done(ProcessedObject),
    /// The rule failed; the other rules' results are kept.
    Failed {
        /// The resolved key (or the fileid as given when it could not be resolved).
        key: String,
        /// The service's code (from [`crate::Error::kind`] for processing errors).
        code: ServiceCode,
        /// The error's message.
        message: String,
    },
}

/// A processed image and its facts.
#[derive(Debug)]
#[non_exhaustive]
pub struct ProcessedObject {
    /// The resolved key.
    pub key: String,
    /// `<bucket>/<key>`, or the key.
    pub location: String,
    /// The output format.
    pub format: ImageFormat,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Size in bytes.
    pub size: u64,
    /// Estimated quality, where the format has one.
    pub quality: Option<u8>,
    /// Frames.
    pub frame_count: u32,
    /// Hex MD5 of the bytes.
    pub md5: String,
    /// The quoted hex SHA-1 of the bytes.
    pub etag: String,
    /// The image.
    pub bytes: Vec<u8>,
}

impl UploadResult {
    /// Whether every rule succeeded.
    pub fn all_succeeded(&self) -> bool {
        self.results
            .iter()
            .all(|r| matches!(r, ProcessResult::Done(_)))
    }

    /// The service's `UploadResult` XML document.
    pub fn to_xml(&self) -> String {
        let mut w = XmlWriter::new();
        w.open("UploadResult")
            .open("OriginalInfo")
            .element("Key", &self.original.key)
            .element("Location", &self.original.location)
            .element("ETag", &self.original.etag);
        if let Some(info) = &self.original.image_info {
            info.write_xml(&mut w);
        }
        w.close("OriginalInfo").open("ProcessResults");
        for r in &self.results {
            w.open("Object");
            match r {
                ProcessResult::Done(o) => {
                    let quality = o.quality.map(|q| q.to_string()).unwrap_or_default();
                    w.element("Key", &o.key)
                        .element("Location", &o.location)
                        .element("Format", o.format.name())
                        .element("Width", &o.width.to_string())
                        .element("Height", &o.height.to_string())
                        .element("Size", &o.size.to_string())
                        .element("Quality", &quality)
                        .element("ETag", &o.etag)
                        .element("FrameCount", &o.frame_count.to_string())
                        .element("Md5", &o.md5);
                }
                ProcessResult::Failed { key, code, message } => {
                    w.element("Key", key)
                        .element("Code", code.as_str())
                        .element("Message", message);
                }
            }
            w.close("Object");
        }
        w.close("ProcessResults").close("UploadResult");
        w.finish()
    }
}

/// The quoted hex SHA-1, as the service's ETag.
pub fn etag(bytes: &[u8]) -> String {
    format!("\"{}\"", hex(&Sha1::digest(bytes)))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn location(bucket: Option<&str>, key: &str) -> String {
    match bucket {
        Some(b) if !b.is_empty() => format!("{b}/{key}"),
        _ => key.to_owned(),
    }
}

impl Processor {
    /// Persistent processing: applies each rule of `ops` to `input` (the object at
    /// `object_key`), decoding the input once for all of them, and reports the results as
    /// the service's `UploadResult`. A failing rule gives a `Failed` object; the others are
    /// kept.
    pub fn process_operations(
        &self,
        object_key: &str,
        input: &[u8],
        ops: &PicOperations,
        styles: &Styles,
    ) -> UploadResult {
        let first_bucket = ops.rules.first().and_then(|r| r.bucket.as_deref());
        let key = object_key.trim_start_matches('/').to_owned();
        let original = OriginalInfo {
            location: location(first_bucket, &key),
            key,
            image_info: ops.is_pic_info.then(|| self.info(input).ok()).flatten(),
            etag: etag(input),
        };
        let cache = DecodeCache::new();
        let results = ops
            .rules
            .iter()
            .map(|r| {
                let key = match resolve_fileid(object_key, &r.fileid) {
                    Ok(k) => k,
                    Err(e) => {
                        return ProcessResult::Failed {
                            key: r.fileid.clone(),
                            code: ServiceCode::InvalidArgument,
                            message: e.to_string(),
                        }
                    }
                };
                let fail = |code, message| ProcessResult::Failed {
                    key: key.clone(),
                    code,
                    message,
                };
                let rule = match styles.expand(&r.rule) {
                    Ok(rule) => rule,
                    Err(e) => return fail(ServiceCode::InvalidArgument, e.to_string()),
                };
                match self.process_cached(input, rule, &cache) {
                    Ok(out) => ProcessResult::Done(ProcessedObject {
                        location: location(r.bucket.as_deref(), &key),
                        key,
                        format: out.format,
                        width: out.width,
                        height: out.height,
                        size: out.bytes.len() as u64,
                        quality: out.quality,
                        frame_count: out.frames,
                        md5: hex(&md5_digest(&out.bytes)),
                        etag: etag(&out.bytes),
                        bytes: out.bytes.into_owned(),
                    }),
                    Err(e) => fail(e.kind().service_code(), e.to_string()),
                }
            })
            .collect();
        UploadResult { original, results }
    }
}

fn md5_digest(bytes: &[u8]) -> Vec<u8> {
    use md5::Digest as _;
    md5::Md5::digest(bytes).to_vec()
}

/// [`Processor::process_operations`] with the default processor.
pub fn process_operations(
    object_key: &str,
    input: &[u8],
    ops: &PicOperations,
    styles: &Styles,
) -> UploadResult {
    Processor::default().process_operations(object_key, input, ops, styles)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fileids_resolve_as_the_service_does() {
        let r = |k, f| resolve_fileid(k, f);
        assert_eq!(r("a/b/c.jpg", "d.png").unwrap(), "a/b/d.png");
        assert_eq!(r("a/b/c.jpg", "p2/d.png").unwrap(), "a/b/p2/d.png");
        assert_eq!(r("a/b/c.jpg", "/p2/d.png").unwrap(), "p2/d.png");
        assert_eq!(r("c.jpg", "d%20e.png").unwrap(), "d e.png");
        assert_eq!(r("a/b/c.jpg", "../d.png").unwrap(), "a/d.png");
        assert_eq!(r("a/c.jpg", "./x/./d.png").unwrap(), "a/x/d.png");
        for bad in [
            "../d.png",
            "%2e%2e/d.png",
            "%2E%2E%2Fd.png",
            "/../d.png",
            "a/../../d.png",
            "a\\..\\d",
            "x%00.png",
        ] {
            assert!(r("c.jpg", bad).is_err(), "{bad}");
        }
        assert!(r("c.jpg", "%zz").is_err());
        assert!(r("c.jpg", "%2F").is_err());
    }

    #[test]
    fn headers_are_checked() {
        assert!(matches!(PicOperations::parse("{"), Err(OpsError::Json(_))));
        assert!(matches!(PicOperations::parse("[]"), Err(OpsError::Json(_))));
        let rule = r#"{"bucket":"b","fileid":"x.png","rule":"imageMogr2/format/png"}"#;
        let six = format!(r#"{{"rules":[{}]}}"#, [rule; 6].join(","));
        assert_eq!(PicOperations::parse(&six), Err(OpsError::TooManyRules(6)));
        let five = format!(r#"{{"is_pic_info":1,"rules":[{}]}}"#, [rule; 5].join(","));
        let ops = PicOperations::parse(&five).unwrap();
        assert!(ops.is_pic_info);
        assert_eq!(ops.rules.len(), 5);
        assert_eq!(ops.rules[0].bucket.as_deref(), Some("b"));
        assert_eq!(
            PicOperations::parse(r#"{"rules":[{"fileid":"","rule":"x"}]}"#),
            Err(OpsError::EmptyFileId { index: 0 })
        );
        assert!(matches!(
            PicOperations::parse(r#"{"rules":[{"fileid":"a/","rule":"x"}]}"#),
            Err(OpsError::TrailingSlash { index: 0, .. })
        ));
        assert!(matches!(
            PicOperations::parse(r#"{"rules":[{"fileid":"a%2F","rule":"x"}]}"#),
            Err(OpsError::TrailingSlash { .. })
        ));
        assert_eq!(
            PicOperations::parse(r#"{"rules":[{"fileid":"a"}]}"#),
            Err(OpsError::Field {
                index: 0,
                field: "rule"
            })
        );
        assert_eq!(
            PicOperations::parse(r#"{"is_pic_info":2}"#),
            Err(OpsError::IsPicInfo)
        );
        assert_eq!(PicOperations::parse("{}").unwrap().rules.len(), 0);
    }

    #[test]
    fn xml_escapes_text() {
        let mut w = XmlWriter::new();
        w.element("Key", "a&b<\"c\">\u{0}\u{1b}\t");
        assert_eq!(
            w.finish(),
            "<Key>a&amp;b&lt;&quot;c&quot;&gt;\u{FFFD}\u{FFFD}\t</Key>"
        );
        assert_eq!(etag(b"abc"), "\"a9993e364706816aba3e25717850c26c9cd0d89d\"");
    }
}
