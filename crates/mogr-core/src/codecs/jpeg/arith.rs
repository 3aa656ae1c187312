//! Arithmetic-coded JPEG (ITU T.81 Annex D, F.1.4 and G.1.3): the QM-coder's decoder and the
//! statistics of sequential and progressive DCT scans, giving the same coefficients as the
//! Huffman decoder in [`super::entropy_decode`] so that the rest of the path (pixels,
//! requantization, re-encoding with Huffman tables) is shared.

use super::entropy_decode::{walk_blocks, Coefficients, Scan, ScanEvent};
use crate::error::Error;

fn bad(message: &str) -> Error {
    Error::decode(crate::format::ImageFormat::Jpeg, message)
}

/// Table D.2: for each state, its LPS probability estimate `Qe`, the next state after an
/// LPS and after an MPS, and whether an LPS switches the MPS sense. State 113 is a fixed
/// even-odds state (never updated) for sign and refinement bits.
const STATES: [(u16, u8, u8, bool); 114] = [
    (0x5a1d, 1, 1, true),
    (0x2586, 14, 2, false),
    (0x1114, 16, 3, false),
    (0x080b, 18, 4, false),
    (0x03d8, 20, 5, false),
    (0x01da, 23, 6, false),
    (0x00e5, 25, 7, false),
    (0x006f, 28, 8, false),
    (0x0036, 30, 9, false),
    (0x001a, 33, 10, false),
    (0x000d, 35, 11, false),
    (0x0006, 9, 12, false),
    (0x0003, 10, 13, false),
    (0x0001, 12, 13, false),
    (0x5a7f, 15, 15, true),
    (0x3f25, 36, 16, false),
    (0x2cf2, 38, 17, false),
    (0x207c, 39, 18, false),
    (0x17b9, 40, 19, false),
    (0x1182, 42, 20, false),
    (0x0cef, 43, 21, false),
    (0x09a1, 45, 22, false),
    (0x072f, 46, 23, false),
    (0x055c, 48, 24, false),
    (0x0406, 49, 25, false),
    (0x0303, 51, 26, false),
    (0x0240, 52, 27, false),
    (0x01b1, 54, 28, false),
    (0x0144, 56, 29, false),
    (0x00f5, 57, 30, false),
    (0x00b7, 59, 31, false),
    (0x008a, 60, 32, false),
    (0x0068, 62, 33, false),
    (0x004e, 63, 34, false),
    (0x003b, 32, 35, false),
    (0x002c, 33, 9, false),
    (0x5ae1, 37, 37, true),
    (0x484c, 64, 38, false),
    (0x3a0d, 65, 39, false),
    (0x2ef1, 67, 40, false),
    (0x261f, 68, 41, false),
    (0x1f33, 69, 42, false),
    (0x19a8, 70, 43, false),
    (0x1518, 72, 44, false),
    (0x1177, 73, 45, false),
    (0x0e74, 74, 46, false),
    (0x0bfb, 75, 47, false),
    (0x09f8, 77, 48, false),
    (0x0861, 78, 49, false),
    (0x0706, 79, 50, false),
    (0x05cd, 48, 51, false),
    (0x04de, 50, 52, false),
    (0x040f, 50, 53, false),
    (0x0363, 51, 54, false),
    (0x02d4, 52, 55, false),
    (0x025c, 53, 56, false),
    (0x01f8, 54, 57, false),
    (0x01a4, 55, 58, false),
    (0x0160, 56, 59, false),
    (0x0125, 57, 60, false),
    (0x00f6, 58, 61, false),
    (0x00cb, 59, 62, false),
    (0x00ab, 61, 63, false),
    (0x008f, 61, 32, false),
    (0x5b12, 65, 65, true),
    (0x4d04, 80, 66, false),
    (0x412c, 81, 67, false),
    (0x37d8, 82, 68, false),
    (0x2fe8, 83, 69, false),
    (0x293c, 84, 70, false),
    (0x2379, 86, 71, false),
    (0x1edf, 87, 72, false),
    (0x1aa9, 87, 73, false),
    (0x174e, 72, 74, false),
    (0x1424, 72, 75, false),
    (0x119c, 74, 76, false),
    (0x0f6b, 74, 77, false),
    (0x0d51, 75, 78, false),
    (0x0bb6, 77, 79, false),
    (0x0a40, 77, 48, false),
    (0x5832, 80, 81, true),
    (0x4d1c, 88, 82, false),
    (0x438e, 89, 83, false),
    (0x3bdd, 90, 84, false),
    (0x34ee, 91, 85, false),
    (0x2eae, 92, 86, false),
    (0x299a, 93, 87, false),
    (0x2516, 86, 71, false),
    (0x5570, 88, 89, true),
    (0x4ca9, 95, 90, false),
    (0x44d9, 96, 91, false),
    (0x3e22, 97, 92, false),
    (0x3824, 99, 93, false),
    (0x32b4, 99, 94, false),
    (0x2e17, 93, 86, false),
    (0x56a8, 95, 96, true),
    (0x4f46, 101, 97, false),
    (0x47e5, 102, 98, false),
    (0x41cf, 103, 99, false),
    (0x3c3d, 104, 100, false),
    (0x375e, 99, 93, false),
    (0x5231, 105, 102, false),
    (0x4c0f, 106, 103, false),
    (0x4639, 107, 104, false),
    (0x415e, 103, 99, false),
    (0x5627, 105, 106, true),
    (0x50e7, 108, 107, false),
    (0x4b85, 109, 103, false),
    (0x5597, 110, 109, false),
    (0x504f, 111, 107, false),
    (0x5a10, 110, 111, true),
    (0x5522, 112, 109, false),
    (0x59eb, 112, 111, true),
    (0x5a1d, 113, 113, false),
];

