//! The page's files, built into the binary: one HTML shell, one stylesheet, one script (no
//! framework, no CDN, nothing fetched at run time).

use std::sync::LazyLock;

/// The HTML shell; `{{HEAD}}` and `{{SCRIPT}}` are filled in for the live server or a report.
pub const INDEX: &str = include_str!("../assets/index.html");
/// The stylesheet.
pub const APP_CSS: &str = include_str!("../assets/app.css");
/// The application: routing, API client, plots drawn on canvases.
pub const APP_JS: &str = include_str!("../assets/app.js");
/// The font plots are drawn with (a subset of DejaVu Sans, see `assets/DejaVuSans-LICENSE`).
pub const FONT: &[u8] = include_bytes!("../assets/DejaVuSans-subset.ttf");

/// The page the live server sends: the shell loading the stylesheet and script by address.
pub static INDEX_LIVE: LazyLock<String> = LazyLock::new(|| {
    INDEX
        .replace(
            "{{HEAD}}",
            r#"<link rel="stylesheet" href="assets/app.css">"#,
        )
        .replace("{{SCRIPT}}", r#"<script src="assets/app.js"></script>"#)
});
