//! Entropy decoding of a Huffman-coded JPEG (baseline, extended sequential or progressive)
//! or an arithmetic-coded one (mogr's QM-coder decoder) into its quantized DCT coefficients,
//! without IDCT or colour conversion.
//!
//! Used by the DCT-domain requantizer: coefficients in, new tables, coefficients out.
//! Anything this decoder does not handle (lossless, 12-bit samples, a
//! height defined by DNL) is reported as an error, and the caller falls back to the pixel path.

use super::huffman::{BitReader, Hot, Huffman, FAST_BITS, FAST_SIZE};
use super::markers::{code, read_dqt, Marker, Markers};
use crate::error::Error;
use crate::format::ImageFormat;

fn bad(message: &str) -> Error {
    Error::decode(ImageFormat::Jpeg, message)
}

/// One component's quantized coefficients, block by block, each block in zigzag order.
#[derive(Debug, Clone)]
pub struct ComponentCoeffs {
    /// Component identifier.
    pub id: u8,
    /// Horizontal sampling factor.
    pub h: u8,
    /// Vertical sampling factor.
    pub v: u8,
    /// Quantization table slot.
    pub tq: u8,
    /// The quantization table (natural order) in force at the component's first scan;
    /// `None` until a scan has covered the component.
    pub table: Option<[u16; 64]>,
    /// Blocks per row, padded to whole MCUs.
    pub blocks_w: usize,
    /// Block rows, padded to whole MCUs.
    pub blocks_h: usize,
    /// `blocks_w * blocks_h` blocks, row-major, coefficients in zigzag order.
    pub blocks: Vec<[i16; 64]>,
    /// For each block, one past the zigzag index of its last nonzero coefficient (0 when the
    /// block is all zero): coefficients from there on are zero.
    pub ends: Vec<u8>,
}

/// A whole image's quantized coefficients.
#[derive(Debug, Clone)]
pub struct Coefficients {
    /// Image width in pixels.
    pub width: u32,
    /// Image height in pixels.
    pub height: u32,
    /// Components in frame order.
    pub components: Vec<ComponentCoeffs>,
}

impl Coefficients {
    /// The frame without its blocks: size, components, sampling, tables.
    pub fn shape(&self) -> Coefficients {
        Coefficients {
            width: self.width,
            height: self.height,
            components: self
                .components
                .iter()
                .map(|c| ComponentCoeffs {
                    blocks: Vec::new(),
                    ends: Vec::new(),
                    ..*c
                })
                .collect(),
        }
    }

    /// Largest horizontal sampling factor.
    pub fn max_h(&self) -> u8 {
        self.components.iter().map(|c| c.h).max().unwrap_or(1)
    }

    /// Largest vertical sampling factor.
    pub fn max_v(&self) -> u8 {
        self.components.iter().map(|c| c.v).max().unwrap_or(1)
    }

    /// MCUs per row and MCU rows of an interleaved scan.
    pub fn mcus(&self) -> (usize, usize) {
        let (w, h) = (self.width as usize, self.height as usize);
        if self.components.len() == 1 {
            return (w.div_ceil(8), h.div_ceil(8));
        }
        let mw = 8 * usize::from(self.max_h());
        let mh = 8 * usize::from(self.max_v());
        (w.div_ceil(mw), h.div_ceil(mh))
    }

    /// Blocks that carry image data in component `c` (as a non-interleaved scan covers them).
    pub fn scan_blocks(&self, c: usize) -> (usize, usize) {
        let comp = &self.components[c];
        let (w, h) = (self.width as usize, self.height as usize);
        let cw = (w * usize::from(comp.h)).div_ceil(usize::from(self.max_h()));
        let ch = (h * usize::from(comp.v)).div_ceil(usize::from(self.max_v()));
        (cw.div_ceil(8), ch.div_ceil(8))
    }
}

