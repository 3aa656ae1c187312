//! Tags of an APP1 Exif payload's first IFD: orientation and resolution.

/// The TIFF structure of an `Exif\0\0` payload, read in its byte order.
struct Ifd0<'a> {
    tiff: &'a [u8],
    le: bool,
    /// Offset of IFD0 and its entry count (at most 512 entries are looked at).
    ifd: usize,
    count: usize,
}

impl<'a> Ifd0<'a> {
    fn parse(app1: &'a [u8]) -> Option<Ifd0<'a>> {
        // A JPEG APP1 payload starts `Exif\0\0`; a WebP EXIF chunk may hold the TIFF
        // structure bare.
        let tiff = app1.strip_prefix(b"Exif\0\0").unwrap_or(app1);
        let le = match tiff.get(..4)? {
            [b'I', b'I', 42, 0] => true,
            [b'M', b'M', 0, 42] => false,
            _ => return None,
        };
        let mut r = Ifd0 {
            tiff,
            le,
            ifd: 0,
            count: 0,
        };
        r.ifd = r.u32_at(4)? as usize;
        r.count = usize::from(r.u16_at(r.ifd)?).min(512);
        Some(r)
    }

    fn u16_at(&self, o: usize) -> Option<u16> {
        let b = self.tiff.get(o..o + 2)?;
        let a = [b[0], b[1]];
        Some(if self.le {
            u16::from_le_bytes(a)
        } else {
            u16::from_be_bytes(a)
        })
    }

    fn u32_at(&self, o: usize) -> Option<u32> {
        let b = self.tiff.get(o..o + 4)?;
        let a = [b[0], b[1], b[2], b[3]];
        Some(if self.le {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        })
    }

    /// Offset of the 12-byte entry for `tag`.
    fn entry(&self, tag: u16) -> Option<usize> {
        (0..self.count)
            .map(|i| self.ifd + 2 + 12 * i)
            .find(|&e| self.u16_at(e) == Some(tag))
    }

    /// A numeric tag's value: SHORT, LONG or RATIONAL (resolutions are normally RATIONAL,
    /// but writers also use SHORT or LONG).
    fn number(&self, tag: u16) -> Option<f64> {
        let e = self.entry(tag)?;
        match self.u16_at(e + 2)? {
            3 => self.u16_at(e + 8).map(f64::from),
            4 => self.u32_at(e + 8).map(f64::from),
            5 => {
                let at = self.u32_at(e + 8)? as usize;
                let (n, d) = (self.u32_at(at)?, self.u32_at(at + 4)?);
                (d != 0).then(|| f64::from(n) / f64::from(d))
            }
            _ => None,
        }
    }
}

/// The orientation (1..=8) in an `Exif\0\0` APP1 payload; `None` when absent or malformed.
pub fn orientation(app1: &[u8]) -> Option<u16> {
    let ifd = Ifd0::parse(app1)?;
    ifd.u16_at(ifd.entry(0x0112)? + 8)
        .filter(|o| (1..=8).contains(o))
}

/// Horizontal and vertical resolution in dots per inch from IFD0 (XResolution, YResolution,
/// ResolutionUnit: 2 inch, 3 centimetre), rounded; `None` when absent or malformed.
pub fn dpi(app1: &[u8]) -> Option<(u32, u32)> {
    let ifd = Ifd0::parse(app1)?;
    let unit = ifd
        .entry(0x0128)
        .and_then(|e| ifd.u16_at(e + 8))
        .unwrap_or(2);
    let scale = if unit == 3 { 2.54 } else { 1.0 };
    let (x, y) = (ifd.number(0x011A)?, ifd.number(0x011B)?);
    let (x, y) = ((x * scale).round(), (y * scale).round());
    (x >= 1.0 && y >= 1.0 && x < 1e6 && y < 1e6).then_some((x as u32, y as u32))
}

/// A minimal `Exif\0\0` APP1 payload that holds only an orientation (1..=8, clamped): what an
/// output stripped of its metadata keeps, so that it still shows the right way up.
pub fn orientation_only(orientation: u16) -> &'static [u8] {
    &ORIENTATION_ONLY[usize::from(orientation.clamp(1, 8) - 1)]
}

static ORIENTATION_ONLY: [[u8; 32]; 8] = [
    orientation_block(1),
    orientation_block(2),
    orientation_block(3),
    orientation_block(4),
    orientation_block(5),
    orientation_block(6),
    orientation_block(7),
    orientation_block(8),
];

/// `Exif\0\0`, a big-endian TIFF header, IFD0 with one SHORT entry (0x0112), no next IFD.
const fn orientation_block(o: u8) -> [u8; 32] {
    [
        b'E', b'x', b'i', b'f', 0, 0, // identifier
        b'M', b'M', 0, 0x2A, 0, 0, 0, 8, // TIFF header, IFD0 at 8
        0, 1, // one entry
        0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, o, 0, 0, // Orientation, SHORT, 1, value
        0, 0, 0, 0, // no next IFD
    ]
}

#[cfg(test)]
mod orientation_tests {
    use super::*;

    #[test]
    fn the_minimal_block_reads_back() {
        for o in 1..=8 {
            assert_eq!(orientation(orientation_only(o)), Some(o));
        }
    }
}
