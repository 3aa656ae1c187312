//! Huffman decoding for the JPEG entropy decoder: canonical tables with a 9-bit fast path
//! (and a fast path for an AC code with its magnitude bits), and the bit reader that undoes
//! 0xFF00 stuffing and stops at markers.

use crate::error::Error;
use crate::format::ImageFormat;

fn bad(message: &str) -> Error {
    Error::decode(ImageFormat::Jpeg, message)
}

/// A canonical Huffman table for decoding.
#[derive(Clone)]
pub(super) struct Huffman {
    /// For each `FAST_BITS`-bit prefix: (code length, symbol); length 0 means "longer code".
    pub(super) fast: Box<[(u8, u8); FAST_SIZE]>,
    /// Largest code of each length (-1 when none), lengths 1..=16.
    maxcode: [i32; 18],
    /// Index into `values` of the first code of each length, minus that code.
    offset: [i32; 17],
    values: Vec<u8>,
    /// For AC use: for each `FAST_BITS`-bit prefix holding a whole code *and* its magnitude
    /// bits, the decoded value (high 16 bits, signed), the run (bits 5..9) and the total
    /// length (bits 0..5); 0 where the prefix does not hold both.
    pub(super) fast_ac: Box<[i32; FAST_SIZE]>,
}

/// The bits the lookup tables index by (11 measured faster than 9 or 10 on a 4:4:4 file,
/// whose AC codes run long).
pub(super) const FAST_BITS: u32 = 11;
/// Entries of the lookup tables.
pub(super) const FAST_SIZE: usize = 1 << FAST_BITS;

impl Huffman {
    pub(super) fn new(counts: &[u8; 16], values: &[u8]) -> Result<Huffman, Error> {
        let total: usize = counts.iter().map(|&c| usize::from(c)).sum();
        if total > 256 || total != values.len() {
            return Err(bad("malformed Huffman table"));
        }
        let mut fast = Box::new([(0u8, 0u8); FAST_SIZE]);
        let mut maxcode = [-1i32; 18];
        let mut offset = [0i32; 17];
        let mut code: u32 = 0;
        let mut k = 0usize;
        for len in 1..=16u32 {
            let n = usize::from(counts[len as usize - 1]);
            offset[len as usize] = k as i32 - code as i32;
            for _ in 0..n {
                if len <= FAST_BITS {
                    let shift = FAST_BITS - len;
                    for fill in 0..(1u32 << shift) {
                        let idx = ((code << shift) | fill) as usize;
                        if let Some(entry) = fast.get_mut(idx) {
                            *entry = (len as u8, values[k]);
                        }
                    }
                }
                code += 1;
                k += 1;
            }
            if n > 0 {
                maxcode[len as usize] = code as i32 - 1;
            }
            if code > (1 << len) {
                return Err(bad("over-subscribed Huffman table"));
            }
            code <<= 1;
        }
        maxcode[17] = i32::MAX;
        let mut fast_ac = Box::new([0i32; FAST_SIZE]);
        for (prefix, entry) in fast_ac.iter_mut().enumerate() {
            let (len, symbol) = fast[prefix];
            let (run, s) = (u32::from(symbol >> 4), u32::from(symbol & 15));
            let total = u32::from(len) + s;
            if len == 0 || s == 0 || total > FAST_BITS {
                continue;
            }
            let bits = ((prefix as u32) >> (FAST_BITS - total)) & ((1 << s) - 1);
            let v = bits as i32;
            let value = if v < (1 << (s - 1)) {
                v - (1 << s) + 1
            } else {
                v
            };
            *entry = (value << 16) | (run << 5) as i32 | total as i32;
        }
        Ok(Huffman {
            fast,
            maxcode,
            offset,
            values: values.to_vec(),
            fast_ac,
        })
    }
}

/// Reads entropy-coded bits, undoing 0xFF00 stuffing and stopping at markers.
pub(super) struct BitReader<'a> {
    data: &'a [u8],
    pub(super) pos: usize,
    pub(super) acc: u64,
    pub(super) bits: u32,
    /// A marker (or the end of data) was reached; zeros are fed from here on.
    at_marker: bool,
    /// Zero bytes fed past the end of the data (a truncated file).
    past_end: u32,
}