/// Joins the coefficients of images that are bands of rows of one image, top to bottom, into
/// the whole image's: the bands must have the same width, components, sampling and tables,
/// and each but the last a height of whole MCU rows (so that no band has padding rows inside
/// the whole). JPEG codes blocks independently, so an encoder that quantizes each block by
/// itself (no DC trellis across MCU rows) gives the bands the whole image's coefficients.
pub fn stack(parts: Vec<Coefficients>) -> Result<Coefficients, Error> {
    let mut parts = parts.into_iter();
    let mut whole = parts.next().ok_or_else(|| bad("no band to join"))?;
    // Room for every band's blocks at once (one move of the first band's, not one per band).
    let rest = parts.as_slice();
    for (i, comp) in whole.components.iter_mut().enumerate() {
        let more: usize = rest
            .iter()
            .filter_map(|p| p.components.get(i))
            .map(|c| c.blocks.len())
            .sum();
        comp.blocks.reserve_exact(more);
        comp.ends.reserve_exact(more);
    }
    for part in parts {
        let mcu_rows = 8 * u32::from(whole.max_v());
        let fits = whole.width == part.width
            && whole.height % mcu_rows == 0
            && whole.components.len() == part.components.len()
            && whole.components.iter().zip(&part.components).all(|(a, b)| {
                (a.id, a.h, a.v, a.tq, a.table, a.blocks_w)
                    == (b.id, b.h, b.v, b.tq, b.table, b.blocks_w)
            });
        if !fits {
            return Err(bad(
                "bands of different shapes, or a band that is not whole MCU rows",
            ));
        }
        whole.height = whole
            .height
            .checked_add(part.height)
            .filter(|&h| h <= u32::from(u16::MAX))
            .ok_or_else(|| bad("the joined bands are too tall"))?;
        for (a, b) in whole.components.iter_mut().zip(part.components) {
            a.blocks_h += b.blocks_h;
            a.blocks.extend_from_slice(&b.blocks);
            a.ends.extend_from_slice(&b.ends);
        }
    }
    Ok(whole)
}

/// One scan's header: components (frame indexes), their DC and AC table slots, spectral
/// selection and successive approximation.
pub(super) struct Scan {
    pub(super) comps: Vec<usize>,
    pub(super) dc: Vec<usize>,
    pub(super) ac: Vec<usize>,
    pub(super) ss: usize,
    pub(super) se: usize,
    pub(super) ah: u8,
    pub(super) al: u8,
}

/// Decodes every scan of the first image of a JPEG into coefficients.
///
/// The markers are read first, every scan planned with the tables in force at it; then the
/// scans are decoded in order, except that a run of single-component scans (the AC scans of
/// a progressive file, the scans of a file with a scan per component) is split in two: the
/// luma scans on one thread, the chroma scans on another, each writing only its own
/// components' blocks.
pub fn decode_coefficients(data: &[u8]) -> Result<Coefficients, Error> {
    decode_all(data, 4096)
}

/// [`decode_coefficients`], splitting runs of single-component scans from `split_from`
/// blocks up.
fn decode_all(data: &[u8], split_from: usize) -> Result<Coefficients, Error> {
    let mut headers = Headers::new(data, true)?;
    let mut planned = Vec::new();
    while let Some((scan, pos)) = headers.next_scan()? {
        let c = headers
            .coeffs
            .as_mut()
            .ok_or_else(|| bad("scan before frame header"))?;
        if headers.arithmetic {
            let end = super::arith::decode_scan(
                data,
                pos,
                c,
                &scan,
                &headers.conditioning,
                headers.restart_interval,
            )?;
            headers.resume_at(end);
            continue;
        }
        // More scans than any encoder writes: a full batch is decoded before more are
        // planned, so that a crafted file's thousands of scans never hold a copy of their
        // tables each.
        if planned.len() == PLANNED_SCANS {
            decode_planned(data, c, &planned, split_from)?;
            planned.clear();
        }
        planned.push(Planned::new(&headers, scan, pos));
    }
    let mut c = headers.coeffs.ok_or_else(|| bad("no scan"))?;
    decode_planned(data, &mut c, &planned, split_from)?;
    Ok(c)
}

/// Scans planned ahead at a time by [`decode_all`]: more than libjpeg's longest script (10
/// scans for colour) and mozjpeg's, so that every real file is planned whole.
const PLANNED_SCANS: usize = 32;

/// Decodes `planned` in order, a run of single-component scans split by [`decode_split`].
fn decode_planned(
    data: &[u8],
    c: &mut Coefficients,
    planned: &[Planned],
    split_from: usize,
) -> Result<(), Error> {
    let mut i = 0;
    while i < planned.len() {
        let single = |p: &Planned| p.scan.comps.len() == 1;
        if !single(&planned[i]) {
            planned[i].decode(data, c)?;
            i += 1;
            continue;
        }
        let j = planned[i..]
            .iter()
            .position(|p| !single(p))
            .map_or(planned.len(), |k| i + k);
        decode_split(data, c, &planned[i..j], split_from)?;
        i = j;
    }
    Ok(())
}

