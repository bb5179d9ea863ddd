//! The report step for IntegrationRole: status, the Ready rule and the output Secret.

use std::collections::BTreeMap;

use super::desired::Desired;
use super::observe::Observed;
use super::{IntegrationRoleStatus, PolicyStatus};
use crate::aws::Sensitive;
use crate::runtime::{Outcome, PlannedChange, Readiness};

/// The outcome of a sync, from the observation made after applying.
pub fn outcome(
    desired: &Desired,
    observed: &Observed,
    applied: Vec<PlannedChange>,
) -> Outcome<IntegrationRoleStatus> {
    let policies: Vec<PolicyStatus> = observed
        .policies
        .values()
        .map(|p| PolicyStatus {
            arn: p.arn.clone(),
            version: p.default_version.clone(),
        })
        .collect();
    let status = IntegrationRoleStatus {
        role_arn: observed.role.as_ref().map(|r| r.arn.clone()),
        account_id: Some(observed.account_id.clone()),
        policy_arn: policies.first().map(|p| p.arn.clone()),
        policy_version: policies.first().map(|p| p.version.clone()),
        policy_count: desired.policy.as_ref().map(|_| policies.len() as u32),
        policies,
        attached_policy_arns: observed.attached.iter().cloned().collect(),
        external_id_secret_name: desired.external_id_secret_name.clone(),
        common: Default::default(),
    };
    let missing: Vec<&String> = desired
        .managed_policy_arns
        .iter()
        .chain(observed.policies.values().map(|p| &p.arn))
        .filter(|arn| !observed.attached.contains(*arn))
        .collect();
    let readiness = match (&observed.role, &missing[..]) {
        (None, _) => Readiness {
            ready: false,
            stalled: false,
            reason: "RoleMissing".into(),
            message: "the IAM role does not exist".into(),
        },
        (Some(_), _) if desired.policy.is_some() && observed.policies.is_empty() => Readiness {
            ready: false,
            stalled: false,
            reason: "PolicyMissing".into(),
            message: "the permission policy does not exist".into(),
        },
        (Some(_), [first, ..]) => Readiness {
            ready: false,
            stalled: false,
            reason: "PolicyNotAttached".into(),
            message: format!("{first} is not attached"),
        },
        (Some(role), []) => Readiness {
            ready: true,
            stalled: false,
            reason: "Ready".into(),
            message: format!("{} can be assumed by {}", role.arn, desired.trust.who()),
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
