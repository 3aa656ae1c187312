//! Writing quantized coefficients as a JPEG file: always optimized Huffman tables; one
//! interleaved baseline scan, or a progressive file by spectral selection.
//!
//! The progressive script is: the DC coefficients of all components in one interleaved scan,
//! then for luma the AC bands 1..=5 and 6..=63, for each chroma component the band 1..=63,
//! each scan with its own Huffman tables and end-of-band runs. No successive approximation,
//! so every scan is a first scan: simple, and readable by every decoder.

use super::entropy_decode::{Coefficients, ComponentCoeffs};
use super::markers::{code, Density, Segment, ZIGZAG};

/// Where symbols and raw bits go. The first pass records tokens and counts symbols; the
/// second pass only writes the recorded tokens with the tables built from the counts.
trait Sink {
    /// A symbol and the `n` raw bits of `value` that follow it.
    fn symbol_with_bits(&mut self, table: usize, symbol: u8, value: u32, n: u32);
    /// A symbol with no raw bits after it.
    fn symbol(&mut self, table: usize, symbol: u8) {
        self.symbol_with_bits(table, symbol, 0, 0);
    }
}

/// Table ids: DC tables 0..4, AC tables 4..8, by output slot.
const AC: usize = 4;

/// A symbol and the raw bits that follow it, packed: value (16 bits), bit count (5 bits),
/// table (3 bits), symbol (8 bits).
#[derive(Clone, Copy)]
struct Token(u32);

struct Recorder {
    freq: [[u32; 257]; 8],
    tokens: Vec<Token>,
}

impl Sink for Recorder {
    #[inline]
    fn symbol_with_bits(&mut self, table: usize, symbol: u8, value: u32, n: u32) {
        self.freq[table][usize::from(symbol)] += 1;
        let bits = (n << 11) | (value & ((1 << n) - 1)) << 16;
        self.tokens
            .push(Token(u32::from(symbol) | (table as u32) << 8 | bits));
    }
}

/// Writes bits into `out`, most significant first; `STUFF` inserts a zero byte after every
/// 0xFF byte (entropy-coded data). A writer without stuffing holds bits that another
/// writer appends later ([`Writer::append`]).
struct Writer<'o, const STUFF: bool = true> {
    out: &'o mut Vec<u8>,
    acc: u64,
    nbits: u32,
}

/// Tokens per half from which [`Writer::tokens`] writes the second half on another thread.
const SPLIT_TOKENS: usize = 1 << 17;

impl<const STUFF: bool> Writer<'_, STUFF> {
    /// Appends the low `n` (at most 32) bits of `value`.
    #[inline]
    fn put(&mut self, value: u32, n: u32) {
        self.acc = (self.acc << n) | u64::from(value) & ((1u64 << n) - 1);
        self.nbits += n;
        if self.nbits >= 32 {
            self.nbits -= 32;
            let word = (self.acc >> self.nbits) as u32;
            let bytes = word.to_be_bytes();
            // Fast path: no 0xFF byte (no zero byte in !word), so no stuffing.
            let inv = !word;
            if !STUFF || inv.wrapping_sub(0x0101_0101) & !inv & 0x8080_8080 == 0 {
                self.out.extend_from_slice(&bytes);
            } else {
                for b in bytes {
                    self.out.push(b);
                    if b == 0xFF {
                        self.out.push(0);
                    }
                }
            }
            self.acc &= (1u64 << self.nbits) - 1;
        }
    }

    /// Writes the remaining bits, padding the last byte with 1 bits.
    fn flush(&mut self) {
        let pad = (8 - self.nbits % 8) % 8;
        self.acc = (self.acc << pad) | ((1u64 << pad) - 1);
        self.nbits += pad;
        while self.nbits >= 8 {
            self.nbits -= 8;
            let b = (self.acc >> self.nbits) as u8;
            self.out.push(b);
            if STUFF && b == 0xFF {
                self.out.push(0);
            }
        }
        self.acc = 0;
    }

    /// Writes `tokens` with `codes`, one after the other.
    fn tokens_here(&mut self, tokens: &[Token], codes: &[[(u16, u8); 256]; 8]) {
        for &Token(t) in tokens {
            let (code, len) = codes[((t >> 8) & 7) as usize][(t & 0xFF) as usize];
            let n = (t >> 11) & 31;
            self.put((u32::from(code) << n) | (t >> 16), u32::from(len) + n);
        }
    }

    /// Appends the bits `other` holds (written without stuffing), as if they had been put
    /// here: whole words, then the bytes and bits left.
    fn append(&mut self, other: Writer<'_, false>) {
        let (words, rest) = other.out.as_chunks::<4>();
        for w in words {
            self.put(u32::from_be_bytes(*w), 32);
        }
        for &b in rest {
            self.put(u32::from(b), 8);
        }
        self.put(other.acc as u32, other.nbits);
    }
}