impl<'a> BitReader<'a> {
    pub(super) fn new(data: &'a [u8], pos: usize) -> BitReader<'a> {
        BitReader {
            data,
            pos,
            acc: 0,
            bits: 0,
            at_marker: false,
            past_end: 0,
        }
    }

    pub(super) fn fill(&mut self) {
        // Fast path: the next bytes hold no 0xFF, so take as many whole bytes as fit at once.
        if !self.at_marker {
            if let Some(chunk) = self.data.get(self.pos..self.pos + 8) {
                let n = (63 - self.bits) / 8; // 0..=7 bytes
                let word = u64::from_be_bytes([
                    chunk[0], chunk[1], chunk[2], chunk[3], chunk[4], chunk[5], chunk[6], chunk[7],
                ]);
                let inv = !word;
                let ff_bytes =
                    inv.wrapping_sub(0x0101_0101_0101_0101) & !inv & 0x8080_8080_8080_8080;
                let wanted = !(u64::MAX >> (8 * n));
                if n > 0 && ff_bytes & wanted == 0 {
                    self.acc |= (word & wanted) >> self.bits;
                    self.bits += 8 * n;
                    self.pos += n as usize;
                    return;
                }
            }
        }
        while self.bits <= 56 {
            let mut byte = 0u8;
            if !self.at_marker {
                match self.data.get(self.pos) {
                    None => {
                        self.at_marker = true;
                    }
                    Some(&0xFF) => match self.data.get(self.pos + 1) {
                        Some(0x00) => {
                            byte = 0xFF;
                            self.pos += 2;
                        }
                        _ => self.at_marker = true,
                    },
                    Some(&b) => {
                        byte = b;
                        self.pos += 1;
                    }
                }
            }
            if self.at_marker && self.pos >= self.data.len() {
                self.past_end = self.past_end.saturating_add(1);
            }
            self.acc |= u64::from(byte) << (56 - self.bits);
            self.bits += 8;
        }
    }

    pub(super) fn peek(&mut self, n: u32) -> u32 {
        if self.bits < n {
            self.fill();
        }
        (self.acc >> (64 - n)) as u32
    }

    pub(super) fn consume(&mut self, n: u32) {
        self.acc <<= n;
        self.bits -= n;
    }

    pub(super) fn bits(&mut self, n: u32) -> u32 {
        if n == 0 {
            return 0;
        }
        let v = self.peek(n);
        self.consume(n);
        v
    }

    pub(super) fn bit(&mut self) -> bool {
        self.bits(1) == 1
    }

    pub(super) fn decode(&mut self, table: &Huffman) -> Result<u8, Error> {
        let prefix = self.peek(FAST_BITS) as usize;
        let (len, symbol) = table.fast[prefix];
        if len > 0 {
            self.consume(u32::from(len));
            return Ok(symbol);
        }
        let word = self.peek(16) as i32;
        for len in FAST_BITS + 1..=16 {
            let code = word >> (16 - len);
            if code <= table.maxcode[len as usize] {
                self.consume(len);
                let idx = (table.offset[len as usize] + code) as usize;
                return table
                    .values
                    .get(idx)
                    .copied()
                    .ok_or_else(|| bad("bad Huffman code"));
            }
        }
        Err(bad("bad Huffman code"))
    }

    /// Decodes one symbol and the `symbol & 15` magnitude bits that follow it, refilling
    /// once: a code (16 bits at most) and its magnitude (15 at most) fit in the 56 bits a
    /// refill leaves.
    #[inline]
    pub(super) fn decode_with_value(&mut self, table: &Huffman) -> Result<(u8, i32), Error> {
        if self.bits < 32 {
            self.fill();
        }
        let (mut len, mut symbol) = table.fast[(self.acc >> (64 - FAST_BITS)) as usize];
        if len == 0 {
            let word = (self.acc >> 48) as i32;
            let found =
                (FAST_BITS + 1..=16).find(|&l| (word >> (16 - l)) <= table.maxcode[l as usize]);
            let l = found.ok_or_else(|| bad("bad Huffman code"))?;
            let idx = (table.offset[l as usize] + (word >> (16 - l))) as usize;
            symbol = *table
                .values
                .get(idx)
                .ok_or_else(|| bad("bad Huffman code"))?;
            len = l as u8;
        }
        self.acc <<= len;
        self.bits -= u32::from(len);
        let s = u32::from(symbol & 15);
        if s == 0 {
            return Ok((symbol, 0));
        }
        let v = (self.acc >> (64 - s)) as i32;
        self.acc <<= s;
        self.bits -= s;
        let value = if v < (1 << (s - 1)) {
            v - (1 << s) + 1
        } else {
            v
        };
        Ok((symbol, value))
    }

    /// Reads `s` bits and sign-extends them as JPEG's EXTEND does.
    pub(super) fn receive_extend(&mut self, s: u8) -> i32 {
        if s == 0 {
            return 0;
        }
        let v = self.bits(u32::from(s)) as i32;
        if v < (1 << (s - 1)) {
            v - (1 << s) + 1
        } else {
            v
        }
    }

    /// Drops buffered bits and consumes an RSTn marker, if one is next.
    pub(super) fn restart(&mut self) -> Result<(), Error> {
        self.acc = 0;
        self.bits = 0;
        self.at_marker = false;
        self.pos = past_restart(self.data, self.pos)?;
        Ok(())
    }

    pub(super) fn truncated(&self) -> bool {
        // A few zero bytes past the end are normal (the reader fills ahead).
        self.past_end > 8
    }
}

/// A [`BitReader`]'s bit buffer copied into locals for a block's loop: the compiler keeps it
/// in registers, where the reader's own fields (behind the reference its out-of-line refill
/// takes) would be loaded and stored at every step. Refills and long codes go through the
/// reader, the buffer written back around them; [`Hot::put`] writes it back at the end.
pub(super) struct Hot {
    pub(super) acc: u64,
    pub(super) bits: u32,
}

impl Hot {
    #[inline(always)]
    pub(super) fn take(r: &BitReader<'_>) -> Hot {
        Hot {
            acc: r.acc,
            bits: r.bits,
        }
    }

