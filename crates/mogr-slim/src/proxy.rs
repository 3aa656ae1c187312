//! A small stand-in for a large image: tiles spread over it, side by side.
//!
//! JPEG codes 8x8 blocks (16x16 with 4:2:0 chroma) independently, so a tile cut on that grid
//! encodes to the same blocks it has in the whole image: searching on the tiles finds nearly
//! the quality the whole image needs at a fraction of the cost, and the full-size encodes that
//! follow only confirm and fine-tune it.

use mogr_core::Bitmap;

/// Images up to this many pixels are searched at full size.
pub const FULL_SIZE_PIXELS: u64 = 1_200_000;
/// Side of one tile of the search proxy (a multiple of 16).
const TILE: u32 = 128;
/// Tiles per search proxy: about half a megapixel.
const TILES: u32 = 32;

/// The proxy of `bitmap`, or `None` when the image is small enough to search as it is.
pub fn tiles(bitmap: &Bitmap) -> Option<Bitmap> {
    let (w, h) = (bitmap.width, bitmap.height);
    if u64::from(w) * u64::from(h) <= FULL_SIZE_PIXELS {
        return None;
    }
    mosaic(bitmap, TILE, TILES)
}

/// Where about `count` tiles of `tile` x `tile` pixels (`tile` a multiple of 16) spread
/// evenly over a `w` x `h` image in a grid that follows its shape start: the left edges of
/// the grid's columns and the top edges of its rows, on the 16-pixel grid; `None` when the
/// image is smaller than two tiles either way.
pub(crate) fn grid(w: u32, h: u32, tile: u32, count: u32) -> Option<(Vec<u32>, Vec<u32>)> {
    if w < tile * 2 || h < tile * 2 {
        return None;
    }
    let aspect = f64::from(w) / f64::from(h);
    let cols = ((f64::from(count) * aspect).sqrt().round() as u32).clamp(1, w / tile);
    let rows = count.div_ceil(cols).clamp(1, h / tile);
    // Tile centres spread evenly.
    let xs = (0..cols).map(|c| ((w - tile) * (2 * c + 1) / (2 * cols)) / 16 * 16);
    let ys = (0..rows).map(|r| ((h - tile) * (2 * r + 1) / (2 * rows)) / 16 * 16);
    Some((xs.collect(), ys.collect()))
}

/// About `count` tiles of `tile` x `tile` pixels (`tile` a multiple of 16) spread evenly over
/// `bitmap` in a grid that follows its shape, copied side by side into one bitmap; `None`
/// when the image is smaller than two tiles either way, `tile` or `count` is zero, or the
/// bitmap is malformed ([`Bitmap::malformed`]).
pub fn mosaic(bitmap: &Bitmap, tile: u32, count: u32) -> Option<Bitmap> {
    if tile == 0 || count == 0 || bitmap.malformed().is_some() {
        return None;
    }
    let (xs, ys) = grid(bitmap.width, bitmap.height, tile, count)?;
    let ch = bitmap.layout.channels();
    let w = bitmap.width;
    let out_w = xs.len() as u32 * tile;
    let len = tile as usize * ch;
    let mut data = Vec::with_capacity((out_w * ys.len() as u32 * tile) as usize * ch);
    for &y0 in &ys {
        for y in y0..y0 + tile {
            for &x0 in &xs {
                let src = ((y * w + x0) as usize) * ch;
                data.extend_from_slice(&bitmap.data[src..src + len]);
            }
        }
    }
    Some(Bitmap {
        width: out_w,
        height: ys.len() as u32 * tile,
        layout: bitmap.layout,
        data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use mogr_core::Layout;

    fn gradient(w: u32, h: u32) -> Bitmap {
        let data = (0..w * h)
            .flat_map(|i| [(i % w) as u8, (i / w) as u8, 7])
            .collect();
        Bitmap {
            width: w,
            height: h,
            layout: Layout::Rgb,
            data,
        }
    }

    #[test]
    fn small_images_have_no_proxy() {
        assert!(tiles(&gradient(1000, 1000)).is_none());
    }

    #[test]
    fn tiles_are_copied_from_the_grid() {
        let b = gradient(2000, 1000);
        let p = tiles(&b).unwrap();
        assert_eq!(p.width % TILE, 0);
        assert_eq!(p.height % TILE, 0);
        assert!(u64::from(p.width) * u64::from(p.height) < 700_000);
        // The first tile's first pixel is a source pixel on the 16-pixel grid.
        let (x, y) = (u32::from(p.data[0]), u32::from(p.data[1]));
        assert_eq!((x % 16, y % 16), (0, 0));
    }
}
