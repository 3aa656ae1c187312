//! A JPEG marker reader: everything before the first scan, without touching scan data.

use crate::error::Error;
use crate::format::ImageFormat;

/// Natural (row-major) index of each coefficient in zigzag order.
pub(crate) const ZIGZAG: [usize; 64] = [
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20,
    13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59,
    52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
];

/// A quantization table in natural order.
pub type QuantTable = [u16; 64];

/// One component of the frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Component {
    /// Component identifier.
    pub id: u8,
    /// Horizontal sampling factor.
    pub h: u8,
    /// Vertical sampling factor.
    pub v: u8,
    /// Quantization table slot.
    pub tq: u8,
}

/// A metadata segment kept from the input, as raw bytes (marker and length included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment<'a> {
    /// The marker byte (0xE0..=0xEF for APPn, 0xFE for COM).
    pub marker: u8,
    /// The payload, without marker and length.
    pub payload: &'a [u8],
}

impl Segment<'_> {
    /// What this segment carries.
    pub fn kind(&self) -> SegmentKind {
        let p = self.payload;
        match self.marker {
            0xE1 if p.starts_with(b"Exif\0") => SegmentKind::Exif,
            0xE1 if p.starts_with(b"http://ns.adobe.com/") => SegmentKind::Xmp,
            0xE2 if p.starts_with(b"ICC_PROFILE\0") => SegmentKind::Icc,
            0xE2 if p.starts_with(b"MPF\0") => SegmentKind::Mpf,
            0xED if p.starts_with(b"Photoshop 3.0\0") => SegmentKind::Iptc,
            0xE0 if p.starts_with(b"JFIF\0") || p.starts_with(b"JFXX\0") => SegmentKind::Jfif,
            0xEE if p.starts_with(b"Adobe") => SegmentKind::Adobe,
            0xFE => SegmentKind::Comment,
            _ => SegmentKind::Other,
        }
    }
}

/// What a metadata segment carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SegmentKind {
    /// APP1 Exif.
    Exif,
    /// APP1 XMP (standard or extended).
    Xmp,
    /// APP2 ICC profile chunk.
    Icc,
    /// APP2 MPF index of a multi-picture file.
    Mpf,
    /// APP13 Photoshop/IPTC.
    Iptc,
    /// APP0 JFIF.
    Jfif,
    /// APP14 Adobe (colour transform).
    Adobe,
    /// COM.
    Comment,
    /// Anything else.
    Other,
}

/// JFIF pixel density.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Density {
    /// 0: aspect ratio only, 1: per inch, 2: per centimetre.
    pub unit: u8,
    /// Horizontal density.
    pub x: u16,
    /// Vertical density.
    pub y: u16,
}

/// Everything in a JPEG before its first scan.
#[derive(Debug, Clone)]
pub struct JpegHeader<'a> {
    /// Image width.
    pub width: u32,
    /// Image height.
    pub height: u32,
    /// The SOF marker (0xC0 baseline, 0xC1 extended, 0xC2 progressive, ...).
    pub sof: u8,
    /// Sample precision in bits.
    pub precision: u8,
    /// Frame components.
    pub components: Vec<Component>,
    /// Quantization tables by slot, natural order, as defined before the first scan.
    pub qtables: [Option<QuantTable>; 4],
    /// Metadata segments, in file order.
    pub segments: Vec<Segment<'a>>,
    /// The Adobe APP14 colour transform flag, when present.
    pub adobe_transform: Option<u8>,
    /// JFIF density, when present.
    pub density: Option<Density>,
}

impl JpegHeader<'_> {
    /// A lossless frame (SOF3, SOF7, SOF11, SOF15): no DCT, decoded at full size.
    pub(crate) fn is_lossless(&self) -> bool {
        matches!(self.sof, 0xC3 | 0xC7 | 0xCB | 0xCF)
    }

    /// An arithmetic-coded DCT frame (SOF9 sequential, SOF10 progressive): only mogr's own
    /// decoder reads it, at full size.
    pub(crate) fn is_arithmetic_dct(&self) -> bool {
        matches!(self.sof, 0xC9 | 0xCA)
    }

    /// Whether the frame is progressive (SOF2, SOF6, SOF10, SOF14).
    pub fn is_progressive(&self) -> bool {
        matches!(self.sof, 0xC2 | 0xC6 | 0xCA | 0xCE)
    }

    /// Whether chroma is subsampled 2x2 (4:2:0) relative to luma.
    pub fn is_420(&self) -> bool {
        self.components.len() == 3
            && self.components[0].h == 2
            && self.components[0].v == 2
            && self.components[1..].iter().all(|c| c.h == 1 && c.v == 1)
    }
}