/// Decodes a run of single-component scans: luma's and the others' on two threads when
/// both are there and the image is large enough to gain from it, else in order.
fn decode_split(
    data: &[u8],
    c: &mut Coefficients,
    run: &[Planned],
    split_from: usize,
) -> Result<(), Error> {
    let luma = |p: &&Planned| p.scan.comps[0] == 0;
    let blocks: usize = c.components.iter().map(|k| k.blocks.len()).sum();
    if blocks < split_from || !run.iter().any(|p| luma(&p)) || run.iter().all(|p| luma(&p)) {
        return run.iter().try_for_each(|p| p.decode(data, c));
    }
    // Each side gets the frame's shape with only its components' blocks moved in.
    let (mut a, mut b) = (c.shape(), c.shape());
    for (k, comp) in c.components.iter_mut().enumerate() {
        let side = if k == 0 { &mut a } else { &mut b };
        side.components[k].blocks = std::mem::take(&mut comp.blocks);
        side.components[k].ends = std::mem::take(&mut comp.ends);
    }
    let (first, second) = std::thread::scope(|s| {
        let chroma = s.spawn(|| {
            run.iter()
                .filter(|p| !luma(p))
                .try_for_each(|p| p.decode(data, &mut b))
        });
        let first = run
            .iter()
            .filter(luma)
            .try_for_each(|p| p.decode(data, &mut a));
        let second = chroma
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e));
        (first, second)
    });
    for (k, comp) in c.components.iter_mut().enumerate() {
        let side = if k == 0 { &mut a } else { &mut b };
        comp.blocks = std::mem::take(&mut side.components[k].blocks);
        comp.ends = std::mem::take(&mut side.components[k].ends);
    }
    first.and(second)
}

/// A Huffman-coded scan read ahead of its decoding: its header, where its entropy-coded
/// data starts, and the tables in force at it (those it uses).
pub(super) struct Planned {
    pub(super) scan: Scan,
    pub(super) pos: usize,
    pub(super) dc: [Option<Huffman>; 4],
    pub(super) ac: [Option<Huffman>; 4],
    pub(super) restart_interval: usize,
}

impl Planned {
    /// The scan `scan` starting at `pos`, with the tables `headers` has at it.
    pub(super) fn new(headers: &Headers<'_>, scan: Scan, pos: usize) -> Planned {
        let pick = |tables: &[Option<Huffman>; 4], slots: &[usize]| {
            std::array::from_fn(|i| {
                if slots.contains(&i) {
                    tables[i].clone()
                } else {
                    None
                }
            })
        };
        Planned {
            dc: pick(&headers.dc_tables, &scan.dc),
            ac: pick(&headers.ac_tables, &scan.ac),
            pos,
            restart_interval: headers.restart_interval,
            scan,
        }
    }

    /// Decodes the whole scan into `c`.
    fn decode(&self, data: &[u8], c: &mut Coefficients) -> Result<(), Error> {
        let mut reader = BitReader::new(data, self.pos);
        HuffmanScan::new(&self.scan, &self.dc, &self.ac)?.decode(
            &mut reader,
            c,
            &self.scan,
            self.restart_interval,
        )?;
        if reader.truncated() {
            return Err(bad("truncated scan data"));
        }
        Ok(())
    }
}

/// A JPEG's markers read up to each scan, with the tables in force there.
pub(super) struct Headers<'a> {
    markers: Markers<'a>,
    pub(super) dc_tables: [Option<Huffman>; 4],
    pub(super) ac_tables: [Option<Huffman>; 4],
    qtables: [Option<[u16; 64]>; 4],
    /// The frame: its blocks allocated when `allocate` was asked for, else empty (a shape).
    pub(super) coeffs: Option<Coefficients>,
    pub(super) progressive: bool,
    pub(super) arithmetic: bool,
    conditioning: super::arith::Conditioning,
    pub(super) restart_interval: usize,
    allocate: bool,
}