impl Writer<'_> {
    /// Writes `tokens` with `codes`. A long run of tokens is written in two halves on two
    /// threads: the second half's bits without stuffing (where its bytes fall depends on
    /// the first half's length), appended once the first half is written; the same bytes as
    /// writing it in one go.
    fn tokens(&mut self, tokens: &[Token], codes: &[[(u16, u8); 256]; 8]) {
        if tokens.len() < 2 * SPLIT_TOKENS {
            return self.tokens_here(tokens, codes);
        }
        let (first, second) = tokens.split_at(tokens.len() / 2);
        let mut bytes = Vec::with_capacity(second.len() * 2);
        let (acc, nbits) = std::thread::scope(|s| {
            let other = s.spawn(|| {
                let mut w = Writer::<false> {
                    out: &mut bytes,
                    acc: 0,
                    nbits: 0,
                };
                w.tokens_here(second, codes);
                (w.acc, w.nbits)
            });
            self.tokens_here(first, codes);
            other
                .join()
                .unwrap_or_else(|e| std::panic::resume_unwind(e))
        });
        self.append(Writer::<false> {
            out: &mut bytes,
            acc,
            nbits,
        });
    }
}

/// Bits needed for |v| (the JPEG magnitude category).
fn category(v: i32) -> u32 {
    32 - v.unsigned_abs().leading_zeros()
}

/// The low `s` bits JPEG writes for value `v` of category `s`.
fn magnitude_bits(v: i32, s: u32) -> u32 {
    let v = if v < 0 { v - 1 } else { v };
    (v as u32) & ((1u32 << s) - 1)
}

fn encode_dc(sink: &mut impl Sink, table: usize, diff: i32) {
    let s = category(diff);
    sink.symbol_with_bits(table, s as u8, magnitude_bits(diff, s), s);
}

/// Sequential AC coding of coefficients 1..=63 (the same symbols as band coding of 1..=63
/// with the end-of-band run flushed after every block, where a run of one is the EOB symbol
/// 0x00). The nonzero coefficients are found from a bit mask, one step per coefficient
/// coded rather than per coefficient.
fn encode_ac_sequential(sink: &mut impl Sink, table: usize, block: &[i16; 64]) {
    let mut mask = 0u64;
    for (k, &c) in block.iter().enumerate() {
        mask |= u64::from(c != 0) << k;
    }
    mask &= !1; // DC is coded apart
    let mut last = 0;
    while mask != 0 {
        let k = mask.trailing_zeros() as usize;
        mask &= mask - 1;
        encode_ac_value(sink, table, (k - last - 1) as u32, i32::from(block[k]));
        last = k;
    }
    if last < 63 {
        sink.symbol(table, 0x00);
    }
}

/// A nonzero AC coefficient `v` after `run` zeros: a ZRL symbol per 16 zeros, then the
/// run/size symbol and the magnitude bits.
fn encode_ac_value(sink: &mut impl Sink, table: usize, mut run: u32, v: i32) {
    while run > 15 {
        sink.symbol(table, 0xF0);
        run -= 16;
    }
    let s = category(v);
    sink.symbol_with_bits(table, ((run << 4) | s) as u8, magnitude_bits(v, s), s);
}

fn flush_eobrun(sink: &mut impl Sink, table: usize, eobrun: &mut u32) {
    if *eobrun > 0 {
        let n = category(*eobrun as i32) - 1;
        sink.symbol_with_bits(table, (n << 4) as u8, *eobrun, n);
        *eobrun = 0;
    }
}

