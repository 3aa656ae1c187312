//! GIF's LZW compression and decompression.
//!
//! Decompression fills a frame's whole index buffer. Every code's string is an earlier
//! code's string and one byte more, so it already stands in the output: a code is kept as
//! the place and length of its string there, and decoding it is a copy from earlier in the
//! output (short strings as one 16-byte move). The `weezl` crate, which the `gif` crate
//! decodes with, rebuilds each string byte by byte from a linked table instead; this reads
//! the same streams the same way (its code-size steps, its full table at 4,096 codes, its
//! invalid codes) in a quarter of the time.
//!
//! Compression looks each (string, byte) pair up in an open-addressed hash table instead of
//! `weezl`'s tree (whose nodes with few successors are searched one by one), with `weezl`'s
//! framing: greedy matching, a clear code first and whenever the table passes 4,096 codes,
//! the same code-size steps. Its bytes are `weezl`'s except that every string enters the
//! table (`weezl` drops a string's 17th successor), so they are as small or a little
//! smaller (0.1% on the corpus animations).

/// What stopped a decode before the buffer was full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum LzwError {
    /// The minimum code size is outside 1..=11.
    CodeSize,
    /// A code that is not yet in the table.
    InvalidCode,
    /// The data (or its end code) ended before the buffer was full.
    Truncated,
}

/// The longest code, in bits.
const MAX_BITS: u32 = 12;
/// Codes in a full table.
const MAX_CODES: usize = 1 << MAX_BITS;

/// Decodes the LZW `data` of a frame whose minimum code size is `min_size` into `out`,
/// which is filled completely or the decode fails (data past the point where `out` is full
/// is not read). The stream may start without a clear code.
pub(super) fn decode(min_size: u8, data: &[u8], out: &mut [u8]) -> Result<(), LzwError> {
    if !(1..=11).contains(&min_size) {
        return Err(LzwError::CodeSize);
    }
    let clear = 1usize << min_size;
    let end = clear + 1;
    // Where each derived code's string starts in `out`, and its length.
    let mut start = vec![0u32; MAX_CODES];
    let mut len = vec![0u16; MAX_CODES];
    let mut bits = Bits::new(data);
    let mut size = u32::from(min_size) + 1;
    let mut next = clear + 2;
    // The previous code's string: where it starts and its length (`None` after a clear).
    let mut prev: Option<(usize, usize)> = None;
    let mut pos = 0usize;
    let total = out.len();
    while pos < total {
        let Some(code) = bits.read(size) else {
            return Err(LzwError::Truncated);
        };
        if code == clear {
            size = u32::from(min_size) + 1;
            next = clear + 2;
            prev = None;
            continue;
        }
        if code == end {
            return Err(LzwError::Truncated);
        }
        let Some((p_start, p_len)) = prev else {
            // The first code after a clear must be a root.
            if code >= next {
                return Err(LzwError::InvalidCode);
            }
            out[pos] = code as u8;
            prev = Some((pos, 1));
            pos += 1;
            continue;
        };
        let here = pos;
        let n = if code < clear {
            out[pos] = code as u8;
            1
        } else if code < next {
            let (s, n) = (start[code] as usize, usize::from(len[code]));
            copy_back(out, s, pos, n);
            n
        } else if code == next && next < MAX_CODES {
            // The previous string and its own first byte.
            copy_back(out, p_start, pos, p_len);
            if pos + p_len < total {
                out[pos + p_len] = out[p_start];
            }
            p_len + 1
        } else {
            return Err(LzwError::InvalidCode);
        };
        // The new code: the previous string and this one's first byte, which stand
        // together in `out` at the previous string's place.
        if next < MAX_CODES {
            start[next] = p_start as u32;
            len[next] = (p_len + 1) as u16;
            if next >= (1 << size) - 1 && size < MAX_BITS {
                size += 1;
            }
            next += 1;
        }
        prev = Some((here, n));
        pos += n;
    }
    Ok(())
}

/// Copies the `n` bytes at `from` to `to` (`from + n <= to`), as far as `out` reaches.
#[inline(always)]
fn copy_back(out: &mut [u8], from: usize, to: usize, n: usize) {
    if n <= 16 && to + 16 <= out.len() {
        // One move of 16 bytes: the bytes past `n` are overwritten by the strings after.
        let chunk: [u8; 16] = out[from..from + 16].try_into().unwrap_or([0; 16]);
        out[to..to + 16].copy_from_slice(&chunk);
    } else {
        let n = n.min(out.len() - to);
        out.copy_within(from..from + n, to);
    }
}

/// Little-endian bit reader over the stream's bytes.
struct Bits<'a> {
    data: &'a [u8],
    at: usize,
    buf: u64,
    have: u32,
}

