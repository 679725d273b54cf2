//! Property: every Lambda event the runtime could deliver ends in a response below 500 or
//! a clean "not an HTTP event" error, never a panic. The events are the fixtures of
//! tests/events/ mutated: a field dropped at any depth, a value of the wrong type, a
//! string made huge, empty, non-ASCII, full of control characters, `xn--` or
//! percent-encoding junk, or a path of `..` and `//`. Each runs through
//! `items_api::lambda::invoke`, the runtime's own path from event text to response.
//!
//! 256 cases in all (`PROPTEST_CASES` sets another number for a longer hunt); no
//! failure files are written. A failure prints the fixture, the mutations shrunk to a
//! minimal set, and what went wrong.

use crate::support::{EVENTS, FIXTURE_TOKEN, TestApp};
use items_api::lambda::InvokeError;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::TestRunner;
use serde_json::{Value, json};

/// Cases per run unless `PROPTEST_CASES` says otherwise.
const CASES: u32 = 256;

/// Keys lambda_http and the adapter read to build the request: a mutation picks among
/// these half of the time, so 256 cases reach them often.
const HOT_KEYS: [&str; 18] = [
    "path",
    "rawpath",
    "rawquerystring",
    "host",
    "domainname",
    "stage",
    "x-forwarded-proto",
    "body",
    "isbase64encoded",
    "querystringparameters",
    "multivaluequerystringparameters",
    "pathparameters",
    "proxy",
    "resourcepath",
    "httpmethod",
    "method",
    "cookies",
    "content-type",
];

/// One change to an event.
#[derive(Debug, Clone)]
enum Mutation {
    /// Remove a member or element, at any depth.
    Drop { hot: bool, at: Index },
    /// Replace a value with one of another type (or an odd string).
    Replace { hot: bool, at: Index, value: Value },
    /// Replace a string value with an odd one.
    Text { hot: bool, at: Index, text: String },
}

/// Strings an attacker or a broken proxy could send where the event has text.
fn odd_text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        // Huge: a short piece repeated, up to ~100 KB.
        ("[ -~]{1,4}|é|/|%", 1..=25_000usize).prop_map(|(piece, times)| piece.repeat(times)),
        // Any printable Unicode.
        "\\PC{0,24}",
        // Control characters.
        "[\\x00-\\x1f\\x7f ]{1,6}[a-z]{0,4}",
        // Punycode junk, with or without a port.
        "(xn--[a-z0-9-]{0,8}\\.){1,3}[a-z0-9]{0,4}(:[0-9]{0,6})?",
        // Percent-encoding junk.
        "(%[0-9A-Fa-f]{0,2}|%[gGzZ%]|%00|%2[eEfF]|[a-z/]{0,3}){1,10}",
        // Paths with dot segments, doubled and odd separators.
        "(/|//|\\.\\.|\\.|[a-z]{1,4}|%2[eEfF]|\\\\|\\?|#|;|@|:){1,12}",
        // Hosts and addresses, valid or not.
        "[a-zA-Z0-9.:\\[\\]_@-]{0,24}",
        Just("$default".to_owned()),
        Just("/{proxy+}".to_owned()),
    ]
}

/// A value of any JSON type.
fn any_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        (-1e12..1e12f64).prop_map(Value::from),
        any::<bool>().prop_map(Value::from),
        Just(Value::Null),
        Just(json!([])),
        odd_text().prop_map(|text| json!([text])),
        Just(json!({})),
        (odd_text(), odd_text()).prop_map(|(key, text)| json!({ key: text })),
        odd_text().prop_map(Value::from),
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        1 => (any::<bool>(), any::<Index>()).prop_map(|(hot, at)| Mutation::Drop { hot, at }),
        1 => (any::<bool>(), any::<Index>(), any_value())
            .prop_map(|(hot, at, value)| Mutation::Replace { hot, at, value }),
        2 => (any::<bool>(), any::<Index>(), odd_text())
            .prop_map(|(hot, at, text)| Mutation::Text { hot, at, text }),
    ]
}

/// Every member and element below `value`, depth first, as JSON pointers.
fn pointers(value: &Value, at: &str, found: &mut Vec<String>) {
    let children: Vec<(String, &Value)> = match value {
        Value::Object(members) => members
            .iter()
            .map(|(key, child)| (key.replace('~', "~0").replace('/', "~1"), child))
            .collect(),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(index, child)| (index.to_string(), child))
            .collect(),
        _ => return,
    };
    for (key, child) in children {
        let pointer = format!("{at}/{key}");
        found.push(pointer.clone());
        pointers(child, &pointer, found);
    }
}