/// Progressive first-scan AC coding of the band `ss..=se`, with end-of-band runs;
/// coefficients from `end` on are zero.
fn encode_ac_band(
    sink: &mut impl Sink,
    table: usize,
    block: &[i16; 64],
    (ss, se, end): (usize, usize, usize),
    eobrun: &mut u32,
) {
    let mut run = 0u32;
    let stop = (se + 1).min(end).max(ss);
    for &c in &block[ss..stop] {
        let v = i32::from(c);
        if v == 0 {
            run += 1;
            continue;
        }
        flush_eobrun(sink, table, eobrun);
        encode_ac_value(sink, table, run, v);
        run = 0;
    }
    if run > 0 || stop <= se {
        *eobrun += 1;
        if *eobrun == 0x7FFF {
            flush_eobrun(sink, table, eobrun);
        }
    }
}

/// One scan of the output.
struct ScanSpec {
    comps: Vec<usize>,
    ss: usize,
    se: usize,
}

impl ScanSpec {
    /// A sequential scan (every coefficient) of the components `comps`.
    fn sequential(comps: Vec<usize>) -> ScanSpec {
        ScanSpec {
            comps,
            ss: 0,
            se: 63,
        }
    }

    /// The one interleaved scan of a baseline file of `n` components.
    fn interleaved(n: usize) -> ScanSpec {
        ScanSpec::sequential((0..n).collect())
    }
}

/// Codes one scan of `c` into `sink`; `preds` holds each component's DC prediction, carried
/// in and out (so that a baseline scan can be coded band by band).
fn run_scan(sink: &mut impl Sink, c: &Coefficients, scan: &ScanSpec, preds: &mut [i32]) {
    let slot = |ci: usize| usize::from(c.components[ci].tq);
    if scan.comps.len() > 1 {
        // Interleaved: baseline (all coefficients) or progressive DC.
        let (mx, my) = c.mcus();
        for my_ in 0..my {
            for mx_ in 0..mx {
                for &ci in &scan.comps {
                    let comp = &c.components[ci];
                    for by in 0..usize::from(comp.v) {
                        for bx in 0..usize::from(comp.h) {
                            let x = mx_ * usize::from(comp.h) + bx;
                            let y = my_ * usize::from(comp.v) + by;
                            let idx = y * comp.blocks_w + x;
                            let block = (&comp.blocks[idx], end_of(comp, idx));
                            encode_block(sink, block, scan, slot(ci), &mut preds[ci], &mut 0);
                        }
                    }
                }
            }
        }
        return;
    }
    let ci = scan.comps[0];
    let comp: &ComponentCoeffs = &c.components[ci];
    let (bw, bh) = c.scan_blocks(ci);
    let mut eobrun = 0u32;
    for y in 0..bh {
        for x in 0..bw {
            let idx = y * comp.blocks_w + x;
            let block = (&comp.blocks[idx], end_of(comp, idx));
            encode_block(sink, block, scan, slot(ci), &mut preds[ci], &mut eobrun);
        }
    }
    flush_eobrun(sink, AC + slot(ci), &mut eobrun);
}

/// The block's end when known (see [`ComponentCoeffs::ends`]), else 64.
fn end_of(comp: &ComponentCoeffs, idx: usize) -> usize {
    comp.ends.get(idx).map_or(64, |&e| usize::from(e))
}

fn encode_block(
    sink: &mut impl Sink,
    (block, end): (&[i16; 64], usize),
    scan: &ScanSpec,
    slot: usize,
    pred: &mut i32,
    eobrun: &mut u32,
) {
    if scan.ss == 0 {
        let dc = i32::from(block[0]);
        encode_dc(sink, slot, dc - *pred);
        *pred = dc;
        if scan.se == 63 {
            encode_ac_sequential(sink, AC + slot, block);
        }
    } else {
        encode_ac_band(sink, AC + slot, block, (scan.ss, scan.se, end), eobrun);
    }
}

