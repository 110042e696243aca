//! The console's static files: [`ConsoleAssets`], a map from URL path to (content type, bytes) that the
//! caller hands in (the binary embeds the built console), served at `/` without login. `/` is
//! `/index.html`. [`ConsoleAssets::placeholder`] is a minimal page for tests and for a server started
//! without a console.

use std::borrow::Cow;
use std::collections::BTreeMap;

/// The placeholder console page.
pub const PLACEHOLDER_HTML: &str = include_str!("../assets/index.html");

/// Static files by URL path (`/index.html`, `/app.js`).
#[derive(Debug, Clone, Default)]
pub struct ConsoleAssets {
    files: BTreeMap<String, (String, Cow<'static, [u8]>)>,
}

impl ConsoleAssets {
    /// No files.
    pub fn new() -> ConsoleAssets {
        ConsoleAssets::default()
    }

    /// Just the placeholder page at `/index.html`.
    pub fn placeholder() -> ConsoleAssets {
        ConsoleAssets::new().with("/index.html", "text/html; charset=utf-8", PLACEHOLDER_HTML.as_bytes())
    }

    /// Adds (or replaces) `path` (a leading `/` is added when missing).
    pub fn with(mut self, path: &str, content_type: &str, bytes: impl Into<Cow<'static, [u8]>>) -> ConsoleAssets {
        self.insert(path, content_type, bytes);
        self
    }

    /// Adds (or replaces) `path`.
    pub fn insert(&mut self, path: &str, content_type: &str, bytes: impl Into<Cow<'static, [u8]>>) {
        let path = if path.starts_with('/') { path.to_owned() } else { format!("/{path}") };
        self.files.insert(path, (content_type.to_owned(), bytes.into()));
    }

    /// The file at `path` (`/` is `/index.html`).
    pub fn get(&self, path: &str) -> Option<(&str, &[u8])> {
        let path = if path == "/" { "/index.html" } else { path };
        self.files.get(path).map(|(t, b)| (t.as_str(), b.as_ref()))
    }

    /// Every path.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.files.keys().map(String::as_str)
    }
}
