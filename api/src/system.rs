//! `/_ping`, `/version` and `/info`: what clients ask first, to negotiate
//! the API version and to show the engine.

use crate::error::ApiResult;
use crate::state::ApiState;
use crate::{API_VERSION, MIN_API_VERSION};
use axum::extract::State;
use axum::http::header::{HeaderName, HeaderValue, CACHE_CONTROL};
use axum::response::IntoResponse;
use axum::Json;
use bollard_stubs::models::{SystemInfo, SystemVersion, SystemVersionComponents};
use engine::machine::MachineStatus;
use std::sync::Arc;

const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Answers without touching the machine: clients ping before anything.
pub async fn ping() -> impl IntoResponse {
    let header = |name: &'static str, value: &'static str| {
        (
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        )
    };
    (
        [
            header("api-version", API_VERSION),
            header("ostype", "linux"),
            // The classic builder (1), once builds land.
            header("builder-version", "1"),
            header("docker-experimental", "false"),
            (
                CACHE_CONTROL,
                HeaderValue::from_static("no-cache, no-store, must-revalidate"),
            ),
        ],
        "OK",
    )
}

pub async fn version(State(st): State<Arc<ApiState>>) -> ApiResult<Json<SystemVersion>> {
    let kernel = match st.engine.machine_status(&st.machine).await? {
        MachineStatus::Running { guest, .. } => guest.kernel,
        MachineStatus::Stopped { .. } => String::new(),
    };
    let component = SystemVersionComponents {
        name: "Engine".into(),
        version: VERSION.into(),
        details: None,
    };
    Ok(Json(SystemVersion {
        platform: Some(bollard_stubs::models::SystemVersionPlatform {
            name: "hutch".into(),
        }),
        components: Some(vec![component]),
        version: Some(VERSION.into()),
        api_version: Some(API_VERSION.into()),
        min_api_version: Some(MIN_API_VERSION.into()),
        os: Some("linux".into()),
        arch: Some(docker_arch().into()),
        kernel_version: Some(kernel),
        ..Default::default()
    }))
}

/// Go's name for the machine's architecture, as docker reports it.
fn docker_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

pub async fn info(State(st): State<Arc<ApiState>>) -> ApiResult<Json<SystemInfo>> {
    let machine = st.ready().await?;
    let containers = st.engine.list_containers(machine).await?;
    let count = |state: engine::container::ContainerState| {
        containers.iter().filter(|c| c.state == state).count() as i64
    };
    use engine::container::ContainerState as S;
    let images = st.engine.images()?;
    let mut ids: Vec<_> = images.iter().map(|i| &i.id).collect();
    ids.dedup();
    let (kernel, cpus, memory) = match st.engine.machine_status(machine).await? {
        MachineStatus::Running { guest, .. } => (guest.kernel, guest.cpus, guest.memory_bytes),
        MachineStatus::Stopped { .. } => (String::new(), 0, 0),
    };
    Ok(Json(SystemInfo {
        id: Some(format!("hutch-{machine}")),
        name: Some(machine.to_string()),
        containers: Some(containers.len() as i64),
        containers_running: Some(count(S::Running)),
        containers_stopped: Some(count(S::Exited) + count(S::Created)),
        containers_paused: Some(0),
        images: Some(ids.len() as i64),
        driver: Some("overlay2".into()),
        docker_root_dir: Some(st.engine.home().root().display().to_string()),
        kernel_version: Some(kernel),
        operating_system: Some(format!("hutch machine {machine:?}")),
        os_type: Some("linux".into()),
        architecture: Some(std::env::consts::ARCH.into()),
        ncpu: Some(cpus.into()),
        mem_total: Some(memory as i64),
        server_version: Some(VERSION.into()),
        cgroup_driver: Some(bollard_stubs::models::SystemInfoCgroupDriverEnum::CGROUPFS),
        cgroup_version: Some(bollard_stubs::models::SystemInfoCgroupVersionEnum::_2),
        logging_driver: Some("json-file".into()),
        default_runtime: Some("hutch".into()),
        ..Default::default()
    }))
}

/// `GET /system/df`: what `docker system df` tabulates.
pub async fn df(State(st): State<Arc<ApiState>>) -> ApiResult<Json<serde_json::Value>> {
    let usage = st.engine.disk_usage().await?;
    let Json(images) = crate::images::list(State(st.clone())).await?;
    let filters = crate::containers::Filters::parse(None)?;
    let containers = crate::containers::summaries(&st, true, &filters).await?;
    let volumes: Vec<serde_json::Value> = st
        .engine
        .list_volumes(&st.machine)
        .await?
        .iter()
        .map(|v| {
            let mut doc =
                serde_json::to_value(engine::volume::VolumeInspect::from(v)).unwrap_or_default();
            // Sizes of volumes are not measured (-1, docker's "unknown").
            doc["UsageData"] = serde_json::json!({"Size": -1, "RefCount": v.users.len()});
            doc
        })
        .collect();
    Ok(Json(serde_json::json!({
        "LayersSize": usage.layer_bytes,
        "Images": images,
        "Containers": containers,
        "Volumes": volumes,
        "BuildCache": [],
    })))
}