fn bad(message: &str) -> Error {
    Error::decode(ImageFormat::Jpeg, message)
}

/// Marker codes by name (ITU-T T.81, table B.1), for the ones mogr reads or writes.
pub(crate) mod code {
    /// Baseline frame.
    pub(crate) const SOF0: u8 = 0xC0;
    /// Progressive frame (Huffman).
    pub(crate) const SOF2: u8 = 0xC2;
    /// Huffman tables.
    pub(crate) const DHT: u8 = 0xC4;
    /// Reserved for extensions (in the SOFn range, not a frame).
    pub(crate) const JPG: u8 = 0xC8;
    /// Arithmetic coding conditioning (in the SOFn range, not a frame).
    pub(crate) const DAC: u8 = 0xCC;
    /// Start of image.
    pub(crate) const SOI: u8 = 0xD8;
    /// End of image.
    pub(crate) const EOI: u8 = 0xD9;
    /// Start of scan.
    pub(crate) const SOS: u8 = 0xDA;
    /// Quantization tables.
    pub(crate) const DQT: u8 = 0xDB;
    /// Restart interval.
    pub(crate) const DRI: u8 = 0xDD;
    /// APP0 (JFIF).
    pub(crate) const APP0: u8 = 0xE0;
    /// APP1 (EXIF, XMP).
    pub(crate) const APP1: u8 = 0xE1;
    /// APP2 (ICC profile).
    pub(crate) const APP2: u8 = 0xE2;
    /// APP15, the last application segment.
    pub(crate) const APP15: u8 = 0xEF;
    /// Comment.
    pub(crate) const COM: u8 = 0xFE;

    /// Whether `m` starts a frame (SOF0..=SOF15, less DHT, JPG and DAC).
    pub(crate) fn is_frame(m: u8) -> bool {
        (SOF0..=0xCF).contains(&m) && !matches!(m, DHT | JPG | DAC)
    }

    /// Whether `m` is an application segment or a comment (what metadata lives in).
    pub(crate) fn is_app_or_com(m: u8) -> bool {
        (APP0..=APP15).contains(&m) || m == COM
    }
}

/// One marker of a JPEG's marker stream.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Marker<'a> {
    /// A segment with a length: its code, its payload, and the position after it.
    Segment {
        /// The marker code.
        code: u8,
        /// The payload, without marker and length.
        payload: &'a [u8],
        /// Where the search for the next marker starts.
        next: usize,
    },
    /// A marker that has no length (SOI, EOI).
    Bare {
        /// The marker code.
        code: u8,
        /// Where the data after the marker starts.
        next: usize,
    },
}

/// The one walk over a JPEG's markers: each marker after the SOI in order, as libjpeg finds
/// them (bytes that are not markers are skipped, then fill bytes; stuffed zeros, TEM and RSTn
/// are passed over). A segment whose length is below 2 or runs past the end of the data is an
/// error, after which the walk ends. A decoder that consumed entropy-coded data after an SOS
/// resumes the walk past it with [`Markers::resume_at`].
pub(crate) struct Markers<'a> {
    data: &'a [u8],
    pos: usize,
    done: bool,
}