/// Optimal code lengths limited to 16 bits (JPEG Annex K.2): returns the count of codes of
/// each length 1..=16 and the symbols in order of increasing length.
fn build_table(freq: &[u32; 257]) -> ([u8; 16], Vec<u8>) {
    let mut freq: Vec<u64> = freq.iter().map(|&f| u64::from(f)).collect();
    freq[256] = 1; // reserved, so that no code is all ones
    let mut size = [0usize; 257];
    let mut next: [Option<usize>; 257] = [None; 257];
    loop {
        // The two least frequent (non-zero) trees; ties go to the larger symbol.
        let mut c1: Option<usize> = None;
        let mut c2: Option<usize> = None;
        for i in 0..257 {
            if freq[i] == 0 {
                continue;
            }
            if c1.is_none_or(|c| freq[i] <= freq[c]) {
                c2 = c1;
                c1 = Some(i);
            } else if c2.is_none_or(|c| freq[i] <= freq[c]) {
                c2 = Some(i);
            }
        }
        let (Some(a), Some(b)) = (c1, c2) else { break };
        freq[a] += freq[b];
        freq[b] = 0;
        let mut i = a;
        size[i] += 1;
        while let Some(n) = next[i] {
            i = n;
            size[i] += 1;
        }
        next[i] = Some(b);
        let mut j = b;
        size[j] += 1;
        while let Some(n) = next[j] {
            j = n;
            size[j] += 1;
        }
    }
    let mut bits = [0u32; 33];
    for &s in &size {
        if s > 0 {
            bits[s.min(32)] += 1;
        }
    }
    // Limit code lengths to 16.
    for i in (17..=32).rev() {
        while bits[i] > 0 {
            let mut j = i - 2;
            while bits[j] == 0 {
                j -= 1;
            }
            bits[i] -= 2;
            bits[i - 1] += 1;
            bits[j + 1] += 2;
            bits[j] -= 1;
        }
    }
    // Remove the reserved symbol's code (the longest).
    let mut i = 16;
    while i > 0 && bits[i] == 0 {
        i -= 1;
    }
    if i > 0 {
        bits[i] -= 1;
    }
    let mut counts = [0u8; 16];
    for (len, c) in counts.iter_mut().enumerate() {
        *c = bits[len + 1] as u8;
    }
    let mut symbols: Vec<(usize, u8)> = (0..256)
        .filter(|&s| size[s] > 0)
        .map(|s| (size[s], s as u8))
        .collect();
    symbols.sort();
    (counts, symbols.into_iter().map(|(_, s)| s).collect())
}

/// Canonical codes for a table given as (counts, symbols).
fn codes_for(counts: &[u8; 16], symbols: &[u8]) -> [(u16, u8); 256] {
    let mut codes = [(0u16, 0u8); 256];
    let mut code = 0u32;
    let mut k = 0;
    for len in 1..=16u8 {
        for _ in 0..counts[usize::from(len) - 1] {
            if let Some(&s) = symbols.get(k) {
                codes[usize::from(s)] = (code as u16, len);
            }
            code += 1;
            k += 1;
        }
        code <<= 1;
    }
    codes
}

fn segment(out: &mut Vec<u8>, marker: u8, payload: &[u8]) {
    out.extend_from_slice(&[0xFF, marker]);
    out.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(payload);
}

/// How to write the file around the coefficients.
pub(crate) struct WriteSettings<'a> {
    /// Progressive (SOF2) instead of baseline (SOF0).
    pub progressive: bool,
    /// Quantization tables by slot (natural order, values 1..=255); components' `tq` index it.
    pub tables: &'a [[u16; 64]],
    /// Baseline only: one scan per component, each with its own optimal Huffman tables
    /// (smaller than one interleaved scan whose chroma components share tables).
    pub scan_per_component: bool,
    /// JFIF density.
    pub density: Option<Density>,
    /// Metadata segments written after the JFIF header.
    pub segments: &'a [Segment<'a>],
}

/// Writes a complete JPEG file from coefficients already quantized by `settings.tables`.
pub(crate) fn write(c: &Coefficients, settings: &WriteSettings<'_>) -> Vec<u8> {
    write_split(c, settings, 4096)
}

