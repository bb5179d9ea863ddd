//! A mixed instances policy's overrides between the spec and Auto Scaling's types, both
//! ways: sent as the spec gives them, and read back in the spec's terms so that the plan
//! compares like with like.

use aws_sdk_autoscaling::types::{
    AcceleratorCountRequest, AcceleratorManufacturer, AcceleratorName,
    AcceleratorTotalMemoryMiBRequest, AcceleratorType, BareMetal, BaselineEbsBandwidthMbpsRequest,
    BurstablePerformance, CpuManufacturer, InstanceGeneration, InstanceRequirements,
    LaunchTemplateOverrides, LaunchTemplateSpecification, LocalStorage, LocalStorageType,
    MemoryGiBPerVCpuRequest, MemoryMiBRequest, NetworkBandwidthGbpsRequest,
    NetworkInterfaceCountRequest, TotalLocalStorageGbRequest, VCpuCountRequest,
};

use super::{
    AmountRange, CountRange, InstanceOverrideSpec, InstanceRequirementsSpec, OverrideTemplate,
};

/// A range request of Auto Scaling's from the spec's range (every such type has `min`
/// and `max` of the range's type).
macro_rules! range {
    ($kind:ident, $range:expr) => {
        $range.map(|r| $kind::builder().set_min(r.min).set_max(r.max).build())
    };
}

/// The spec's range from Auto Scaling's.
macro_rules! read_range {
    ($range:ident, $value:expr) => {
        $value.map(|r| $range {
            min: r.min(),
            max: r.max(),
        })
    };
}

/// A list of Auto Scaling's enum values from the spec's strings (checked before).
fn values<T: for<'a> From<&'a str>>(list: &[String]) -> Option<Vec<T>> {
    (!list.is_empty()).then(|| list.iter().map(|v| T::from(v.as_str())).collect())
}

fn names<T: AsRef<str>>(list: &[T]) -> Vec<String> {
    list.iter().map(|v| v.as_ref().to_string()).collect()
}

pub fn to_sdk(spec: &InstanceOverrideSpec) -> LaunchTemplateOverrides {
    LaunchTemplateOverrides::builder()
        .set_instance_type(spec.instance_type.clone())
        .set_weighted_capacity(spec.weighted_capacity.clone())
        .set_launch_template_specification(spec.launch_template.as_ref().map(|reference| {
            LaunchTemplateSpecification::builder()
                .set_launch_template_name(reference.name.clone())
                .set_launch_template_id(reference.id.clone())
                .version(reference.version.as_deref().unwrap_or("$Default"))
                .build()
        }))
        .set_instance_requirements(spec.instance_requirements.as_ref().map(requirements))
        .build()
}

fn requirements(spec: &InstanceRequirementsSpec) -> InstanceRequirements {
    let list = |l: &[String]| (!l.is_empty()).then(|| l.to_vec());
    InstanceRequirements::builder()
        .set_v_cpu_count(range!(VCpuCountRequest, Some(&spec.v_cpu_count)))
        .set_memory_mib(range!(MemoryMiBRequest, Some(&spec.memory_mi_b)))
        .set_memory_gib_per_v_cpu(range!(
            MemoryGiBPerVCpuRequest,
            spec.memory_gi_b_per_v_cpu.as_ref()
        ))
        .set_cpu_manufacturers(values::<CpuManufacturer>(&spec.cpu_manufacturers))
        .set_instance_generations(values::<InstanceGeneration>(&spec.instance_generations))
        .set_excluded_instance_types(list(&spec.excluded_instance_types))
        .set_allowed_instance_types(list(&spec.allowed_instance_types))
        .set_spot_max_price_percentage_over_lowest_price(
            spec.spot_max_price_percentage_over_lowest_price,
        )
        .set_max_spot_price_as_percentage_of_optimal_on_demand_price(
            spec.max_spot_price_as_percentage_of_optimal_on_demand_price,
        )
        .set_on_demand_max_price_percentage_over_lowest_price(
            spec.on_demand_max_price_percentage_over_lowest_price,
        )
        .set_bare_metal(spec.bare_metal.as_deref().map(BareMetal::from))
        .set_burstable_performance(
            spec.burstable_performance
                .as_deref()
                .map(BurstablePerformance::from),
        )
        .set_require_hibernate_support(spec.require_hibernate_support)
        .set_network_interface_count(range!(
            NetworkInterfaceCountRequest,
            spec.network_interface_count.as_ref()
        ))
        .set_local_storage(spec.local_storage.as_deref().map(LocalStorage::from))
        .set_local_storage_types(values::<LocalStorageType>(&spec.local_storage_types))
        .set_total_local_storage_gb(range!(
            TotalLocalStorageGbRequest,
            spec.total_local_storage_g_b.as_ref()
        ))
        .set_baseline_ebs_bandwidth_mbps(range!(
            BaselineEbsBandwidthMbpsRequest,
            spec.baseline_ebs_bandwidth_mbps.as_ref()
        ))
        .set_accelerator_types(values::<AcceleratorType>(&spec.accelerator_types))
        .set_accelerator_count(range!(
            AcceleratorCountRequest,
            spec.accelerator_count.as_ref()
        ))
        .set_accelerator_manufacturers(values::<AcceleratorManufacturer>(
            &spec.accelerator_manufacturers,
        ))
        .set_accelerator_names(values::<AcceleratorName>(&spec.accelerator_names))
        .set_accelerator_total_memory_mib(range!(
            AcceleratorTotalMemoryMiBRequest,
            spec.accelerator_total_memory_mi_b.as_ref()
        ))
        .set_network_bandwidth_gbps(range!(
            NetworkBandwidthGbpsRequest,
            spec.network_bandwidth_gbps.as_ref()
        ))
        .build()
}

