//! Black-box tests of the service: one test binary, one module per concern.
#![allow(unreachable_pub)] // test modules share helpers with `pub`; nothing is exported

mod architecture;
mod auth;
mod binary;
mod compat;
mod contract;
mod cors;
mod docs;
mod errors;
mod event_fuzz;
mod faults;
mod invoke;
mod items;
mod lambda;
mod metrics;
mod operations;
mod resilience;
mod rotation;
mod safe_writes;
mod service;
mod store;
mod support;
mod users;
