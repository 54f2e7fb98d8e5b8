//! `pod create --exit-policy stop`: when the last running container of such a pod exits, its
//! monitor stops the pod's infra (as Podman stops the pod).
//!
//! Each container's monitor checks once its own end is recorded; of containers ending at the
//! same time, the last to record its end sees the others ended, so one of them stops it.

use std::path::Path;

use super::infra;
use super::record;
use crate::runtime::spec::ContainerSpec;
use crate::store::containers::{self, Containers, State};
use crate::sys::process::ProcessIdentity;

/// Called by the container's monitor after its end is recorded; errors are left to `pod ps`
/// (the monitor has nobody to tell).
pub fn after_exit(spec: &ContainerSpec) {
    let Some(pod) = &spec.pod else { return };
    let Ok(rec) = record::read(&pod.dir) else {
        return;
    };
    if rec.exit_policy != "stop" || rec.infra.is_none() {
        return;
    }
    if let Some(graphroot) = pod.dir.parent().and_then(Path::parent)
        && !any_running(graphroot, &rec.id, &spec.id)
    {
        let _ = infra::stop(&pod.dir);
    }
}

/// Whether a container of pod `pod` other than `me` runs (its record says so and its monitor
/// lives).
fn any_running(graphroot: &Path, pod: &str, me: &str) -> bool {
    let Ok(all) = Containers::new(graphroot.join("containers")).list() else {
        // Unknown: the pod is left running rather than stopped under a container.
        return true;
    };
    all.iter().any(|c: &containers::ContainerRecord| {
        c.id != me
            && c.pod.as_deref() == Some(pod)
            && c.state == State::Running
            && matches!((c.monitor_pid, c.monitor_start), (Some(pid), Some(start_time))
                if ProcessIdentity { pid, start_time }.is_alive())
    })
}
