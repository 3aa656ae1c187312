//! ISO base media file format boxes (the container of HEIF and AVIF), read only as far as
//! the frame count of an image sequence needs: `moov/trak/mdia` with an image (`pict`) or
//! video (`vide`) handler, and the sample count of its `stbl/stsz` (or `stz2`) box. Pure
//! Rust and header-only: no sample data is touched, and every box read is bounded by its
//! parent, so a hostile file costs at most one pass over its bytes.

/// One box: its four-character type and its payload (the bytes after the header).
struct Entry<'a> {
    kind: [u8; 4],
    payload: &'a [u8],
}

/// The boxes in `data`, in order; stops at the first box whose size does not fit.
fn boxes(mut data: &[u8]) -> impl Iterator<Item = Entry<'_>> {
    std::iter::from_fn(move || {
        let size = u32::from_be_bytes(data.get(0..4)?.try_into().ok()?);
        let kind: [u8; 4] = data.get(4..8)?.try_into().ok()?;
        let (header, total) = match size {
            0 => (8, data.len()),
            1 => {
                let large = u64::from_be_bytes(data.get(8..16)?.try_into().ok()?);
                (16, usize::try_from(large).ok()?)
            }
            n => (8, n as usize),
        };
        if total < header || total > data.len() {
            return None;
        }
        let payload = &data[header..total];
        data = &data[total..];
        Some(Entry { kind, payload })
    })
}

/// The payload of the first child of `data` whose type is `kind`.
fn child<'a>(data: &'a [u8], kind: &[u8; 4]) -> Option<&'a [u8]> {
    boxes(data).find(|b| &b.kind == kind).map(|b| b.payload)
}

fn be_u32(data: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(data.get(at..at + 4)?.try_into().ok()?))
}

/// The number of frames of the first image-sequence (or video) track, `None` for a file
/// without one (a still HEIF/AVIF, whose images are items, not track samples).
pub(crate) fn sequence_frames(data: &[u8]) -> Option<u32> {
    let moov = child(data, b"moov")?;
    boxes(moov).filter(|b| &b.kind == b"trak").find_map(|trak| {
        let mdia = child(trak.payload, b"mdia")?;
        // hdlr: version and flags (4), pre_defined (4), handler type (4).
        let handler = child(mdia, b"hdlr")?.get(8..12)?;
        if handler != b"pict" && handler != b"vide" {
            return None;
        }
        let stbl = child(child(mdia, b"minf")?, b"stbl")?;
        // stsz: version/flags, sample_size, sample_count; stz2: version/flags,
        // reserved (3) and field size (1), sample_count.
        let sizes = child(stbl, b"stsz").or_else(|| child(stbl, b"stz2"))?;
        be_u32(sizes, 8)
    })
}

/// An AVIF image sequence whose `ftyp` names only the sequence brand (`avis`) but which
/// also holds a still image (a `meta` box with its items), as libheif can read it: a copy
/// whose major brand is `avif` and whose first compatible brand is `mif1` (libheif refuses
/// a file without a brand it supports, although the still image is there). `None` for
/// every other file, which is read as it is.
#[cfg_attr(not(feature = "heif"), allow(dead_code))]
pub(crate) fn with_still_brands(data: &[u8]) -> Option<Vec<u8>> {
    let ftyp = boxes(data).next().filter(|b| &b.kind == b"ftyp")?;
    // ftyp: major brand (4), minor version (4), compatible brands (4 each).
    let brands: Vec<&[u8]> = std::iter::once(ftyp.payload.get(0..4)?)
        .chain(ftyp.payload.get(8..)?.chunks_exact(4))
        .collect();
    let still = |b: &&[u8]| {
        matches!(
            *b,
            b"mif1"
                | b"mif2"
                | b"msf1"
                | b"miaf"
                | b"avif"
                | b"avio"
                | b"heic"
                | b"heix"
                | b"heim"
                | b"heis"
                | b"hevc"
                | b"hevx"
        )
    };
    if !brands.contains(&&b"avis"[..]) || brands.iter().any(still) || !has_still(data) {
        return None;
    }
    // The box header is 8 bytes (a 64-bit size is never needed for ftyp).
    if be_u32(data, 0)? as usize != ftyp.payload.len() + 8 {
        return None;
    }
    let mut copy = data.to_vec();
    copy[8..12].copy_from_slice(b"avif");
    if ftyp.payload.len() >= 12 {
        copy[16..20].copy_from_slice(b"mif1");
    }
    Some(copy)
}

/// Whether the file has a top-level `meta` box (the items of HEIF/AVIF still images): an
/// image sequence without one holds its pictures only as track samples.
#[cfg_attr(not(feature = "heif"), allow(dead_code))]
pub(crate) fn has_still(data: &[u8]) -> bool {
    child(data, b"meta").is_some()
}

/// The largest width and height declared by any `ispe` (image spatial extents) property of
/// the file's `meta/iprp/ipco` box: an upper bound on the size of every image item (the
/// primary image, its grid, tiles and thumbnails), read before any decoder sees the file.
/// `None` when there is none.
#[cfg_attr(not(feature = "heif"), allow(dead_code))]
pub(crate) fn largest_extents(data: &[u8]) -> Option<(u32, u32)> {
    // meta is a full box: version and flags (4) before its children.
    let meta = child(data, b"meta")?.get(4..)?;
    let ipco = child(child(meta, b"iprp")?, b"ipco")?;
    boxes(ipco)
        .filter(|b| &b.kind == b"ispe")
        // ispe: version and flags (4), width (4), height (4).
        .filter_map(|b| Some((be_u32(b.payload, 4)?, be_u32(b.payload, 8)?)))
        .reduce(|(w0, h0), (w1, h1)| (w0.max(w1), h0.max(h1)))
}