/// The pointer `at` picks, among the hot keys when `hot` (and there are any), among
/// the strings when `strings`; None when the event has no such place.
fn pick(event: &Value, hot: bool, strings: bool, at: Index) -> Option<String> {
    let mut all = Vec::new();
    pointers(event, "", &mut all);
    let is_hot = |pointer: &String| {
        let key = pointer.rsplit('/').next().unwrap_or_default();
        HOT_KEYS.contains(&key.to_ascii_lowercase().as_str())
    };
    let is_string = |pointer: &String| event.pointer(pointer).is_some_and(Value::is_string);
    let mut places: Vec<String> = all
        .iter()
        .filter(|p| !strings || is_string(p))
        .cloned()
        .collect();
    if hot && places.iter().any(is_hot) {
        places.retain(is_hot);
    }
    (!places.is_empty()).then(|| places[at.index(places.len())].clone())
}

fn apply(event: &mut Value, mutation: &Mutation) {
    match mutation {
        Mutation::Drop { hot, at } => {
            let Some(pointer) = pick(event, *hot, false, *at) else {
                return;
            };
            let (parent, key) = pointer.rsplit_once('/').expect("a pointer has a '/'");
            let key = key.replace("~1", "/").replace("~0", "~");
            match event.pointer_mut(parent) {
                Some(Value::Object(members)) => {
                    members.remove(&key);
                }
                Some(Value::Array(items)) => {
                    items.remove(key.parse::<usize>().expect("an index"));
                }
                _ => {}
            }
        }
        Mutation::Replace { hot, at, value } => {
            if let Some(place) = pick(event, *hot, false, *at).and_then(|p| event.pointer_mut(&p)) {
                *place = value.clone();
            }
        }
        Mutation::Text { hot, at, text } => {
            if let Some(place) = pick(event, *hot, true, *at).and_then(|p| event.pointer_mut(&p)) {
                *place = Value::String(text.clone());
            }
        }
    }
}

/// Every event fixture: its file name and JSON.
fn fixtures() -> Vec<(String, Value)> {
    let mut fixtures: Vec<(String, Value)> = std::fs::read_dir(EVENTS)
        .expect("tests/events/ lists")
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .map(|path| {
            let text = std::fs::read_to_string(&path).expect("a fixture reads");
            let name = path
                .file_name()
                .expect("a name")
                .to_string_lossy()
                .into_owned();
            let event = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
            (name, event)
        })
        .collect();
    fixtures.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(fixtures.len() >= 4, "fixtures of every kind in {EVENTS}");
    fixtures
}

/// What a panic said.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

/// The first `max` characters of `text`, for a failure message.
fn excerpt(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}… ({} bytes)", &text[..end], text.len()),
        None => text.to_owned(),
    }
}

#[test]
fn mutated_events_end_in_a_response_below_500_or_a_clean_error() {
    let fixtures = fixtures();
    // One service for every case, as one Lambda environment serves many invocations.
    let app =
        TestApp::configured(|config| config.writes.api_token = Some(FIXTURE_TOKEN.to_owned()));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(CASES);
    let mut runner = TestRunner::new(ProptestConfig {
        cases,
        failure_persistence: None,
        max_shrink_iters: 1024,
        ..ProptestConfig::default()
    });
    let strategy = (
        0..fixtures.len(),
        proptest::collection::vec(mutation(), 1..=4),
    );
    let result = runner.run(&strategy, |(fixture, mutations)| {
        let (name, event) = &fixtures[fixture];
        let mut event = event.clone();
        for mutation in &mutations {
            apply(&mut event, mutation);
        }
        let text = event.to_string();
        let service = app.app();
        let input = text.clone();
        // Spawned, so that a panic anywhere in the invocation is caught and reported.
        let outcome = runtime.block_on(async move {
            tokio::spawn(async move {
                items_api::lambda::invoke(service, &input, Default::default()).await
            })
            .await
        });
        let failure = match outcome {
            Err(join) if join.is_panic() => {
                Some(format!("panicked: {}", panic_message(&*join.into_panic())))
            }
            Err(join) => Some(format!("did not finish: {join}")),
            // Not an HTTP event of any kind lambda_http knows: the runtime reports a
            // clean deserialization error, as for any other unknown event.
            Ok(Err(InvokeError::Event(_))) => None,
            // A conversion that panicked, caught by the adapter: an invocation error,
            // a 502 on AWS.
            Ok(Err(InvokeError::Conversion(_))) => {
                Some("lambda_http's conversion panicked (its message is printed above)".to_owned())
            }
            Ok(Err(error)) => Some(format!("invocation error: {error:?}")),
            Ok(Ok(response)) => match response["statusCode"].as_u64() {
                // The in-memory store never fails: any 5xx is a bug (a panic in a
                // handler becomes a 500 through CatchPanicLayer).
                Some(status) if status >= 500 => Some(format!(
                    "answered {status}: {}",
                    excerpt(&response.to_string(), 2_000)
                )),
                Some(_) => None,
                None => Some(format!(
                    "a response without a status: {}",
                    excerpt(&response.to_string(), 2_000)
                )),
            },
        };
        match failure {
            None => Ok(()),
            Some(failure) => Err(TestCaseError::fail(format!(
                "{name}: {failure}\nevent: {}",
                excerpt(&text, 4_000)
            ))),
        }
    });
    if let Err(error) = result {
        panic!("{error}");
    }
}
