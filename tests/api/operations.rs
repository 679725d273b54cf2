//! The contract's operations, read from `openapi.yaml`, so that tests iterate over every
//! operation the contract has instead of a list written by hand: a new operation is
//! tested the moment it is in the contract, or the test says what it lacks to test it.

use axum::body::Body;
use axum::http::{Method, Request, header};
use serde_json::Value;
use std::collections::BTreeSet;
use std::fmt;

/// The contract, `openapi.yaml`, as JSON.
pub fn contract() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.yaml");
    let text = std::fs::read_to_string(path).expect("openapi.yaml is readable");
    yaml_serde::from_str(&text).expect("openapi.yaml is valid YAML")
}

/// Every operation of `openapi.yaml`, in the document's order.
pub fn operations() -> Vec<Operation> {
    operations_of(&contract())
}

/// One operation of an OpenAPI document.
#[derive(Debug, Clone)]
pub struct Operation {
    pub method: Method,
    /// The path template, such as `/api/items/{item_id}`.
    pub path: String,
    pub id: String,
    pub tags: Vec<String>,
    /// Whether every security requirement of the operation names a bearer scheme: a
    /// request without the token must be refused. `security: [{}]` (or none) is public.
    pub needs_token: bool,
    /// Its own parameters and those of its path.
    pub parameters: Vec<Parameter>,
    pub request_body: Option<RequestBody>,
    /// The documented status codes, ascending.
    pub responses: Vec<u16>,
}

/// One parameter of an operation.
#[derive(Debug, Clone)]
pub struct Parameter {
    pub name: String,
    /// `path`, `query`, `header` or `cookie`.
    pub location: String,
    pub required: bool,
    /// The parameter's example, or its schema's.
    pub example: Option<Value>,
}

/// The request body an operation takes.
#[derive(Debug, Clone)]
pub struct RequestBody {
    pub required: bool,
    /// The first media type the contract lists (`application/json`).
    pub media_type: String,
    /// The media type's example, or its schema's.
    pub example: Option<Value>,
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({} {})", self.id, self.method, self.path)
    }
}

impl Operation {
    /// The status a request the operation accepts answers: its lowest documented 2xx.
    pub fn success(&self) -> u16 {
        self.responses
            .iter()
            .copied()
            .find(|status| (200..300).contains(status))
            .unwrap_or_else(|| panic!("{self} documents no 2xx answer"))
    }

    /// A concrete request target: each path parameter and each required query
    /// parameter filled by `value`, which must know every one of them.
    pub fn uri(&self, value: impl Fn(&str) -> Option<String>) -> String {
        let mut uri = self.path.clone();
        let mut query = Vec::new();
        for parameter in &self.parameters {
            let needed = match parameter.location.as_str() {
                "path" => true,
                "query" => parameter.required,
                _ => false,
            };
            if !needed {
                continue;
            }
            let filled = value(&parameter.name).unwrap_or_else(|| {
                panic!(
                    "{self}: the test has no value for its {} parameter `{}`; add one",
                    parameter.location, parameter.name
                )
            });
            if parameter.location == "path" {
                uri = uri.replace(&format!("{{{}}}", parameter.name), &filled);
            } else {
                query.push(format!("{}={filled}", parameter.name));
            }
        }
        assert!(
            !uri.contains('{'),
            "{self}: a path parameter is not declared"
        );
        if !query.is_empty() {
            uri = format!("{uri}?{}", query.join("&"));
        }
        uri
    }

    /// A request of this operation to the in-process app: `value` fills the path
    /// parameters and the required query and header ones; the body is the contract's
    /// example; `authorization` is the header's value, if any.
    pub fn request(
        &self,
        value: impl Fn(&str) -> Option<String>,
        authorization: Option<&str>,
    ) -> Request<Body> {
        let mut request = Request::builder()
            .method(self.method.clone())
            .uri(self.uri(&value))
            .header(header::HOST, "127.0.0.1:8000");
        for parameter in &self.parameters {
            if parameter.location == "header" && parameter.required {
                let filled = value(&parameter.name).unwrap_or_else(|| {
                    panic!(
                        "{self}: the test has no value for its header `{}`; add one",
                        parameter.name
                    )
                });
                request = request.header(parameter.name.as_str(), filled);
            }
        }
        if let Some(authorization) = authorization {
            request = request.header(header::AUTHORIZATION, authorization);
        }
        let body = match &self.request_body {
            Some(body) => {
                let example = body.example.as_ref().unwrap_or_else(|| {
                    panic!("{self}: the contract gives no example request body")
                });
                request = request.header(header::CONTENT_TYPE, body.media_type.as_str());
                Body::from(example.to_string())
            }
            None => Body::empty(),
        };
        request.body(body).expect("a valid request")
    }
}