impl<'a> Headers<'a> {
    /// Starts after the SOI marker; `allocate` sizes the frame's blocks when it is read.
    pub(super) fn new(data: &'a [u8], allocate: bool) -> Result<Headers<'a>, Error> {
        if !data.starts_with(&[0xFF, code::SOI]) {
            return Err(bad("no SOI marker"));
        }
        Ok(Headers {
            markers: Markers::after_soi(data),
            dc_tables: Default::default(),
            ac_tables: Default::default(),
            qtables: [None; 4],
            coeffs: None,
            progressive: false,
            arithmetic: false,
            conditioning: super::arith::Conditioning::default(),
            restart_interval: 0,
            allocate,
        })
    }

    /// Reads markers up to the next scan: its header and where its entropy-coded data
    /// starts, or `None` at EOI or the end of the data once a scan has been seen.
    pub(super) fn next_scan(&mut self) -> Result<Option<(Scan, usize)>, Error> {
        loop {
            let (marker, seg, pos) = match self.markers.next().transpose()? {
                // The end of the data, or EOI, after at least one scan: take what was decoded.
                None
                | Some(Marker::Bare {
                    code: code::EOI, ..
                }) => return Ok(None),
                Some(Marker::Bare { .. }) => return Err(bad("a second SOI marker")),
                Some(Marker::Segment {
                    code,
                    payload,
                    next,
                }) => (code, payload, next),
            };
            match marker {
                // Huffman (baseline, extended, progressive) and arithmetic (sequential,
                // progressive)
                code::SOF0..=code::SOF2 | 0xC9 | 0xCA => {
                    if self.coeffs.is_some() {
                        return Err(bad("a second frame header"));
                    }
                    self.progressive = matches!(marker, code::SOF2 | 0xCA);
                    self.arithmetic = marker >= 0xC9;
                    self.coeffs = Some(read_frame(seg, self.allocate)?);
                }
                m if code::is_frame(m) => return Err(bad("lossless or hierarchical JPEG")),
                code::DAC => self.conditioning.read(seg)?,
                code::DHT => read_dht(seg, &mut self.dc_tables, &mut self.ac_tables)?,
                code::DQT => read_dqt(seg, &mut self.qtables)?,
                code::DRI => {
                    let b = seg.get(..2).ok_or_else(|| bad("truncated DRI"))?;
                    self.restart_interval = usize::from(u16::from_be_bytes([b[0], b[1]]));
                }
                code::SOS => {
                    let c = self
                        .coeffs
                        .as_mut()
                        .ok_or_else(|| bad("scan before frame header"))?;
                    let scan = read_sos(seg, c, self.progressive)?;
                    for &ci in &scan.comps {
                        let comp = &mut c.components[ci];
                        if comp.table.is_none() {
                            let t = self.qtables[usize::from(comp.tq)]
                                .ok_or_else(|| bad("scan before its quantization table"))?;
                            comp.table = Some(t);
                        }
                    }
                    return Ok(Some((scan, pos)));
                }
                _ => {}
            }
        }
    }

    /// Continues the marker walk at `pos`, where a scan's entropy-coded data ended.
    pub(super) fn resume_at(&mut self, pos: usize) {
        self.markers.resume_at(pos);
    }
}

fn read_frame(p: &[u8], allocate: bool) -> Result<Coefficients, Error> {
    if p.len() < 6 {
        return Err(bad("truncated frame header"));
    }
    if p[0] != 8 {
        return Err(bad("only 8-bit samples"));
    }
    let height = u32::from(u16::from_be_bytes([p[1], p[2]]));
    let width = u32::from(u16::from_be_bytes([p[3], p[4]]));
    let n = usize::from(p[5]);
    if width == 0 || height == 0 || !matches!(n, 1 | 3 | 4) {
        return Err(bad("unsupported frame"));
    }
    let spec = p
        .get(6..6 + 3 * n)
        .ok_or_else(|| bad("truncated frame header"))?;
    let mut c = Coefficients {
        width,
        height,
        components: Vec::with_capacity(n),
    };
    for s in spec.chunks_exact(3) {
        let (h, v) = (s[1] >> 4, s[1] & 15);
        if !(1..=4).contains(&h) || !(1..=4).contains(&v) || s[2] > 3 {
            return Err(bad("bad sampling factors"));
        }
        c.components.push(ComponentCoeffs {
            id: s[0],
            h,
            v,
            tq: s[2],
            table: None,
            blocks_w: 0,
            blocks_h: 0,
            blocks: Vec::new(),
            ends: Vec::new(),
        });
    }
    if n == 1 {
        // A single component is never interleaved: its MCU is one block.
        c.components[0].h = 1;
        c.components[0].v = 1;
    }
    let (mx, my) = c.mcus();
    for comp in &mut c.components {
        comp.blocks_w = mx * usize::from(comp.h);
        comp.blocks_h = my * usize::from(comp.v);
        if !allocate {
            continue;
        }
        let count = comp.blocks_w * comp.blocks_h;
        let mut blocks = Vec::new();
        blocks
            .try_reserve_exact(count)
            .map_err(|_| bad("not enough memory for the coefficients"))?;
        blocks.resize(count, [0i16; 64]);
        comp.blocks = blocks;
        let mut ends = Vec::new();
        ends.try_reserve_exact(count)
            .map_err(|_| bad("not enough memory for the coefficients"))?;
        ends.resize(count, 0u8);
        comp.ends = ends;
    }
    Ok(c)
}

fn read_dht(
    mut p: &[u8],
    dc: &mut [Option<Huffman>; 4],
    ac: &mut [Option<Huffman>; 4],
) -> Result<(), Error> {
    while p.len() >= 17 {
        let (class, slot) = (p[0] >> 4, usize::from(p[0] & 15));
        if class > 1 || slot > 3 {
            return Err(bad("bad DHT class or slot"));
        }
        let mut counts = [0u8; 16];
        counts.copy_from_slice(&p[1..17]);
        let total: usize = counts.iter().map(|&c| usize::from(c)).sum();
        let values = p.get(17..17 + total).ok_or_else(|| bad("truncated DHT"))?;
        let table = Huffman::new(&counts, values)?;
        if class == 0 {
            dc[slot] = Some(table);
        } else {
            ac[slot] = Some(table);
        }
        p = &p[17 + total..];
    }
    Ok(())
}

fn read_sos(p: &[u8], c: &Coefficients, progressive: bool) -> Result<Scan, Error> {
    let n = usize::from(*p.first().ok_or_else(|| bad("truncated SOS"))?);
    let spec = p
        .get(1..1 + 2 * n + 3)
        .ok_or_else(|| bad("truncated SOS"))?;
    if n == 0 || n > 4 {
        return Err(bad("bad scan component count"));
    }
    let mut scan = Scan {
        comps: Vec::new(),
        dc: Vec::new(),
        ac: Vec::new(),
        ss: usize::from(spec[2 * n]),
        se: usize::from(spec[2 * n + 1]),
        ah: spec[2 * n + 2] >> 4,
        al: spec[2 * n + 2] & 15,
    };
    for s in spec[..2 * n].chunks_exact(2) {
        let idx = c
            .components
            .iter()
            .position(|comp| comp.id == s[0])
            .ok_or_else(|| bad("scan names an unknown component"))?;
        if scan.comps.contains(&idx) {
            return Err(bad("component repeated in a scan"));
        }
        scan.comps.push(idx);
        scan.dc.push(usize::from(s[1] >> 4).min(3));
        scan.ac.push(usize::from(s[1] & 15).min(3));
    }
    if !progressive {
        scan.ss = 0;
        scan.se = 63;
        scan.ah = 0;
        scan.al = 0;
    }
    let valid = scan.ss <= scan.se
        && scan.se <= 63
        && scan.al <= 13
        && (scan.ss == 0 || scan.comps.len() == 1)
        && (scan.ss > 0 || scan.se == 0 || !progressive);
    if !valid {
        return Err(bad("bad progressive scan parameters"));
    }
    Ok(scan)
}

fn table(tables: &[Option<Huffman>; 4], slot: usize) -> Result<&Huffman, Error> {
    tables[slot]
        .as_ref()
        .ok_or_else(|| bad("scan uses an undefined Huffman table"))
}

/// A Huffman-coded scan being decoded: its tables, and the state carried from block to
/// block (DC predictions, end-of-band run, units done for the restart interval), so that
/// the scan can be decoded in one call or band by band.
pub(super) struct HuffmanScan<'t> {
    dcs: Vec<Option<&'t Huffman>>,
    acs: Vec<Option<&'t Huffman>>,
    preds: [i32; 4],
    eobrun: u32,
    units_done: usize,
}

