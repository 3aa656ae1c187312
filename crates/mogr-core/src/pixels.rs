//! Decoded pixels.

/// How samples are laid out in a [`Bitmap`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// One 8-bit grey sample per pixel.
    Gray,
    /// 8-bit R, G, B.
    Rgb,
    /// 8-bit R, G, B, A (straight alpha).
    Rgba,
}

impl Layout {
    /// Samples per pixel.
    pub fn channels(self) -> usize {
        match self {
            Layout::Gray => 1,
            Layout::Rgb => 3,
            Layout::Rgba => 4,
        }
    }
}

/// An 8-bit image in memory, rows top to bottom, no padding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bitmap {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Sample layout.
    pub layout: Layout,
    /// `width * height * layout.channels()` samples.
    pub data: Vec<u8>,
}

impl Bitmap {
    /// Composes alpha over white, giving RGB; other layouts are returned as they are.
    pub fn without_alpha(self) -> Bitmap {
        if self.layout != Layout::Rgba {
            return self;
        }
        let data = self
            .data
            .chunks_exact(4)
            .flat_map(|p| {
                let a = u32::from(p[3]);
                let over_white = |c: u8| ((u32::from(c) * a + 255 * (255 - a) + 127) / 255) as u8;
                [over_white(p[0]), over_white(p[1]), over_white(p[2])]
            })
            .collect();
        Bitmap {
            layout: Layout::Rgb,
            data,
            ..self
        }
    }
}