/// The largest picture size any decoder configuration of the file's items codes (`hvcC`
/// sequence parameter sets, `av1C` sequence headers; see [`super::coded`]): what a decoder
/// will allocate for, whatever `ispe` declares. `None` when none can be read.
#[cfg_attr(not(feature = "heif"), allow(dead_code))]
pub(crate) fn largest_coded(data: &[u8]) -> Option<(u32, u32)> {
    let meta = child(data, b"meta")?.get(4..)?;
    let ipco = child(child(meta, b"iprp")?, b"ipco")?;
    boxes(ipco)
        .filter_map(|b| match &b.kind {
            b"hvcC" => super::coded::hevc(b.payload),
            b"av1C" => super::coded::av1(b.payload),
            _ => None,
        })
        .reduce(|(w0, h0), (w1, h1)| (w0.max(w1), h0.max(h1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bx(kind: &[u8; 4], payload: &[u8]) -> Vec<u8> {
        let mut v = ((payload.len() + 8) as u32).to_be_bytes().to_vec();
        v.extend_from_slice(kind);
        v.extend_from_slice(payload);
        v
    }

    fn track(handler: &[u8; 4], samples: u32) -> Vec<u8> {
        let mut hdlr = vec![0; 8];
        hdlr.extend_from_slice(handler);
        hdlr.extend_from_slice(&[0; 12]);
        let mut stsz = vec![0; 8];
        stsz.extend_from_slice(&samples.to_be_bytes());
        let stbl = bx(b"stbl", &bx(b"stsz", &stsz));
        let minf = bx(b"minf", &stbl);
        let mut mdia = bx(b"hdlr", &hdlr);
        mdia.extend(minf);
        bx(b"trak", &bx(b"mdia", &mdia))
    }

    fn file(tracks: &[Vec<u8>]) -> Vec<u8> {
        let mut f = bx(b"ftyp", b"avisavif");
        f.extend(bx(b"meta", &[0; 4]));
        f.extend(bx(b"moov", &tracks.concat()));
        f
    }

    #[test]
    fn counts_the_samples_of_the_image_track() {
        // An alpha (auxv) track before the colour track is skipped.
        let f = file(&[track(b"auxv", 9), track(b"pict", 5)]);
        assert_eq!(sequence_frames(&f), Some(5));
        assert_eq!(sequence_frames(&file(&[track(b"vide", 3)])), Some(3));
    }

    fn ispe(w: u32, h: u32) -> Vec<u8> {
        let mut p = vec![0; 4];
        p.extend_from_slice(&w.to_be_bytes());
        p.extend_from_slice(&h.to_be_bytes());
        bx(b"ispe", &p)
    }

    #[test]
    fn the_largest_declared_extents_bound_every_item() {
        let ipco = bx(
            b"ipco",
            &[ispe(64, 64), ispe(65535, 300), ispe(100, 65535)].concat(),
        );
        let mut meta = vec![0; 4];
        meta.extend(bx(b"iprp", &ipco));
        let mut f = bx(b"ftyp", b"heicmif1");
        f.extend(bx(b"meta", &meta));
        assert_eq!(largest_extents(&f), Some((65535, 65535)));
        assert_eq!(largest_extents(&bx(b"ftyp", b"heicmif1")), None);
        f.truncate(f.len() - 2);
        assert_eq!(largest_extents(&f), None, "a damaged meta box");
    }

    #[test]
    fn every_heif_and_avif_test_file_declares_its_coded_size() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut dirs = vec![
            root.join("tests/images/heic"),
            root.join("tests/images/avif"),
        ];
        dirs.push(root.join("../shared/corpus/heic"));
        dirs.push(root.join("../shared/corpus/avif"));
        let mut checked = 0;
        for dir in dirs {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for e in entries.flatten() {
                let data = std::fs::read(e.path()).unwrap();
                let name = e.path().display().to_string();
                let (dw, dh) = largest_extents(&data).unwrap_or_else(|| panic!("{name}: no ispe"));
                let Some((cw, ch)) = largest_coded(&data) else {
                    // An av1C without its sequence header is allowed (the size is then
                    // checked after decoding).
                    assert!(
                        data.windows(4).any(|w| w == b"av1C"),
                        "{name}: no coded size"
                    );
                    continue;
                };
                assert!(
                    cw <= dw + 64 && ch <= dh + 64,
                    "{name}: {cw}x{ch} vs {dw}x{dh}"
                );
                checked += 1;
            }
        }
        assert!(checked >= 2, "only {checked} files");
    }

    #[test]
    fn stills_and_damaged_boxes_have_no_sequence() {
        assert_eq!(sequence_frames(&bx(b"ftyp", b"avifmif1")), None);
        assert_eq!(sequence_frames(&file(&[track(b"auxv", 2)])), None);
        let mut f = file(&[track(b"pict", 5)]);
        let len = f.len();
        f.truncate(len - 3); // the moov box now claims more than the file holds
        assert_eq!(sequence_frames(&f), None);
        assert_eq!(sequence_frames(&[]), None);
        // A huge 64-bit size, and a size smaller than the header, stop the walk.
        let mut huge = vec![0, 0, 0, 1];
        huge.extend_from_slice(b"moov");
        huge.extend_from_slice(&u64::MAX.to_be_bytes());
        assert_eq!(sequence_frames(&huge), None);
        assert_eq!(sequence_frames(&[0, 0, 0, 4, b'm', b'o', b'o', b'v']), None);
    }
}
