//! The report step for IntegrationRole: status, the Ready rule and the output Secret.

use std::collections::BTreeMap;

use super::IntegrationRoleStatus;
use super::desired::Desired;
use super::observe::Observed;
use crate::aws::Sensitive;
use crate::runtime::{Outcome, PlannedChange, Readiness};

/// The outcome of a sync, from the observation made after applying.
pub fn outcome(
    desired: &Desired,
    observed: &Observed,
    applied: Vec<PlannedChange>,
) -> Outcome<IntegrationRoleStatus> {
    let status = IntegrationRoleStatus {
        role_arn: observed.role.as_ref().map(|r| r.arn.clone()),
        account_id: Some(observed.account_id.clone()),
        policy_arn: observed.policy.as_ref().map(|p| p.arn.clone()),
        policy_version: observed.policy.as_ref().map(|p| p.default_version.clone()),
        attached_policy_arns: observed.attached.iter().cloned().collect(),
        external_id_secret_name: desired.external_id_secret_name.clone(),
        common: Default::default(),
    };
    let policy_arn = observed.policy_arn(desired);
    let missing: Vec<&String> = desired
        .managed_policy_arns
        .iter()
        .chain(policy_arn.as_ref())
        .filter(|arn| !observed.attached.contains(*arn))
        .collect();
    let readiness = match (&observed.role, &missing[..]) {
        (None, _) => Readiness {
            ready: false,
            reason: "RoleMissing".into(),
            message: "the IAM role does not exist".into(),
        },
        (Some(_), [first, ..]) => Readiness {
            ready: false,
            reason: "PolicyNotAttached".into(),
            message: format!("{first} is not attached"),
        },
        (Some(role), []) => Readiness {
            ready: true,
            reason: "Ready".into(),
            message: format!(
                "{} can be assumed by {}",
                role.arn,
                desired.principals.join(", ")
            ),
        },
    };
    Outcome::new(applied, status, readiness)
}

/// What the output Secret holds: the values a vendor's integration form asks for.
pub fn output_secret_data(desired: &Desired, observed: &Observed) -> BTreeMap<String, Sensitive> {
    let mut data = BTreeMap::from([
        (
            "accountId".to_string(),
            Sensitive(observed.account_id.clone()),
        ),
        ("roleName".to_string(), Sensitive(desired.role_name.clone())),
        (
            "roleArn".to_string(),
            Sensitive(
                observed
                    .role
                    .as_ref()
                    .map(|r| r.arn.clone())
                    .unwrap_or_default(),
            ),
        ),
    ]);
    if let Some(id) = &desired.external_id {
        data.insert("externalId".to_string(), id.clone());
    }
    data
}
