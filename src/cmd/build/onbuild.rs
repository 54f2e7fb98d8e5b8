//! ONBUILD triggers: the instructions a base image's config lists under `OnBuild` (kept by
//! the docker format) run in the child build right after its FROM, as Docker and Podman run
//! them; the child's own config does not inherit them.

use anyhow::Context as _;

use super::state::StageState;
use crate::build::parse;
use crate::build::syntax::Instruction;

/// Takes the base's triggers out of `state`'s config, parsed as instructions.
pub fn take_triggers(state: &mut StageState) -> anyhow::Result<Vec<Instruction>> {
    let Some(list) = state.run_config().remove("OnBuild") else {
        return Ok(Vec::new());
    };
    let texts: Vec<String> = serde_json::from_value(list).unwrap_or_default();
    let mut out = Vec::new();
    for text in texts {
        let file = parse::parse(&format!("FROM scratch\n{text}\n"), "ONBUILD trigger")
            .with_context(|| format!("the base image's ONBUILD trigger {text:?}"))?;
        for stage in file.stages {
            out.extend(stage.instructions);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::syntax::Kind;
    use serde_json::json;

    #[test]
    fn triggers_become_instructions_and_leave_the_config() {
        let mut s = StageState::scratch(("linux", "amd64"));
        s.run_config()
            .insert("OnBuild".into(), json!(["RUN echo hi", "ENV A=1"]));
        let t = take_triggers(&mut s).unwrap();
        assert_eq!(t.len(), 2);
        assert!(matches!(t[0].kind, Kind::Run(_)));
        assert_eq!(t[1].source, "ENV A=1");
        assert!(s.run_config().get("OnBuild").is_none());
        assert!(take_triggers(&mut s).unwrap().is_empty());
    }
}
