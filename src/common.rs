//! API types and rules shared by every kind: AWS access, deletion policy, adoption,
//! ownership tags and the common status fields.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, ObjectMeta, Time};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The tag that names the owning object as `<namespace>/<name>`.
pub const OWNER_TAG: &str = "ecsfleet.dev/owner";
/// The tag that holds the owning object's `metadata.uid`.
pub const UID_TAG: &str = "ecsfleet.dev/uid";
/// The longest tag value IAM, ECS, Auto Scaling, CloudWatch and SNS take.
pub const TAG_VALUE_MAX: usize = 256;

/// What happens in AWS when the object is deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum DeletionPolicy {
    /// Delete the AWS resources, then release the finalizer.
    #[default]
    Delete,
    /// Leave the AWS resources as they are and release the finalizer.
    Orphan,
}

/// A key of a Secret in the object's namespace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SecretKeySelector {
    /// Name of the Secret.
    #[schemars(length(min = 1))]
    pub name: String,
    /// Key within the Secret's data.
    #[schemars(length(min = 1))]
    pub key: String,
}

/// Fields every ecsfleet kind has: where its AWS calls go and what deletion and adoption do.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CommonSpec {
    /// AWS region of the resources. Defaults to the operator's `--region` / `AWS_REGION`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// A role to assume for this object's AWS calls, to act in another account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^arn:aws[a-z-]*:iam::\d{12}:role/.+$"))]
    pub assume_role_arn: Option<String>,
    /// The external ID to present when assuming `assumeRoleArn`, read from a Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assume_role_external_id: Option<SecretKeySelector>,
    /// `Delete` (default) removes the AWS resources when the object is deleted; `Orphan`
    /// leaves them as they are.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
    /// Adopt an existing AWS resource of the same name that is not tagged as ecsfleet's.
    /// When false (default) such a resource is left untouched and the object reports
    /// `Synced=False` with reason `AlreadyExists`.
    #[serde(default)]
    pub adopt_existing: bool,
}

/// Status fields every ecsfleet kind has.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CommonStatus {
    /// The `metadata.generation` the status was computed for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// When the status last changed (a steady-state resync does not move it, so that it
    /// makes no write to Kubernetes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sync_time: Option<Time>,
    /// Repairs of AWS-side drift made so far: changes ecsfleet did not cause, set back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift_repairs: Option<i64>,
    /// `Ready` and `Synced`, in the standard `metav1.Condition` shape.
    #[serde(default)]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
}

/// The object's namespace; objects read from files without one are in `default`.
pub fn namespace_of(meta: &ObjectMeta) -> String {
    meta.namespace
        .clone()
        .unwrap_or_else(|| "default".to_string())
}

/// The Kubernetes object that owns an AWS resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owner {
    pub namespace: String,
    pub name: String,
    /// `metadata.uid`; objects read from files have none and get `file:<namespace>/<name>`.
    pub uid: String,
}

impl Owner {
    pub fn from_meta(meta: &ObjectMeta) -> Self {
        let namespace = meta
            .namespace
            .clone()
            .unwrap_or_else(|| "default".to_string());
        let name = meta.name.clone().unwrap_or_default();
        let uid = meta
            .uid
            .clone()
            .unwrap_or_else(|| format!("file:{namespace}/{name}"));
        Owner {
            namespace,
            name,
            uid,
        }
    }

    /// The value of the owner tag: `namespace/name`, or, past the 256 characters AWS takes
    /// in a tag value (a 253-character name in a long namespace is a name Kubernetes takes),
    /// the namespace, the start of the name and a digest of the whole, still one value per
    /// object.
    pub fn key(&self) -> String {
        let key = format!("{}/{}", self.namespace, self.name);
        if key.len() <= TAG_VALUE_MAX {
            return key;
        }
        use sha2::{Digest, Sha256};
        let digest: String = Sha256::digest(key.as_bytes())
            .iter()
            .take(8)
            .map(|b| format!("{b:02x}"))
            .collect();
        // Names and namespaces are ASCII: any byte count is a character boundary.
        let room = TAG_VALUE_MAX - self.namespace.len() - "/".len() - "~".len() - digest.len();
        let start = &self.name[..room.min(self.name.len())];
        format!("{}/{start}~{digest}", self.namespace)
    }