/// The HTTP methods an OpenAPI path item may hold.
const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Every operation of `document`, in its order.
pub fn operations_of(document: &Value) -> Vec<Operation> {
    let bearer_schemes: BTreeSet<&str> = document["components"]["securitySchemes"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, scheme)| {
            let scheme = resolve(document, scheme);
            scheme["type"] == "http"
                && scheme["scheme"]
                    .as_str()
                    .is_some_and(|s| s.eq_ignore_ascii_case("bearer"))
        })
        .map(|(name, _)| name.as_str())
        .collect();
    let mut operations = Vec::new();
    let paths = document["paths"]
        .as_object()
        .expect("the document has paths");
    for (path, item) in paths {
        let item = resolve(document, item);
        let shared = item["parameters"].as_array().cloned().unwrap_or_default();
        for (method, operation) in item.as_object().expect("a path item is a mapping") {
            if !METHODS.contains(&method.as_str()) {
                continue;
            }
            let label = format!("{} {path}", method.to_ascii_uppercase());
            let id = operation["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{label} has no operationId"))
                .to_owned();
            let requirements = operation
                .get("security")
                .or_else(|| document.get("security"))
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let needs_token = !requirements.is_empty()
                && requirements.iter().all(|requirement| {
                    requirement.as_object().is_some_and(|schemes| {
                        schemes
                            .keys()
                            .any(|name| bearer_schemes.contains(name.as_str()))
                    })
                });
            let mut parameters: Vec<Parameter> = Vec::new();
            let own = operation["parameters"].as_array().cloned();
            // An operation's parameter overrides its path's of the same name and place.
            for raw in own.into_iter().flatten().chain(shared.iter().cloned()) {
                let parameter = parameter(document, &raw, &label);
                if !parameters
                    .iter()
                    .any(|p| p.name == parameter.name && p.location == parameter.location)
                {
                    parameters.push(parameter);
                }
            }
            let request_body = operation
                .get("requestBody")
                .map(|body| request_body(document, body, &label));
            let mut responses: Vec<u16> = operation["responses"]
                .as_object()
                .unwrap_or_else(|| panic!("{label} has no responses"))
                .keys()
                .filter_map(|status| status.parse().ok())
                .collect();
            responses.sort_unstable();
            operations.push(Operation {
                method: Method::from_bytes(method.to_ascii_uppercase().as_bytes())
                    .expect("an HTTP method"),
                path: path.clone(),
                id,
                tags: operation["tags"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|tag| tag.as_str().map(str::to_owned))
                    .collect(),
                needs_token,
                parameters,
                request_body,
                responses,
            });
        }
    }
    operations
}

fn parameter(document: &Value, raw: &Value, label: &str) -> Parameter {
    let raw = resolve(document, raw);
    let name = raw["name"]
        .as_str()
        .unwrap_or_else(|| panic!("{label}: a parameter has no name"));
    let location = raw["in"]
        .as_str()
        .unwrap_or_else(|| panic!("{label}: parameter {name} has no `in`"));
    Parameter {
        name: name.to_owned(),
        location: location.to_owned(),
        required: raw["required"] == true,
        example: raw
            .get("example")
            .or_else(|| resolve(document, &raw["schema"]).get("example"))
            .cloned(),
    }
}

fn request_body(document: &Value, raw: &Value, label: &str) -> RequestBody {
    let raw = resolve(document, raw);
    let (media_type, media) = raw["content"]
        .as_object()
        .and_then(|content| content.iter().next())
        .unwrap_or_else(|| panic!("{label}: the request body has no content"));
    let example = media
        .get("example")
        .cloned()
        .or_else(|| {
            media["examples"]
                .as_object()?
                .values()
                .find_map(|e| resolve(document, e).get("value").cloned())
        })
        .or_else(|| resolve(document, &media["schema"]).get("example").cloned());
    RequestBody {
        required: raw["required"] == true,
        media_type: media_type.clone(),
        example,
    }
}

/// `value`, or what its `$ref` (a local JSON pointer) names.
fn resolve<'a>(document: &'a Value, value: &'a Value) -> &'a Value {
    match value["$ref"].as_str() {
        Some(reference) => {
            let pointer = reference
                .strip_prefix('#')
                .unwrap_or_else(|| panic!("only local references are read: {reference}"));
            let target = document
                .pointer(pointer)
                .unwrap_or_else(|| panic!("{reference} names nothing"));
            resolve(document, target)
        }
        None => value,
    }
}

#[test]
fn the_contract_reads_as_operations_with_their_security_and_bodies() {
    let operations = operations();
    let summary: Vec<String> = operations
        .iter()
        .map(|o| {
            format!(
                "{o} token={} body={} success={}",
                o.needs_token,
                o.request_body.is_some(),
                o.success()
            )
        })
        .collect();
    // Spot checks of the reader itself against what openapi.yaml says today; the tests
    // that use it never list operations.
    let create = operations
        .iter()
        .find(|o| o.id == "createItem")
        .expect("createItem");
    assert!(create.needs_token, "{summary:#?}");
    assert_eq!(
        (create.method.as_str(), create.path.as_str()),
        ("POST", "/api/items")
    );
    assert_eq!(create.success(), 201);
    assert!(create.responses.contains(&401));
    let body = create.request_body.as_ref().expect("a body");
    assert!(body.required);
    assert_eq!(body.media_type, "application/json");
    assert!(body.example.as_ref().is_some_and(|e| e["name"].is_string()));
    let get = operations
        .iter()
        .find(|o| o.id == "getItem")
        .expect("getItem");
    assert!(!get.needs_token, "security: [{{}}] is public");
    assert_eq!(
        get.uri(|name| (name == "item_id").then(|| "ID".to_owned())),
        "/api/items/ID"
    );
    let path_id = &get.parameters[0];
    assert_eq!(
        (path_id.location.as_str(), path_id.required),
        ("path", true)
    );
    assert!(path_id.example.is_some(), "the ItemId schema's example");
    assert!(operations.iter().any(|o| o.success() == 204));
}