impl<'a> Bits<'a> {
    fn new(data: &'a [u8]) -> Bits<'a> {
        Bits {
            data,
            at: 0,
            buf: 0,
            have: 0,
        }
    }

    /// The next `size`-bit code, `None` when the data ends first.
    #[inline(always)]
    fn read(&mut self, size: u32) -> Option<usize> {
        if self.have < size {
            if let Some(word) = self.data.get(self.at..self.at + 8) {
                let word = u64::from_le_bytes(word.try_into().unwrap_or([0; 8]));
                self.buf |= word << self.have;
                let took = (63 - self.have) / 8;
                self.at += took as usize;
                self.have += took * 8;
            } else {
                while self.have < size {
                    let &byte = self.data.get(self.at)?;
                    self.buf |= u64::from(byte) << self.have;
                    self.at += 1;
                    self.have += 8;
                }
            }
        }
        let code = (self.buf & ((1 << size) - 1)) as usize;
        self.buf >>= size;
        self.have -= size;
        Some(code)
    }
}

/// Bits of a slot number of the compressor's hash table.
const SLOT_BITS: u32 = 13;
/// Slots of the compressor's hash table (at most 4,096 codes: at most half full).
const SLOTS: usize = 1 << SLOT_BITS;
/// An empty slot. A slot holds `key << 12 | code`, where `key` is the string's code and the
/// next byte (`code << 8 | byte`, 20 bits); the string of code 4,095 never gets a
/// successor (the table is cleared first), so no entry equals this.
const EMPTY: u32 = u32::MAX;

/// Compresses a frame's palette indices for the `gif` crate's `write_lzw_pre_encoded_frame`,
/// as its `make_lzw_pre_encoded` does: the minimum code size (from the largest index, at
/// least 2) in the first byte, then the LZW stream (without its sub-block framing).
pub(super) fn encode(data: &[u8]) -> Vec<u8> {
    let max = data.iter().copied().max().unwrap_or(0);
    let min_size = (u32::from(max) + 1)
        .max(4)
        .next_power_of_two()
        .trailing_zeros();
    let mut out = Vec::with_capacity(data.len() / 2 + 16);
    out.push(min_size as u8);
    let clear = 1u32 << min_size;
    let end = clear + 1;
    let mut w = BitWriter {
        out,
        buf: 0,
        have: 0,
    };
    let mut size = min_size + 1;
    let mut table = vec![EMPTY; SLOTS];
    // Codes given out so far (the next new string's code).
    let mut next = clear + 2;
    w.put(clear, size);
    let Some((&first, rest)) = data.split_first() else {
        w.put(end, size);
        return w.finish();
    };
    let mut cur = u32::from(first);
    for &byte in rest {
        let key = cur << 8 | u32::from(byte);
        let mut slot = (key.wrapping_mul(0x9E37_79B1) >> (32 - SLOT_BITS)) as usize;
        let found = loop {
            let e = table[slot];
            if e == EMPTY {
                break None;
            }
            if e >> MAX_BITS == key {
                break Some(e & (MAX_CODES as u32 - 1));
            }
            slot = (slot + 1) & (SLOTS - 1);
        };
        if let Some(code) = found {
            cur = code;
            continue;
        }
        // A new string: `cur`'s string and this byte.
        if next < MAX_CODES as u32 {
            table[slot] = key << MAX_BITS | next;
        }
        next += 1;
        w.put(cur, size);
        if next > 1 << size && size < MAX_BITS {
            size += 1;
        }
        if next > MAX_CODES as u32 {
            w.put(clear, size);
            table.fill(EMPTY);
            size = min_size + 1;
            next = clear + 2;
        }
        cur = u32::from(byte);
    }
    w.put(cur, size);
    // The decoder adds a code on reading the last one, which may widen the end code.
    if next >= 1 << size && size < MAX_BITS {
        size += 1;
    }
    w.put(end, size);
    w.finish()
}

/// Little-endian bit writer.
struct BitWriter {
    out: Vec<u8>,
    buf: u64,
    have: u32,
}

impl BitWriter {
    #[inline(always)]
    fn put(&mut self, code: u32, size: u32) {
        self.buf |= u64::from(code) << self.have;
        self.have += size;
        if self.have >= 32 {
            self.out.extend_from_slice(&(self.buf as u32).to_le_bytes());
            self.buf >>= 32;
            self.have -= 32;
        }
    }