/// [`write`], recording chroma's scans on a second thread from `split_from` blocks up.
fn write_split(c: &Coefficients, settings: &WriteSettings<'_>, split_from: usize) -> Vec<u8> {
    let blocks: usize = c.components.iter().map(|comp| comp.blocks.len()).sum();
    let mut out = Vec::with_capacity(blocks * 16 + 4096);
    write_header(&mut out, c, settings);
    let mut scans = Vec::new();
    if settings.progressive {
        scans.push(ScanSpec {
            comps: (0..c.components.len()).collect(),
            ss: 0,
            se: 0,
        });
        for ci in 0..c.components.len() {
            if ci == 0 {
                scans.push(ScanSpec {
                    comps: vec![0],
                    ss: 1,
                    se: 5,
                });
                scans.push(ScanSpec {
                    comps: vec![0],
                    ss: 6,
                    se: 63,
                });
            } else {
                scans.push(ScanSpec {
                    comps: vec![ci],
                    ss: 1,
                    se: 63,
                });
            }
        }
    } else if settings.scan_per_component {
        scans.extend((0..c.components.len()).map(|ci| ScanSpec::sequential(vec![ci])));
    } else {
        scans.push(ScanSpec::interleaved(c.components.len()));
    }
    for (scan, recorder) in scans.iter().zip(record_scans(c, &scans, split_from)) {
        write_scan(&mut out, c, scan, &recorder);
    }
    out.extend_from_slice(&[0xFF, code::EOI]);
    out
}

/// Each scan's symbols, in the order of `scans`. Scans only read the coefficients, so for
/// a large colour image the scans of chroma alone are recorded on a second thread while
/// the others (luma's, and interleaved ones) are recorded on this one.
fn record_scans(c: &Coefficients, scans: &[ScanSpec], split_from: usize) -> Vec<Recorder> {
    let record = |scan: &ScanSpec| {
        // At most one token per nonzero coefficient, plus DC, EOB and zero runs per block.
        let bound: usize = scan
            .comps
            .iter()
            .map(|&ci| {
                let comp = &c.components[ci];
                comp.ends.iter().map(|&e| usize::from(e)).sum::<usize>() + 5 * comp.blocks.len()
            })
            .sum();
        let mut recorder = Recorder {
            freq: [[0; 257]; 8],
            tokens: Vec::with_capacity(bound),
        };
        run_scan(&mut recorder, c, scan, &mut [0; 4]);
        recorder
    };
    let chroma = |scan: &&ScanSpec| !scan.comps.contains(&0);
    let blocks: usize = c.components.iter().map(|k| k.blocks.len()).sum();
    if blocks < split_from || !scans.iter().any(|s| chroma(&s)) {
        return scans.iter().map(record).collect();
    }
    let (mut first, mut second) = std::thread::scope(|s| {
        let second = s.spawn(|| scans.iter().filter(chroma).map(record).collect::<Vec<_>>());
        let first: Vec<Recorder> = scans.iter().filter(|s| !chroma(s)).map(record).collect();
        let second = second
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e));
        (first.into_iter(), second.into_iter())
    });
    scans
        .iter()
        .filter_map(|scan| {
            if chroma(&scan) {
                second.next()
            } else {
                first.next()
            }
        })
        .collect()
}

/// SOI, JFIF, the metadata segments, DQT and the frame header.
fn write_header(out: &mut Vec<u8>, c: &Coefficients, settings: &WriteSettings<'_>) {
    out.extend_from_slice(&[0xFF, code::SOI]);
    let d = settings
        .density
        .filter(|d| d.x > 0 && d.y > 0)
        .unwrap_or(Density {
            unit: 0,
            x: 1,
            y: 1,
        });
    let mut jfif = b"JFIF\0\x01\x01".to_vec();
    jfif.push(d.unit);
    jfif.extend_from_slice(&d.x.to_be_bytes());
    jfif.extend_from_slice(&d.y.to_be_bytes());
    jfif.extend_from_slice(&[0, 0]);
    segment(out, code::APP0, &jfif);
    for s in settings.segments {
        segment(out, s.marker, s.payload);
    }
    let mut dqt = Vec::new();
    for (slot, table) in settings.tables.iter().enumerate() {
        dqt.push(slot as u8);
        dqt.extend(ZIGZAG.iter().map(|&n| table[n].clamp(1, 255) as u8));
    }
    segment(out, code::DQT, &dqt);
    let mut sof = vec![8];
    sof.extend_from_slice(&(c.height as u16).to_be_bytes());
    sof.extend_from_slice(&(c.width as u16).to_be_bytes());
    sof.push(c.components.len() as u8);
    for comp in &c.components {
        sof.extend_from_slice(&[comp.id, (comp.h << 4) | comp.v, comp.tq]);
    }
    let sof_code = if settings.progressive {
        code::SOF2
    } else {
        code::SOF0
    };
    segment(out, sof_code, &sof);
}

