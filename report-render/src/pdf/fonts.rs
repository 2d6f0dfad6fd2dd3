//! The standard Helvetica fonts as the PDF uses them: WinAnsi encoding of text (anything
//! outside it becomes `?`) and glyph widths from Adobe's Helvetica and Helvetica-Bold AFM
//! metrics, for measuring, right-aligning and truncating text without a font file.

/// Glyph widths (1/1000 em) of Helvetica for WinAnsi codes 32..=255 (0 = no glyph).
pub(crate) const HELVETICA: [u16; 224] = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, 556, 556, 556,
    556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556, 1015, 667, 667, 722, 722, 667,
    611, 778, 722, 278, 500, 667, 556, 833, 722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667,
    667, 611, 278, 278, 278, 469, 556, 333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500,
    222, 833, 556, 556, 556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584,
    0, 556, 0, 222, 556, 333, 1000, 556, 556, 333, 1000, 667, 333, 1000, 0, 611, 0, 0, 222, 222,
    333, 333, 350, 556, 1000, 333, 1000, 500, 333, 944, 0, 500, 667, 278, 333, 556, 556, 556, 556,
    260, 556, 333, 737, 370, 556, 584, 333, 737, 333, 400, 584, 333, 333, 333, 578, 537, 278, 333,
    333, 365, 556, 834, 834, 834, 611, 667, 667, 667, 667, 667, 667, 1000, 722, 667, 667, 667, 667,
    278, 278, 278, 278, 722, 722, 778, 778, 778, 778, 778, 584, 778, 722, 722, 722, 722, 667, 667,
    611, 556, 556, 556, 556, 556, 556, 889, 500, 556, 556, 556, 556, 278, 278, 278, 278, 556, 556,
    556, 556, 556, 556, 556, 584, 611, 556, 556, 556, 556, 500, 556, 500,
];

/// Glyph widths (1/1000 em) of Helvetica-Bold for WinAnsi codes 32..=255 (0 = no glyph).
pub(crate) const HELVETICA_BOLD: [u16; 224] = [
    278, 333, 474, 556, 556, 889, 722, 238, 333, 333, 389, 584, 278, 333, 278, 278, 556, 556, 556,
    556, 556, 556, 556, 556, 556, 556, 333, 333, 584, 584, 584, 611, 975, 722, 722, 722, 722, 667,
    611, 778, 722, 278, 556, 722, 611, 833, 722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667,
    667, 611, 333, 278, 333, 584, 556, 333, 556, 611, 556, 611, 556, 333, 611, 611, 278, 278, 556,
    278, 889, 611, 611, 611, 611, 389, 556, 333, 611, 556, 778, 556, 556, 500, 389, 280, 389, 584,
    0, 556, 0, 278, 556, 500, 1000, 556, 556, 333, 1000, 667, 333, 1000, 0, 611, 0, 0, 278, 278,
    500, 500, 350, 556, 1000, 333, 1000, 556, 333, 944, 0, 500, 667, 278, 333, 556, 556, 556, 556,
    280, 556, 333, 737, 370, 556, 584, 333, 737, 333, 400, 584, 333, 333, 333, 611, 556, 278, 333,
    333, 365, 556, 834, 834, 834, 611, 722, 722, 722, 722, 722, 722, 1000, 722, 667, 667, 667, 667,
    278, 278, 278, 278, 722, 722, 778, 778, 778, 778, 778, 584, 778, 722, 722, 722, 722, 667, 667,
    611, 556, 556, 556, 556, 556, 556, 889, 556, 556, 556, 556, 556, 278, 278, 278, 278, 611, 611,
    611, 611, 611, 611, 611, 584, 611, 611, 611, 611, 611, 556, 611, 556,
];

/// One of the two fonts the PDF uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Font {
    /// Helvetica.
    Regular,
    /// Helvetica-Bold.
    Bold,
}

