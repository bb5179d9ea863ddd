//! One error type for the whole operator, with every failure classified in one place:
//! retryable (throttling, 5xx, timeouts, a dependency not ready yet) or terminal (fix the
//! spec, grant access, resolve an ownership conflict).

use std::fmt;

/// Why a reconcile did not finish, as shown in the `Synced` condition's `reason`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    ReconcileSuccess,
    ReconcileError,
    InvalidSpec,
    AccessDenied,
    AlreadyExists,
    OwnedByOther,
    Deleting,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::ReconcileSuccess => "ReconcileSuccess",
            Reason::ReconcileError => "ReconcileError",
            Reason::InvalidSpec => "InvalidSpec",
            Reason::AccessDenied => "AccessDenied",
            Reason::AlreadyExists => "AlreadyExists",
            Reason::OwnedByOther => "OwnedByOther",
            Reason::Deleting => "Deleting",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The spec cannot be applied as written; `field` is its path, e.g. `spec.cluster`.
    #[error("{field}: {message}")]
    InvalidSpec { field: String, message: String },

    /// The AWS resource exists, is not tagged as ours, and `adoptExisting` is false.
    #[error(
        "{resource} already exists and is not managed by ecsfleet; set spec.adoptExisting: true to adopt it"
    )]
    AlreadyExists { resource: String },

    /// The AWS resource is tagged as this object's namespace/name, under another
    /// `metadata.uid`: an earlier object of the same name (deleted with `Orphan`), or the
    /// cluster's object seen from files (which carry no uid).
    #[error(
        "{resource} is managed by ecsfleet for {owner} under another identity (uid {uid}); to preview what the cluster's controller does with it, run `ecsfleet plan --from-cluster`; to take it over from an earlier object of that name, set spec.adoptExisting: true"
    )]
    OtherIdentity {
        resource: String,
        owner: String,
        uid: String,
    },

    /// The AWS resource is tagged as belonging to another object.
    #[error(
        "{resource} is owned by {owner}; ecsfleet never modifies a resource owned by another object"
    )]
    OwnedByOther { resource: String, owner: String },

    /// AWS refused the call for lack of permission.
    #[error("access denied calling {service}:{operation}: {message}")]
    AccessDenied {
        service: &'static str,
        operation: &'static str,
        message: String,
    },

    /// Any other failure of an AWS call.
    #[error("{service}:{operation} failed: {code}: {message}")]
    Aws {
        service: &'static str,
        operation: &'static str,
        code: String,
        message: String,
        retryable: bool,
    },

    /// Something this object depends on is not ready yet (e.g. a service still draining).
    #[error("waiting: {0}")]
    NotReady(String),

    /// An object the spec refers to at `field` (a Secret) does not exist yet: it may be
    /// on its way (GitOps applies in no set order), so this is waiting, not a refusal.
    #[error("{field}: {message} (waiting for it to exist)")]
    Missing { field: String, message: String },

    #[error("kubernetes API: {0}")]
    Kube(#[from] Box<kube::Error>),

    #[error("{0}")]
    Config(String),

    #[error("reading {path}: {message}")]
    Input { path: String, message: String },
}

impl From<kube::Error> for Error {
    fn from(error: kube::Error) -> Self {
        Error::Kube(Box::new(error))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::InvalidSpec {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The error's text with every known secret scrubbed: what logs, Events, status and
    /// CLI output show.
    pub fn redacted(&self) -> String {
        crate::redact::scrub(&self.to_string())
    }

    /// The `Synced` condition reason that reports this error.
    pub fn reason(&self) -> Reason {
        match self {
            Error::InvalidSpec { .. } | Error::Input { .. } | Error::Config(_) => {
                Reason::InvalidSpec
            }
            Error::AlreadyExists { .. } | Error::OtherIdentity { .. } => Reason::AlreadyExists,
            Error::OwnedByOther { .. } => Reason::OwnedByOther,
            Error::AccessDenied { .. } => Reason::AccessDenied,
            Error::Aws { .. } | Error::NotReady(_) | Error::Missing { .. } | Error::Kube(_) => {
                Reason::ReconcileError
            }
        }
    }

    /// Whether trying again soon can succeed without anybody changing anything.
    /// Terminal errors are retried only at the resync interval (or on a spec change).
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Aws { retryable, .. } => *retryable,
            Error::NotReady(_) | Error::Missing { .. } | Error::Kube(_) => true,
            _ => false,
        }
    }
}

/// The error and each of its causes, `: `-separated; a cause whose text the message
/// already holds is not repeated. Known secrets are scrubbed.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    crate::redact::scrub(&message)
}