/// The optimal Huffman tables of a recorded scan (DHT), its header (SOS) and its data.
fn write_scan(out: &mut Vec<u8>, c: &Coefficients, scan: &ScanSpec, recorder: &Recorder) {
    let mut dht = Vec::new();
    let mut codes = [[(0u16, 0u8); 256]; 8];
    for (t, freq) in recorder.freq.iter().enumerate() {
        if freq.iter().all(|&f| f == 0) {
            continue;
        }
        let (counts, symbols) = build_table(freq);
        codes[t] = codes_for(&counts, &symbols);
        let class_slot = if t >= AC { 0x10 | (t - AC) } else { t } as u8;
        dht.push(class_slot);
        dht.extend_from_slice(&counts);
        dht.extend_from_slice(&symbols);
    }
    segment(out, code::DHT, &dht);
    let mut sos = vec![scan.comps.len() as u8];
    for &ci in &scan.comps {
        let slot = c.components[ci].tq;
        sos.extend_from_slice(&[c.components[ci].id, (slot << 4) | slot]);
    }
    sos.extend_from_slice(&[scan.ss as u8, scan.se as u8, 0]);
    segment(out, code::SOS, &sos);
    let mut writer = Writer {
        out,
        acc: 0,
        nbits: 0,
    };
    writer.tokens(&recorder.tokens, &codes);
    writer.flush();
}

/// A baseline file (one interleaved scan, optimal Huffman tables) coded band by band: each
/// band of whole MCU rows is recorded as it comes ([`Baseline::add`]), so that the bands'
/// coefficients need not be kept; [`Baseline::finish`] writes the file.
pub(crate) struct Baseline {
    recorder: Recorder,
    preds: [i32; 4],
}

impl Baseline {
    /// An empty recording; `tokens` is a guess of the tokens to come (it only sizes the
    /// first allocation).
    pub(crate) fn new(tokens: usize) -> Baseline {
        Baseline {
            recorder: Recorder {
                freq: [[0; 257]; 8],
                tokens: Vec::with_capacity(tokens),
            },
            preds: [0; 4],
        }
    }

    /// Records the next band: whole MCU rows of the output layout, quantized with the tables
    /// that [`Baseline::finish`] will be given.
    pub(crate) fn add(&mut self, band: &Coefficients) {
        let scan = ScanSpec::interleaved(band.components.len());
        run_scan(&mut self.recorder, band, &scan, &mut self.preds);
    }

