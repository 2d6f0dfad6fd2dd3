//! A real browser for the tests of pages: Debian's Chromium, headless,
//! prints a page to PDF (so the page was loaded, laid out and rendered)
//! and poppler's `pdftotext` reads the text back. Flags as the machine's
//! notes say for this closed network (no background connections).

use std::path::Path;
use std::process::Command;

/// The text of `url` (http:// or file://) as Chromium renders it.
pub fn rendered_text(url: &str, dir: &Path) -> String {
    let profile = dir.join("chromium-profile");
    let pdf = dir.join("page.pdf");
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-pdf-header-footer",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--print-to-pdf={}", pdf.display()))
        .arg(url)
        .output()
        .expect("chromium runs (apt-get install chromium; deploy/local/install.sh does)");
    assert!(
        pdf.exists(),
        "chromium printed nothing for {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = Command::new("pdftotext")
        .arg(&pdf)
        .arg("-")
        .output()
        .expect("pdftotext runs");
    assert!(text.status.success(), "pdftotext: {text:?}");
    String::from_utf8_lossy(&text.stdout).into_owned()
}
