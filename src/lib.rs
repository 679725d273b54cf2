//! items-api: a contract-first Items API that runs as a local server and on AWS Lambda.
//!
//! `openapi.yaml` at the repository root is the contract; [`api::ApiDoc`] and the
//! handlers' annotations must produce exactly that document.
#![forbid(unsafe_code)]

pub mod api;
pub mod app;
pub mod auth;
pub mod aws;
pub mod config;
pub mod context;
pub mod docs;
pub mod domain;
pub mod error;
pub mod extract;
pub mod lambda;
pub mod metrics;
pub mod middleware;
pub mod secrets;
pub mod server;
pub mod startup;
pub mod store;
pub mod telemetry;