impl<'a> Markers<'a> {
    /// The markers of `data` after its first two bytes (the SOI).
    pub(crate) fn after_soi(data: &'a [u8]) -> Markers<'a> {
        Markers {
            data,
            pos: 2,
            done: false,
        }
    }

    /// Continues the walk from `pos`.
    pub(crate) fn resume_at(&mut self, pos: usize) {
        self.pos = pos;
    }
}

impl<'a> Iterator for Markers<'a> {
    type Item = Result<Marker<'a>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let (data, mut pos) = (self.data, self.pos);
        let item = loop {
            // Entropy-coded data is skipped at memchr's speed: a scan is most of a file.
            pos = memchr::memchr(0xFF, data.get(pos..).unwrap_or_default())
                .map_or(data.len(), |at| pos + at);
            while pos < data.len() && data[pos] == 0xFF {
                pos += 1;
            }
            let Some(&code) = data.get(pos) else {
                self.done = true;
                return None;
            };
            pos += 1;
            match code {
                0x00 | 0x01 | 0xD0..=0xD7 => continue,
                code::SOI | code::EOI => break Ok(Marker::Bare { code, next: pos }),
                _ => {}
            }
            let Some(len_bytes) = data.get(pos..pos + 2) else {
                break Err(bad("truncated marker segment"));
            };
            let len = usize::from(u16::from_be_bytes([len_bytes[0], len_bytes[1]]));
            if len < 2 {
                break Err(bad("marker segment length below 2"));
            }
            let Some(payload) = data.get(pos + 2..pos + len) else {
                break Err(bad("marker segment runs past the end of the file"));
            };
            break Ok(Marker::Segment {
                code,
                payload,
                next: pos + len,
            });
        };
        match item {
            Ok(Marker::Segment { next, .. } | Marker::Bare { next, .. }) => self.pos = next,
            Err(_) => self.done = true,
        }
        Some(item)
    }
}

/// The scans (SOS markers) of a JPEG, counted up to `stop_after`, by walking its entropy-coded
/// data for markers without decoding it. A truncated or malformed tail ends the count.
pub fn count_scans(data: &[u8], stop_after: u32) -> u32 {
    let mut scans = 0;
    // A stray SOI is passed over, never searched from again (rescanning the same bytes once
    // per marker was quadratic on crafted files).
    for marker in Markers::after_soi(data) {
        match marker {
            Ok(Marker::Segment { code, .. }) => {
                scans += u32::from(code == code::SOS);
                if scans > stop_after {
                    break;
                }
            }
            Ok(Marker::Bare {
                code: code::EOI, ..
            })
            | Err(_) => break,
            Ok(Marker::Bare { .. }) => {}
        }
    }
    scans
}

/// Reads the markers of a JPEG up to its first SOS.
///
/// Bytes between segments that are not markers are skipped, as libjpeg does. Fails with a
/// decode error when the file is not a JPEG, is truncated before its first scan, or has a
/// malformed frame or table header.
pub fn read_header(data: &[u8]) -> Result<JpegHeader<'_>, Error> {
    if !data.starts_with(&[0xFF, code::SOI]) {
        return Err(bad("no SOI marker: not a JPEG file"));
    }
    let mut header = JpegHeader {
        width: 0,
        height: 0,
        sof: 0,
        precision: 8,
        components: Vec::new(),
        qtables: [None; 4],
        segments: Vec::new(),
        adobe_transform: None,
        density: None,
    };
    for marker in Markers::after_soi(data) {
        let (marker, payload) = match marker? {
            Marker::Bare {
                code: code::EOI, ..
            } => return Err(bad("EOI before the first scan: no image data")),
            Marker::Bare { .. } => return Err(bad("a second SOI marker before the first scan")),
            Marker::Segment { code, payload, .. } => (code, payload),
        };
        match marker {
            code::DQT => read_dqt(payload, &mut header.qtables)?,
            m if code::is_frame(m) => {
                if header.sof != 0 {
                    return Err(bad("more than one frame header"));
                }
                read_sof(marker, payload, &mut header)?;
            }
            code::SOS => {
                if header.sof == 0 {
                    return Err(bad("scan before any frame header"));
                }
                return Ok(header);
            }
            m if code::is_app_or_com(m) => {
                let segment = Segment { marker, payload };
                match segment.kind() {
                    SegmentKind::Adobe if payload.len() >= 12 => {
                        header.adobe_transform = Some(payload[11]);
                    }
                    SegmentKind::Jfif if payload.starts_with(b"JFIF\0") && payload.len() >= 12 => {
                        header.density = Some(Density {
                            unit: payload[7],
                            x: u16::from_be_bytes([payload[8], payload[9]]),
                            y: u16::from_be_bytes([payload[10], payload[11]]),
                        });
                    }
                    _ => {}
                }
                header.segments.push(segment);
            }
            _ => {} // DHT, DRI, DAC, DNL, ...: not needed before decoding
        }
    }
    Err(bad("truncated before the first scan"))
}

