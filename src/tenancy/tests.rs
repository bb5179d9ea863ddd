use super::*;

fn policy(yaml: &str) -> Tenancy {
    let spec: TenancyPolicySpec = serde_yaml_ng::from_str(yaml).unwrap();
    Tenancy::Fixed(Some(Arc::new(TenancyPolicy::new(POLICY_NAME, spec))))
}

fn common(yaml: &str) -> CommonSpec {
    serde_yaml_ng::from_str(yaml).unwrap()
}

fn refused_field(result: Result<()>) -> String {
    match result {
        Err(Error::InvalidSpec { field, message }) => {
            assert!(message.contains("not granted"), "{message}");
            field
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn patterns_match_a_value_or_a_prefix() {
    let patterns = vec!["team-a-*".to_string(), "exact".to_string()];
    assert!(allows(&patterns, "team-a-web"));
    assert!(allows(&patterns, "exact"));
    assert!(!allows(&patterns, "exactly"));
    assert!(!allows(&patterns, "team-b-web"));
    assert!(allows(&["*".to_string()], "anything"));
    assert!(!allows(&[], "anything"));
}

#[test]
fn names_are_taken_from_arns() {
    assert_eq!(
        cluster_name("arn:aws:ecs:eu-west-1:123456789012:cluster/prod"),
        "prod"
    );
    assert_eq!(cluster_name("prod"), "prod");
    assert_eq!(
        principal_account("arn:aws:iam::464622532012:root"),
        "464622532012"
    );
    assert_eq!(principal_account("464622532012"), "464622532012");
}

#[test]
fn an_empty_policy_grants_the_safe_defaults() {
    let spec: TenancyPolicySpec = serde_yaml_ng::from_str("{}").unwrap();
    assert_eq!(spec.defaults, Grants::default());
    let partial: Grants = serde_yaml_ng::from_str("iam: {allowFullAccess: true}").unwrap();
    assert!(partial.iam.allow_full_access);
    assert_eq!(
        partial.iam.managed_policy_arns,
        IamGrants::default().managed_policy_arns
    );
    assert_eq!(partial.ecs, EcsGrants::default());
}

#[test]
fn the_first_rule_that_selects_a_namespace_applies() {
    let tenancy = policy(
        "rules:\n- name: monitoring\n  namespaces: [monitoring]\n  grants: {allowAdoption: true}\n- name: everyone\n  namespaces: ['*']\n  grants: {regions: [eu-west-1]}\n",
    );
    let monitoring = tenancy.grant("monitoring");
    assert!(monitoring.grants.allow_adoption);
    assert_eq!(monitoring.source, "TenancyPolicy ecsfleet rules[0].grants");
    let other = tenancy.grant("team-a");
    assert!(!other.grants.allow_adoption);
    assert_eq!(other.grants.regions, vec!["eu-west-1".to_string()]);
    let none = policy("rules: [{name: monitoring, namespaces: [monitoring]}]").grant("team-a");
    assert_eq!(none.source, "TenancyPolicy ecsfleet defaults");
}

#[test]
fn without_a_policy_object_the_built_in_defaults_restrict() {
    let grant = Tenancy::Fixed(None).grant("team-a");
    assert!(grant.restricted);
    let field = refused_field(grant.check_common(&common("adoptExisting: true")));
    assert_eq!(field, "spec.adoptExisting");
    let assume = "assumeRoleArn: arn:aws:iam::210987654321:role/admin";
    assert_eq!(
        refused_field(grant.check_common(&common(assume))),
        "spec.assumeRoleArn"
    );
    grant.check_common(&common("region: eu-west-1")).unwrap();
}

#[test]
fn the_cli_without_a_policy_is_unrestricted() {
    let grant = Tenancy::Unrestricted.grant("team-a");
    grant
        .check_common(&common(
            "adoptExisting: true\nassumeRoleArn: arn:aws:iam::210987654321:role/admin",
        ))
        .unwrap();
}

#[test]
fn the_namespace_role_is_used_and_allowed() {
    let tenancy = policy(
        "rules:\n- name: team-a\n  namespaces: [team-a]\n  grants:\n    assumeRoleArn: arn:aws:iam::111122223333:role/team-a\n    assumeRoleArns: ['arn:aws:iam::111122223333:role/team-a-*']\n",
    );
    let grant = tenancy.grant("team-a");
    assert_eq!(
        grant.assume_role_arn(&CommonSpec::default()).as_deref(),
        Some("arn:aws:iam::111122223333:role/team-a")
    );
    grant
        .check_common(&common(
            "assumeRoleArn: arn:aws:iam::111122223333:role/team-a",
        ))
        .unwrap();
    grant
        .check_common(&common(
            "assumeRoleArn: arn:aws:iam::111122223333:role/team-a-deploy",
        ))
        .unwrap();
    let other = common("assumeRoleArn: arn:aws:iam::111122223333:role/team-b");
    assert_eq!(
        refused_field(grant.check_common(&other)),
        "spec.assumeRoleArn"
    );
    let region = policy("defaults: {regions: [eu-*]}").grant("x");
    assert_eq!(
        refused_field(region.check_common(&common("region: us-east-1"))),
        "spec.region"
    );
    region.check_common(&common("region: eu-west-1")).unwrap();
}

#[test]
fn a_refusal_names_the_field_and_where_the_grant_would_be() {
    let grant = policy("{}").grant("team-a");
    let error = grant
        .check_common(&common("adoptExisting: true"))
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "spec.adoptExisting: not granted to this namespace (TenancyPolicy ecsfleet defaults: allowAdoption)"
    );
}

#[test]
fn a_policy_change_changes_the_revision() {
    let mut object = TenancyPolicy::new(POLICY_NAME, TenancyPolicySpec::default());
    object.metadata.resource_version = Some("1".into());
    let before = Tenancy::Fixed(Some(Arc::new(object.clone()))).revision();
    object.metadata.resource_version = Some("2".into());
    let after = Tenancy::Fixed(Some(Arc::new(object))).revision();
    assert_ne!(before, after);
    assert_eq!(Tenancy::Unrestricted.revision(), None);
}

#[test]
fn admission_has_a_rule_for_every_field_the_controller_checks() {
    let rules = admission::rules();
    let fields: Vec<&str> = rules.iter().map(|r| r.field).collect();
    for field in [
        "spec.region",
        "spec.assumeRoleArn",
        "spec.adoptExisting",
        "spec.roleName",
        "spec.path",
        "spec.permissionsBoundaryArn",
        "spec.managedPolicyArns",
        "spec.policy.allowFullAccess",
        "spec.trust.principals",
        "spec.cluster",
        "spec.taskDefinition.taskRoleArn",
        "spec.taskDefinition.executionRoleArn",
        "spec.taskDefinition.networkMode",
        "spec.taskDefinition.pidMode",
        "spec.taskDefinition.ipcMode",
        "spec.taskDefinition.volumes",
        "spec.taskDefinition.containerDefinitions.privileged",
        "spec.taskDefinition.containerDefinitions.linuxParameters",
        "spec.name",
        "spec.launchTemplate.iamInstanceProfile",
        "spec.lifecycleHooks.roleArn",
        "spec.ecsCluster",
    ] {
        assert!(fields.contains(&field), "no admission rule for {field}");
    }
    let yaml = admission::yaml();
    assert!(yaml.contains("kind: ValidatingAdmissionPolicyBinding"));
    assert!(yaml.contains("parameterNotFoundAction: Deny"));
}

#[test]
fn roles_carry_a_read_only_boundary_unless_the_administrator_says_otherwise() {
    let defaults = Tenancy::Fixed(None).grant("team-a").grants;
    assert_eq!(defaults.boundary(), Some(READ_ONLY_BOUNDARY));
    let partial: Grants = serde_yaml_ng::from_str("iam: {allowFullAccess: true}").unwrap();
    assert_eq!(
        partial.boundary(),
        Some(READ_ONLY_BOUNDARY),
        "kept when not named"
    );
    let none: Grants = serde_yaml_ng::from_str("iam: {permissionsBoundaryArn: ''}").unwrap();
    assert_eq!(none.boundary(), None);
    assert_eq!(Grants::everything().boundary(), None);
}

/// A policy stored before rules had names still reads (the schema requires a name for
/// new writes), so upgrading does not leave the controller without its policy.
#[test]
fn a_policy_written_before_rules_had_names_still_reads() {
    let tenancy = policy("rules: [{namespaces: [monitoring], grants: {allowAdoption: true}}]");
    assert!(tenancy.grant("monitoring").grants.allow_adoption);
    let crd = serde_json::to_value(<TenancyPolicy as kube::CustomResourceExt>::crd()).unwrap();
    let required = crd
        .pointer("/spec/versions/0/schema/openAPIV3Schema/properties/spec/properties/rules/items/required")
        .cloned();
    assert_eq!(required, Some(serde_json::json!(["name", "namespaces"])));
}
