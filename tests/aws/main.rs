//! Tests against the AWS emulator (moto over HTTP, from the virtual environment that
//! scripts/emulator-venv installs; no root, no Go): each kind's reconcile with every AWS
//! call counted, the scheduling modes, faults and crashes, the command line, the
//! controller's Kubernetes I/O against kube's tower-test mock, and the operator's IAM
//! policy judged by the public auditors (installed next to the emulator). Each test starts its own
//! emulator and fails, never skips, when it cannot. `scripts/test --quick` runs them.

#[path = "../support/mod.rs"]
mod support;

mod budget;
mod cli;
mod controller;
mod crash;
mod daemon_modes;
mod daemon_service;
mod faults;
mod iam_audit;
mod integration_role;
mod scaling_group;
mod task_definition;