pub fn from_sdk(live: &LaunchTemplateOverrides) -> InstanceOverrideSpec {
    InstanceOverrideSpec {
        instance_type: live.instance_type().map(str::to_string),
        weighted_capacity: live.weighted_capacity().map(str::to_string),
        launch_template: live
            .launch_template_specification()
            .map(|t| OverrideTemplate {
                name: t.launch_template_name().map(str::to_string),
                id: t.launch_template_id().map(str::to_string),
                version: Some(t.version().unwrap_or("$Default").to_string()),
            }),
        instance_requirements: live.instance_requirements().map(read_requirements),
    }
}

fn read_requirements(live: &InstanceRequirements) -> InstanceRequirementsSpec {
    let as_str = |values: Vec<&str>| values.into_iter().map(str::to_string).collect::<Vec<_>>();
    InstanceRequirementsSpec {
        v_cpu_count: read_range!(CountRange, live.v_cpu_count()).unwrap_or_default(),
        memory_mi_b: read_range!(CountRange, live.memory_mib()).unwrap_or_default(),
        memory_gi_b_per_v_cpu: read_range!(AmountRange, live.memory_gib_per_v_cpu()),
        cpu_manufacturers: as_str(
            live.cpu_manufacturers()
                .iter()
                .map(|v| v.as_str())
                .collect(),
        ),
        instance_generations: as_str(
            live.instance_generations()
                .iter()
                .map(|v| v.as_str())
                .collect(),
        ),
        excluded_instance_types: names(live.excluded_instance_types()),
        allowed_instance_types: names(live.allowed_instance_types()),
        spot_max_price_percentage_over_lowest_price: live
            .spot_max_price_percentage_over_lowest_price(),
        max_spot_price_as_percentage_of_optimal_on_demand_price: live
            .max_spot_price_as_percentage_of_optimal_on_demand_price(),
        on_demand_max_price_percentage_over_lowest_price: live
            .on_demand_max_price_percentage_over_lowest_price(),
        bare_metal: live.bare_metal().map(|v| v.as_str().to_string()),
        burstable_performance: live.burstable_performance().map(|v| v.as_str().to_string()),
        require_hibernate_support: live.require_hibernate_support(),
        network_interface_count: read_range!(CountRange, live.network_interface_count()),
        local_storage: live.local_storage().map(|v| v.as_str().to_string()),
        local_storage_types: as_str(
            live.local_storage_types()
                .iter()
                .map(|v| v.as_str())
                .collect(),
        ),
        total_local_storage_g_b: read_range!(AmountRange, live.total_local_storage_gb()),
        baseline_ebs_bandwidth_mbps: read_range!(CountRange, live.baseline_ebs_bandwidth_mbps()),
        accelerator_types: as_str(
            live.accelerator_types()
                .iter()
                .map(|v| v.as_str())
                .collect(),
        ),
        accelerator_count: read_range!(CountRange, live.accelerator_count()),
        accelerator_manufacturers: as_str(
            live.accelerator_manufacturers()
                .iter()
                .map(|v| v.as_str())
                .collect(),
        ),
        accelerator_names: as_str(
            live.accelerator_names()
                .iter()
                .map(|v| v.as_str())
                .collect(),
        ),
        accelerator_total_memory_mi_b: read_range!(CountRange, live.accelerator_total_memory_mib()),
        network_bandwidth_gbps: read_range!(AmountRange, live.network_bandwidth_gbps()),
    }
}