impl<'t> HuffmanScan<'t> {
    /// The decoder of `scan` with the tables in force at its header.
    pub(super) fn new(
        scan: &Scan,
        dc_tables: &'t [Option<Huffman>; 4],
        ac_tables: &'t [Option<Huffman>; 4],
    ) -> Result<HuffmanScan<'t>, Error> {
        let needs_dc = scan.ss == 0 && scan.ah == 0;
        let needs_ac = scan.se > 0;
        let pick = |slots: &[usize], tables: &'t [Option<Huffman>; 4], needed: bool| {
            slots
                .iter()
                .map(|&s| {
                    if needed {
                        table(tables, s).map(Some)
                    } else {
                        Ok(None)
                    }
                })
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(HuffmanScan {
            dcs: pick(&scan.dc, dc_tables, needs_dc)?,
            acs: pick(&scan.ac, ac_tables, needs_ac)?,
            preds: [0; 4],
            eobrun: 0,
            units_done: 0,
        })
    }

    /// Decodes the blocks of `c` (the whole frame, or the next band of whole MCU rows of an
    /// interleaved scan) from `r`.
    pub(super) fn decode(
        &mut self,
        r: &mut BitReader<'_>,
        c: &mut Coefficients,
        scan: &Scan,
        restart_interval: usize,
    ) -> Result<(), Error> {
        let HuffmanScan {
            dcs,
            acs,
            preds,
            eobrun,
            units_done,
        } = self;
        // A sequential scan (every coefficient at full precision): the short path.
        let sequential = (scan.ss, scan.se, scan.ah, scan.al) == (0, 63, 0, 0);
        walk_blocks(c, scan, restart_interval, units_done, |event| match event {
            ScanEvent::Restart => {
                r.restart()?;
                *preds = [0; 4];
                *eobrun = 0;
                Ok(())
            }
            ScanEvent::Block { i, block } if sequential => {
                decode_sequential_block(r, block, dcs[i], acs[i], &mut preds[i])
            }
            ScanEvent::Block { i, block } => {
                decode_block(r, block, scan, dcs[i], acs[i], &mut preds[i], eobrun)
            }
        })
    }
}