impl Font {
    /// The page resource name.
    pub(crate) fn resource(self) -> &'static [u8] {
        match self {
            Font::Regular => b"F1",
            Font::Bold => b"F2",
        }
    }

    /// The standard-14 base font name.
    pub(crate) fn base_font(self) -> &'static [u8] {
        match self {
            Font::Regular => b"Helvetica",
            Font::Bold => b"Helvetica-Bold",
        }
    }

    fn widths(self) -> &'static [u16; 224] {
        match self {
            Font::Regular => &HELVETICA,
            Font::Bold => &HELVETICA_BOLD,
        }
    }

    /// The width of one encoded byte, in 1/1000 em (unknown codes as `?`).
    fn glyph(self, byte: u8) -> f32 {
        let widths = self.widths();
        let w = byte
            .checked_sub(32)
            .and_then(|i| widths.get(usize::from(i)))
            .copied()
            .unwrap_or(0);
        let w = if w == 0 {
            widths[usize::from(b'?' - 32)]
        } else {
            w
        };
        f32::from(w)
    }

    /// The width of encoded `text` at `size` points.
    pub(crate) fn width(self, text: &[u8], size: f32) -> f32 {
        text.iter().map(|&b| self.glyph(b)).sum::<f32>() * size / 1000.0
    }

    /// `text` encoded and cut (with an ellipsis) to fit `max` points at `size`.
    pub(crate) fn fit(self, text: &str, size: f32, max: f32) -> Vec<u8> {
        let mut bytes = encode(text);
        if self.width(&bytes, size) <= max {
            return bytes;
        }
        let room = max - self.glyph(ELLIPSIS) * size / 1000.0;
        let mut used = 0.0;
        let keep = bytes
            .iter()
            .take_while(|&&b| {
                used += self.glyph(b) * size / 1000.0;
                used <= room
            })
            .count();
        bytes.truncate(keep);
        if room > 0.0 {
            bytes.push(ELLIPSIS);
        }
        bytes
    }
}

/// WinAnsi's horizontal ellipsis.
const ELLIPSIS: u8 = 0x85;

/// Encodes text in WinAnsiEncoding: ASCII and Latin-1 as themselves, the typographic
/// characters of 0x80..0x9F to their codes, control characters as spaces, anything else
/// as `?`.
pub(crate) fn encode(text: &str) -> Vec<u8> {
    text.chars().map(win_ansi).collect()
}

fn win_ansi(c: char) -> u8 {
    match c {
        '\u{20}'..='\u{7e}' | '\u{a0}'..='\u{ff}' => u8::try_from(u32::from(c)).unwrap_or(b'?'),
        c if c.is_control() => b' ',
        '€' => 0x80,
        '‚' => 0x82,
        'ƒ' => 0x83,
        '„' => 0x84,
        '…' => 0x85,
        '†' => 0x86,
        '‡' => 0x87,
        'ˆ' => 0x88,
        '‰' => 0x89,
        'Š' => 0x8A,
        '‹' => 0x8B,
        'Œ' => 0x8C,
        'Ž' => 0x8E,
        '‘' => 0x91,
        '’' => 0x92,
        '“' => 0x93,
        '”' => 0x94,
        '•' => 0x95,
        '–' => 0x96,
        '—' => 0x97,
        '˜' => 0x98,
        '™' => 0x99,
        'š' => 0x9A,
        '›' => 0x9B,
        'œ' => 0x9C,
        'ž' => 0x9E,
        'Ÿ' => 0x9F,
        _ => b'?',
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_and_widths() {
        assert_eq!(encode("Aé€\u{4e2d}\t"), vec![b'A', 0xE9, 0x80, b'?', b' ']);
        assert!((Font::Regular.width(b"AAA", 10.0) - 20.01).abs() < 1e-4);
        let cut = Font::Regular.fit("abcdefghijklmnop", 10.0, 30.0);
        assert_eq!(cut.last(), Some(&ELLIPSIS));
        assert!(Font::Regular.width(&cut, 10.0) <= 30.0);
        assert_eq!(Font::Bold.fit("ok", 10.0, 30.0), b"ok".to_vec());
    }
}
