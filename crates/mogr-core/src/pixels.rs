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
    /// Why these pixels cannot be encoded or scored, or `None` when they can: a side of
    /// zero, or `data` whose length is not `width * height * channels` (the fields are
    /// public, so a bitmap built by hand may disagree with itself).
    pub fn malformed(&self) -> Option<String> {
        let (w, h) = (u64::from(self.width), u64::from(self.height));
        if w == 0 || h == 0 {
            return Some(format!("the bitmap is {w}x{h} pixels"));
        }
        // Two u32 sides fit a u64; the channels on top of them may not.
        let needed = (w * h).checked_mul(self.layout.channels() as u64);
        if needed == Some(self.data.len() as u64) {
            return None;
        }
        let needed = needed.map_or_else(|| "more than 2^64".to_string(), |n| n.to_string());
        Some(format!(
            "a {w}x{h} {:?} bitmap holds {} bytes, where it needs {needed}",
            self.layout,
            self.data.len(),
        ))
    }

    /// Composes alpha over white, giving RGB; other layouts are returned as they are.
    pub fn without_alpha(mut self) -> Bitmap {
        if self.layout != Layout::Rgba {
            return self;
        }
        // In place: pixel i moves from 4i to 3i, never over a pixel not yet read.
        let n = self.data.len() / 4;
        for i in 0..n {
            let a = u32::from(self.data[4 * i + 3]);
            for c in 0..3 {
                self.data[3 * i + c] = over_white(self.data[4 * i + c], a);
            }
        }
        self.data.truncate(3 * n);
        self.data.shrink_to_fit();
        self.layout = Layout::Rgb;
        self
    }

    /// A new RGB bitmap of these RGBA pixels composed over white (for RGBA input).
    pub(crate) fn over_white(&self) -> Bitmap {
        let data = self
            .data
            .chunks_exact(4)
            .flat_map(|p| {
                let a = u32::from(p[3]);
                [
                    over_white(p[0], a),
                    over_white(p[1], a),
                    over_white(p[2], a),
                ]
            })
            .collect();
        Bitmap {
            width: self.width,
            height: self.height,
            layout: Layout::Rgb,
            data,
        }
    }
}

/// One sample with straight alpha `a` composed over white.
fn over_white(c: u8, a: u32) -> u8 {
    ((u32::from(c) * a + 255 * (255 - a) + 127) / 255) as u8
}

impl Bitmap {
    /// Applies an EXIF orientation (1..=8) to the pixels, so that the image shows the right
    /// way up without the tag. Values outside 2..=8 return the bitmap unchanged.
    pub fn oriented(self, orientation: u16) -> Bitmap {
        if !(2..=8).contains(&orientation) {
            return self;
        }
        let (w, h) = (self.width as usize, self.height as usize);
        let ch = self.layout.channels();
        // Orientations 5..=8 swap width and height.
        let (nw, nh) = if orientation >= 5 { (h, w) } else { (w, h) };
        let mut data = vec![0u8; self.data.len()];
        for y in 0..nh {
            for x in 0..nw {
                // Where the output pixel (x, y) comes from in the stored image.
                let (sx, sy) = match orientation {
                    2 => (w - 1 - x, y),
                    3 => (w - 1 - x, h - 1 - y),
                    4 => (x, h - 1 - y),
                    5 => (y, x),
                    6 => (y, h - 1 - x),
                    7 => (w - 1 - y, h - 1 - x),
                    _ => (w - 1 - y, x), // 8
                };
                let (d, s) = ((y * nw + x) * ch, (sy * w + sx) * ch);
                data[d..d + ch].copy_from_slice(&self.data[s..s + ch]);
            }
        }
        Bitmap {
            width: nw as u32,
            height: nh as u32,
            layout: self.layout,
            data,
        }
    }

    /// The same pixels as RGBA.
    pub fn to_rgba(&self) -> Vec<u8> {
        match self.layout {
            Layout::Rgba => self.data.clone(),
            Layout::Rgb => self
                .data
                .chunks_exact(3)
                .flat_map(|p| [p[0], p[1], p[2], 255])
                .collect(),
            Layout::Gray => self.data.iter().flat_map(|&g| [g, g, g, 255]).collect(),
        }
    }
}

/// One frame of an image and how long it shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The whole canvas as it looks while this frame shows (composed).
    pub bitmap: Bitmap,
    /// Display time in milliseconds (0 for still images).
    pub delay_ms: u32,
}

/// A decoded image: one frame, or an animation of composed frames.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Raster {
    /// Frames in display order; never empty.
    pub frames: Vec<Frame>,
    /// Animation loop count: 0 loops forever; `None` for still images.
    pub loop_count: Option<u16>,
    /// The ICC profile that describes the pixels, when the input had one.
    pub icc: Option<Vec<u8>>,
}

impl Raster {
    /// A still image.
    pub fn still(bitmap: Bitmap, icc: Option<Vec<u8>>) -> Raster {
        Raster {
            frames: vec![Frame {
                bitmap,
                delay_ms: 0,
            }],
            loop_count: None,
            icc,
        }
    }

    /// Why this raster cannot be encoded, or `None` when it can: no frames, a malformed
    /// frame (see [`Bitmap::malformed`]), or a frame whose size differs from the first's
    /// (every frame is the whole canvas).
    pub fn malformed(&self) -> Option<String> {
        let Some(first) = self.frames.first() else {
            return Some("the raster has no frames".to_string());
        };
        let size = (first.bitmap.width, first.bitmap.height);
        self.frames.iter().enumerate().find_map(|(i, f)| {
            let b = &f.bitmap;
            b.malformed()
                .or_else(|| {
                    ((b.width, b.height) != size).then(|| {
                        format!(
                            "its first frame is {}x{}, but it is {}x{}",
                            size.0, size.1, b.width, b.height
                        )
                    })
                })
                .map(|e| format!("frame {i}: {e}"))
        })
    }

    /// The first frame.
    pub fn first(&self) -> &Bitmap {
        &self.frames[0].bitmap
    }
}
