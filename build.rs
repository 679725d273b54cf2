//! Puts the Swagger UI files `/docs/` serves into OUT_DIR, from the Swagger UI release
//! archive the `utoipa-swagger-ui-vendored` crate carries (no network at build time).
//!
//! Only the files the page loads are taken: the archive's `dist/` also holds two ES
//! module bundles and a CommonJS build (2.35 MB) that a browser never requests from
//! this page. utoipa-swagger-ui embeds every file of `dist/` and has no way to choose,
//! which is why `src/docs/swagger.rs` serves these itself (docs/performance.md:
//! package size).

use std::io::Read;
use std::path::PathBuf;

/// The files `src/docs/swagger.rs` embeds (`swagger-initializer.js` it writes itself).
const FILES: &[&str] = &[
    "favicon-16x16.png",
    "favicon-32x32.png",
    "index.css",
    "index.html",
    "oauth2-redirect.html",
    "oauth2-redirect.js",
    "swagger-ui-bundle.js",
    "swagger-ui-standalone-preset.js",
    "swagger-ui.css",
];

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let out =
        PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("swagger-ui");
    std::fs::create_dir_all(&out).expect("OUT_DIR is writable");
    let archive = std::io::Cursor::new(utoipa_swagger_ui_vendored::SWAGGER_UI_VENDORED);
    let mut archive = zip::ZipArchive::new(archive).expect("the vendored Swagger UI archive opens");
    let mut found = Vec::new();
    for index in 0..archive.len() {
        let mut entry = archive.by_index(index).expect("an archive entry");
        let name = entry.name().expect("an entry name").into_owned();
        let Some((_, file)) = name.split_once("/dist/") else {
            continue;
        };
        let Some(&file) = FILES.iter().find(|wanted| **wanted == file) else {
            continue;
        };
        let mut bytes = Vec::new();
        entry
            .read_to_end(&mut bytes)
            .expect("the entry decompresses");
        std::fs::write(out.join(file), bytes).expect("OUT_DIR is writable");
        found.push(file);
    }
    for file in FILES {
        assert!(
            found.contains(file),
            "the Swagger UI archive has no dist/{file}"
        );
    }
}
