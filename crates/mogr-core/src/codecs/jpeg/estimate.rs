//! JPEG quality estimation from quantization tables alone.
//!
//! Three steps, first answer wins:
//! 1. **ImageMagick's method** (`coders/jpeg.c`, `JPEGSetImageQuality`): a hash of four table
//!    entries and the sum of all tables, compared against thresholds per quality. Wherever it
//!    finds a match, the estimate equals ImageMagick's `%Q`.
//! 2. **Exact IJG match.** Where ImageMagick finds none (its `%Q` then prints a fallback, 92,
//!    which is no estimate: a `cjpeg -quality 5` file would read as 92 and `quality/60`
//!    would make it larger), tables that are the IJG (ITU-T T.81 Annex K) tables scaled by
//!    libjpeg's `jpeg_quality_scaling`, with or without the baseline clamp to 255, give
//!    exactly the quality that made them. In practice: 16-bit tables below quality 24, what
//!    `cjpeg -quality N` writes without `-baseline`.
//! 3. **Nearest IJG quality.** Otherwise, the quality whose scaled IJG tables are closest to
//!    the file's, by mean absolute log ratio of the entries, over the luma table and (when
//!    present) the chroma table.
//!
//! The estimate is never ImageMagick's fallback 92 unless the tables mean 92.

use super::markers::QuantTable;

/// IJG luminance table (Annex K.1), natural order.
pub(crate) const IJG_LUMA: QuantTable = [
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113,
    92, 49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
];

/// IJG chrominance table (Annex K.2), natural order.
pub(crate) const IJG_CHROMA: QuantTable = [
    17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99,
    47, 66, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
];

/// libjpeg's `jpeg_quality_scaling` and table scaling; quality 0 is treated as 1.
pub(crate) fn scaled_table(base: &QuantTable, quality: u8, force_baseline: bool) -> QuantTable {
    let q = u32::from(quality.clamp(1, 100));
    let scale = if q < 50 { 5000 / q } else { 200 - 2 * q };
    let max = if force_baseline { 255 } else { 32767 };
    base.map(|v| ((u32::from(v) * scale + 50) / 100).clamp(1, max) as u16)
}

/// Estimates quality 1..=100 from the tables by slot; `None` when there is no table 0.
///
/// ImageMagick's `%Q` where its method finds a match, else the exact or nearest libjpeg
/// (IJG-scaled) quality (module docs).
pub fn estimate_quality(tables: &[Option<QuantTable>; 4]) -> Option<u8> {
    let luma = tables[0].as_ref()?;
    let chroma = tables[1].as_ref();
    imagemagick(tables)
        .or_else(|| exact_ijg(luma, chroma))
        .or_else(|| Some(nearest_ijg(luma, chroma)))
}

/// The quality whose libjpeg-scaled IJG tables (8- or 16-bit) are exactly these.
fn exact_ijg(luma: &QuantTable, chroma: Option<&QuantTable>) -> Option<u8> {
    (1..=100u8).rev().find(|&q| {
        [true, false].into_iter().any(|baseline| {
            scaled_table(&IJG_LUMA, q, baseline) == *luma
                && chroma.is_none_or(|c| scaled_table(&IJG_CHROMA, q, baseline) == *c)
        })
    })
}

/// The quality whose 16-bit IJG tables are nearest by mean absolute log ratio.
fn nearest_ijg(luma: &QuantTable, chroma: Option<&QuantTable>) -> u8 {
    let distance = |table: &QuantTable, base: &QuantTable, q: u8| -> f64 {
        let scaled = scaled_table(base, q, false);
        table
            .iter()
            .zip(scaled.iter())
            .map(|(&a, &b)| (f64::from(a.max(1)) / f64::from(b)).ln().abs())
            .sum()
    };
    let total =
        |q: u8| distance(luma, &IJG_LUMA, q) + chroma.map_or(0.0, |c| distance(c, &IJG_CHROMA, q));
    (1..=100u8)
        .min_by(|&a, &b| total(a).total_cmp(&total(b)))
        .unwrap_or(75)
}