    /// The ownership tags put on everything ecsfleet creates.
    pub fn tags(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (OWNER_TAG.to_string(), self.key()),
            (UID_TAG.to_string(), self.uid.clone()),
        ])
    }

    /// Whether `tags` mark a resource as this object's (as opposed to adoptable).
    pub fn owns(&self, tags: &BTreeMap<String, String>) -> bool {
        tags.get(OWNER_TAG) == Some(&self.key()) && tags.get(UID_TAG) == Some(&self.uid)
    }

    /// Decides whether this object may manage a resource carrying `tags`, and whether it
    /// must tag it first. Pure: the rule of the contract's `adoptExisting` and ownership.
    pub fn claim(
        &self,
        resource: &str,
        tags: &BTreeMap<String, String>,
        adopt_existing: bool,
    ) -> Result<Claim> {
        match (tags.get(OWNER_TAG), tags.get(UID_TAG)) {
            _ if self.owns(tags) => Ok(Claim::Ours),
            (Some(owner), _) if *owner != self.key() => Err(Error::OwnedByOther {
                resource: resource.to_string(),
                owner: owner.clone(),
            }),
            // Untagged, or left behind by an earlier object of the same name (orphaned).
            _ if adopt_existing => Ok(Claim::Adopt),
            (Some(owner), Some(uid)) => Err(Error::OtherIdentity {
                resource: resource.to_string(),
                owner: owner.clone(),
                uid: uid.clone(),
            }),
            _ => Err(Error::AlreadyExists {
                resource: resource.to_string(),
            }),
        }
    }
}

/// The outcome of [`Owner::claim`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Claim {
    /// Already tagged as this object's.
    Ours,
    /// Not ours yet; `adoptExisting` allows taking it over by tagging it.
    Adopt,
}

/// Leaves the default out of a field's CRD schema (ecsfleet applies it when it reads the
/// object): for the items of an atomic list, where a default the API server writes into
/// the stored object makes it differ from what a client applied, so that server-side
/// apply after a client-side apply (or `kubectl diff --server-side`) conflicts on the
/// whole list.
pub fn no_stored_default(schema: &mut schemars::Schema) {
    schema.remove("default");
}

/// A list of free-form JSON objects (ECS's container definitions and volumes), kept as
/// compact JSON text and parsed where it is used. Parsed, every object and every object
/// nested in it (an environment variable, a port mapping) is a B-tree map of about 600
/// bytes however few its keys; the controller keeps a copy of every watched object, so
/// that cost is paid per object for as long as it exists. As text it costs its length.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JsonObjects(Box<str>);

impl Default for JsonObjects {
    /// No objects.
    fn default() -> Self {
        JsonObjects("[]".into())
    }
}

impl JsonObjects {
    pub fn values(&self) -> Vec<serde_json::Value> {
        // The text was written from such a list (`From`, `Deserialize`).
        serde_json::from_str(&self.0).expect("JSON written by JsonObjects itself")
    }
}

impl From<Vec<serde_json::Value>> for JsonObjects {
    fn from(values: Vec<serde_json::Value>) -> Self {
        JsonObjects(serde_json::Value::from(values).to_string().into())
    }
}

impl Serialize for JsonObjects {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        self.values().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for JsonObjects {
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<Self, D::Error> {
        Vec::<serde_json::Value>::deserialize(deserializer).map(JsonObjects::from)
    }
}

impl JsonSchema for JsonObjects {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "JsonObjects".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        <Vec<serde_json::Value>>::json_schema(generator)
    }
}

