//! ecsfleet: a Kubernetes operator that keeps AWS infrastructure in the shape declared
//! by custom resources.
//!
//! Every kind goes through the same four steps: observe the live AWS state, plan the
//! changes with a pure function, apply them idempotently, and report status, conditions
//! and events. The CLI (`plan`, `apply`, `delete`) and the in-cluster controller (`run`)
//! share that code, so what `plan` prints is what the controller would do.
#![forbid(unsafe_code)]

pub mod aws;
pub mod cli;
pub mod common;
pub mod daemon_service;
pub mod error;
pub mod integration_role;
pub mod metrics;
pub mod redact;
pub mod runtime;
pub mod scaling_group;
pub mod tenancy;

pub use error::{Error, Reason, Result};

/// The API group of every ecsfleet kind.
pub const API_GROUP: &str = "ecsfleet.dev";
/// The finalizer that guards deletion of AWS resources.
pub const FINALIZER: &str = "ecsfleet.dev/cleanup";
/// The field manager of every status write.
pub const FIELD_MANAGER: &str = "ecsfleet";
