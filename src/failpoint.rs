//! Named kill points for the crash tests.
//!
//! `failpoint!("name")` marks a step of a storage operation. In a build with the `failpoints`
//! feature, when `CORACLE_KILL_AT` names that point (`name`, or `name#N` for its N-th hit, 1 is
//! the first), the process sends itself SIGKILL there: the closest thing to a user's `kill -9`
//! or a power cut between two steps. Without the feature the macro expands to nothing.
//! Every name must be listed in [`KILL_POINTS`] so the crash test can walk them all.

/// Every kill point, in the order an operation reaches them.
pub const KILL_POINTS: &[&str] = &[
    // load: before anything is written
    "load.start",
    "load.store-locked",
    "load.staging-created",
    // load: blobs
    "load.blob.writing",
    "load.blob.written",
    "load.blob.synced",
    "load.blob.verified",
    // load: layers
    "load.layer.extracting",
    "load.layer.extracted",
    "load.layer.record-written",
    // load: making it visible
    "load.commit.begin",
    "load.commit.blob-renamed",
    "load.commit.layer-renamed",
    "load.commit.layers-renamed",
    "load.commit.dir-synced",
    "load.commit.image-record-staged",
    "load.commit.image-record-renamed",
    "load.commit.old-names-dropped",
    "load.commit.done",
    "load.staging-removed",
    // pull: fetching (the commit's own points are load's)
    "pull.manifest-fetched",
    "pull.config-fetched",
    "pull.staging-created",
    "pull.layer.downloading",
    "pull.layer.extracted",
    "pull.done",
    // push: keeping the layers it compressed
    "push.layer-compressed",
    "push.blob-renamed",
    "push.record-updated",
    // rmi (image prune and system check --repair reach rmi.layer-moved too: it is gc's)
    "rmi.store-locked",
    "rmi.untagged",
    "rmi.containers-removed",
    "rmi.record-moved",
    "rmi.layer-moved",
    "rmi.collected",
    "rmi.done",
    // commit (then load.commit.*, which it shares)
    "commit.store-locked",
    "commit.staging-created",
    "commit.layer-tarred",
    "commit.image-planned",
    "commit.done",
    // create (and run's create)
    "create.start",
    "create.store-locked",
    "create.volumes-created",
    "create.staging-created",
    "create.dir-staged",
    "create.record-renamed",
    "create.root-dirs-made",
    "create.done",
    // run
    "run.created",
    "run.lock-shared",
    "run.monitor-launched",
    "run.started",
    // start
    "start.store-locked",
    "start.root-dirs-made",
    "start.monitor-launched",
    "start.started",
    // rm (rmi -f, volume rm -f and run --replace remove containers the same way)
    "rm.store-locked",
    "rm.dir-hidden",
    "rm.dirs-deleted",
    "rm.done",
    // tag
    "tag.store-locked",
    "tag.record-renamed",
    "tag.names-moved",
    // volume create / rm
    "volume.create.store-locked",
    "volume.create.staged",
    "volume.create.done",
    "volume.rm.store-locked",
    "volume.rm.hidden",
    "volume.rm.deleted",
    // system check --repair
    "check.repair.begin",
    "check.repair.image-removed",
    "check.repair.layer-moved",
    "check.repair.collecting",
    "check.repair.done",
    // container prune / system prune
    "prune.containers-removed",
    "prune.images-removed",
    "prune.volumes-removed",
    "prune.done",
    // build (its RUN steps also pass create, run, commit and rm's points)
    "build.image.staging-created",
    "build.image.planned",
    "build.image.store-locked",
    "build.image.committed",
    "build.cache.staged",
    "build.cache.recorded",
    "build.run.before",
    "build.run.committing",
    "build.run.committed",
    "build.run.container-removed",
    "build.tag.store-locked",
    "build.tag.record-written",
    "build.tagged",
    "build.intermediate-removed",
];

/// Called by `failpoint!`; kills the process when `CORACLE_KILL_AT` names this hit.
#[cfg(feature = "failpoints")]
pub fn hit(name: &'static str) {
    use std::collections::HashMap;
    use std::sync::Mutex;

    static HITS: Mutex<Option<HashMap<&'static str, u32>>> = Mutex::new(None);
    debug_assert!(
        KILL_POINTS.contains(&name),
        "kill point {name} is not listed in KILL_POINTS"
    );
    let Ok(want) = std::env::var("CORACLE_KILL_AT") else {
        return;
    };
    let (want_name, want_hit) = match want.split_once('#') {
        Some((n, k)) => (n.to_string(), k.parse::<u32>().unwrap_or(1)),
        None => (want, 1),
    };
    if want_name != name {
        return;
    }
    let count = {
        let mut hits = HITS.lock().unwrap_or_else(|p| p.into_inner());
        let c = hits
            .get_or_insert_with(HashMap::new)
            .entry(name)
            .or_insert(0);
        *c += 1;
        *c
    };
    if count == want_hit {
        let _ =
            rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::KILL);
    }
}

/// Marks a named kill point (see the module documentation).
#[macro_export]
macro_rules! failpoint {
    ($name:literal) => {
        #[cfg(feature = "failpoints")]
        $crate::failpoint::hit($name);
    };
}
