//! The EXIF orientation tag, read from an APP1 Exif payload.

/// The orientation (1..=8) in an `Exif\0\0` APP1 payload; `None` when absent or malformed.
pub fn orientation(app1: &[u8]) -> Option<u16> {
    let tiff = app1.strip_prefix(b"Exif\0\0")?;
    let le = match tiff.get(..4)? {
        [b'I', b'I', 42, 0] => true,
        [b'M', b'M', 0, 42] => false,
        _ => return None,
    };
    let u16_at = |o: usize| -> Option<u16> {
        let b = tiff.get(o..o + 2)?;
        Some(if le {
            u16::from_le_bytes([b[0], b[1]])
        } else {
            u16::from_be_bytes([b[0], b[1]])
        })
    };
    let u32_at = |o: usize| -> Option<u32> {
        let b = tiff.get(o..o + 4)?;
        let a = [b[0], b[1], b[2], b[3]];
        Some(if le {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        })
    };
    let ifd = u32_at(4)? as usize;
    let count = usize::from(u16_at(ifd)?);
    (0..count.min(512))
        .find_map(|i| {
            let entry = ifd + 2 + 12 * i;
            (u16_at(entry)? == 0x0112)
                .then(|| u16_at(entry + 8))
                .flatten()
        })
        .filter(|o| (1..=8).contains(o))
}

/// Horizontal and vertical resolution in dots per inch from IFD0 (XResolution, YResolution,
/// ResolutionUnit: 2 inch, 3 centimetre), rounded; `None` when absent or malformed.
pub fn dpi(app1: &[u8]) -> Option<(u32, u32)> {
    let tiff = app1.strip_prefix(b"Exif\0\0")?;
    let le = match tiff.get(..4)? {
        [b'I', b'I', 42, 0] => true,
        [b'M', b'M', 0, 42] => false,
        _ => return None,
    };
    let u16_at = |o: usize| -> Option<u16> {
        let b = tiff.get(o..o + 2)?;
        Some(if le {
            u16::from_le_bytes([b[0], b[1]])
        } else {
            u16::from_be_bytes([b[0], b[1]])
        })
    };
    let u32_at = |o: usize| -> Option<u32> {
        let b = tiff.get(o..o + 4)?;
        let a = [b[0], b[1], b[2], b[3]];
        Some(if le {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        })
    };
    let ifd = u32_at(4)? as usize;
    let count = usize::from(u16_at(ifd)?).min(512);
    let entry = |tag: u16| {
        (0..count)
            .map(|i| ifd + 2 + 12 * i)
            .find(|&e| u16_at(e) == Some(tag))
    };
    // A resolution is normally RATIONAL (type 5), but writers also use SHORT or LONG.
    let number = |tag: u16| -> Option<f64> {
        let e = entry(tag)?;
        match u16_at(e + 2)? {
            3 => u16_at(e + 8).map(f64::from),
            4 => u32_at(e + 8).map(f64::from),
            5 => {
                let at = u32_at(e + 8)? as usize;
                let (n, d) = (u32_at(at)?, u32_at(at + 4)?);
                (d != 0).then(|| f64::from(n) / f64::from(d))
            }
            _ => None,
        }
    };
    let unit = entry(0x0128).and_then(|e| u16_at(e + 8)).unwrap_or(2);
    let scale = if unit == 3 { 2.54 } else { 1.0 };
    let (x, y) = (number(0x011A)?, number(0x011B)?);
    let (x, y) = ((x * scale).round(), (y * scale).round());
    (x >= 1.0 && y >= 1.0 && x < 1e6 && y < 1e6).then_some((x as u32, y as u32))
}