    #[inline(always)]
    pub(super) fn put(&self, r: &mut BitReader<'_>) {
        (r.acc, r.bits) = (self.acc, self.bits);
    }

    /// At least 32 bits buffered (a refill leaves 56 unless the data ended).
    #[inline(always)]
    pub(super) fn refill(&mut self, r: &mut BitReader<'_>) {
        if self.bits < 32 {
            self.put(r);
            r.fill();
            *self = Hot::take(r);
        }
    }

    #[inline(always)]
    pub(super) fn consume(&mut self, n: u32) {
        self.acc <<= n;
        self.bits -= n;
    }

    /// The next `n` bits (0..=16).
    #[inline(always)]
    pub(super) fn bits(&mut self, r: &mut BitReader<'_>, n: u32) -> u32 {
        if n == 0 {
            return 0;
        }
        self.refill(r);
        let v = (self.acc >> (64 - n)) as u32;
        self.consume(n);
        v
    }

    #[inline(always)]
    pub(super) fn bit(&mut self, r: &mut BitReader<'_>) -> bool {
        self.bits(r, 1) == 1
    }

    /// The next symbol of `table` and its magnitude bits, through the reader
    /// ([`BitReader::decode_with_value`]: long codes and the values that do not fit the
    /// lookup tables).
    #[inline(always)]
    pub(super) fn decode_with_value(
        &mut self,
        r: &mut BitReader<'_>,
        table: &Huffman,
    ) -> Result<(u8, i32), Error> {
        self.put(r);
        let decoded = r.decode_with_value(table);
        *self = Hot::take(r);
        decoded
    }

    /// The next symbol of `table`.
    #[inline(always)]
    pub(super) fn decode(&mut self, r: &mut BitReader<'_>, table: &Huffman) -> Result<u8, Error> {
        self.refill(r);
        let (len, symbol) = table.fast[(self.acc >> (64 - FAST_BITS)) as usize & (FAST_SIZE - 1)];
        if len > 0 {
            self.consume(u32::from(len));
            return Ok(symbol);
        }
        self.put(r);
        let symbol = r.decode(table);
        *self = Hot::take(r);
        symbol
    }
}

/// Where entropy-coded data resumes after a restart: past the next marker when it is RSTn,
/// at it otherwise (the scan ended early). Shared by the Huffman and arithmetic decoders.
pub(super) fn past_restart(data: &[u8], mut pos: usize) -> Result<usize, Error> {
    while pos + 1 < data.len() {
        if data[pos] == 0xFF && !matches!(data[pos + 1], 0x00 | 0xFF) {
            if (0xD0..=0xD7).contains(&data[pos + 1]) {
                pos += 2;
            }
            return Ok(pos);
        }
        pos += 1;
    }
    Err(bad("truncated before a restart marker"))
}
