//! Kernel-facing resource settings of a container (create, update) or service:
//! a negative `OomScoreAdj` (PC-1032: the container outlives the host's own processes
//! under memory pressure) and blkio throttle device paths (PC-1033: dockerd `stat()`s
//! each as root on the host, and its error tells whether a host path exists).

use super::model::Policy;
use super::rules as r;
use crate::docker::json::Json;
use crate::docker::workdir::reaches_proc;

/// The `blkiodev` lists of `container.Resources`.
const BLKIO_DEVICE_FIELDS: &[(&str, &str)] = &[
    ("BlkioWeightDevice", "--blkio-weight-device"),
    ("BlkioDeviceReadBps", "--device-read-bps"),
    ("BlkioDeviceWriteBps", "--device-write-bps"),
    ("BlkioDeviceReadIOps", "--device-read-iops"),
    ("BlkioDeviceWriteIOps", "--device-write-iops"),
];

/// The violations of a `HostConfig`, `UpdateConfig` or swarm `ContainerSpec` (which
/// has `OomScoreAdj` but no blkio lists).
pub fn violations(p: &Policy, res: &Json, what: &str) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    let oom = res.get("OomScoreAdj").and_then(Json::as_i64).unwrap_or(0);
    if oom < 0 && !p.containers.allow_negative_oom_score_adj {
        out.push((
            r::OOM_SCORE_ADJ,
            format!("{what} sets --oom-score-adj={oom}: below 0 it outlives the host's processes under memory pressure"),
        ));
    }
    for (field, flag) in BLKIO_DEVICE_FIELDS {
        for dev in res.get(field).and_then(Json::as_array).unwrap_or(&[]) {
            let path = dev.get("Path").and_then(Json::as_str).unwrap_or("");
            let in_dev = path.strip_prefix("/dev/").is_some_and(|rest| {
                !rest.is_empty() && rest.split('/').all(|seg| seg != ".." && seg != ".")
            }) && !reaches_proc(path);
            if !in_dev {
                out.push((
                    r::BLKIO_DEVICE,
                    format!(
                        "{what} {flag} ({field}) names {path:?}, not a device path under /dev/"
                    ),
                ));
            }
        }
    }
    out
}