/// A statistics bin: the state index (low 7 bits) and the MPS sense (bit 7).
type Bin = u8;
const FIXED: Bin = 113;

/// Conditioning from DAC segments (Table F.1 defaults: L = 0, U = 1, Kx = 5).
#[derive(Clone, Copy)]
pub(crate) struct Conditioning {
    dc_l: [u8; 4],
    dc_u: [u8; 4],
    ac_k: [u8; 4],
}

impl Default for Conditioning {
    fn default() -> Self {
        Conditioning {
            dc_l: [0; 4],
            dc_u: [1; 4],
            ac_k: [5; 4],
        }
    }
}

impl Conditioning {
    /// Reads a DAC segment's payload.
    pub(crate) fn read(&mut self, mut p: &[u8]) -> Result<(), Error> {
        while p.len() >= 2 {
            let (class, slot, value) = (p[0] >> 4, usize::from(p[0] & 15), p[1]);
            if slot > 3 {
                return Err(bad("bad DAC slot"));
            }
            if class == 0 {
                let (l, u) = (value & 15, value >> 4);
                if l > u {
                    return Err(bad("bad DAC conditioning"));
                }
                self.dc_l[slot] = l;
                self.dc_u[slot] = u;
            } else {
                if !(1..=63).contains(&value) {
                    return Err(bad("bad DAC conditioning"));
                }
                self.ac_k[slot] = value;
            }
            p = &p[2..];
        }
        Ok(())
    }
}

/// The QM-coder's decoder (Annex D.2): the code register `c`, the interval `a` and the count
/// of bits left before the next byte is needed.
struct Decoder<'a> {
    data: &'a [u8],
    pos: usize,
    c: u64,
    a: u64,
    ct: i32,
    /// A marker was reached: zeros are fed from here on.
    at_marker: bool,
    /// Zero bytes fed past the end of the data.
    past_end: u32,
}