/// What [`walk_blocks`] hands its caller: a restart interval's end, or the next block.
pub(super) enum ScanEvent<'b> {
    /// The entropy decoder resets here (an RSTn marker is due).
    Restart,
    /// The next block in coding order, of the scan's `i`-th component.
    Block { i: usize, block: Block<'b> },
}

/// Every block a scan covers, in coding order (MCU by MCU for an interleaved scan, block by
/// block for a single component), with a restart event every `restart_interval` units;
/// `units_done` counts the units coded before (by earlier bands) and is advanced.
pub(super) fn walk_blocks(
    c: &mut Coefficients,
    scan: &Scan,
    restart_interval: usize,
    units_done: &mut usize,
    mut on: impl FnMut(ScanEvent<'_>) -> Result<(), Error>,
) -> Result<(), Error> {
    let single = scan.comps.len() == 1;
    let (units_w, units_h) = if single {
        c.scan_blocks(scan.comps[0])
    } else {
        c.mcus()
    };
    for uy in 0..units_h {
        for ux in 0..units_w {
            if restart_interval > 0
                && *units_done > 0
                && units_done.is_multiple_of(restart_interval)
            {
                on(ScanEvent::Restart)?;
            }
            *units_done += 1;
            for (i, &ci) in scan.comps.iter().enumerate() {
                let comp = &mut c.components[ci];
                let (bh, bv) = if single {
                    (1, 1)
                } else {
                    (usize::from(comp.h), usize::from(comp.v))
                };
                for by in 0..bv {
                    for bx in 0..bh {
                        let (x, y) = (ux * bh + bx, uy * bv + by);
                        let idx = y * comp.blocks_w + x;
                        let (Some(coef), Some(end)) =
                            (comp.blocks.get_mut(idx), comp.ends.get_mut(idx))
                        else {
                            return Err(bad("block out of range"));
                        };
                        on(ScanEvent::Block {
                            i,
                            block: Block { coef, end },
                        })?;
                    }
                }
            }
        }
    }
    Ok(())
}

fn clamp16(v: i32) -> i16 {
    v.clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16
}

/// A block being decoded and its end (see [`ComponentCoeffs::ends`]).
pub(super) struct Block<'b> {
    pub(super) coef: &'b mut [i16; 64],
    pub(super) end: &'b mut u8,
}

impl Block<'_> {
    /// Stores a value at zigzag index `k`, keeping the end up to date.
    #[inline]
    pub(super) fn set(&mut self, k: usize, v: i16) {
        self.coef[k] = v;
        if v != 0 && usize::from(*self.end) <= k {
            *self.end = k as u8 + 1;
        }
    }
}

/// [`decode_block`] for a scan of a sequential file (spectral selection 0..=63, no
/// successive approximation): no end-of-band runs, no shifts, and values that fit `i16`
/// as they are (an AC magnitude category is at most 15); the block's end is the index
/// after the last coefficient stored, since every stored value is nonzero.
#[inline]
fn decode_sequential_block(
    r: &mut BitReader<'_>,
    b: Block<'_>,
    dc: Option<&Huffman>,
    ac: Option<&Huffman>,
    pred: &mut i32,
) -> Result<(), Error> {
    let dc = dc.ok_or_else(|| bad("missing DC table"))?;
    let ac = ac.ok_or_else(|| bad("missing AC table"))?;
    let (s, diff) = r.decode_with_value(dc)?;
    if s > 11 {
        return Err(bad("bad DC magnitude category"));
    }
    *pred = pred.wrapping_add(diff);
    let dc_value = clamp16(*pred);
    b.coef[0] = dc_value;
    let mut end = u8::from(dc_value != 0);
    let mut k = 1usize;
    let mut h = Hot::take(r);
    while k <= 63 {
        h.refill(r);
        let prefix = (h.acc >> (64 - FAST_BITS)) as usize & (FAST_SIZE - 1);
        let packed = ac.fast_ac[prefix];
        let (run, value) = if packed != 0 {
            h.consume((packed & 31) as u32);
            (((packed >> 5) & 15) as usize, packed >> 16)
        } else {
            let (len, symbol) = ac.fast[prefix];
            if symbol == 0 && len != 0 {
                // End of block, the most frequent code, short enough for the table.
                h.consume(u32::from(len));
                break;
            }
            let (rs, value) = h.decode_with_value(r, ac)?;
            if rs & 15 == 0 {
                if rs >> 4 < 15 {
                    break; // end of block
                }
                k += 16;
                continue;
            }
            (usize::from(rs >> 4), value)
        };
        k += run;
        if k > 63 {
            return Err(bad("coefficient index past 63"));
        }
        b.coef[k] = value as i16;
        k += 1;
        end = k as u8;
    }
    h.put(r);
    *b.end = end;
    Ok(())
}