impl CommonSpec {
    /// The ECS cluster `cluster` (name or ARN) in this spec's Region and account, as
    /// `<region>/<account>/<name>` (region and account empty when the spec leaves them to
    /// the operator): what `--shard-key cluster` groups by.
    pub fn cluster_group(&self, cluster: &str) -> String {
        let account = self
            .assume_role_arn
            .as_deref()
            .map(crate::tenancy::principal_account)
            .unwrap_or_default();
        format!(
            "{}/{account}/{}",
            self.region.as_deref().unwrap_or_default(),
            crate::tenancy::cluster_name(cluster)
        )
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn owner() -> Owner {
        Owner {
            namespace: "ns".into(),
            name: "agent".into(),
            uid: "u-1".into(),
        }
    }

    /// Every name Kubernetes takes gives an owner tag AWS takes, one per object.
    #[test]
    fn the_owner_tag_fits_aws_for_every_name_kubernetes_takes() {
        let long = |namespace: &str, name: &str| Owner {
            namespace: namespace.into(),
            name: name.into(),
            uid: "u".into(),
        };
        assert_eq!(owner().key(), "ns/agent", "short keys are as they were");
        let namespace = "n".repeat(63);
        let a = long(&namespace, &format!("{}a", "x".repeat(252)));
        let b = long(&namespace, &format!("{}b", "x".repeat(252)));
        for owner in [&a, &b, &long(&"m".repeat(27), &"y".repeat(244))] {
            let key = owner.key();
            assert_eq!(key.len(), TAG_VALUE_MAX, "{key}");
            assert!(key.starts_with(&format!("{}/", owner.namespace)));
            assert_eq!(key, owner.key(), "the same every time");
        }
        assert_ne!(
            a.key(),
            b.key(),
            "names that differ only at the end stay apart"
        );
        assert!(a.owns(&a.tags()) && !b.owns(&a.tags()));
        let exactly = long("ns", &"z".repeat(TAG_VALUE_MAX - 3));
        assert_eq!(
            exactly.key(),
            format!("ns/{}", "z".repeat(TAG_VALUE_MAX - 3))
        );
    }

    #[test]
    fn own_tags_are_claimed_without_adoption() {
        let tags = owner().tags();
        assert_eq!(owner().claim("svc", &tags, false).unwrap(), Claim::Ours);
    }

    #[test]
    fn untagged_resource_needs_adopt_existing() {
        let error = owner().claim("svc", &BTreeMap::new(), false).unwrap_err();
        assert!(matches!(error, Error::AlreadyExists { .. }), "{error}");
        assert_eq!(
            owner().claim("svc", &BTreeMap::new(), true).unwrap(),
            Claim::Adopt
        );
    }

    #[test]
    fn same_name_under_another_uid_says_which_and_how_to_preview() {
        let mut earlier = owner();
        earlier.uid = "u-0".into();
        let error = owner().claim("svc", &earlier.tags(), false).unwrap_err();
        assert!(matches!(error, Error::OtherIdentity { .. }), "{error}");
        assert_eq!(error.reason(), crate::Reason::AlreadyExists);
        let text = error.to_string();
        assert!(
            text.contains("uid u-0") && text.contains("plan --from-cluster"),
            "{text}"
        );
        assert_eq!(
            owner().claim("svc", &earlier.tags(), true).unwrap(),
            Claim::Adopt
        );
    }

    #[test]
    fn resource_of_another_object_is_never_claimed() {
        let mut other = owner();
        other.name = "someone-else".into();
        let error = owner().claim("svc", &other.tags(), true).unwrap_err();
        assert!(
            matches!(error, Error::OwnedByOther { ref owner, .. } if owner == "ns/someone-else")
        );
    }

    #[test]
    fn orphan_of_an_earlier_object_of_the_same_name_needs_adoption() {
        let mut earlier = owner();
        earlier.uid = "u-0".into();
        assert!(owner().claim("svc", &earlier.tags(), false).is_err());
        assert_eq!(
            owner().claim("svc", &earlier.tags(), true).unwrap(),
            Claim::Adopt
        );
    }

    #[test]
    fn objects_from_files_get_a_stable_uid() {
        let meta = ObjectMeta {
            name: Some("agent".into()),
            ..ObjectMeta::default()
        };
        let owner = Owner::from_meta(&meta);
        assert_eq!(owner.uid, "file:default/agent");
        assert_eq!(owner.key(), "default/agent");
    }

    #[test]
    fn json_objects_read_from_yaml_or_json_serialize_as_the_objects_they_hold() {
        let objects =
            json!([{"name": "a", "environment": [{"name": "X", "value": "1"}], "memory": 64}]);
        let from_json: JsonObjects = serde_json::from_value(objects.clone()).unwrap();
        let from_yaml: JsonObjects = serde_yaml_ng::from_str(
            "- name: a\n  memory: 64\n  environment: [{name: X, value: '1'}]\n",
        )
        .unwrap();
        assert_eq!(from_json, from_yaml);
        assert_eq!(serde_json::to_value(&from_yaml).unwrap(), objects);
        assert_eq!(from_json.values(), objects.as_array().unwrap().clone());
        assert_eq!(
            JsonObjects::default().values(),
            Vec::<serde_json::Value>::new()
        );
        // Not a list of anything: refused like the parsed form would be.
        assert!(serde_json::from_value::<JsonObjects>(json!({"name": "a"})).is_err());
    }
}
