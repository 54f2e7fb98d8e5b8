//! `kube generate`: the YAML parses back and an offline Kubernetes schema validator
//! (`kubernetes-validate`, strict) accepts it.

use std::process::Command;

use crate::harness::for_each_user;
use crate::harness::images::busybox;

/// `kubernetes-validate --strict FILE` when it is installed (tests/run-all.sh installs it).
fn validate(path: &std::path::Path) -> Option<std::process::Output> {
    Command::new("kubernetes-validate")
        .args(["--strict", "--kubernetes-version", "1.33"])
        .arg(path)
        .output()
        .ok()
}

#[test]
fn generate_a_pod_with_service_and_claim_that_validates() {
    for_each_user(|env| {
        env.load_image(busybox());
        env.coracle()
            .args([
                "--storage-driver",
                "vfs",
                "create",
                "--name",
                "web",
                "-e",
                "GREETING=hi",
                "-v",
                "data:/data",
                "--cap-add",
                "NET_ADMIN",
                "--cap-drop",
                "CHOWN",
                "--read-only",
                "-u",
                "0:0",
                "--restart",
                "always",
                "--network",
                "none",
                "busybox",
                "sh",
                "-c",
                "sleep 1",
            ])
            .ok();
        let yaml = env
            .coracle()
            .args(["--storage-driver", "vfs", "kube", "generate", "-s", "web"])
            .stdout();
        for needle in [
            "kind: Pod",
            "kind: Service",
            "kind: PersistentVolumeClaim",
            "name: web-pod",
            "image: docker.io/library/busybox:latest",
            "GREETING",
            "claimName: data",
            "readOnlyRootFilesystem: true",
            "runAsUser: 0",
            "NET_ADMIN",
            "CHOWN",
            "restartPolicy: Always",
            "mountPath: /data",
        ] {
            assert!(yaml.contains(needle), "{needle} missing in:\n{yaml}");
        }
        assert!(!yaml.contains("HOSTNAME"), "{yaml}");
        let file = env.dir().join("web.yaml");
        env.coracle()
            .args(["--storage-driver", "vfs", "kube", "generate", "-s", "-f"])
            .arg(&file)
            .arg("web")
            .ok();
        let text = std::fs::read_to_string(&file).unwrap();
        assert_eq!(text, yaml);
        let docs = text.split("\n---\n").count();
        assert_eq!(docs, 4, "{text}");
        match validate(&file) {
            Some(out) => assert!(
                out.status.success(),
                "kubernetes-validate refused:\n{}{}\n{text}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
            None => crate::harness::skip(
                &env.test,
                env.user.name(),
                "kubernetes-validate is not installed",
            ),
        }
    });
}
