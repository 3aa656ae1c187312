//! The size of the pictures an HEVC or AV1 decoder will make, read from the decoder
//! configuration of a HEIF/AVIF item (`hvcC`: the sequence parameter set; `av1C`: the
//! sequence header OBU) before any decoder runs. A container's `ispe` box only declares a
//! size; the coded stream is what the decoder allocates for.

/// Reads bits most significant first from a NAL unit's payload, dropping the emulation
/// prevention bytes (`00 00 03`) of HEVC, or from raw bytes (AV1).
struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
    bit: u32,
    zeros: u32,
    hevc: bool,
    cur: u8,
}

impl<'a> Bits<'a> {
    fn new(data: &'a [u8], hevc: bool) -> Bits<'a> {
        Bits {
            data,
            pos: 0,
            bit: 8,
            zeros: 0,
            hevc,
            cur: 0,
        }
    }

    fn bit(&mut self) -> Option<u32> {
        if self.bit == 8 {
            let mut b = *self.data.get(self.pos)?;
            self.pos += 1;
            if self.hevc && self.zeros >= 2 && b == 3 {
                b = *self.data.get(self.pos)?;
                self.pos += 1;
                self.zeros = 0;
            }
            self.zeros = if b == 0 { self.zeros + 1 } else { 0 };
            self.cur = b;
            self.bit = 0;
        }
        let v = (self.cur >> (7 - self.bit)) & 1;
        self.bit += 1;
        Some(u32::from(v))
    }

    fn bits(&mut self, n: u32) -> Option<u32> {
        (0..n).try_fold(0u32, |acc, _| Some((acc << 1) | self.bit()?))
    }

    fn skip(&mut self, n: u32) -> Option<()> {
        (0..n).try_for_each(|_| self.bit().map(|_| ()))
    }

    /// Exp-Golomb `ue(v)`, at most 31 leading zeros.
    fn ue(&mut self) -> Option<u32> {
        let mut zeros = 0;
        while self.bit()? == 0 {
            zeros += 1;
            if zeros > 31 {
                return None;
            }
        }
        let rest = self.bits(zeros)?;
        Some(((1u64 << zeros) - 1 + u64::from(rest)).min(u64::from(u32::MAX)) as u32)
    }
}

/// `pic_width_in_luma_samples` and `pic_height_in_luma_samples` of the first SPS NAL unit in
/// an `hvcC` box's payload.
pub(crate) fn hevc(hvcc: &[u8]) -> Option<(u32, u32)> {
    let arrays = usize::from(*hvcc.get(22)?);
    let mut pos = 23;
    for _ in 0..arrays {
        let nal_type = hvcc.get(pos)? & 0x3F;
        let count = u16::from_be_bytes([*hvcc.get(pos + 1)?, *hvcc.get(pos + 2)?]);
        pos += 3;
        for _ in 0..count {
            let len = usize::from(u16::from_be_bytes([*hvcc.get(pos)?, *hvcc.get(pos + 1)?]));
            let nal = hvcc.get(pos + 2..pos + 2 + len)?;
            pos += 2 + len;
            if nal_type == 33 {
                // After the two-byte NAL unit header.
                return sps_size(nal.get(2..)?);
            }
        }
    }
    None
}

fn sps_size(rbsp: &[u8]) -> Option<(u32, u32)> {
    let mut b = Bits::new(rbsp, true);
    b.skip(4)?; // sps_video_parameter_set_id
    let sub_layers = b.bits(3)?; // sps_max_sub_layers_minus1
    b.skip(1)?; // sps_temporal_id_nesting_flag
    b.skip(96)?; // general profile, tier and level
    let mut present = Vec::new();
    for _ in 0..sub_layers {
        present.push((b.bit()?, b.bit()?));
    }
    if sub_layers > 0 {
        b.skip(2 * (8 - sub_layers))?;
    }
    for (profile, level) in present {
        b.skip(88 * profile + 8 * level)?;
    }
    b.ue()?; // sps_seq_parameter_set_id
    if b.ue()? == 3 {
        b.skip(1)?; // separate_colour_plane_flag
    }
    Some((b.ue()?, b.ue()?))
}

/// `max_frame_width_minus_1 + 1` and `max_frame_height_minus_1 + 1` of the sequence header
/// OBU in an `av1C` box's payload; `None` when the box carries none.
pub(crate) fn av1(av1c: &[u8]) -> Option<(u32, u32)> {
    let mut obus = av1c.get(4..)?;
    while let Some(&header) = obus.first() {
        let kind = (header >> 3) & 0x0F;
        let extension = header & 0x04 != 0;
        let has_size = header & 0x02 != 0;
        let mut at = 1 + usize::from(extension);
        let size = if has_size {
            let mut size = 0usize;
            for i in 0..8 {
                let byte = *obus.get(at)?;
                at += 1;
                size |= usize::from(byte & 0x7F) << (7 * i);
                if byte & 0x80 == 0 {
                    break;
                }
            }
            size
        } else {
            obus.len() - at
        };
        let payload = obus.get(at..at.checked_add(size)?)?;
        if kind == 1 {
            return sequence_header_size(payload);
        }
        obus = &obus[at + size..];
    }
    None
}

fn sequence_header_size(p: &[u8]) -> Option<(u32, u32)> {
    let mut b = Bits::new(p, false);
    b.skip(3)?; // seq_profile
    b.skip(1)?; // still_picture
    if b.bit()? == 1 {
        b.skip(5)?; // reduced_still_picture_header: seq_level_idx[0]
    } else {
        let timing = b.bit()?;
        let mut decoder_model = 0;
        let mut delay_len = 0;
        if timing == 1 {
            b.skip(64)?; // num_units_in_display_tick, time_scale
            if b.bit()? == 1 {
                b.ue()?; // num_ticks_per_picture_minus_1 (uvlc, read as ue(v))
            }
            decoder_model = b.bit()?;
            if decoder_model == 1 {
                delay_len = b.bits(5)? + 1;
                b.skip(32 + 5 + 5)?;
            }
        }
        let initial_delay = b.bit()?;
        let points = b.bits(5)? + 1;
        for _ in 0..points {
            b.skip(12)?; // operating_point_idc
            if b.bits(5)? > 7 {
                b.skip(1)?; // seq_tier
            }
            if decoder_model == 1 && b.bit()? == 1 {
                b.skip(2 * delay_len + 1)?;
            }
            if initial_delay == 1 && b.bit()? == 1 {
                b.skip(4)?;
            }
        }
    }
    let width_bits = b.bits(4)? + 1;
    let height_bits = b.bits(4)? + 1;
    Some((b.bits(width_bits)? + 1, b.bits(height_bits)? + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes bits most significant first.
    #[derive(Default)]
    struct Writer {
        bytes: Vec<u8>,
        n: u32,
    }

    impl Writer {
        fn put(&mut self, value: u64, bits: u32) {
            for i in (0..bits).rev() {
                if self.n.is_multiple_of(8) {
                    self.bytes.push(0);
                }
                let v = ((value >> i) & 1) as u8;
                *self.bytes.last_mut().unwrap() |= v << (7 - self.n % 8);
                self.n += 1;
            }
        }

        fn ue(&mut self, v: u32) {
            let x = u64::from(v) + 1;
            let len = 64 - x.leading_zeros();
            self.put(0, len - 1);
            self.put(x, len);
        }
    }

    fn hvcc_with_sps(width: u32, height: u32) -> Vec<u8> {
        let mut w = Writer::default();
        w.put(0, 4);
        w.put(0, 3); // one sub-layer
        w.put(1, 1);
        for _ in 0..3 {
            w.put(0, 32); // general profile, tier and level (96 bits)
        }
        w.ue(0);
        w.ue(1); // 4:2:0
        w.ue(width);
        w.ue(height);
        w.put(1, 1);
        // Emulation prevention: any 00 00 0x (x <= 3) gets a 03 inserted.
        let mut rbsp = vec![0x42, 0x01];
        let mut zeros = 0;
        for &b in &w.bytes {
            if zeros >= 2 && b <= 3 {
                rbsp.push(3);
                zeros = 0;
            }
            rbsp.push(b);
            zeros = if b == 0 { zeros + 1 } else { 0 };
        }
        let mut hvcc = vec![0u8; 22];
        hvcc.push(1); // one array
        hvcc.push(33); // of SPS NAL units
        hvcc.extend_from_slice(&1u16.to_be_bytes());
        hvcc.extend_from_slice(&(rbsp.len() as u16).to_be_bytes());
        hvcc.extend_from_slice(&rbsp);
        hvcc
    }

    #[test]
    fn reads_the_coded_size_of_an_hevc_sps() {
        for (w, h) in [(64, 64), (8000, 8000), (1, 65535), (4032, 3024)] {
            assert_eq!(hevc(&hvcc_with_sps(w, h)), Some((w, h)), "{w}x{h}");
        }
        assert_eq!(hevc(&[0; 23]), None);
        let mut cut = hvcc_with_sps(640, 480);
        cut.truncate(cut.len() - 4);
        assert_eq!(hevc(&cut), None);
    }

    #[test]
    fn reads_the_coded_size_of_an_av1_sequence_header() {
        let mut w = Writer::default();
        w.put(0, 3); // seq_profile
        w.put(1, 1); // still_picture
        w.put(1, 1); // reduced_still_picture_header
        w.put(8, 5); // seq_level_idx
        w.put(12, 4); // frame_width_bits_minus_1: 13 bits
        w.put(12, 4);
        w.put(7999, 13);
        w.put(5999, 13);
        let payload = w.bytes;
        let mut av1c = vec![0x81, 0, 0, 0];
        av1c.push((1 << 3) | 0x02); // sequence header OBU with a size field
        av1c.push(payload.len() as u8);
        av1c.extend_from_slice(&payload);
        assert_eq!(av1(&av1c), Some((8000, 6000)));
        assert_eq!(av1(&av1c[..4]), None, "no configOBUs");
    }
}