// ImageMagick's thresholds, indexed by quality - 1 (from `coders/jpeg.c`).
const IM_HASH_COLOR: [i64; 101] = [
    1020, 1015, 932, 848, 780, 735, 702, 679, 660, 645, 632, 623, 613, 607, 600, 594, 589, 585,
    581, 571, 555, 542, 529, 514, 494, 474, 457, 439, 424, 410, 397, 386, 373, 364, 351, 341, 334,
    324, 317, 309, 299, 294, 287, 279, 274, 267, 262, 257, 251, 247, 243, 237, 232, 227, 222, 217,
    213, 207, 202, 198, 192, 188, 183, 177, 173, 168, 163, 157, 153, 148, 143, 139, 132, 128, 125,
    119, 115, 108, 104, 99, 94, 90, 84, 79, 74, 70, 64, 59, 55, 49, 45, 40, 34, 30, 25, 20, 15, 11,
    6, 4, 0,
];
const IM_SUMS_COLOR: [i64; 101] = [
    32640, 32635, 32266, 31495, 30665, 29804, 29146, 28599, 28104, 27670, 27225, 26725, 26210,
    25716, 25240, 24789, 24373, 23946, 23572, 22846, 21801, 20842, 19949, 19121, 18386, 17651,
    16998, 16349, 15800, 15247, 14783, 14321, 13859, 13535, 13081, 12702, 12423, 12056, 11779,
    11513, 11135, 10955, 10676, 10392, 10208, 9928, 9747, 9564, 9369, 9193, 9017, 8822, 8639, 8458,
    8270, 8084, 7896, 7710, 7527, 7347, 7156, 6977, 6788, 6607, 6422, 6236, 6054, 5867, 5684, 5495,
    5305, 5128, 4945, 4751, 4638, 4442, 4248, 4065, 3888, 3698, 3509, 3326, 3139, 2957, 2775, 2586,
    2405, 2216, 2037, 1846, 1666, 1483, 1297, 1109, 927, 735, 554, 375, 201, 128, 0,
];
const IM_HASH_GRAY: [i64; 101] = [
    510, 505, 422, 380, 355, 338, 326, 318, 311, 305, 300, 297, 293, 291, 288, 286, 284, 283, 281,
    280, 279, 278, 277, 273, 262, 251, 243, 233, 225, 218, 211, 205, 198, 193, 186, 181, 177, 172,
    168, 164, 158, 156, 152, 148, 145, 142, 139, 136, 133, 131, 129, 126, 123, 120, 118, 115, 113,
    110, 107, 105, 102, 100, 97, 94, 92, 89, 87, 83, 81, 79, 76, 74, 70, 68, 66, 63, 61, 57, 55,
    52, 50, 48, 44, 42, 39, 37, 34, 31, 29, 26, 24, 21, 18, 16, 13, 11, 8, 6, 3, 2, 0,
];
const IM_SUMS_GRAY: [i64; 101] = [
    16320, 16315, 15946, 15277, 14655, 14073, 13623, 13230, 12859, 12560, 12240, 11861, 11456,
    11081, 10714, 10360, 10027, 9679, 9368, 9056, 8680, 8331, 7995, 7668, 7376, 7084, 6823, 6562,
    6345, 6125, 5939, 5756, 5571, 5421, 5240, 5086, 4976, 4829, 4719, 4616, 4463, 4393, 4280, 4166,
    4092, 3980, 3909, 3835, 3755, 3688, 3621, 3541, 3467, 3396, 3323, 3247, 3170, 3096, 3021, 2952,
    2874, 2804, 2727, 2657, 2583, 2509, 2437, 2362, 2290, 2211, 2136, 2068, 1996, 1915, 1858, 1773,
    1692, 1620, 1552, 1477, 1398, 1326, 1251, 1179, 1109, 1031, 961, 884, 814, 736, 667, 592, 518,
    441, 369, 292, 221, 151, 86, 64, 0,
];

/// ImageMagick's estimate, `None` where its method finds no match (where `%Q` prints its
/// fallback, 92).
pub fn imagemagick(tables: &[Option<QuantTable>; 4]) -> Option<u8> {
    let t0 = tables[0].as_ref()?;
    let sum: i64 = tables
        .iter()
        .flatten()
        .flatten()
        .map(|&v| i64::from(v))
        .sum();
    let (hash, sums, qvalue) = match tables[1].as_ref() {
        Some(t1) => (
            &IM_HASH_COLOR,
            &IM_SUMS_COLOR,
            i64::from(t0[2]) + i64::from(t0[53]) + i64::from(t1[0]) + i64::from(t1[63]),
        ),
        None => (
            &IM_HASH_GRAY,
            &IM_SUMS_GRAY,
            i64::from(t0[2]) + i64::from(t0[53]),
        ),
    };
    for i in 0..100 {
        if qvalue < hash[i] && sum < sums[i] {
            continue;
        }
        if (qvalue <= hash[i] && sum <= sums[i]) || i >= 50 {
            return Some(i as u8 + 1);
        }
        return None;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ijg(q: u8, baseline: bool) -> [Option<QuantTable>; 4] {
        [
            Some(scaled_table(&IJG_LUMA, q, baseline)),
            Some(scaled_table(&IJG_CHROMA, q, baseline)),
            None,
            None,
        ]
    }

    #[test]
    fn every_baseline_ijg_quality_reads_back_exactly() {
        for q in 1..=100 {
            assert_eq!(estimate_quality(&ijg(q, true)), Some(q), "baseline q{q}");
            let grey = [Some(scaled_table(&IJG_LUMA, q, true)), None, None, None];
            assert_eq!(estimate_quality(&grey), Some(q), "grey q{q}");
        }
    }

    #[test]
    fn sixteen_bit_ijg_tables_read_back_from_24_up() {
        for q in 24..=100 {
            assert_eq!(estimate_quality(&ijg(q, false)), Some(q), "16-bit q{q}");
            let grey = [Some(scaled_table(&IJG_LUMA, q, false)), None, None, None];
            assert_eq!(estimate_quality(&grey), Some(q), "16-bit grey q{q}");
        }
    }

    #[test]
    fn sixteen_bit_low_quality_tables_read_back_where_imagemagick_finds_nothing() {
        for q in 1..24 {
            assert_eq!(imagemagick(&ijg(q, false)), None, "q{q}");
            assert_eq!(estimate_quality(&ijg(q, false)), Some(q), "q{q}");
            let grey = [Some(scaled_table(&IJG_LUMA, q, false)), None, None, None];
            assert_eq!(estimate_quality(&grey), Some(q), "16-bit grey q{q}");
        }
    }

    #[test]
    fn tables_near_a_low_ijg_quality_get_that_quality_not_92() {
        for q in [3u8, 10, 20] {
            let mut t = ijg(q, false);
            t[0].as_mut().unwrap()[0] += 1; // no longer exact
            t[1].as_mut().unwrap()[5] -= 1;
            assert_eq!(imagemagick(&t), None, "q{q}");
            assert_eq!(estimate_quality(&t), Some(q), "q{q}");
        }
    }

    #[test]
    fn no_tables_no_quality() {
        assert_eq!(estimate_quality(&[None; 4]), None);
    }
}