fn decode_block(
    r: &mut BitReader<'_>,
    mut b: Block<'_>,
    scan: &Scan,
    dc: Option<&Huffman>,
    ac: Option<&Huffman>,
    pred: &mut i32,
    eobrun: &mut u32,
) -> Result<(), Error> {
    let al = u32::from(scan.al);
    if scan.ss == 0 {
        if scan.ah == 0 {
            let dc = dc.ok_or_else(|| bad("missing DC table"))?;
            let s = r.decode(dc)?;
            if s > 11 {
                return Err(bad("bad DC magnitude category"));
            }
            *pred = pred.wrapping_add(r.receive_extend(s));
            b.set(0, clamp16(pred.wrapping_shl(al)));
        } else if r.bit() {
            b.set(0, clamp16(i32::from(b.coef[0]) | (1 << al)));
        }
        if scan.se == 0 {
            return Ok(());
        }
    }
    let ac = ac.ok_or_else(|| bad("missing AC table"))?;
    let start = scan.ss.max(1);
    if scan.ah == 0 {
        if *eobrun > 0 {
            *eobrun -= 1;
            return Ok(());
        }
        let mut h = Hot::take(r);
        let mut k = start;
        while k <= scan.se {
            h.refill(r);
            let packed = ac.fast_ac[(h.acc >> (64 - FAST_BITS)) as usize & (FAST_SIZE - 1)];
            if packed != 0 {
                h.consume((packed & 31) as u32);
                k += ((packed >> 5) & 15) as usize;
                if k > 63 {
                    return Err(bad("coefficient index past 63"));
                }
                b.set(k, clamp16((packed >> 16).wrapping_shl(al)));
                k += 1;
                continue;
            }
            let (rs, value) = h.decode_with_value(r, ac)?;
            let (run, s) = (usize::from(rs >> 4), rs & 15);
            if s == 0 {
                if run < 15 {
                    *eobrun = (1u32 << run) - 1;
                    if run > 0 {
                        *eobrun += h.bits(r, run as u32);
                    }
                    break;
                }
                k += 16;
                continue;
            }
            k += run;
            if k > 63 {
                return Err(bad("coefficient index past 63"));
            }
            b.set(k, clamp16(value.wrapping_shl(al)));
            k += 1;
        }
        h.put(r);
        return Ok(());
    }
    // AC successive-approximation refinement.
    let p1 = 1i32 << al;
    let m1 = -1i32 << al;
    let mut k = start;
    let mut h = Hot::take(r);
    let refine = |h: &mut Hot, r: &mut BitReader<'_>, coef: &mut i16| {
        if h.bit(r) {
            let c = i32::from(*coef);
            if c & p1 == 0 {
                *coef = clamp16(if c >= 0 { c + p1 } else { c + m1 });
            }
        }
    };
    if *eobrun == 0 {
        while k <= scan.se {
            let rs = h.decode(r, ac)?;
            let (mut run, s) = (i32::from(rs >> 4), rs & 15);
            let mut value = 0i32;
            if s != 0 {
                if s != 1 {
                    return Err(bad("bad refinement magnitude"));
                }
                value = if h.bit(r) { p1 } else { m1 };
            } else if run != 15 {
                *eobrun = 1u32 << run;
                if run > 0 {
                    *eobrun += h.bits(r, run as u32);
                }
                break;
            }
            while k <= scan.se {
                if b.coef[k] != 0 {
                    refine(&mut h, r, &mut b.coef[k]);
                } else {
                    if run == 0 {
                        break;
                    }
                    run -= 1;
                }
                k += 1;
            }
            if value != 0 && k <= scan.se {
                b.set(k, clamp16(value));
            }
            k += 1;
        }
    }
    if *eobrun > 0 {
        while k <= scan.se {
            if b.coef[k] != 0 {
                refine(&mut h, r, &mut b.coef[k]);
            }
            k += 1;
        }
        *eobrun -= 1;
    }
    h.put(r);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every block of every component, with its end.
    fn blocks(c: &Coefficients) -> Vec<(Vec<[i16; 64]>, Vec<u8>)> {
        c.components
            .iter()
            .map(|k| (k.blocks.clone(), k.ends.clone()))
            .collect()
    }

    #[test]
    fn split_runs_of_scans_decode_as_in_order() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/images/jpeg/");
        let mut split = 0;
        for name in [
            "jxl-flower_q85_420_progr.jpg",
            "jxl-flower_small_q85_420_noninterleaved.jpg",
            "jxl-flower_q85_gray.jpg",
            "pil-flower.jpg",
        ] {
            let data = std::fs::read(format!("{root}{name}")).expect("repo image");
            let in_order = decode_all(&data, usize::MAX).expect(name);
            let parallel = decode_all(&data, 0).expect(name);
            assert!(blocks(&in_order) == blocks(&parallel), "{name}");
            // Truncated: both fail, or both decode the same.
            let cut = &data[..data.len() * 2 / 3];
            match (decode_all(cut, usize::MAX), decode_all(cut, 0)) {
                (Ok(a), Ok(b)) => assert!(blocks(&a) == blocks(&b), "{name} cut"),
                (Err(_), Err(_)) => {}
                _ => panic!("{name} cut: one path failed"),
            }
            let mut h = Headers::new(&data, false).expect(name);
            let mut singles = 0;
            while let Some((scan, _)) = h.next_scan().expect(name) {
                singles += usize::from(scan.comps.len() == 1 && scan.comps[0] > 0);
            }
            split += usize::from(singles > 0);
        }
        assert_eq!(split, 2, "two of the files have chroma scans of their own");
    }

    #[test]
    fn a_file_with_more_scans_than_planned_decodes_them_all_in_order() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/images/jpeg/");
        let data = std::fs::read(format!("{root}jxl-flower_q85_gray.jpg")).expect("repo image");
        // Its one scan (SOS segment and entropy-coded data) repeated 40 times.
        let sos = (0..data.len() - 1)
            .find(|&i| data[i] == 0xFF && data[i + 1] == code::SOS)
            .expect("a scan");
        let eoi = data.len() - 2;
        assert_eq!(&data[eoi..], &[0xFF, code::EOI]);
        let mut many = data[..sos].to_vec();
        for _ in 0..40 {
            many.extend_from_slice(&data[sos..eoi]);
        }
        many.extend_from_slice(&data[eoi..]);
        let once = decode_all(&data, 0).expect("decodes");
        for split_from in [0, usize::MAX] {
            let repeated = decode_all(&many, split_from).expect("decodes");
            assert!(blocks(&repeated) == blocks(&once));
        }
    }
    /// A 16x8 grey baseline file of two blocks, with an AC table of three 2-bit codes:
    /// `00` run 0 size 1, `01` the symbol 0x10 (an end-of-band run in a progressive scan,
    /// meaningless in a sequential one), `10` end of block. Each block: DC difference 0
    /// (code `0`), then a +1 at zigzag 1; the first block ends with 0x10, the second with
    /// end of block.
    fn with_eob_run_symbol() -> Vec<u8> {
        let mut f = vec![0xFF, 0xD8];
        f.extend_from_slice(&[0xFF, 0xDB, 0x00, 0x43, 0x00]);
        f.extend_from_slice(&[1; 64]);
        f.extend_from_slice(&[0xFF, 0xC0, 0x00, 0x0B, 8, 0, 8, 0, 16, 1, 1, 0x11, 0]);
        let mut dc = vec![0xFF, 0xC4, 0x00, 20, 0x00, 1];
        dc.extend_from_slice(&[0; 15]);
        dc.push(0x00);
        f.extend_from_slice(&dc);
        let mut ac = vec![0xFF, 0xC4, 0x00, 22, 0x10, 0, 3];
        ac.extend_from_slice(&[0; 14]);
        ac.extend_from_slice(&[0x01, 0x10, 0x00]);
        f.extend_from_slice(&ac);
        f.extend_from_slice(&[0xFF, 0xDA, 0x00, 0x08, 1, 1, 0x00, 0, 63, 0]);
        // 0 00 1 01 | 0 00 1 10, padded with ones.
        f.extend_from_slice(&[0b0001_0100, 0b0110_1111]);
        f.extend_from_slice(&[0xFF, 0xD9]);
        f
    }

    #[test]
    fn an_end_of_band_run_in_a_sequential_scan_ends_the_block_as_in_libjpeg() {
        let data = with_eob_run_symbol();
        for split_from in [0, usize::MAX] {
            let c = decode_all(&data, split_from).expect("decodes");
            let comp = &c.components[0];
            assert_eq!(comp.blocks.len(), 2);
            for (i, block) in comp.blocks.iter().enumerate() {
                let mut expected = [0i16; 64];
                expected[1] = 1;
                // The second block's coefficient is read too: the symbol did not start a
                // run of empty blocks.
                assert_eq!(block, &expected, "block {i}");
                assert_eq!(comp.ends[i], 2, "block {i}");
            }
        }
        // With the symbol replaced by end of block (`10`), the same coefficients.
        let mut plain = data.clone();
        let at = plain.len() - 4;
        plain[at] = 0b0001_1000;
        let a = decode_all(&data, 0).expect("decodes");
        let b = decode_all(&plain, 0).expect("decodes");
        assert!(blocks(&a) == blocks(&b));
    }
}