impl<'a> Decoder<'a> {
    fn new(data: &'a [u8], pos: usize) -> Decoder<'a> {
        Decoder {
            data,
            pos,
            c: 0,
            a: 0,
            // Two bytes are read before the first decision (D.2.7, Initdec).
            ct: -16,
            at_marker: false,
            past_end: 0,
        }
    }

    fn byte(&mut self) -> u64 {
        if self.at_marker {
            return 0;
        }
        let Some(&b) = self.data.get(self.pos) else {
            self.past_end += 1;
            return 0;
        };
        if b != 0xFF {
            self.pos += 1;
            return u64::from(b);
        }
        // 0xFF 0x00 is a data byte 0xFF; 0xFF then anything else is a marker, left unread.
        let mut next = self.pos + 1;
        while self.data.get(next) == Some(&0xFF) {
            next += 1;
        }
        if self.data.get(next) == Some(&0) {
            self.pos = next + 1;
            0xFF
        } else {
            self.at_marker = true;
            0
        }
    }

    /// Decodes one binary decision with the statistics in `bin`, updating them.
    fn decide(&mut self, bin: &mut Bin) -> bool {
        while self.a < 0x8000 {
            self.ct -= 1;
            if self.ct < 0 {
                self.c = (self.c << 8) | self.byte();
                self.ct += 8;
                if self.ct < 0 {
                    self.ct += 1;
                    if self.ct == 0 {
                        // The two initial bytes are in: A becomes 0x10000 below.
                        self.a = 0x8000;
                    }
                }
            }
            self.a <<= 1;
        }
        let sv = *bin;
        let (qe, next_lps, next_mps, switch) = STATES[usize::from(sv & 0x7F).min(113)];
        let qe = u64::from(qe);
        let mps = sv & 0x80;
        let after_mps = mps | next_mps;
        let after_lps = (if switch { mps ^ 0x80 } else { mps }) | next_lps;
        self.a -= qe.min(self.a);
        let shifted = self.a << self.ct.max(0);
        let mut symbol = sv >> 7;
        if self.c >= shifted {
            // The lower sub-interval: the LPS, unless the conditional exchange applies.
            self.c -= shifted;
            if self.a < qe {
                *bin = after_mps;
            } else {
                *bin = after_lps;
                symbol ^= 1;
            }
            self.a = qe;
        } else if self.a < 0x8000 {
            if self.a < qe {
                *bin = after_lps;
                symbol ^= 1;
            } else {
                *bin = after_mps;
            }
        }
        symbol == 1
    }

    /// Skips to the restart marker and over it, and starts afresh.
    fn restart(&mut self) -> Result<(), Error> {
        let pos = super::huffman::past_restart(self.data, self.pos)?;
        *self = Decoder::new(self.data, pos);
        Ok(())
    }
}

/// Statistics of one scan: 64 DC bins and 256 AC bins per table slot, and each component's
/// DC context and predictor.
struct Stats {
    dc: [[Bin; 64]; 4],
    ac: [[Bin; 256]; 4],
    dc_context: [usize; 4],
    last_dc: [i32; 4],
    fixed: Bin,
}

impl Stats {
    fn new() -> Stats {
        Stats {
            dc: [[0; 64]; 4],
            ac: [[0; 256]; 4],
            dc_context: [0; 4],
            last_dc: [0; 4],
            fixed: FIXED,
        }
    }
}

/// The bits of a magnitude below its top bit `m` (Figure F.24), all from one bin; 0 when
/// `m` is 0.
fn magnitude_bits(d: &mut Decoder<'_>, bin: &mut Bin, m: i32) -> i32 {
    let mut v = m;
    let mut bit = m >> 1;
    while bit != 0 {
        if d.decide(bin) {
            v |= bit;
        }
        bit >>= 1;
    }
    v
}

/// Decodes a DC difference with component `ci`'s context in table `tbl` (Figures F.19-F.24).
fn dc_diff(
    d: &mut Decoder<'_>,
    s: &mut Stats,
    cond: &Conditioning,
    ci: usize,
    tbl: usize,
) -> Result<i32, Error> {
    let bins = &mut s.dc[tbl];
    let st = s.dc_context[ci];
    if !d.decide(&mut bins[st]) {
        s.dc_context[ci] = 0;
        return Ok(0);
    }
    let sign = d.decide(&mut bins[st + 1]);
    let mut at = st + 2 + usize::from(sign);
    let mut m = 0i32;
    if d.decide(&mut bins[at]) {
        m = 1;
        at = 20;
        while d.decide(&mut bins[at]) {
            m <<= 1;
            if m == 0x8000 {
                return Err(bad("arithmetic-coded DC out of range"));
            }
            at += 1;
        }
    }
    // The conditioning category of the next difference (F.1.4.4.1.2).
    let (l, u) = (cond.dc_l[tbl], cond.dc_u[tbl]);
    s.dc_context[ci] = if m < (1i32 << l) >> 1 {
        0
    } else if m > (1i32 << u) >> 1 {
        12 + 4 * usize::from(sign)
    } else {
        4 + 4 * usize::from(sign)
    };
    let v = magnitude_bits(d, &mut bins[at + 14], m) + 1;
    Ok(if sign { -v } else { v })
}

/// Decodes AC coefficients `k0..=se` of one block into `set(k, v)` (Figure F.20; G.1.3.2
/// for the first scan of a band).
fn ac_first(
    d: &mut Decoder<'_>,
    bins: &mut [Bin; 256],
    fixed: &mut Bin,
    kx: u8,
    k0: usize,
    se: usize,
    mut set: impl FnMut(usize, i32),
) -> Result<(), Error> {
    let mut k = k0;
    while k <= se {
        let mut st = 3 * (k - 1);
        if d.decide(&mut bins[st]) {
            return Ok(()); // end of block
        }
        while !d.decide(&mut bins[st + 1]) {
            st += 3;
            k += 1;
            if k > se {
                return Err(bad("arithmetic-coded run past the end of the block"));
            }
        }
        let sign = d.decide(fixed);
        st += 2;
        let mut m = 0i32;
        if d.decide(&mut bins[st]) {
            m = 1;
            if d.decide(&mut bins[st]) {
                m = 2;
                st = if k <= usize::from(kx) { 189 } else { 217 };
                while d.decide(&mut bins[st]) {
                    m <<= 1;
                    if m == 0x8000 {
                        return Err(bad("arithmetic-coded AC out of range"));
                    }
                    st += 1;
                }
            }
        }
        let v = magnitude_bits(d, &mut bins[st + 14], m) + 1;
        set(k, if sign { -v } else { v });
        k += 1;
    }
    Ok(())
}

/// Decodes one arithmetic-coded scan starting at `pos` into `c`; returns where the walk for
/// markers resumes.
pub(crate) fn decode_scan(
    data: &[u8],
    pos: usize,
    c: &mut Coefficients,
    scan: &Scan,
    cond: &Conditioning,
    restart_interval: usize,
) -> Result<usize, Error> {
    let mut d = Decoder::new(data, pos);
    let mut s = Stats::new();
    let al = u32::from(scan.al);
    walk_blocks(c, scan, restart_interval, &mut 0, |event| match event {
        ScanEvent::Restart => {
            d.restart()?;
            s = Stats::new();
            Ok(())
        }
        ScanEvent::Block { i, mut block } => {
            let current = *block.coef;
            let mut set = |k: usize, v: i32| {
                block.set(k, v.clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16);
            };
            decode_block(&mut d, &mut s, cond, scan, i, al, &mut set, current)
        }
    })?;
    if d.past_end > 8 {
        return Err(bad("truncated scan data"));
    }
    Ok(d.pos)
}

/// One block of a scan: DC first or refinement, AC first or refinement, or a whole
/// sequential block.
#[allow(clippy::too_many_arguments)]
fn decode_block(
    d: &mut Decoder<'_>,
    s: &mut Stats,
    cond: &Conditioning,
    scan: &Scan,
    i: usize,
    al: u32,
    set: &mut impl FnMut(usize, i32),
    current: [i16; 64],
) -> Result<(), Error> {
    let ci = scan.comps[i];
    let (dc_tbl, ac_tbl) = (scan.dc[i], scan.ac[i]);
    if scan.ss == 0 {
        if scan.ah == 0 {
            let diff = dc_diff(d, s, cond, ci, dc_tbl)?;
            s.last_dc[ci] = (s.last_dc[ci] + diff) & 0xFFFF;
            let dc = i32::from(s.last_dc[ci] as u16 as i16);
            set(0, dc << al);
        } else if d.decide(&mut s.fixed) {
            set(0, i32::from(current[0]) | (1 << al));
        }
    }
    let k0 = scan.ss.max(1);
    if scan.se == 0 || k0 > scan.se {
        return Ok(());
    }
    let kx = cond.ac_k[ac_tbl];
    if scan.ah == 0 {
        return ac_first(
            d,
            &mut s.ac[ac_tbl],
            &mut s.fixed,
            kx,
            k0,
            scan.se,
            |k, v| set(k, v << al),
        );
    }
    ac_refine(
        d,
        &mut s.ac[ac_tbl],
        &mut s.fixed,
        k0,
        scan.se,
        al,
        current,
        set,
    )
}

/// A refinement scan of AC coefficients `k0..=se` (G.1.3.3).
#[allow(clippy::too_many_arguments)]
fn ac_refine(
    d: &mut Decoder<'_>,
    bins: &mut [Bin; 256],
    fixed: &mut Bin,
    k0: usize,
    se: usize,
    al: u32,
    mut current: [i16; 64],
    set: &mut impl FnMut(usize, i32),
) -> Result<(), Error> {
    let p1 = 1i32 << al;
    let m1 = -1i32 << al;
    // The end of block as the previous scans left it.
    let kex = (1..=se).rev().find(|&k| current[k] != 0).unwrap_or(0);
    let mut k = k0;
    while k <= se {
        let mut st = 3 * (k - 1);
        if k > kex && d.decide(&mut bins[st]) {
            return Ok(());
        }
        loop {
            let coef = i32::from(current[k]);
            if coef != 0 {
                if d.decide(&mut bins[st + 2]) {
                    let v = if coef < 0 { coef + m1 } else { coef + p1 };
                    current[k] = v as i16;
                    set(k, v);
                }
                break;
            }
            if d.decide(&mut bins[st + 1]) {
                let v = if d.decide(fixed) { m1 } else { p1 };
                current[k] = v as i16;
                set(k, v);
                break;
            }
            st += 3;
            k += 1;
            if k > se {
                return Err(bad("arithmetic-coded run past the end of the block"));
            }
        }
        k += 1;
    }
    Ok(())
}
