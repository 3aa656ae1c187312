//! The one XML writer of the service's documents (`ImageInfo`, `UploadResult`).

/// Writes elements with text content. Text is escaped (`&`, `<`, `>`, quotes), and the
/// characters XML 1.0 forbids (control characters other than tab, newline and carriage
/// return; U+FFFE and U+FFFF) become U+FFFD, so that a key, fileid or rule holding them still
/// gives a document every parser reads.
///
/// ```
/// let mut w = mogr_core::XmlWriter::new();
/// w.open("Object").element("Key", "a<b\u{1}.jpg").close("Object");
/// assert_eq!(w.finish(), "<Object><Key>a&lt;b\u{FFFD}.jpg</Key></Object>");
/// ```
#[derive(Debug, Default)]
pub struct XmlWriter {
    out: String,
}

impl XmlWriter {
    /// An empty document.
    pub fn new() -> XmlWriter {
        XmlWriter::default()
    }

    /// Opens element `name`.
    pub fn open(&mut self, name: &str) -> &mut XmlWriter {
        self.out.push('<');
        self.out.push_str(name);
        self.out.push('>');
        self
    }

    /// Closes element `name`.
    pub fn close(&mut self, name: &str) -> &mut XmlWriter {
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push('>');
        self
    }

    /// Writes `<name>text</name>`.
    pub fn element(&mut self, name: &str, text: &str) -> &mut XmlWriter {
        self.open(name);
        for c in text.chars() {
            match c {
                '&' => self.out.push_str("&amp;"),
                '<' => self.out.push_str("&lt;"),
                '>' => self.out.push_str("&gt;"),
                '"' => self.out.push_str("&quot;"),
                '\'' => self.out.push_str("&apos;"),
                '\t' | '\n' | '\r' => self.out.push(c),
                c if c < ' ' || c == '\u{FFFE}' || c == '\u{FFFF}' => self.out.push('\u{FFFD}'),
                c => self.out.push(c),
            }
        }
        self.close(name)
    }

    /// The document written.
    pub fn finish(self) -> String {
        self.out
    }
}
