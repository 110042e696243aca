//! The FOS operator console: a single-page application of plain HTML, CSS and JavaScript, embedded in
//! the binary with `include_bytes!` so `fos demo` and `fos serve` need no files beside them and no
//! build step (no npm, no bundler).
//!
//! | file | what |
//! | --- | --- |
//! | `index.html` | the page: header (navigation, live indicator, the stop button), the view area |
//! | `app.js` | views: plant overview, asset (trends, spectrum and envelope spectrum with fault frequencies), findings (evidence, confirm/dispute), approvals (the exact change, predicted effect, approve/reject/execute), ledger (checkpoint, any record's inclusion proof checked in the browser); login; live updates over SSE |
//! | `ledger.js` | checks a ledger inclusion bundle in the browser with WebCrypto: RFC 9162 leaf and inclusion proof, the checkpoint's Ed25519 signed note, the key id (the same checks as `fos_ledger::InclusionBundle::verify`) |
//! | `charts.js` | canvas charts: time trends, spectra with marked frequencies |
//! | `style.css` | the look |
//!
//! The server serves `index.html` at `/` and every file at `/console/<name>`.

/// One embedded file.
#[derive(Debug, Clone, Copy)]
pub struct Asset {
    /// Its name (`app.js`); served at `/console/<name>`, `index.html` also at `/`.
    pub name: &'static str,
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// Its bytes.
    pub bytes: &'static [u8],
}

/// Every file of the console.
pub const ASSETS: &[Asset] = &[
    Asset { name: "index.html", content_type: "text/html; charset=utf-8", bytes: include_bytes!("../assets/index.html") },
    Asset { name: "app.js", content_type: "text/javascript; charset=utf-8", bytes: include_bytes!("../assets/app.js") },
    Asset { name: "ledger.js", content_type: "text/javascript; charset=utf-8", bytes: include_bytes!("../assets/ledger.js") },
    Asset { name: "charts.js", content_type: "text/javascript; charset=utf-8", bytes: include_bytes!("../assets/charts.js") },
    Asset { name: "style.css", content_type: "text/css; charset=utf-8", bytes: include_bytes!("../assets/style.css") },
];

/// The file called `name`, if the console has one.
pub fn asset(name: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_loads_every_script_and_stylesheet_the_console_has() {
        let html = std::str::from_utf8(asset("index.html").unwrap().bytes).unwrap();
        for a in ASSETS.iter().filter(|a| a.name != "index.html") {
            assert!(html.contains(&format!("/console/{}", a.name)), "index.html does not load {}", a.name);
            assert!(!a.bytes.is_empty());
        }
        assert!(asset("nope.js").is_none());
    }
}
