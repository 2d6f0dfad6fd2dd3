//! A PDF file written object by object.
//!
//! `pdf_writer::Pdf` keeps the whole document in one buffer; here each object is built in
//! its own `pdf_writer::Chunk`, written to the file at once, and only its byte offset is
//! kept (8 bytes per object) for the cross-reference table written by
//! [`ObjectWriter::finish`].

use std::fs::File;
use std::io::{BufWriter, Write};

use pdf_writer::{Chunk, Ref};

use crate::RenderError;

/// Streams indirect objects to a file and writes the xref table and trailer at the end.
pub(crate) struct ObjectWriter {
    out: BufWriter<File>,
    /// Bytes written so far.
    position: u64,
    /// Offset of object `id` at index `id - 1` (`None`: reserved, not written yet).
    offsets: Vec<Option<u64>>,
}

impl ObjectWriter {
    /// Writes the PDF header to `out`.
    pub(crate) fn new(out: BufWriter<File>) -> Result<Self, RenderError> {
        let mut writer = ObjectWriter {
            out,
            position: 0,
            offsets: Vec::new(),
        };
        // The binary comment marks the file as binary for transfer tools.
        writer.raw(b"%PDF-1.7\n%\xE2\xE3\xCF\xD3\n")?;
        Ok(writer)
    }

    fn raw(&mut self, bytes: &[u8]) -> Result<(), RenderError> {
        self.out.write_all(bytes)?;
        self.position += bytes.len() as u64;
        Ok(())
    }

    /// A new object id, to be written later with [`ObjectWriter::object`].
    pub(crate) fn reserve(&mut self) -> Ref {
        self.offsets.push(None);
        Ref::new(i32::try_from(self.offsets.len()).unwrap_or(i32::MAX))
    }

    /// Writes the object `id`, which `build` adds to an empty chunk (one object only).
    pub(crate) fn object(
        &mut self,
        id: Ref,
        build: impl FnOnce(&mut Chunk),
    ) -> Result<(), RenderError> {
        let mut chunk = Chunk::new();
        build(&mut chunk);
        let slot = usize::try_from(id.get())
            .ok()
            .and_then(|i| i.checked_sub(1))
            .and_then(|i| self.offsets.get_mut(i))
            .ok_or_else(|| {
                RenderError::Protocol(format!("pdf object {} was not reserved", id.get()))
            })?;
        *slot = Some(self.position);
        self.raw(chunk.as_bytes())
    }

    /// Writes the cross-reference table and the trailer, and returns the file.
    pub(crate) fn finish(mut self, root: Ref, info: Ref) -> Result<BufWriter<File>, RenderError> {
        let xref = self.position;
        let count = self.offsets.len() + 1;
        self.raw(format!("xref\n0 {count}\n0000000000 65535 f\r\n").as_bytes())?;
        for index in 0..self.offsets.len() {
            let entry = match self.offsets[index] {
                Some(at) => format!("{at:010} 00000 n\r\n"),
                None => "0000000000 00000 f\r\n".to_owned(),
            };
            self.raw(entry.as_bytes())?;
        }
        let trailer = format!(
            "trailer\n<< /Size {count} /Root {} 0 R /Info {} 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            root.get(),
            info.get()
        );
        self.raw(trailer.as_bytes())?;
        Ok(self.out)
    }
}