/// Reads a DQT segment's tables into their slots (natural order).
pub(crate) fn read_dqt(mut p: &[u8], tables: &mut [Option<QuantTable>; 4]) -> Result<(), Error> {
    while let Some((&pq_tq, rest)) = p.split_first() {
        let precision16 = pq_tq >> 4;
        let slot = usize::from(pq_tq & 0x0F);
        if precision16 > 1 || slot > 3 {
            return Err(bad("invalid DQT table precision or slot"));
        }
        let size = if precision16 == 1 { 128 } else { 64 };
        let values = rest
            .get(..size)
            .ok_or_else(|| bad("truncated DQT segment"))?;
        let mut table = [0u16; 64];
        for (k, &natural) in ZIGZAG.iter().enumerate() {
            table[natural] = if precision16 == 1 {
                u16::from_be_bytes([values[2 * k], values[2 * k + 1]])
            } else {
                u16::from(values[k])
            };
        }
        if table.contains(&0) {
            return Err(bad("a quantization table holds a zero"));
        }
        tables[slot] = Some(table);
        p = &rest[size..];
    }
    Ok(())
}

fn read_sof(marker: u8, p: &[u8], header: &mut JpegHeader<'_>) -> Result<(), Error> {
    if p.len() < 6 {
        return Err(bad("truncated frame header"));
    }
    header.sof = marker;
    header.precision = p[0];
    header.height = u32::from(u16::from_be_bytes([p[1], p[2]]));
    header.width = u32::from(u16::from_be_bytes([p[3], p[4]]));
    let count = usize::from(p[5]);
    if !matches!(count, 1 | 3 | 4) {
        return Err(bad("frame has an unsupported number of components"));
    }
    let comps = p
        .get(6..6 + 3 * count)
        .ok_or_else(|| bad("truncated frame header"))?;
    for c in comps.chunks_exact(3) {
        let (h, v) = (c[1] >> 4, c[1] & 0x0F);
        if !(1..=4).contains(&h) || !(1..=4).contains(&v) || c[2] > 3 {
            return Err(bad("invalid component sampling factors or table slot"));
        }
        header.components.push(Component {
            id: c[0],
            h,
            v,
            tq: c[2],
        });
    }
    if header.width == 0 || header.height == 0 {
        return Err(bad(
            "zero width or height (DNL-defined height is not supported)",
        ));
    }
    Ok(())
}

/// Copies a JPEG without the APPn/COM segments (before the first scan) that `keep` rejects.
/// JFIF and Adobe segments, which decoders need, are always kept. Scan data is copied as is:
/// no re-encoding, no loss.
pub fn without_segments(data: &[u8], keep: impl Fn(SegmentKind) -> bool) -> Result<Vec<u8>, Error> {
    let header = read_header(data)?;
    let base = data.as_ptr() as usize;
    let mut out = Vec::with_capacity(data.len());
    let mut copied_to = 0;
    for s in &header.segments {
        let kind = s.kind();
        if matches!(kind, SegmentKind::Jfif | SegmentKind::Adobe) || keep(kind) {
            continue;
        }
        // The segment starts 4 bytes (marker and length) before its payload.
        let start = s.payload.as_ptr() as usize - base - 4;
        out.extend_from_slice(&data[copied_to..start]);
        copied_to = start + 4 + s.payload.len();
    }
    out.extend_from_slice(&data[copied_to..]);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans_are_counted_past_stray_soi_markers() {
        // SOI, then a scan header, entropy bytes holding stray SOI markers, a second scan
        // header, more entropy bytes, EOI.
        let sos = [0xFF, 0xDA, 0x00, 0x08, 1, 1, 0, 0, 63, 0];
        let mut data = vec![0xFF, 0xD8];
        data.extend_from_slice(&sos);
        for _ in 0..1000 {
            data.extend_from_slice(&[0x12, 0x34, 0xFF, 0xD8]);
        }
        data.extend_from_slice(&sos);
        data.extend_from_slice(&[0x56, 0xFF, 0x00, 0x78, 0xFF, 0xD9]);
        assert_eq!(count_scans(&data, 100), 2);
        // A bare marker reports where the data after it starts.
        let mut walk = Markers::after_soi(&data);
        walk.resume_at(12);
        match walk.next().unwrap().unwrap() {
            Marker::Bare { code, next } => assert_eq!((code, next), (code::SOI, 16)),
            _ => panic!("expected a bare SOI"),
        }
    }
}
