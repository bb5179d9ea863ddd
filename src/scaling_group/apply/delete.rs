//! Deletion of a ScalingGroup's AWS resources: alarms, the group (force), the managed
//! launch template and a created topic. NotFound counts as done; anything not tagged as
//! the object's is left alone.

use super::*;

/// Deletes what this object owns: the alarms of its policies, the group (forced, with its
/// instances, policies, hooks and notifications), the managed template and a created
/// topic. NotFound counts as done; what is not tagged as this object's is left alone.
pub async fn delete(obj: &ScalingGroup, clients: &AccountClients) -> Result<Vec<PlannedChange>> {
    let owner = obj.owner();
    let name = obj.group_name();
    let mut done = Vec::new();
    let step = |action: &str, target: &str, detail: String| PlannedChange {
        action: action.to_string(),
        target: target.to_string(),
        detail,
    };
    let described = clients
        .autoscaling
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(&name)
        .send()
        .await
        .map_err(|e| aws_error("AutoScaling", "DescribeAutoScalingGroups", e))?;
    let group = described
        .auto_scaling_groups()
        .iter()
        .find(|g| g.auto_scaling_group_name() == Some(name.as_str()))
        .map(crate::scaling_group::observe::observed_group);
    let group_tags: Option<BTreeMap<String, String>> = group.as_ref().map(|g| {
        g.tags
            .iter()
            .map(|(k, (v, _))| (k.clone(), v.clone()))
            .collect()
    });
    if let Some(tags) = &group_tags
        && !owner.owns(tags)
    {
        done.push(step(
            "LeaveGroup",
            "group",
            "the group is not tagged as this object's; left untouched".into(),
        ));
        return Ok(done);
    }

    // A protected group is left whole, alarms included: protection guards against this
    // object's deletion too (a GitOps mishap is what it is for).
    if let Some(protection) = group
        .as_ref()
        .and_then(|g| g.settings.deletion_protection.as_deref())
        .filter(|p| *p != "none")
    {
        return Err(Error::invalid(
            "spec.deletionProtection",
            format!(
                "the group is protected ({protection}); nothing was deleted: set deletionProtection: none, or deletionPolicy: Orphan, to let the object go"
            ),
        ));
    }

    // Alarms first: they execute the group's policies.
    if group.is_some() {
        let policies = describe_policies(clients, &name).await?;
        let alarms = alarms_of(clients, &name, &policies).await?;
        if !alarms.is_empty() {
            delete_alarms(clients, &alarms).await?;
            done.push(step("DeleteAlarms", "alarms", alarms.join(", ")));
        }
        // A group AWS is already deleting (a retried cleanup) is not deleted again.
        let already_deleting = group.as_ref().is_some_and(|g| g.deleting);
        let result = match already_deleting {
            true => Ok(None),
            false => clients
                .autoscaling
                .delete_auto_scaling_group()
                .auto_scaling_group_name(&name)
                .force_delete(true)
                .send()
                .await
                .map(Some),
        };
        match result {
            Ok(None) => {}
            Ok(Some(_)) => done.push(step(
                "DeleteAutoScalingGroup",
                "group",
                format!("{name} (forced: its instances are terminated)"),
            )),
            Err(error) if is_not_found(&error) => {}
            // A scaling activity blocks deletion for a moment: retried with backoff.
            Err(error) if error_code(&error) == Some("ScalingActivityInProgress") => {
                return Err(Error::NotReady(format!(
                    "Auto Scaling group {name} has a scaling activity in progress; deleting it again shortly"
                )));
            }
            Err(error) => return Err(aws_error("AutoScaling", "DeleteAutoScalingGroup", error)),
        }
    }

    if obj.spec.launch_template.is_some() {
        delete_template(clients, &owner, &name, &mut done).await?;
    }
    if let Some(create) = obj
        .spec
        .notifications
        .as_ref()
        .and_then(|n| n.create_topic.as_ref())
    {
        let observed = Observed {
            group,
            ..Observed::default()
        };
        let arn =
            crate::scaling_group::observe::topic_arn(clients, &observed, &create.name).await?;
        delete_topic(clients, &owner, &arn, &mut done).await?;
    }
    Ok(done)
}

/// The alarms that execute one of the group's policies, named after the group.
async fn alarms_of(
    clients: &AccountClients,
    group: &str,
    policies: &BTreeMap<String, crate::scaling_group::observe::ObservedPolicy>,
) -> Result<Vec<String>> {
    let arns: BTreeSet<&str> = policies.values().map(|p| p.arn.as_str()).collect();
    let marker = format!(":autoScalingGroupName/{group}:");
    let alarms =
        crate::scaling_group::observe::describe_alarms(clients, &format!("{group}-")).await?;
    Ok(alarms
        .into_iter()
        .filter(|(_, alarm)| {
            alarm
                .actions
                .iter()
                .any(|a| arns.contains(a.as_str()) || a.contains(&marker))
        })
        .map(|(name, _)| name)
        .collect())
}

async fn delete_template(
    clients: &AccountClients,
    owner: &Owner,
    name: &str,
    done: &mut Vec<PlannedChange>,
) -> Result<()> {
    let Some(template) =
        crate::scaling_group::observe::describe_template(clients, name, &Observed::default())
            .await?
    else {
        return Ok(());
    };
    if !owner.owns(&template.tags) {
        return Ok(());
    }
    match clients
        .ec2
        .delete_launch_template()
        .launch_template_id(&template.id)
        .send()
        .await
    {
        Ok(_) => {}
        Err(error)
            if error_code(&error).is_some_and(|c| c.starts_with("InvalidLaunchTemplateId")) => {}
        Err(error) => return Err(aws_error("EC2", "DeleteLaunchTemplate", error)),
    }
    done.push(PlannedChange {
        action: "DeleteLaunchTemplate".into(),
        target: "launch-template".into(),
        detail: template.id,
    });
    Ok(())
}

async fn delete_topic(
    clients: &AccountClients,
    owner: &Owner,
    arn: &str,
    done: &mut Vec<PlannedChange>,
) -> Result<()> {
    let tags = match clients
        .sns
        .list_tags_for_resource()
        .resource_arn(arn)
        .send()
        .await
    {
        Ok(answer) => answer
            .tags()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect::<BTreeMap<_, _>>(),
        Err(error)
            if matches!(
                error_code(&error),
                Some("NotFound") | Some("ResourceNotFound")
            ) =>
        {
            return Ok(());
        }
        Err(error) => return Err(aws_error("SNS", "ListTagsForResource", error)),
    };
    if !owner.owns(&tags) {
        return Ok(());
    }
    clients
        .sns
        .delete_topic()
        .topic_arn(arn)
        .send()
        .await
        .map_err(|e| aws_error("SNS", "DeleteTopic", e))?;
    done.push(PlannedChange {
        action: "DeleteTopic".into(),
        target: "topic".into(),
        detail: arn.to_string(),
    });
    Ok(())
}