    /// The file: `frame` gives the size and the components (their blocks are not read);
    /// `settings` must be baseline (not progressive).
    pub(crate) fn finish(self, frame: &Coefficients, settings: &WriteSettings<'_>) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.recorder.tokens.len() * 2 + 4096);
        write_header(&mut out, frame, settings);
        let scan = ScanSpec::interleaved(frame.components.len());
        write_scan(&mut out, frame, &scan, &self.recorder);
        out.extend_from_slice(&[0xFF, code::EOI]);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_written_in_two_halves_give_the_same_bytes() {
        // Codes of every length from 1 to 16, many of them all ones (0xFF bytes to stuff),
        // raw bits of every count up to 15, from a fixed pseudo-random sequence.
        let mut codes = [[(0u16, 0u8); 256]; 8];
        for (t, table) in codes.iter_mut().enumerate() {
            for (sym, c) in table.iter_mut().enumerate() {
                let len = 1 + ((sym + t) % 16) as u8;
                let code = if sym % 3 == 0 {
                    u16::MAX
                } else {
                    (sym * 7919) as u16
                };
                *c = (code & (((1u32 << len) - 1) as u16), len);
            }
        }
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as u32
        };
        for count in [2 * SPLIT_TOKENS - 1, 2 * SPLIT_TOKENS, 2 * SPLIT_TOKENS + 5] {
            let tokens: Vec<Token> = (0..count)
                .map(|_| {
                    let r = next();
                    let n = r % 16;
                    let value = if r & 16 != 0 { 0xFFFF } else { next() & 0xFFFF };
                    Token((r >> 8) & 0x7FF | n << 11 | (value & ((1 << n) - 1)) << 16)
                })
                .collect();
            for lead in [0u32, 3, 8, 13] {
                let write = |split: bool| {
                    let mut out = Vec::new();
                    let mut w = Writer::<true> {
                        out: &mut out,
                        acc: 0,
                        nbits: 0,
                    };
                    w.put(0x1FFF, lead);
                    if split {
                        w.tokens(&tokens, &codes);
                    } else {
                        w.tokens_here(&tokens, &codes);
                    }
                    w.flush();
                    out
                };
                let (whole, halves) = (write(false), write(true));
                assert!(whole.len() > count, "{count} {lead}");
                assert!(whole == halves, "{count} tokens after {lead} bits");
            }
        }
    }

    #[test]
    fn chroma_scans_recorded_on_a_second_thread_write_the_same_file() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/images/jpeg/");
        for name in ["mpl-grace_hopper.jpg", "jxl-flower_q85_420_progr.jpg"] {
            let data = std::fs::read(format!("{root}{name}")).expect("repo image");
            let c = super::super::entropy_decode::decode_coefficients(&data).expect(name);
            let tables: Vec<[u16; 64]> = c.components.iter().map(|k| k.table.unwrap()).collect();
            for (progressive, scan_per_component) in [(true, false), (false, true), (false, false)]
            {
                let settings = WriteSettings {
                    progressive,
                    scan_per_component,
                    tables: &tables,
                    density: None,
                    segments: &[],
                };
                let mut c = c.clone();
                for (i, k) in c.components.iter_mut().enumerate() {
                    k.tq = i as u8;
                }
                let alone = write_split(&c, &settings, usize::MAX);
                let split = write_split(&c, &settings, 0);
                assert!(alone == split, "{name} {progressive} {scan_per_component}");
                let back = super::super::entropy_decode::decode_coefficients(&split).expect(name);
                // The blocks that carry the image read back (padding blocks of a scan per
                // component are not coded).
                for (ci, (a, b)) in back.components.iter().zip(&c.components).enumerate() {
                    let (w, h) = c.scan_blocks(ci);
                    for y in 0..h {
                        let (ra, rb) = (y * a.blocks_w, y * b.blocks_w);
                        assert!(
                            a.blocks[ra..ra + w] == b.blocks[rb..rb + w],
                            "{name}: row {y}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn optimal_tables_are_prefix_free_and_limited_to_16_bits() {
        // Fibonacci-like frequencies force very long codes before limiting.
        let mut freq = [0u32; 257];
        let (mut a, mut b) = (1u32, 1u32);
        for f in freq.iter_mut().take(40) {
            *f = a;
            (a, b) = (b, a.saturating_add(b).min(1 << 30));
        }
        let (counts, symbols) = build_table(&freq);
        assert_eq!(symbols.len(), 40);
        let total: u32 = counts.iter().map(|&c| u32::from(c)).sum();
        assert_eq!(total, 40);
        // Kraft sum strictly below 1 (the all-ones code stays unused).
        let kraft: f64 = counts
            .iter()
            .enumerate()
            .map(|(i, &c)| f64::from(c) / f64::from(1u32 << (i + 1)))
            .sum();
        assert!(kraft < 1.0, "{kraft}");
        let codes = codes_for(&counts, &symbols);
        assert!(symbols.iter().all(|&s| codes[usize::from(s)].1 <= 16));
    }

    #[test]
    fn a_single_symbol_gets_a_one_bit_code() {
        let mut freq = [0u32; 257];
        freq[0] = 100;
        let (counts, symbols) = build_table(&freq);
        assert_eq!(symbols, vec![0]);
        assert_eq!(counts[0], 1);
    }
}