    /// The bytes, the last one padded with zero bits.
    fn finish(mut self) -> Vec<u8> {
        let bytes = self.have.div_ceil(8) as usize;
        self.out.extend_from_slice(&self.buf.to_le_bytes()[..bytes]);
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Random palette indices: runs and noise over `colours` values.
    fn random_indices(seed: u64, len: usize, colours: u64) -> Vec<u8> {
        let mut next = super::super::test_random(seed);
        let mut out = Vec::with_capacity(len);
        while out.len() < len {
            let v = next(colours) as u8;
            let run = if next(3) == 0 { 1 + next(40) } else { 1 } as usize;
            out.extend(std::iter::repeat_n(v, run.min(len - out.len())));
        }
        out
    }

    /// The `gif` crate's compression of `data` (through `weezl`).
    fn theirs(data: &[u8]) -> Vec<u8> {
        let mut frame = ::gif::Frame {
            buffer: std::borrow::Cow::Borrowed(data),
            ..Default::default()
        };
        frame.make_lzw_pre_encoded();
        frame.buffer.into_owned()
    }

    /// The `gif` crate's decompression of `lzw` (its first byte the minimum code size) into
    /// `pixels` indices (at most 65,535), through a GIF of one frame of one row.
    fn their_decode(lzw: &[u8], pixels: usize) -> Option<Vec<u8>> {
        let (w, h) = (u16::try_from(pixels.max(1)).ok()?, 1u16);
        let mut gif = Vec::new();
        gif.extend_from_slice(b"GIF89a");
        gif.extend_from_slice(&w.to_le_bytes());
        gif.extend_from_slice(&h.to_le_bytes());
        gif.extend_from_slice(&[0xF7, 0, 0]);
        gif.extend(std::iter::repeat_n(0u8, 256 * 3));
        gif.push(0x2C);
        gif.extend_from_slice(&[0, 0, 0, 0]);
        gif.extend_from_slice(&w.to_le_bytes());
        gif.extend_from_slice(&h.to_le_bytes());
        gif.push(0);
        gif.push(lzw[0]);
        for block in lzw[1..].chunks(255) {
            gif.push(block.len() as u8);
            gif.extend_from_slice(block);
        }
        gif.extend_from_slice(&[0, 0x3B]);
        let mut options = ::gif::DecodeOptions::new();
        options.set_color_output(::gif::ColorOutput::Indexed);
        let mut reader = options.read_info(&gif[..]).ok()?;
        reader.next_frame_info().ok()??;
        let mut out = vec![0u8; pixels];
        reader.read_into_buffer(&mut out).ok()?;
        Some(out)
    }

    fn ours_decode(lzw: &[u8], pixels: usize) -> Option<Vec<u8>> {
        let mut out = vec![0u8; pixels];
        decode(lzw[0], &lzw[1..], &mut out).ok()?;
        Some(out)
    }

    #[test]
    fn compression_reads_back_and_is_no_larger_than_the_gif_crates() {
        for seed in 0..300u64 {
            let colours = [2, 3, 4, 5, 16, 17, 100, 256][seed as usize % 8];
            // Up to 200,000 indices: many table clears.
            let len = [0, 1, 2, 7, 300, 5_000, 60_000, 200_000][(seed as usize / 8) % 8];
            let data = random_indices(seed, len, colours);
            let ours = encode(&data);
            let theirs = theirs(&data);
            assert_eq!(ours[0], theirs[0], "seed {seed}: minimum code size");
            assert!(ours.len() <= theirs.len(), "seed {seed}, {len} indices");
            if len > 0 {
                if len <= 65_535 {
                    // A one-row frame.
                    assert_eq!(their_decode(&ours, len).as_deref(), Some(&data[..]));
                }
                assert_eq!(ours_decode(&ours, len).as_deref(), Some(&data[..]));
                // The whole stream as `weezl` reads it: nothing after the indices.
                assert_eq!(weezl_decode(&ours), data, "seed {seed}");
            }
        }
    }

    /// `weezl`'s decompression of the whole stream (its first byte the minimum code size):
    /// what it wrote before it stopped (at the end code, an invalid code or the data's end).
    fn weezl_decode(lzw: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut decoder = weezl::decode::Decoder::new(weezl::BitOrder::Lsb, lzw[0]);
        let _ = decoder.into_vec(&mut out).decode(&lzw[1..]);
        out
    }

    #[test]
    fn decompression_reads_what_weezl_and_the_gif_crate_read() {
        // Valid streams, cut short, with bytes changed, with another minimum code size,
        // read for fewer, as many or more pixels than they hold: a buffer is filled exactly
        // when `weezl` reads at least that many pixels from the stream, with its pixels; and
        // wherever the `gif` crate fills a frame, with the same pixels.
        let mut compared = 0;
        for seed in 0..400u64 {
            let colours = [2, 4, 16, 256][seed as usize % 4];
            let len = [1, 50, 3_000, 40_000][(seed as usize / 4) % 4];
            let lzw = theirs(&random_indices(seed, len, colours));
            let mut cut = lzw.clone();
            cut.truncate(1 + (lzw.len() - 1) * (seed as usize % 7) / 7);
            let mut changed = lzw.clone();
            let at = 1 + (seed as usize * 7919) % (lzw.len() - 1);
            changed[at] ^= 1 << (seed % 8);
            let mut sized = lzw.clone();
            sized[0] = 1 + (seed % 11) as u8;
            for stream in [&lzw, &cut, &changed, &sized] {
                let read = weezl_decode(stream);
                for pixels in [len / 2 + 1, len, len + 3] {
                    let ours = ours_decode(stream, pixels);
                    let want = (read.len() >= pixels).then(|| read[..pixels].to_vec());
                    assert_eq!(ours, want, "seed {seed}, {pixels} pixels");
                    if let Some(theirs) = their_decode(stream, pixels) {
                        assert_eq!(ours, Some(theirs), "seed {seed}, {pixels} pixels");
                        compared += 1;
                    }
                }
            }
        }
        assert!(compared > 1000, "{compared} decodes compared");
    }
}
