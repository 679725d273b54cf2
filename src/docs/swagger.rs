//! Swagger UI's files, embedded in the binary.
//!
//! build.rs takes them from the Swagger UI release archive of the
//! `utoipa-swagger-ui-vendored` crate: only what the page loads. utoipa-swagger-ui
//! (which this replaces) embeds all of the archive's `dist/`, including three bundles
//! no browser requests from this page: 2.35 MB of the binary, about 0.7 MB of the
//! zipped Lambda package. The initializer it generated is written here, with the same
//! settings.

use serde_json::json;

/// One file of the page.
#[derive(Debug)]
pub(super) struct Asset {
    pub(super) bytes: &'static [u8],
    pub(super) content_type: &'static str,
}

macro_rules! asset {
    ($file:literal, $content_type:literal) => {
        (
            $file,
            Asset {
                bytes: include_bytes!(concat!(env!("OUT_DIR"), "/swagger-ui/", $file)),
                content_type: $content_type,
            },
        )
    };
}

/// Sorted by name (binary search).
static ASSETS: [(&str, Asset); 9] = [
    asset!("favicon-16x16.png", "image/png"),
    asset!("favicon-32x32.png", "image/png"),
    asset!("index.css", "text/css"),
    asset!("index.html", "text/html"),
    asset!("oauth2-redirect.html", "text/html"),
    asset!("oauth2-redirect.js", "text/javascript"),
    asset!("swagger-ui-bundle.js", "text/javascript"),
    asset!("swagger-ui-standalone-preset.js", "text/javascript"),
    asset!("swagger-ui.css", "text/css"),
];

/// The file at `path` under `/docs/` (`""` is the page itself).
pub(super) fn asset(path: &str) -> Option<&'static Asset> {
    let path = if path.is_empty() { "index.html" } else { path };
    ASSETS
        .binary_search_by(|(name, _)| (*name).cmp(path))
        .ok()
        .map(|index| &ASSETS[index].1)
}

/// `swagger-initializer.js`: the document at `../openapi.json` (relative, so it works
/// under a stage prefix), "Try it out" on, no call to the public validator service.
pub(super) fn initializer(persist_authorization: bool) -> String {
    let settings = json!({
        "dom_id": "#swagger-ui",
        "url": "../openapi.json",
        "deepLinking": true,
        "displayRequestDuration": true,
        "filter": true,
        "tryItOutEnabled": true,
        "validatorUrl": "none",
        "persistAuthorization": persist_authorization,
        "layout": "StandaloneLayout",
    });
    let settings = serde_json::to_string_pretty(&settings).expect("JSON serializes");
    // The object's entries, without its braces, become the first arguments.
    let entries = settings
        .trim_start_matches('{')
        .trim_end_matches('}')
        .trim_matches('\n');
    format!(
        "window.onload = function() {{\n  window.ui = SwaggerUIBundle({{\n{entries},\n    \
         presets: [\n      SwaggerUIBundle.presets.apis,\n      SwaggerUIStandalonePreset\n    ],\n    \
         plugins: [\n      SwaggerUIBundle.plugins.DownloadUrl\n    ],\n  }});\n}};\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assets_are_sorted_and_each_is_the_real_file() {
        assert!(ASSETS.windows(2).all(|pair| pair[0].0 < pair[1].0));
        for (name, asset) in &ASSETS {
            assert!(!asset.bytes.is_empty(), "{name}");
        }
        let page = std::str::from_utf8(asset("").expect("the page").bytes).expect("UTF-8");
        // Every file the page loads is here (its initializer is `initializer`).
        for loaded in page
            .split(['"'])
            .filter(|s| s.starts_with("./") || s.ends_with(".css"))
        {
            let file = loaded.trim_start_matches("./");
            assert!(
                asset(file).is_some() || file == "swagger-initializer.js",
                "the page loads {file}"
            );
        }
        assert!(asset("swagger-ui-es-bundle.js").is_none());
    }

    #[test]
    fn the_initializer_is_valid_javascript_settings() {
        let script = initializer(true);
        assert!(script.contains(r#""url": "../openapi.json","#), "{script}");
        assert!(
            script.contains(r#""persistAuthorization": true,"#),
            "{script}"
        );
        assert!(script.contains("SwaggerUIStandalonePreset"), "{script}");
    }
}
