//! The figures issue 9 asks the tests to report: kill points survived, parallel operations
//! held, hostile inputs refused. A test prints a count once its checks passed, one line per
//! test and user, `FIGURE <name> <count> <test@user>`; tests/run-all.sh adds them up per name
//! and README.md keeps the totals of a real run.

use std::io::Write as _;

/// A command SIGKILLed at a kill point, after which the store checked clean, everything that
/// existed before still worked and the command, repeated, succeeded.
pub const KILL_POINTS_SURVIVED: &str = "kill-points-survived";
/// A command run at the same time as others on one store that succeeded (or was refused as
/// it should be), with the store checked clean afterwards.
pub const PARALLEL_OPERATIONS_HELD: &str = "parallel-operations-held";
/// A hostile or broken input refused with an error, the store and the directories around it
/// unchanged.
pub const HOSTILE_INPUTS_REFUSED: &str = "hostile-inputs-refused";

/// Prints one figure line, past libtest's capture (as `skip` does) so that run-all sees it.
pub fn figure(name: &str, count: usize) {
    let thread = std::thread::current();
    let who = thread.name().unwrap_or("test");
    let line = format!("FIGURE {name} {count} {who}\n");
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}
