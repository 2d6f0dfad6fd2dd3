//! Files being written: each format writes `<name>.part` and renames it to its final
//! name on success, so a reader of the directory never sees a half-written report.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::{Format, RenderError, RenderedFile};

/// The buffer size of file writers.
pub(crate) const BUFFER: usize = 64 * 1024;

/// A file under construction in the output directory. Dropping it before
/// [`PartFile::commit`] (a failed or abandoned render) deletes the partial file.
#[derive(Debug)]
pub(crate) struct PartFile {
    dir: PathBuf,
    file_name: String,
    committed: bool,
}

impl PartFile {
    /// Plans `dir/file_name` (written first as `dir/file_name.part`).
    pub(crate) fn new(dir: &Path, file_name: String) -> Self {
        PartFile {
            dir: dir.to_path_buf(),
            file_name,
            committed: false,
        }
    }

    /// The temporary path being written.
    pub(crate) fn part_path(&self) -> PathBuf {
        self.dir.join(format!("{}.part", self.file_name))
    }

    /// Creates the temporary file, buffered.
    pub(crate) fn create(&self) -> Result<BufWriter<File>, RenderError> {
        Ok(BufWriter::with_capacity(
            BUFFER,
            File::create(self.part_path())?,
        ))
    }

    /// Renames the finished temporary file to its final name and describes it.
    pub(crate) fn commit(
        mut self,
        format: Format,
        content_type: &'static str,
    ) -> Result<RenderedFile, RenderError> {
        let path = self.dir.join(&self.file_name);
        fs::rename(self.part_path(), &path)?;
        self.committed = true;
        let size = fs::metadata(&path)?.len();
        Ok(RenderedFile {
            format,
            path,
            file_name: std::mem::take(&mut self.file_name),
            content_type,
            size,
        })
    }
}

impl Drop for PartFile {
    fn drop(&mut self) {
        if !self.committed {
            // Best effort: the file may not exist (yet, or any more).
            let _ = fs::remove_file(self.part_path());
        }
    }
}

/// Flushes a buffered file and closes it (no fsync: the data is in the OS's hands).
pub(crate) fn close(mut writer: BufWriter<File>) -> Result<(), RenderError> {
    writer.flush()?;
    let file = writer.into_inner().map_err(|e| e.into_error())?;
    drop(file);
    Ok(())
}

/// Makes `base` safe as a file name stem: letters, digits, `-`, `_` and `.` are kept,
/// anything else becomes `_`; a leading dot is replaced; empty becomes `report`.
pub(crate) fn safe_base_name(base: &str) -> String {
    let mut name: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.starts_with('.') {
        name.replace_range(0..1, "_");
    }
    if name.is_empty() {
        name.push_str("report");
    }
    name
}

#[cfg(test)]
mod tests {
    use super::safe_base_name;

    #[test]
    fn base_names_stay_in_the_directory() {
        assert_eq!(safe_base_name("../etc/passwd"), "_._etc_passwd");
        assert_eq!(safe_base_name("run-42"), "run-42");
        assert_eq!(safe_base_name(""), "report");
    }
}
